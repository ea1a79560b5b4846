// Replies, edits, deletions, reactions and search in the demo page (API
// v2), in headless Chromium, with two people in two browser contexts.
//
// ana and ben sign up and talk in a direct chat. ben answers ana's message
// with the "reply" action, with a text and with a file: the quote shows on
// both sides and the server stored reply_to. ana edits her message: ben sees the new text, "edited",
// and his reply's quote follows; an edit the server refuses shows its
// message. ana deletes a message: ben sees "message deleted" in its place.
// Reactions: ana reacts with the picker (ben sees 1), ben clicks the chip
// too (2), ana takes hers back (1). ana sends 40 more messages over the API
// and ben answers an old one: after a reload, clicking the quote scrolls
// back to the original and highlights it. ana searches "CAFE" and finds
// ben's "Café…" with the word marked; clicking the result opens the chat
// at that message (far back), and scrolling down reaches the newest. A
// snippet of a message with HTML in it shows the HTML as text; a query the
// server refuses shows the server's message. In a group, ana (its owner)
// deletes ben's message; ben (a member) gets no delete button on hers.
//
// Steps run in order and share state; every wait has a timeout;
// screenshots go to target/e2e-screenshots/.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  FIXTURES, TIMEOUT, api, launch, person, screenshot, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 60_000 };
const PASSWORD = 'correct horse battery';
const THUMBS = '👍';
const FILLERS = 40; // more than a page (30): the old messages are not loaded at first

const suffix = `${process.pid % 10000}`;
const ANA = { username: `ana${suffix}`, display: 'Ana Answer' };
const BEN = { username: `ben${suffix}`, display: 'Ben Reply' };

const TEXTS = {
  question: 'Hello Ben, are you free on Friday?',
  edited: 'Hello Ben, are you free on Saturday?',
  reply: 'Saturday works for me.',
  cafe: 'Café Crème at noon, by the river?',
  oops: 'Oops, that was for someone else',
  html: '<b>bold</b> <img src=x onerror="window.pwned=1"> crème brûlée after lunch',
  late: 'Still on for noon?',
};

let browser;
let ana; // { context, page }
let ben;
let chatId;
const ids = {}; // message ids by TEXTS key

const messages = (page) => page.locator(`${tid('message-list')} ${tid('message')}`);
// The message whose own text (not a quote of another) contains `text`.
const messageWithText = (page, text) => messages(page).filter({
  has: page.locator(tid('message-text'), { hasText: text }),
});
const messageById = (page, id) => page.locator(`${tid('message-list')} ${tid('message')}[data-message-id="${id}"]`);
const chip = (message, emoji) => message.locator(`${tid('reaction')}[data-emoji="${emoji}"]`);
const chatItem = (page, name) => page.locator(tid('chat-item')).filter({
  has: page.locator(tid('chat-name')).getByText(name, { exact: true }),
});
const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));

async function signUp(page, who) {
  await page.goto('/');
  await page.locator(tid('auth-username')).fill(who.username);
  await page.locator(tid('auth-password')).fill(PASSWORD);
  await page.locator(tid('auth-display-name')).fill(who.display);
  await page.locator(tid('register-button')).click();
  await page.locator(tid('app')).waitFor({ state: 'visible' });
  await waitForText(page.locator(tid('me-name')), who.display);
  await waitForText(page.locator(tid('connection-status')), 'online');
}

async function online(page) {
  await page.locator(tid('app')).waitFor({ state: 'visible' });
  await waitForText(page.locator(tid('connection-status')), 'online', 20_000);
}

// Sends from the composer; resolves to the message's id once the server has it.
async function send(page, text) {
  const input = page.locator(tid('message-input'));
  await input.fill(text);
  await input.press('Enter');
  const msg = messageWithText(page, text).last();
  await msg.waitFor({ state: 'visible' });
  assert.equal(await input.inputValue(), '');
  return Number(await msg.getAttribute('data-message-id'));
}

async function openChatNamed(page, name) {
  await page.locator(tid('tab-chats')).click();
  await chatItem(page, name).click();
  await waitForText(page.locator(tid('chat-title')), name);
}

// One of a message's actions (they show on hover).
async function act(message, action) {
  await message.hover();
  await message.locator(tid(`action-${action}`)).click();
}

async function waitForCount(locator, n, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let count = -1;
  while (Date.now() < deadline) {
    count = await locator.count();
    if (count === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${n} of ${locator}; last count ${count}`);
}

// Waits until a chip shows `count`, and whether it is mine.
async function chipIs(message, emoji, count, mine) {
  const el = chip(message, emoji);
  await waitForText(el.locator(tid('reaction-count')), new RegExp(`^${count}$`));
  await el.and(message.page().locator(`[data-mine="${mine}"]`)).waitFor();
}

// The message is inside the visible part of the message list.
async function inView(page, id) {
  try {
    await page.waitForFunction((messageId) => {
      const el = document.querySelector(`[data-testid="message-list"] [data-message-id="${messageId}"]`);
      const box = document.querySelector('[data-testid="message-list"]');
      if (!el) return false;
      const a = el.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      return a.height > 0 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
    }, id, { timeout: TIMEOUT });
  } catch (err) {
    throw new Error(`message ${id} did not scroll into view`, { cause: err });
  }
}

async function history(token) {
  const res = await api('GET', `/chats/${chatId}?limit=100`, token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.messages;
}

async function searchFor(page, q) {
  const box = page.locator(tid('message-search'));
  const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/search'
    && new URL(r.url()).searchParams.get('q') === q, { timeout: TIMEOUT });
  await box.fill(q);
  await box.press('Enter');
  return answered;
}

describe('replies, edits, deletions, reactions and search in the demo page', { timeout: 300_000 }, () => {
  before(async () => {
    browser = await launch();
    ana = await person(browser);
    ben = await person(browser);
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('two people sign up and start a chat', STEP, async () => {
    await signUp(ben.page, BEN);
    await signUp(ana.page, ANA);
    await ana.page.locator(tid('tab-people')).click();
    await ana.page.locator(`${tid('user-item')}[data-username="${BEN.username}"]`).click();
    await waitForText(ana.page.locator(tid('chat-title')), BEN.display);
    ids.question = await send(ana.page, TEXTS.question);
    chatId = Number(await chatItem(ana.page, BEN.display).getAttribute('data-chat-id'));
    await openChatNamed(ben.page, ANA.display);
    await messageWithText(ben.page, TEXTS.question).waitFor();
  });

  it('ben replies to a message: the quote shows on both sides', STEP, async () => {
    const { page } = ben;
    const bar = page.locator(tid('composer-bar'));
    // A reply started and cancelled sends nothing of it.
    await act(messageWithText(page, TEXTS.question), 'reply');
    await bar.waitFor({ state: 'visible' });
    await page.locator(tid('composer-bar-cancel')).click();
    await bar.waitFor({ state: 'hidden' });

    await act(messageWithText(page, TEXTS.question), 'reply');
    await waitForText(page.locator(tid('composer-bar-title')), `Replying to ${ANA.display}`);
    await waitForText(page.locator(tid('composer-bar-text')), TEXTS.question);
    await screenshot(page, 'messages-replying');
    ids.reply = await send(page, TEXTS.reply);
    await bar.waitFor({ state: 'hidden' });

    // A file can answer too (POST /uploads with reply_to).
    await act(messageWithText(page, TEXTS.question), 'reply');
    await bar.waitFor({ state: 'visible' });
    await page.locator(tid('file-input')).setInputFiles(path.join(FIXTURES, 'dot.png'));
    await bar.waitFor({ state: 'hidden' });
    const file = messages(page).filter({ has: page.locator(tid('message-image')) });
    await file.waitFor();
    ids.file = Number(await file.getAttribute('data-message-id'));

    for (const p of [ben.page, ana.page]) {
      for (const id of [ids.reply, ids.file]) {
        const quote = messageById(p, id).locator(tid('reply-quote'));
        await waitForText(quote.locator(tid('reply-quote-sender')), ANA.display);
        await waitForText(quote.locator(tid('reply-quote-text')), TEXTS.question);
        assert.equal(await quote.getAttribute('data-reply-to'), String(ids.question));
      }
    }
    const copies = await history((await stored(ben.page)).token);
    for (const id of [ids.reply, ids.file]) {
      const copy = copies.find((m) => m.id === id);
      assert.equal(copy?.reply_to?.id, ids.question, `the server's copy: ${JSON.stringify(copy)}`);
    }
    ids.cafe = await send(page, TEXTS.cafe);
    await messageWithText(ana.page, TEXTS.cafe).waitFor();
    await screenshot(ana.page, 'messages-reply');
  });

  it('ana edits her message: ben sees the new text and "edited", and the quote follows', STEP, async () => {
    const { page } = ana;
    const input = page.locator(tid('message-input'));
    await input.fill('a draft, kept while editing');
    await act(messageById(page, ids.question), 'edit');
    await waitForText(page.locator(tid('composer-bar-title')), 'Editing message');
    assert.equal(await input.inputValue(), TEXTS.question);

    // Refused (too long): the server's message, and the edit stays open.
    await input.evaluate((el) => { el.value = 'x'.repeat(4001); });
    await page.locator(tid('send-button')).click();
    await waitForText(page.locator(tid('send-error')), /^Not saved: .+/);
    assert.ok(await page.locator(tid('composer-bar')).isVisible());

    await input.fill(TEXTS.edited);
    await input.press('Enter');
    await page.locator(tid('composer-bar')).waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), 'a draft, kept while editing');
    await input.fill('');

    for (const p of [ana.page, ben.page]) {
      const msg = messageById(p, ids.question);
      await waitForText(msg.locator(tid('message-text')), TEXTS.edited);
      await waitForText(msg.locator(tid('message-edited')), 'edited');
      for (const id of [ids.reply, ids.file]) {
        await waitForText(messageById(p, id).locator(tid('reply-quote-text')), TEXTS.edited);
      }
    }
    assert.equal(await messageById(ben.page, ids.reply).locator(tid('message-edited')).count(), 0);
  });

  it('ana deletes a message: ben sees "message deleted" in its place', STEP, async () => {
    const { page } = ana;
    ids.oops = await send(page, TEXTS.oops);
    const theirs = messageById(ben.page, ids.oops);
    await waitForText(theirs.locator(tid('message-text')), TEXTS.oops);
    // ben may not delete ana's message in a direct chat: no button for it.
    assert.equal(await theirs.locator(tid('action-delete')).count(), 0);

    await act(messageById(page, ids.oops), 'delete');
    const dialog = page.locator(tid('delete-dialog'));
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator(tid('delete-confirm')).click();
    await dialog.waitFor({ state: 'hidden' });

    for (const p of [ana.page, ben.page]) {
      const msg = messageById(p, ids.oops);
      await waitForText(msg.locator(tid('message-deleted')), 'message deleted');
      assert.equal(await msg.locator(tid('message-text')).count(), 0);
      assert.equal(await msg.locator(tid('message-actions')).count(), 0);
    }
    await waitForText(chatItem(ben.page, ANA.display), 'message deleted');
    const tombstone = (await history((await stored(page)).token)).find((m) => m.id === ids.oops);
    assert.ok(tombstone?.deleted_at, JSON.stringify(tombstone));
    assert.equal(tombstone.text, null);
  });

  it('reactions: ben sees the count go 1, then 2 when he reacts too, then back to 1', STEP, async () => {
    const mine = messageById(ana.page, ids.cafe);
    const theirs = messageById(ben.page, ids.cafe);
    await act(mine, 'react');
    const picker = ana.page.locator(tid('reaction-picker'));
    await picker.waitFor({ state: 'visible' });
    await picker.locator(`${tid('pick-emoji')}[data-emoji="${THUMBS}"]`).click();
    await picker.waitFor({ state: 'detached' });
    await chipIs(mine, THUMBS, 1, true);
    await chipIs(theirs, THUMBS, 1, false);

    await chip(theirs, THUMBS).click();
    await chipIs(theirs, THUMBS, 2, true);
    await chipIs(mine, THUMBS, 2, true);
    await screenshot(ben.page, 'messages-reactions');

    await chip(mine, THUMBS).click();
    await chipIs(mine, THUMBS, 1, false);
    await chipIs(theirs, THUMBS, 1, true);
    const copy = (await history((await stored(ben.page)).token)).find((m) => m.id === ids.cafe);
    assert.deepEqual(copy.reactions, [{ emoji: THUMBS, count: 1, me: true }]);
  });

  it('clicking a quote scrolls back to the original and highlights it', STEP, async () => {
    ids.html = await send(ben.page, TEXTS.html);
    const anaToken = (await stored(ana.page)).token;
    for (let i = 1; i <= FILLERS; i++) {
      const sent = await api('POST', '/chats/send-message', anaToken, { chat_id: chatId, text: `filler ${i}` });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
    }
    const benToken = (await stored(ben.page)).token;
    const late = await api('POST', '/chats/send-message', benToken, { chat_id: chatId, text: TEXTS.late, reply_to: ids.cafe });
    assert.equal(late.status, 201, JSON.stringify(late.body));
    assert.equal(late.body.message.reply_to?.id, ids.cafe, JSON.stringify(late.body));
    ids.late = late.body.message.id;

    const { page } = ben;
    await page.reload();
    await online(page);
    await openChatNamed(page, ANA.display);
    const quote = messageById(page, ids.late).locator(tid('reply-quote'));
    await waitForText(quote.locator(tid('reply-quote-text')), TEXTS.cafe);
    assert.equal(await messageById(page, ids.cafe).count(), 0, 'the original is not loaded yet');
    await quote.click();
    await messageById(page, ids.cafe).and(page.locator('.highlight')).waitFor();
    await inView(page, ids.cafe);
  });

  it('search finds "Café" for "CAFE", marked; the result opens the chat at the message', STEP, async () => {
    const { page } = ana;
    await page.reload();
    await online(page);
    const answer = await searchFor(page, 'CAFE');
    assert.equal(answer.status(), 200);
    const results = page.locator(tid('search-result'));
    await waitForCount(results, 1);
    const result = results.first();
    assert.equal(await result.getAttribute('data-message-id'), String(ids.cafe));
    await waitForText(result.locator(tid('search-result-chat')), BEN.display);
    await waitForText(result.locator(tid('search-result-sender')), BEN.display);
    const snippet = result.locator(tid('search-result-snippet'));
    assert.deepEqual(await snippet.locator('mark').allTextContents(), ['Café']);
    assert.match(await snippet.innerHTML(), /<mark>Café<\/mark> Crème at noon/);
    assert.ok(await page.locator(tid('chat-list')).isHidden(), 'the results stand in for the chat list');
    await screenshot(page, 'messages-search');

    await result.click();
    await waitForText(page.locator(tid('chat-title')), BEN.display);
    await messageById(page, ids.cafe).and(page.locator('.highlight')).waitFor();
    await inView(page, ids.cafe);
    assert.ok(await messages(page).count() < FILLERS, 'opened at the message, not with the whole history');
    await screenshot(page, 'messages-search-opened');

    // Scrolling down loads the newer messages, up to the newest.
    await page.waitForFunction((id) => {
      const box = document.querySelector('[data-testid="message-list"]');
      box.scrollTop = box.scrollHeight;
      return Boolean(box.querySelector(`[data-message-id="${id}"]`));
    }, ids.late, { timeout: TIMEOUT, polling: 200 });
    await messageWithText(page, `filler ${FILLERS}`).waitFor({ state: 'attached' });
    // At the end again: a new message goes out and comes in as usual.
    await send(page, 'Found it');
    await messageWithText(ben.page, 'Found it').waitFor();
  });

  it('a snippet with HTML in the message shows it as text, every word marked', STEP, async () => {
    const { page } = ana;
    await searchFor(page, 'creme brulee');
    const results = page.locator(tid('search-result'));
    await waitForCount(results, 1);
    const snippet = results.first().locator(tid('search-result-snippet'));
    await waitForText(snippet, '<b>bold</b>');
    assert.deepEqual(await snippet.locator('mark').allTextContents(), ['crème', 'brûlée']);
    assert.equal(await snippet.locator(':not(mark)').count(), 0, 'no element but <mark> in the snippet');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
  });

  it('a query the server refuses shows its message', STEP, async () => {
    const { page } = ana;
    const answer = await searchFor(page, '*');
    assert.equal(answer.status(), 400);
    const { error } = await answer.json();
    await waitForText(page.locator(tid('search-status')), error.message);
    await waitForCount(page.locator(tid('search-result')), 0);
    // Clearing the box brings the chat list back.
    await page.locator(tid('message-search')).fill('');
    await page.locator(tid('chat-list')).waitFor({ state: 'visible' });
  });

  it('in a group its owner deletes anyone\'s message; a member only their own', STEP, async () => {
    const anaToken = (await stored(ana.page)).token;
    const benToken = (await stored(ben.page)).token;
    const benId = (await stored(ben.page)).user.id;
    const made = await api('POST', '/groups', anaToken, { name: `Plans ${suffix}`, member_ids: [benId] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const groupId = made.body.group.id;
    const said = await api('POST', '/chats/send-message', benToken, { group_id: groupId, text: 'Off-topic, sorry' });
    assert.equal(said.status, 201, JSON.stringify(said.body));
    const offTopic = said.body.message.id;

    await openChatNamed(ana.page, `Plans ${suffix}`);
    await openChatNamed(ben.page, `Plans ${suffix}`);
    const anaOwn = await send(ana.page, 'Welcome to the plans');
    const theirs = messageById(ben.page, anaOwn);
    await theirs.waitFor();
    assert.equal(await theirs.locator(tid('action-delete')).count(), 0, 'a plain member may not delete others\' messages');

    await act(messageById(ana.page, offTopic), 'delete');
    const dialog = ana.page.locator(tid('delete-dialog'));
    await dialog.locator(tid('delete-confirm')).click();
    await dialog.waitFor({ state: 'hidden' });
    for (const p of [ana.page, ben.page]) {
      await waitForText(messageById(p, offTopic).locator(tid('message-deleted')), 'message deleted');
    }
  });

  it('had no errors in the pages', STEP, () => {
    assert.deepEqual(ana.page.errors, []);
    assert.deepEqual(ben.page.errors, []);
  });
});
