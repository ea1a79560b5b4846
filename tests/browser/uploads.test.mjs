// Refused uploads in the demo page, in headless Chromium: a person sends,
// through the page's file input, a 5 MB GIF (not an allowed type: 415) and
// an 11 MB PNG (over the 10 MiB limit: 413). The server refuses both while
// the browser is still sending the bytes; the page must still get the
// server's answer and show its message ("Not sent: …"), never "cannot reach
// the server" (what it shows when fetch fails on a reset connection). Each
// is tried a few times, as the failure depends on timing. Nothing is stored:
// the other person sees no file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BASE, TIMEOUT, api, launch, person, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 90_000 };
const PASSWORD = 'correct horse battery';
// Tries per case; at most 9, as one person's upload burst is 20.
const REPEATS = Math.min(Number(process.env.UPLOAD_REPEATS ?? 5), 9);
const MB = 1024 * 1024;
const UPLOAD_LIMIT = 10 * MB; // the server's default --max-upload-bytes
const NETWORK_ERROR = 'Not sent: cannot reach the server';

const suffix = `${process.pid % 10000}`;
const SENDER = { username: `uploader${suffix}`, display: 'Ursula Uploader' };
const RECEIVER = { username: `receiver${suffix}`, display: 'Rita Receiver' };

let browser;
let sender; // { context, page }
let receiver;
let dir;
let gifPath;
let bigPngPath;

function fileOf(head, size) {
  const bytes = Buffer.alloc(size, 0x20);
  Buffer.from(head, 'latin1').copy(bytes);
  for (let i = head.length; i < size; i += 4096) bytes[i] = 0x41 + ((i / 4096) % 26);
  return bytes;
}

async function signUp(page, username, displayName) {
  await page.goto('/');
  await page.locator(tid('auth-username')).fill(username);
  await page.locator(tid('auth-password')).fill(PASSWORD);
  await page.locator(tid('auth-display-name')).fill(displayName);
  await page.locator(tid('register-button')).click();
  await page.locator(tid('app')).waitFor({ state: 'visible' });
  await waitForText(page.locator(tid('me-name')), displayName);
  await waitForText(page.locator(tid('connection-status')), 'online');
}

const messages = (page) => page.locator(`${tid('message-list')} ${tid('message')}`);

async function sendText(page, text) {
  const input = page.locator(tid('message-input'));
  await input.fill(text);
  await input.press('Enter');
  await messages(page).filter({ hasText: text }).first().waitFor({ state: 'visible' });
}

// The chat list entry whose title is exactly `name`.
const chatItem = (page, name) => page.locator(tid('chat-item')).filter({
  has: page.locator(tid('chat-name')).getByText(name, { exact: true }),
});

const session = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));

// Sends `file` through the page's file input and waits for the page's verdict:
// the text of the send-error line once it is no longer "Uploading…".
async function refusedUpload(page, file) {
  const errorBox = page.locator(tid('send-error'));
  await page.locator(tid('file-input')).setInputFiles(file);
  const pending = page.locator(`${tid('pending-message')}.failed`);
  await pending.first().waitFor({ state: 'attached', timeout: 30_000 });
  const shown = await waitForText(errorBox, /^Not sent: .+/, TIMEOUT);
  assert.ok(await errorBox.isVisible(), 'the error is visible');
  // Out of the way for the next try.
  await pending.evaluateAll((els) => els.forEach((el) => el.remove()));
  await errorBox.evaluate((el) => { el.hidden = true; el.textContent = ''; });
  return shown;
}

// The server's message for a disallowed type, asked with a tiny GIF. Even
// so small a multipart body can meet a reset (the server answers after the
// headers, and fetch sends the form in several writes) until the server
// reads what it refuses: a few tries.
async function disallowedTypeError() {
  const { token } = await session(sender.page);
  const to = (await session(receiver.page)).user.id;
  let last;
  for (let i = 0; i < 10; i++) {
    const form = new FormData();
    form.append('to', String(to));
    form.append('file', new Blob(['GIF89a tiny']), 'tiny.gif');
    try {
      const res = await fetch(`${BASE}/uploads`, {
        method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form, signal: AbortSignal.timeout(TIMEOUT),
      });
      const body = await res.json();
      assert.equal(res.status, 415, JSON.stringify(body));
      assert.equal(body.error.code, 'unsupported_media_type');
      return body.error;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      last = err;
    }
  }
  throw new Error('no answer to a tiny GIF upload in 10 tries', { cause: last });
}

describe('refused uploads in the demo page', { timeout: 300_000 }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chat-uploads-'));
    gifPath = path.join(dir, 'animation.gif');
    writeFileSync(gifPath, fileOf('GIF89a\x01\x00\x01\x00\x80\x00\x00', 5 * MB));
    bigPngPath = path.join(dir, 'panorama.png');
    writeFileSync(bigPngPath, fileOf('\x89PNG\r\n\x1a\n', UPLOAD_LIMIT + MB));
    browser = await launch();
    sender = await person(browser);
    receiver = await person(browser);
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  it('two people sign up and open a direct chat', STEP, async () => {
    await signUp(receiver.page, RECEIVER.username, RECEIVER.display);
    await signUp(sender.page, SENDER.username, SENDER.display);
    const { page } = sender;
    await page.locator(tid('tab-people')).click();
    await page.locator(`${tid('user-item')}[data-username="${RECEIVER.username}"]`).click();
    await waitForText(page.locator(tid('chat-title')), RECEIVER.display);
    await sendText(page, 'Sending you some files');
    await chatItem(receiver.page, SENDER.display).click();
    await messages(receiver.page).filter({ hasText: 'Sending you some files' }).first().waitFor();
  });

  it(`a 5 MB GIF is refused with the server's message (${REPEATS} tries)`, STEP, async () => {
    const error = await disallowedTypeError();

    const shown = [];
    for (let i = 0; i < REPEATS; i++) shown.push(await refusedUpload(sender.page, gifPath));
    const wrong = shown.filter((text) => text !== `Not sent: ${error.message}`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${REPEATS} tries did not show "Not sent: ${error.message}"`);
  });

  it(`an 11 MB PNG (over the 10 MiB limit) is refused with the server's message (${REPEATS} tries)`, STEP, async () => {
    const shown = [];
    for (let i = 0; i < REPEATS; i++) shown.push(await refusedUpload(sender.page, bigPngPath));
    const wrong = shown.filter((text) => text === NETWORK_ERROR || !/larger than|too large|limit/i.test(text));
    assert.deepEqual(wrong, [], `${wrong.length} of ${REPEATS} tries did not show the payload_too_large message`);
  });

  it('nothing was stored: no file reached the other person', STEP, async () => {
    const { page } = receiver;
    await sendText(sender.page, 'Never mind the files');
    await messages(page).filter({ hasText: 'Never mind the files' }).first().waitFor();
    assert.equal(await page.locator(`${tid('message-image')}, ${tid('message-file')}`).count(), 0);
    const { token } = await session(page);
    const chats = await api('GET', '/chats', token);
    assert.equal(chats.status, 200);
    const chat = chats.body.chats.find((c) => c.kind === 'direct' && c.members.some((m) => m.username === SENDER.username));
    assert.ok(chat, 'the direct chat exists');
    const history = await api('GET', `/chats/${chat.id}`, token);
    assert.deepEqual(history.body.messages.map((m) => m.kind), ['text', 'text']);
  });

  it('had no errors in the pages', STEP, () => {
    assert.deepEqual(sender.page.errors, []);
    assert.deepEqual(receiver.page.errors, []);
  });
});
