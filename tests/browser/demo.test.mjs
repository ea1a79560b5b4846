// The demo page in headless Chromium (Debian's, driven by playwright-core).
// alice and bob (two browser contexts) sign up through the page, talk in a
// direct chat (unread badge, read receipt, typing, an ack error), bob sends
// two PNGs and a PDF, alice makes a group with carol (made over the API) and
// adds dave, alice reloads (session kept, history with images), the layout
// at phone width, bob goes offline and catches up, scrolls back through
// history, and alice logs out. Steps run in order and share state; every wait
// has a timeout; screenshots go to target/e2e-screenshots/.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BASE, FIXTURES, PHONE, LAPTOP, TIMEOUT, api, launch, person, screenshot, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 30_000 };
const PASSWORD = 'correct horse battery';

let browser;
let alice; // { context, page }
let bob;
let carol; // { id, token } (made through the API)

const messages = (page) => page.locator(`${tid('message-list')} ${tid('message')}`);
const messageWithText = (page, text) => messages(page).filter({ hasText: text });

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

async function send(page, text) {
  const input = page.locator(tid('message-input'));
  await input.fill(text);
  await input.press('Enter');
  // Acknowledged: the message is in the list with its server id.
  await messageWithText(page, text).first().waitFor({ state: 'visible' });
  assert.equal(await input.inputValue(), '');
}

// The chat list entry whose title is exactly `name`.
const chatItem = (page, name) => page.locator(tid('chat-item')).filter({
  has: page.locator(tid('chat-name')).getByText(name, { exact: true }),
});

async function openChatNamed(page, name) {
  const back = page.locator(tid('back-button'));
  if (await back.isVisible()) await back.click(); // phone width: back to the list first
  await page.locator(tid('tab-chats')).click();
  await chatItem(page, name).click();
  await waitForText(page.locator(tid('chat-title')), name);
}

// Every <img> of the open chat has arrived and decoded.
async function imagesLoaded(page, count) {
  const state = () => page.evaluate(() => [...document.querySelectorAll('[data-testid="message-image"]')]
    .map((img) => ({ src: img.getAttribute('src'), complete: img.complete, naturalWidth: img.naturalWidth })));
  try {
    await page.waitForFunction((n) => {
      const imgs = [...document.querySelectorAll('[data-testid="message-image"]')];
      return imgs.length >= n && imgs.every((img) => img.complete && img.naturalWidth > 0);
    }, count, { timeout: TIMEOUT });
  } catch (err) {
    throw new Error(`${count} images did not load: ${JSON.stringify(await state())}`, { cause: err });
  }
}

describe('demo page in Chromium', { timeout: 240_000 }, () => {
  before(async () => {
    browser = await launch();
    bob = await person(browser);
    alice = await person(browser);
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('serves the page and its scripts', STEP, async () => {
    for (const asset of ['/', '/assets/style.css', '/assets/js/app.js', '/assets/vendor/socket.io.min.js']) {
      const res = await fetch(BASE + asset, { signal: AbortSignal.timeout(TIMEOUT) });
      assert.equal(res.status, 200, asset);
    }
  });

  it('bob and alice register through the page', STEP, async () => {
    await signUp(bob.page, 'bob', 'Bob');
    await signUp(alice.page, 'alice', 'Alice');
    // The token is kept in localStorage.
    const saved = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));
    assert.ok(saved.token);
    assert.equal(saved.user.username, 'alice');
  });

  it('shows validation errors from the server', STEP, async () => {
    const { context, page } = await person(browser);
    await page.goto('/');
    await page.locator(tid('auth-username')).fill('x');
    await page.locator(tid('auth-password')).fill('short');
    await page.locator(tid('register-button')).click();
    await waitForText(page.locator(tid('auth-error')), /.+/);
    await page.locator(tid('auth-username')).fill('alice');
    await page.locator(tid('auth-password')).fill('wrong password');
    await page.locator(tid('login-button')).click();
    await waitForText(page.locator(tid('auth-error')), /.+/);
    assert.ok(await page.locator(tid('auth-screen')).isVisible());
    await context.close();
  });

  it('alice sees bob online in People and starts a chat with him', STEP, async () => {
    const { page } = alice;
    await page.locator(tid('tab-people')).click();
    const bobItem = page.locator(`${tid('user-item')}[data-username="bob"]`);
    await bobItem.locator(`${tid('presence-dot')}[data-online="true"]`).waitFor();
    await bobItem.click();
    await waitForText(page.locator(tid('chat-title')), 'Bob');
    await send(page, 'Hi Bob! Are we still on for Saturday?');
  });

  it('bob gets it live, with an unread badge, and opening the chat marks it read', STEP, async () => {
    const { page } = bob;
    const item = chatItem(page, 'Alice');
    await waitForText(item.locator(tid('unread-badge')), '1');
    await item.click();
    await messageWithText(page, 'Are we still on for Saturday?').waitFor();
    await item.locator(tid('unread-badge')).waitFor({ state: 'detached' });
    // alice signed up after bob's page loaded: the page learns of her, online.
    await item.locator(`${tid('presence-dot')}[data-online="true"]`).waitFor();
    await waitForText(page.locator(tid('chat-subtitle')), 'online');
    // alice's message now says "read" (a `read` event from bob's mark_read).
    const mine = messageWithText(alice.page, 'Are we still on for Saturday?');
    await waitForText(mine.locator(tid('read-status')), 'read');
  });

  it('bob replies and alice sees the reply live', STEP, async () => {
    await send(bob.page, 'Yes! 10am at the station.');
    await messageWithText(alice.page, '10am at the station').waitFor();
    await send(alice.page, 'Great, see you there.');
    await messageWithText(bob.page, 'see you there').waitFor();
  });

  it('shows the ack error when the server refuses a message', STEP, async () => {
    const { page } = alice;
    // 4001 characters, set as a script would (typing stops at maxlength).
    await page.locator(tid('message-input')).evaluate((el) => { el.value = 'x'.repeat(4001); });
    await page.locator(tid('send-button')).click();
    await waitForText(page.locator(tid('send-error')), /Not sent: .+/);
    const pending = page.locator(tid('pending-message'));
    await waitForText(pending, 'retry');
    await pending.evaluate((el) => el.remove()); // out of the screenshots
    await page.locator(tid('send-error')).evaluate((el) => { el.hidden = true; });
  });

  it('bob sees that alice is typing, and it stops when she stops', STEP, async () => {
    const input = alice.page.locator(tid('message-input'));
    await input.pressSequentially('I will bring', { delay: 40 });
    await waitForText(bob.page.locator(tid('typing-indicator')), 'Alice is typing…');
    await screenshot(bob.page, 'bob-sees-typing');
    await input.fill('');
    await input.dispatchEvent('input');
    await waitForText(bob.page.locator(tid('typing-indicator')), /^$/);
  });

  it('bob sends images and a PDF, alice sees them rendered', STEP, async () => {
    const fileInput = bob.page.locator(tid('file-input'));
    await fileInput.setInputFiles(path.join(FIXTURES, 'landscape.png'));
    await bob.page.locator(`${tid('message')} ${tid('message-image')}`).first().waitFor();
    await fileInput.setInputFiles(path.join(FIXTURES, 'dot.png'));
    await fileInput.setInputFiles(path.join(FIXTURES, 'brief.pdf'));
    await bob.page.locator(tid('message-file')).filter({ hasText: 'brief.pdf' }).waitFor();

    const { page } = alice;
    await imagesLoaded(page, 2);
    const images = page.locator(tid('message-image'));
    for (let i = 0; i < 2; i++) {
      const img = images.nth(i);
      assert.ok(await img.isVisible());
      assert.ok(await img.evaluate((el) => el.naturalWidth > 0));
    }
    assert.deepEqual(await images.evaluateAll((els) => els.map((el) => el.naturalWidth)), [256, 64]);
    const pdf = page.locator(tid('message-file')).filter({ hasText: 'brief.pdf' });
    await pdf.waitFor();
    assert.match(await pdf.getAttribute('href'), /^\/files\/\d+\/brief\.pdf\?/);
    // The signed URL works without a token, with the right type.
    const res = await fetch(BASE + await images.nth(1).getAttribute('src'), { signal: AbortSignal.timeout(TIMEOUT) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    await send(page, 'Beautiful view!');
    await page.locator(tid('tab-chats')).click();
    await imagesLoaded(page, 2);
    await screenshot(page, 'alice-chat-with-image');
  });

  it('alice makes a group with bob and carol, and bob gets its message', STEP, async () => {
    const made = await api('POST', '/auth/register', null, { username: 'carol', password: PASSWORD, display_name: 'Carol' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    carol = { id: made.body.user.id, token: made.body.token };

    const { page } = alice;
    await page.locator(tid('tab-chats')).click();
    await page.locator(tid('new-group-button')).click();
    const dialog = page.locator(tid('group-dialog'));
    await dialog.waitFor();
    await dialog.locator(tid('group-name-input')).fill('Weekend trip');
    // carol joined after the page loaded: the dialog fetches people afresh.
    await dialog.locator(`${tid('group-person')}[data-username="carol"]`).check();
    await dialog.locator(`${tid('group-person')}[data-username="bob"]`).check();
    await dialog.locator(tid('group-submit')).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitForText(page.locator(tid('chat-title')), 'Weekend trip');
    await waitForText(page.locator(tid('chat-subtitle')), '3 members');
    await send(page, 'Made a group for Saturday, with Carol too.');

    // bob got group_created, then the message (unread until opened).
    const item = chatItem(bob.page, 'Weekend trip');
    await waitForText(item.locator(tid('unread-badge')), '1');
    // Newest activity first.
    await waitForText(bob.page.locator(tid('chat-item')).first(), 'Weekend trip');
    await item.click();
    const msg = messageWithText(bob.page, 'Made a group for Saturday');
    await msg.waitFor();
    await waitForText(msg.locator(tid('message-sender')), 'Alice');
    await send(bob.page, 'Count me in!');
    await messageWithText(alice.page, 'Count me in!').waitFor();

    // carol is in it too.
    const carolChats = await api('GET', '/chats', carol.token);
    const group = carolChats.body.chats.find((c) => c.name === 'Weekend trip');
    assert.ok(group, 'carol has the group');
    assert.equal(group.members.length, 3);
    assert.equal(group.unread_count, 2);
    carol.groupId = group.id;
  });

  it('alice adds dave to the group; bob sees him join', STEP, async () => {
    const made = await api('POST', '/auth/register', null, { username: 'dave', password: PASSWORD, display_name: 'Dave' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { page } = alice;
    await page.locator(tid('add-people-button')).click();
    const dialog = page.locator(tid('group-dialog'));
    // Members are not offered again.
    await dialog.locator(`${tid('group-person')}[data-username="dave"]`).check();
    assert.equal(await dialog.locator(`${tid('group-person')}[data-username="bob"]`).count(), 0);
    await dialog.locator(tid('group-submit')).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitForText(page.locator(tid('chat-subtitle')), '4 members');
    await waitForText(bob.page.locator(tid('chat-subtitle')), '4 members'); // member_added
    const daveChats = await api('GET', '/chats', made.body.token);
    assert.equal(daveChats.body.chats[0]?.name, 'Weekend trip');

    // A lively group for the screenshot: carol writes over REST, bob sends a photo.
    const said = await api('POST', '/chats/send-message', carol.token, {
      group_id: carol.groupId, text: 'Forecast says sunny all weekend.',
    });
    assert.equal(said.status, 201);
    await messageWithText(page, 'sunny all weekend').waitFor();
    await bob.page.locator(tid('file-input')).setInputFiles(path.join(FIXTURES, 'landscape.png'));
    await imagesLoaded(page, 1);
    await send(page, 'Perfect. See you all at 10!');
    await screenshot(page, 'alice-group');
  });

  it('after a reload alice is still signed in, and history shows the images', STEP, async () => {
    const { page } = alice;
    await page.reload();
    await waitForText(page.locator(tid('connection-status')), 'online');
    await openChatNamed(page, 'Bob');
    await imagesLoaded(page, 2);
    // These come from GET /chats/:id this time: their URLs must be signed
    // there too (the page would fall back to a token fetch, hiding it).
    const { token } = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));
    const chatId = await chatItem(page, 'Bob').getAttribute('data-chat-id');
    const history = await api('GET', `/chats/${chatId}?limit=30`, token);
    for (const { attachment } of history.body.messages.filter((m) => m.attachment)) {
      assert.match(attachment.url, /^\/files\/\d+\/[^?]+\?.*sig=/, `GET /chats/:id gave an unsigned attachment.url: ${JSON.stringify(attachment)}`);
    }
    assert.equal(await page.locator(`${tid('message-image')}[data-fallback]`).count(), 0, 'an image needed the token fallback');
    await page.locator(tid('message-file')).filter({ hasText: 'brief.pdf' }).waitFor();
  });

  it('works at phone width: the list or the chat, with a back button', STEP, async () => {
    const { page } = alice;
    await page.setViewportSize(PHONE);
    await openChatNamed(page, 'Weekend trip');
    assert.ok(await page.locator(tid('back-button')).isVisible());
    assert.ok(!(await page.locator(tid('sidebar')).isVisible()));
    await page.locator(tid('message-list')).evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await screenshot(page, 'phone-chat');
    await page.locator(tid('back-button')).click();
    await page.locator(tid('chat-list')).waitFor();
    assert.ok(!(await page.locator(tid('chat-pane')).isVisible()));
    await screenshot(page, 'phone-list');
    await page.setViewportSize(LAPTOP);
  });

  it('bob catches up on what was sent while he was offline', STEP, async () => {
    const { page, context } = bob;
    await openChatNamed(page, 'Alice');
    const bobDot = chatItem(alice.page, 'Bob').locator(tid('presence-dot'));
    await context.setOffline(true);
    try {
      await waitForText(page.locator(tid('connection-status')), 'offline', 20_000);
      // alice sees him go (presence: by his close frame, or by his missing
      // pong when the close never left), and writes to him and to the group.
      await bobDot.and(alice.page.locator('[data-online="false"]')).waitFor({ timeout: 20_000 });
      await openChatNamed(alice.page, 'Bob');
      await send(alice.page, 'Sent while you were offline');
      await openChatNamed(alice.page, 'Weekend trip');
      await send(alice.page, 'Group news while you were away');
    } finally {
      await context.setOffline(false);
    }
    await waitForText(page.locator(tid('connection-status')), 'online', 20_000);
    await bobDot.and(alice.page.locator('[data-online="true"]')).waitFor();
    // What bob missed: merged into the open chat, and an unread badge elsewhere.
    await messageWithText(page, 'Sent while you were offline').waitFor();
    const group = chatItem(page, 'Weekend trip');
    await waitForText(group.locator(tid('unread-badge')), '1');
    const lastSeen = await page.evaluate(() => Object.entries(localStorage)
      .filter(([key]) => key.startsWith('chat.last_seen.')).map(([, v]) => Number(v)));
    assert.equal(lastSeen.length, 1);
    assert.ok(lastSeen[0] > 0);
  });

  it('scrolls back through history', STEP, async () => {
    // 45 more messages through the API, then bob opens the chat afresh.
    const login = await api('POST', '/auth/login', null, { username: 'alice', password: PASSWORD });
    const found = await api('GET', '/users?q=bob', login.body.token);
    const bobId = found.body.users.find((u) => u.username === 'bob').id;
    for (let i = 1; i <= 45; i++) {
      const sent = await api('POST', '/chats/send-message', login.body.token, { to: bobId, text: `history ${i}` });
      assert.equal(sent.status, 201);
    }
    const { page } = bob;
    await page.reload();
    await openChatNamed(page, 'Alice');
    await messageWithText(page, 'history 45').waitFor();
    const before = await messages(page).count();
    assert.equal(before, 30);
    await page.locator(tid('message-list')).evaluate((el) => { el.scrollTop = 0; });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message-list"] [data-testid="message"]').length > 30, null, { timeout: TIMEOUT });
    await page.locator(tid('message-list')).evaluate((el) => { el.scrollTop = 0; });
    await waitForText(page.locator(tid('history-note')), 'start of the conversation');
    await messageWithText(page, 'Are we still on for Saturday?').waitFor({ state: 'attached' });
  });

  it('logs out', STEP, async () => {
    const { page } = alice;
    await page.setViewportSize(LAPTOP);
    await page.locator(tid('logout-button')).click();
    await page.locator(tid('auth-screen')).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
    await page.reload();
    await page.locator(tid('auth-screen')).waitFor();
    // A token the server refuses (expired, revoked, forged) logs out with a word why.
    await page.evaluate(() => localStorage.setItem('chat.session', JSON.stringify({
      token: 'not-a-token', user: { id: 1, username: 'alice', display_name: 'Alice' },
    })));
    await page.reload();
    await waitForText(page.locator(tid('auth-error')), 'session');
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
  });

  it('had no errors in the pages', STEP, () => {
    assert.deepEqual(alice.page.errors, []);
    assert.deepEqual(bob.page.errors, []);
  });
});
