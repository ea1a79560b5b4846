// Catch-up without gaps (API v2) in the demo page, in headless Chromium:
// the page keeps the seq of the last chat event it applied (localStorage,
// per user) and reconnects with auth.since; the server replays what was
// missed and the page applies it as if it had been there.
//
// ben has two groups with ana open in his page. He goes offline; meanwhile
// ana edits her message, adds cai to the first group and renames it, and
// removes ben from the second. When ben is back online his socket
// reconnects with since = the cursor he had kept, and the edit, the new
// member, the new name and the lost group all show, caught up by the replay
// alone: no GET /sync, no GET /chats, no history read again. The cursor
// then stands at the server's latest seq for ben, and a reload connects
// with it again.
//
// Steps run in order and share state; every wait has a timeout;
// screenshots go to target/e2e-screenshots/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  api, launch, person, screenshot, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 60_000 };
const PASSWORD = 'correct horse battery';
const suffix = `${process.pid % 10000}`;
const BEN = { username: `cben${suffix}`, display: 'Ben Away' };
const TEXTS = { original: 'Meet at six by the fountain', edited: 'Meet at seven by the fountain' };
const NAMES = { first: `Walkers ${suffix}`, renamed: `Evening walkers ${suffix}`, second: `Cyclists ${suffix}` };

let browser;
let ben; // { context, page, id, token }
let ana; // { id, token } (over the API)
let cai;
const groups = {};
let messageId;
let cursorBefore;
const seen = []; // what ben's page asked of the server while catching up: "METHOD path"
const handshakes = []; // the `since` of each Socket.IO CONNECT packet ben's page sent
let watching = false;

const groupItem = (page, id) => page.locator(`${tid('chat-item')}[data-chat-id="${id}"]`);
const messageById = (page, id) => page.locator(`${tid('message-list')} ${tid('message')}[data-message-id="${id}"]`);
const cursorOf = (page) => page.evaluate((id) => Number(localStorage.getItem(`chat.last_seq.${id}`)), ben.id);

async function register(username) {
  const res = await api('POST', '/auth/register', null, { username, password: PASSWORD, display_name: username });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.user.id, token: res.body.token };
}

// The CONNECT packet ("40" and the auth object) of Engine.IO/Socket.IO v4,
// in a polling POST body or a WebSocket frame.
function noteHandshake(payload) {
  for (const packet of String(payload ?? '').split('\x1e')) {
    if (!packet.startsWith('40')) continue;
    try {
      const auth = JSON.parse(packet.slice(packet.indexOf('{')));
      handshakes.push(auth.since);
    } catch {
      handshakes.push(undefined);
    }
  }
}

describe('catch-up in the demo page: a reconnect with since brings an edit and membership changes', { timeout: 300_000 }, () => {
  before(async () => {
    browser = await launch();
    ben = await person(browser);
    const { page } = ben;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname.startsWith('/socket.io/')) {
        if (req.method() === 'POST') noteHandshake(req.postData());
        return;
      }
      if (watching) seen.push(`${req.method()} ${url.pathname}`);
    });
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => noteHandshake(payload)));
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('ben signs up; ana has two groups with him and writes in the first', STEP, async () => {
    const { page } = ben;
    ana = await register(`cana${suffix}`);
    cai = await register(`ccai${suffix}`);
    await page.goto('/');
    await page.locator(tid('auth-username')).fill(BEN.username);
    await page.locator(tid('auth-password')).fill(PASSWORD);
    await page.locator(tid('auth-display-name')).fill(BEN.display);
    await page.locator(tid('register-button')).click();
    await waitForText(page.locator(tid('connection-status')), 'online');
    const record = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));
    Object.assign(ben, { id: record.user.id, token: record.token });

    for (const [which, name] of [['first', NAMES.first], ['second', NAMES.second]]) {
      const made = await api('POST', '/groups', ana.token, { name, member_ids: [ben.id] });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      groups[which] = made.body.group.id;
      await groupItem(page, groups[which]).waitFor();
    }
    const said = await api('POST', '/chats/send-message', ana.token, { group_id: groups.first, text: TEXTS.original });
    assert.equal(said.status, 201, JSON.stringify(said.body));
    messageId = said.body.message.id;
    await groupItem(page, groups.first).click();
    await waitForText(messageById(page, messageId).locator(tid('message-text')), TEXTS.original);
    // The cursor follows the events the page applied.
    const latest = (await api('GET', '/events?since=0&limit=1', ben.token)).body.latest_seq;
    assert.equal(await cursorOf(page), latest, 'the kept cursor is the latest seq ben has seen');
  });

  it('ben goes offline; ana edits, adds cai, renames, and removes ben from the second group', STEP, async () => {
    const { page, context } = ben;
    cursorBefore = await cursorOf(page);
    assert.ok(cursorBefore > 0);
    await context.setOffline(true);
    await waitForText(page.locator(tid('connection-status')), 'offline', 20_000);
    for (const [method, path, body, status] of [
      ['PATCH', `/messages/${messageId}`, { text: TEXTS.edited }, 200],
      ['POST', `/groups/${groups.first}/add-user`, { user_id: cai.id }, 200],
      ['PATCH', `/groups/${groups.first}`, { name: NAMES.renamed }, 200],
      ['DELETE', `/groups/${groups.second}/members/${ben.id}`, undefined, 200],
    ]) {
      const res = await api(method, path, ana.token, body);
      assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    }
    // Nothing reached the page while it was offline.
    await waitForText(messageById(page, messageId).locator(tid('message-text')), TEXTS.original);
    assert.equal(await cursorOf(page), cursorBefore);
    const missed = (await api('GET', `/events?since=${cursorBefore}`, ben.token)).body.events.map((e) => e.type);
    assert.deepEqual(missed, ['message_updated', 'member_added', 'group_updated', 'member_removed']);
  });

  it('back online, the socket reconnects with since and the replay alone brings it all', STEP, async () => {
    const { page, context } = ben;
    handshakes.length = 0;
    seen.length = 0;
    watching = true;
    await context.setOffline(false);
    await waitForText(page.locator(tid('connection-status')), 'online', 20_000);

    const msg = messageById(page, messageId);
    await waitForText(msg.locator(tid('message-text')), TEXTS.edited);
    await waitForText(msg.locator(tid('message-edited')), 'edited');
    await waitForText(page.locator(tid('chat-title')), NAMES.renamed);
    await waitForText(page.locator(tid('chat-subtitle')), '3 members');
    await waitForText(page.locator(tid('chat-subtitle')), `ccai${suffix}`);
    await waitForText(groupItem(page, groups.first), NAMES.renamed);
    await groupItem(page, groups.second).waitFor({ state: 'detached' });
    await screenshot(page, 'catchup-after-reconnect');

    assert.ok(handshakes.includes(cursorBefore), `a CONNECT with since=${cursorBefore}: ${JSON.stringify(handshakes)}`);
    const latest = (await api('GET', '/events?since=0&limit=1', ben.token)).body.latest_seq;
    await page.waitForFunction(([id, want]) => Number(localStorage.getItem(`chat.last_seq.${id}`)) === want, [ben.id, latest],
      { timeout: 10_000 });
    watching = false;
    const reloads = seen.filter((r) => /^GET \/(sync|chats)(\/|$)/.test(r) || r.startsWith('GET /events'));
    assert.deepEqual(reloads, [], `caught up by the replay, not by reading again: ${JSON.stringify(seen)}`);
  });

  it('the server has the same: history, members, and the second group out of ben\'s reach', STEP, async () => {
    const history = await api('GET', `/chats/${groups.first}`, ben.token);
    assert.equal(history.status, 200);
    assert.equal(history.body.chat.name, NAMES.renamed);
    assert.deepEqual(history.body.chat.members.map((m) => m.user_id).sort((a, b) => a - b), [ana.id, ben.id, cai.id].sort((a, b) => a - b));
    assert.equal(history.body.messages.find((m) => m.id === messageId).text, TEXTS.edited);
    assert.equal((await api('GET', `/chats/${groups.second}`, ben.token)).status, 403);
  });

  it('a reload connects with the kept cursor, and live events move it on', STEP, async () => {
    const { page } = ben;
    const kept = await cursorOf(page);
    handshakes.length = 0;
    await page.reload();
    await waitForText(page.locator(tid('connection-status')), 'online', 20_000);
    assert.ok(handshakes.includes(kept), `a CONNECT with since=${kept}: ${JSON.stringify(handshakes)}`);
    assert.equal(await groupItem(page, groups.second).count(), 0);
    const said = await api('POST', '/chats/send-message', ana.token, { group_id: groups.first, text: 'Bring a torch' });
    assert.equal(said.status, 201);
    await page.waitForFunction(([id, before]) => Number(localStorage.getItem(`chat.last_seq.${id}`)) > before, [ben.id, kept],
      { timeout: 10_000 });
  });

  it('had no errors in the page', STEP, () => {
    assert.deepEqual(ben.page.errors, []);
  });
});
