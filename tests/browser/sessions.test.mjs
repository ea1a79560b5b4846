// Sessions and devices in the demo page (API v2), in headless Chromium.
//
// Part 1, on the main server: sam signs up on a laptop (Chromium) and logs
// in on a second device (a context with a Firefox-on-Windows user agent);
// the laptop's devices panel lists both with the current one marked;
// signing the other out from the panel sends that device to the login
// screen (by `session_revoked`) and its tokens are refused; the laptop
// survives a reload and a refused call (one refresh, one retry); a new
// display name reaches the other device and a friend; a password change
// signs the other devices out and keeps this one; logging out revokes the
// session, and a logout the server never hears of still signs out here.
//
// Part 2, on a server with 15 s access tokens (CHAT_URL_SHORT_TTL): two tabs
// of one browser share the session; the page refreshes the token before it
// expires, once for both tabs (a refresh token spent twice would revoke the
// session), keeps working after the first token is refused, reconnects its
// socket with the new token; a tab opened after the stored token expired
// refreshes first; a logout in one tab takes the other to the login screen.
//
// Steps run in order and share state; every wait has a timeout;
// screenshots go to target/e2e-screenshots/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BASE, LAPTOP, PHONE, TIMEOUT, api, apiAt, launch, person, screenshot, tab, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 60_000 };
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'staple battery horse';
const SHORT = process.env.CHAT_URL_SHORT_TTL;
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SIGNED_OUT = 'This device was signed out';

const suffix = `${process.pid % 10000}`;
const SAM = { username: `sam${suffix}`, display: 'Sam Sessions' };
const FRAN = { username: `fran${suffix}`, display: 'Fran Friend' };

const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));
const messages = (page) => page.locator(`${tid('message-list')} ${tid('message')}`);
const chatItem = (page, name) => page.locator(tid('chat-item')).filter({
  has: page.locator(tid('chat-name')).getByText(name, { exact: true }),
});
const deviceItems = (page) => page.locator(`${tid('devices-panel')} ${tid('device-item')}`);
const deviceItem = (page, sessionId) => page.locator(`${tid('device-item')}[data-session-id="${sessionId}"]`);

async function fillAuth(page, username, password) {
  await page.locator(tid('auth-username')).fill(username);
  await page.locator(tid('auth-password')).fill(password);
}

async function online(page) {
  await page.locator(tid('app')).waitFor({ state: 'visible' });
  await waitForText(page.locator(tid('connection-status')), 'online', 20_000);
}

// Signs up (or logs in) through the page's form; resolves to the JSON the
// page sent, to check its device_name.
async function signUp(page, who) {
  await page.goto('/');
  await fillAuth(page, who.username, PASSWORD);
  await page.locator(tid('auth-display-name')).fill(who.display);
  const sent = page.waitForRequest((r) => r.url().endsWith('/auth/register'), { timeout: TIMEOUT });
  await page.locator(tid('register-button')).click();
  const body = (await sent).postDataJSON();
  await online(page);
  await waitForText(page.locator(tid('me-name')), who.display);
  return body;
}

async function logIn(page, who, password = PASSWORD) {
  if (!(await page.locator(tid('auth-screen')).isVisible())) await page.goto('/');
  await page.locator(tid('auth-screen')).waitFor();
  await fillAuth(page, who.username, password);
  const sent = page.waitForRequest((r) => r.url().endsWith('/auth/login'), { timeout: TIMEOUT });
  await page.locator(tid('login-button')).click();
  const body = (await sent).postDataJSON();
  await online(page);
  return body;
}

async function send(page, text) {
  const input = page.locator(tid('message-input'));
  await input.fill(text);
  await input.press('Enter');
  await messages(page).filter({ hasText: text }).first().waitFor({ state: 'visible' });
  assert.equal(await input.inputValue(), '');
}

async function openChatNamed(page, name) {
  await page.locator(tid('tab-chats')).click();
  await chatItem(page, name).click();
  await waitForText(page.locator(tid('chat-title')), name);
}

async function openChatWith(page, who) {
  await page.locator(tid('tab-people')).click();
  await page.locator(`${tid('user-item')}[data-username="${who.username}"]`).click();
  await waitForText(page.locator(tid('chat-title')), who.display);
}

async function openDevices(page) {
  await page.locator(tid('devices-button')).click();
  await page.locator(tid('devices-panel')).waitFor({ state: 'visible' });
  await page.locator(`${tid('devices-panel')} ${tid('device-item')}`).first().waitFor();
}

async function closeDevices(page) {
  await page.locator(tid('devices-close')).click();
  await page.locator(tid('devices-panel')).waitFor({ state: 'hidden' });
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

// Polls until `fn` resolves truthy; `what` names it in the failure.
async function eventually(fn, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
}

// What the page's Socket.IO client sent and received, over WebSocket frames
// and long-polling requests alike (Engine.IO packets as text).
function socketLog(page) {
  const log = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => log.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => log.received.push(String(f.payload)));
  });
  page.on('request', (r) => {
    if (r.url().includes('/socket.io/') && r.method() === 'POST') log.sent.push(r.postData() ?? '');
  });
  page.on('response', (r) => {
    if (r.url().includes('/socket.io/') && r.request().method() === 'GET') {
      r.text().then((text) => log.received.push(text), () => {});
    }
  });
  return log;
}

const revokedEvents = (log) => log.received.filter((p) => p.includes('"session_revoked"'));

// The tokens of the CONNECT packets the client sent ("40{"token":…}").
const connectTokens = (log) => log.sent.flatMap((p) => p.split('\x1e'))
  .filter((p) => p.startsWith('40'))
  .map((p) => { try { return JSON.parse(p.slice(2)).token; } catch { return null; } });

// The page's calls to /auth/*, with their answers' status.
function authCalls(page) {
  const calls = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/auth/')) calls.push({ method: r.request().method(), path: url.pathname, status: r.status() });
  });
  return calls;
}

describe('sessions and devices in the demo page', { timeout: 300_000 }, () => {
  let browser;
  let laptop; // { context, page, log }
  let other; // the second device
  let friend; // fran's page (part of the way)
  let laptopSession; // the laptop's stored record
  let otherSession;

  before(async () => {
    browser = await launch();
    laptop = await person(browser);
    laptop.log = socketLog(laptop.page);
    other = await person(browser, LAPTOP, { userAgent: FIREFOX_ON_WINDOWS });
    other.log = socketLog(other.page);
    const made = await api('POST', '/auth/register', null, { username: FRAN.username, password: PASSWORD, display_name: FRAN.display });
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('signs up on a laptop and logs in on a second device, each naming its device', STEP, async () => {
    const registered = await signUp(laptop.page, SAM);
    assert.match(registered.device_name, /^Chrome on \S+$/);
    assert.ok(registered.device_name.length <= 64);
    const loggedIn = await logIn(other.page, SAM);
    assert.equal(loggedIn.device_name, 'Firefox on Windows');

    laptopSession = await stored(laptop.page);
    otherSession = await stored(other.page);
    for (const record of [laptopSession, otherSession]) {
      assert.ok(record.token && record.refresh_token && record.expires_at && record.refresh_expires_at, JSON.stringify(record));
      assert.equal(record.user.username, SAM.username);
      assert.ok(record.session?.id, `no session in ${JSON.stringify(record)}`);
    }
    assert.notEqual(laptopSession.session.id, otherSession.session.id);
    assert.equal(laptopSession.session.device_name, registered.device_name);
    assert.equal(otherSession.session.device_name, 'Firefox on Windows');
  });

  it('the devices panel lists both devices, the current one marked', STEP, async () => {
    const { page } = laptop;
    await openDevices(page);
    await waitForCount(deviceItems(page), 2);
    const listed = await api('GET', '/auth/sessions', laptopSession.token);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(listed.body.sessions.map((s) => s.current), listed.body.sessions.map((s) => s.id === laptopSession.session.id));
    // In the server's order (most recently used first).
    assert.deepEqual(
      await deviceItems(page).evaluateAll((els) => els.map((el) => el.dataset.sessionId)),
      listed.body.sessions.map((s) => String(s.id)),
    );

    const current = page.locator(`${tid('devices-panel')} ${tid('device-item')}[data-current="true"]`);
    await waitForCount(current, 1);
    assert.equal(await current.getAttribute('data-session-id'), String(laptopSession.session.id));
    assert.equal(await page.locator(`${tid('devices-panel')} ${tid('device-current')}`).count(), 1);
    assert.equal(await current.locator(tid('device-current')).count(), 1);
    await waitForText(current.locator(tid('device-name')), laptopSession.session.device_name);

    const second = deviceItem(page, otherSession.session.id);
    assert.equal(await second.getAttribute('data-current'), 'false');
    await waitForText(second.locator(tid('device-name')), 'Firefox on Windows');
    await waitForText(second.locator(tid('device-agent')), 'Firefox/128.0');
    const apiOther = listed.body.sessions.find((s) => s.id === otherSession.session.id);
    assert.match(apiOther.user_agent ?? '', /Firefox\/128\.0/, 'the server kept the user agent');
    assert.match(apiOther.ip ?? '', /127\.0\.0\.1/, `the server kept the address: ${JSON.stringify(apiOther)}`);
    await waitForText(second.locator(tid('device-meta')), `IP ${apiOther.ip}`);
    await waitForText(second.locator(tid('device-meta')), /signed in .+ · last active .+/);
    await screenshot(page, 'devices-panel');
  });

  it('signing the other device out sends it to the login screen, and its tokens stop working', STEP, async () => {
    const { page } = laptop;
    await deviceItem(page, otherSession.session.id).locator(tid('device-signout')).click();
    await waitForCount(deviceItems(page), 1);
    assert.equal(await deviceItems(page).first().getAttribute('data-current'), 'true');

    // The other device did nothing: the server's session_revoked took it out.
    await other.page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    await waitForText(other.page.locator(tid('auth-error')), SIGNED_OUT);
    assert.equal(await other.page.evaluate(() => localStorage.getItem('chat.session')), null);
    const events = revokedEvents(other.log);
    assert.ok(events.length >= 1, 'the other device got no session_revoked');
    assert.match(events[0], new RegExp(`"session_id":\\s*"?${otherSession.session.id}"?`), events[0]);
    assert.deepEqual(revokedEvents(laptop.log), [], 'the laptop got a session_revoked for a session not its own');
    await screenshot(other.page, 'signed-out-device');

    const me = await api('GET', '/auth/me', otherSession.token);
    assert.equal(me.status, 401, JSON.stringify(me.body));
    assert.equal(me.body.error.code, 'unauthorized');
    const refreshed = await api('POST', '/auth/refresh', null, { refresh_token: otherSession.refresh_token });
    assert.equal(refreshed.status, 401, JSON.stringify(refreshed.body));

    // The laptop is untouched.
    await closeDevices(page);
    assert.equal((await api('GET', '/auth/me', laptopSession.token)).status, 200);
    await openChatWith(page, FRAN);
    await send(page, 'Signed my old phone out');
  });

  it('after a reload the laptop is still signed in', STEP, async () => {
    const { page } = laptop;
    await page.reload();
    await online(page);
    await waitForText(page.locator(tid('me-name')), SAM.display);
    await openChatNamed(page, FRAN.display);
    await messages(page).filter({ hasText: 'Signed my old phone out' }).waitFor();
    const record = await stored(page);
    assert.equal(record.session.id, laptopSession.session.id);
    assert.equal((await api('GET', '/auth/me', record.token)).status, 200);
  });

  it('a call refused with 401 is retried once after a refresh', STEP, async () => {
    const { page } = laptop;
    const before = await stored(page);
    const calls = authCalls(page);
    let refused = 0;
    const users = (url) => url.pathname === '/users';
    await page.route(users, async (route) => {
      if (refused++ > 0) return route.continue();
      return route.fulfill({
        status: 401,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'unauthorized', message: 'token expired' } }),
      });
    });
    try {
      await page.locator(tid('tab-people')).click(); // GET /users
      await page.locator(`${tid('user-item')}[data-username="${FRAN.username}"]`).waitFor();
      await eventually(() => refused >= 2 && calls.some((c) => c.path === '/auth/refresh'), 'the refresh and the retry');
    } finally {
      await page.unroute(users);
    }
    assert.deepEqual(calls.filter((c) => c.path === '/auth/refresh').map((c) => c.status), [200]);
    const after = await stored(page);
    assert.notEqual(after.token, before.token);
    assert.notEqual(after.refresh_token, before.refresh_token);
    assert.equal(after.session.id, before.session.id);
    assert.ok(await page.locator(tid('app')).isVisible());
    laptopSession = after;
    assert.equal((await api('GET', '/auth/me', after.token)).status, 200);
  });

  it('a new display name shows on my other device and to the people I chat with', STEP, async () => {
    await logIn(other.page, SAM);
    friend = await person(browser);
    await logIn(friend.page, FRAN);
    await waitForText(chatItem(friend.page, SAM.display).locator(tid('chat-name')), SAM.display);

    const { page } = laptop;
    await openDevices(page);
    await page.locator(tid('profile-display-name')).fill('Samantha');
    await page.locator(tid('profile-save')).click();
    await waitForText(page.locator(tid('profile-status')), 'Saved');
    await closeDevices(page);
    await waitForText(page.locator(tid('me-name')), 'Samantha');
    await waitForText(other.page.locator(tid('me-name')), 'Samantha'); // user_updated to my sockets
    await chatItem(friend.page, 'Samantha').waitFor(); // user_updated to those who share a chat
    await openChatNamed(friend.page, 'Samantha');
    assert.equal((await stored(page)).user.display_name, 'Samantha');
  });

  it('changing the password signs the other devices out and keeps this one', STEP, async () => {
    const { page } = laptop;
    otherSession = await stored(other.page);
    const before = await stored(page);
    await openDevices(page);
    await waitForCount(deviceItems(page), 2);
    await page.locator(tid('password-current')).fill(PASSWORD);
    await page.locator(tid('password-new')).fill(NEW_PASSWORD);
    await page.locator(tid('password-save')).click();
    await waitForText(page.locator(tid('password-status')), 'Password changed');
    await waitForCount(deviceItems(page), 1);
    await other.page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    await waitForText(other.page.locator(tid('auth-error')), SIGNED_OUT);
    assert.equal((await api('GET', '/auth/me', otherSession.token)).status, 401);

    const after = await stored(page);
    assert.equal(after.session.id, before.session.id);
    assert.notEqual(after.refresh_token, before.refresh_token);
    assert.equal((await api('GET', '/auth/me', after.token)).status, 200);
    await closeDevices(page);
    await openChatNamed(page, FRAN.display);
    await send(page, 'New password, same laptop');
    await messages(friend.page).filter({ hasText: 'New password, same laptop' }).waitFor();

    const old = await api('POST', '/auth/login', null, { username: SAM.username, password: PASSWORD });
    assert.equal(old.status, 401, JSON.stringify(old.body));
    laptopSession = after;
  });

  it('logs out: the session is revoked on the server', STEP, async () => {
    const { page } = laptop;
    const record = await stored(page);
    await page.locator(tid('logout-button')).click();
    await page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    assert.ok(await page.locator(tid('auth-error')).isHidden());
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
    const me = await api('GET', '/auth/me', record.token);
    assert.equal(me.status, 401, JSON.stringify(me.body));
    const refreshed = await api('POST', '/auth/refresh', null, { refresh_token: record.refresh_token });
    assert.equal(refreshed.status, 401, JSON.stringify(refreshed.body));
    await page.reload();
    await page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
  });

  it('logging out still signs out here when the server cannot be told', STEP, async () => {
    const { page } = laptop;
    await logIn(page, SAM, NEW_PASSWORD);
    const record = await stored(page);
    await page.route('**/auth/logout', (route) => route.abort('connectionrefused'));
    try {
      await page.locator(tid('logout-button')).click();
      await page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    } finally {
      await page.unroute('**/auth/logout');
    }
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
    // The server never heard of it: that session is still alive. Done here.
    assert.equal((await api('POST', '/auth/logout', record.token)).status, 204);
    assert.equal((await api('GET', '/auth/me', record.token)).status, 401);
  });

  it('at phone width; signing this device out from the panel logs out', STEP, async () => {
    const { page } = other;
    await page.setViewportSize(PHONE);
    await logIn(page, SAM, NEW_PASSWORD);
    const record = await stored(page);
    await openDevices(page);
    await screenshot(page, 'devices-panel-phone');
    const current = page.locator(`${tid('devices-panel')} ${tid('device-item')}[data-current="true"]`);
    await current.locator(tid('device-signout')).click();
    await page.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    assert.ok(await page.locator(tid('devices-panel')).isHidden());
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null);
    assert.equal((await api('GET', '/auth/me', record.token)).status, 401);
  });

  it('had no errors in the pages', STEP, () => {
    assert.deepEqual(laptop.page.errors, []);
    assert.deepEqual(other.page.errors, []);
    assert.deepEqual(friend?.page.errors ?? [], []);
  });
});

describe('token refresh with 15 s access tokens', {
  timeout: 300_000,
  skip: !SHORT && 'set CHAT_URL_SHORT_TTL to a server started with --token-ttl 15s (tests/browser/run.sh does)',
}, () => {
  const ZOE = { username: `zoe${suffix}`, display: 'Zoe Refresh' };
  const YAN = { username: `yan${suffix}`, display: 'Yan Friend' };
  const LATE = { username: `late${suffix}`, display: 'Late Comer' };
  let browser;
  let context;
  let first; // page (tab) 1
  let second; // page (tab) 2
  let log; // tab 1's socket traffic
  const refreshes = []; // every POST /auth/refresh of either tab: { tab, status }
  let initial; // the record right after signing up
  const closedErrors = []; // errors of the tabs closed on the way

  const watchRefreshes = (page, name) => page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/auth/refresh') refreshes.push({ tab: name, status: r.status() });
  });

  before(async () => {
    browser = await launch();
    ({ context, page: first } = await person(browser, LAPTOP, { baseURL: SHORT }));
    log = socketLog(first);
    watchRefreshes(first, 'first');
    const made = await apiAt(SHORT, 'POST', '/auth/register', null, { username: YAN.username, password: PASSWORD, display_name: YAN.display });
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('signs up, and a second tab shares the session', STEP, async () => {
    await signUp(first, ZOE);
    initial = await stored(first);
    const lifetime = Date.parse(initial.expires_at) - Date.now();
    assert.ok(lifetime > 0 && lifetime <= 16_000, `the server at ${SHORT} gives tokens for ${lifetime} ms, not 15 s: is it started with --token-ttl 15s?`);
    second = await tab(context);
    watchRefreshes(second, 'second');
    await second.goto('/');
    await online(second);
    await waitForText(second.locator(tid('me-name')), ZOE.display);
    await openChatWith(first, YAN);
    await send(first, 'Before the first token expires');
  });

  it('refreshes the token before it expires, and goes on working after', STEP, async () => {
    const expires = Date.parse(initial.expires_at);
    await first.waitForFunction((token) => JSON.parse(localStorage.getItem('chat.session'))?.token !== token,
      initial.token, { timeout: 20_000 });
    assert.ok(Date.now() < expires, 'the token was not refreshed before it expired');
    // Until the server refuses the first token: it has expired.
    await eventually(async () => (await apiAt(SHORT, 'GET', '/auth/me', initial.token)).status === 401,
      'the first token to expire', 25_000);

    const now = await stored(first);
    assert.notEqual(now.token, initial.token);
    assert.notEqual(now.refresh_token, initial.refresh_token);
    assert.equal(now.session.id, initial.session.id);
    assert.ok(Date.parse(now.expires_at) > expires);
    // No refresh token was spent twice: the session is alive, the only one.
    const sessions = await apiAt(SHORT, 'GET', '/auth/sessions', now.token);
    assert.equal(sessions.status, 200, JSON.stringify(sessions.body));
    assert.deepEqual(sessions.body.sessions.map((s) => s.id), [initial.session.id]);
    assert.ok(refreshes.length >= 1);
    assert.deepEqual(refreshes.filter((r) => r.status !== 200), [], JSON.stringify(refreshes));

    // Both tabs still work: a message over the socket, a list over REST.
    await send(first, 'After the first token expired');
    const late = await apiAt(SHORT, 'POST', '/auth/register', null, { username: LATE.username, password: PASSWORD, display_name: LATE.display });
    assert.equal(late.status, 201);
    await second.locator(tid('tab-people')).click();
    await second.locator(`${tid('user-item')}[data-username="${LATE.username}"]`).waitFor();
    await openChatNamed(second, YAN.display);
    await messages(second).filter({ hasText: 'After the first token expired' }).waitFor();
    for (const page of [first, second]) assert.ok(await page.locator(tid('app')).isVisible());
  });

  it('reconnects its socket with the refreshed token', STEP, async () => {
    const connectsBefore = connectTokens(log).length;
    assert.ok(connectsBefore >= 1, 'no CONNECT packet seen');
    await context.setOffline(true);
    try {
      await waitForText(first.locator(tid('connection-status')), 'offline', 20_000);
    } finally {
      await context.setOffline(false);
    }
    await waitForText(first.locator(tid('connection-status')), 'online', 20_000);
    const tokens = connectTokens(log).slice(connectsBefore);
    assert.ok(tokens.length >= 1, 'no reconnect seen');
    assert.ok(!tokens.includes(initial.token), 'reconnected with the expired first token');
    // Straight in with the token it had: no connect was refused.
    assert.deepEqual(log.received.filter((p) => p.includes('44{')), []);
    const yan = await apiAt(SHORT, 'POST', '/auth/login', null, { username: YAN.username, password: PASSWORD });
    const sent = await apiAt(SHORT, 'POST', '/chats/send-message', yan.body.token, { to: initial.user.id, text: 'Are you back?' });
    assert.equal(sent.status, 201);
    await messages(first).filter({ hasText: 'Are you back?' }).waitFor();
    await send(first, 'Back online');
  });

  it('a tab opened after the stored token expired refreshes it first, without the password', STEP, async () => {
    closedErrors.push(...first.errors, ...second.errors);
    await second.close();
    await first.close();
    // No tab is left to refresh: wait until the stored token has expired.
    const probe = await context.newPage();
    await probe.goto('/assets/style.css');
    const record = await probe.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));
    await probe.close();
    await eventually(async () => (await apiAt(SHORT, 'GET', '/auth/me', record.token)).status === 401,
      'the stored token to expire', 25_000);

    first = await tab(context);
    const calls = authCalls(first);
    await first.goto('/');
    await online(first);
    await waitForText(first.locator(tid('me-name')), ZOE.display);
    assert.equal(calls[0]?.path, '/auth/refresh', JSON.stringify(calls));
    assert.deepEqual(calls.filter((c) => c.status === 401), [], JSON.stringify(calls));
    const now = await stored(first);
    assert.notEqual(now.token, record.token);
    assert.equal(now.session.id, initial.session.id);
    await openChatNamed(first, YAN.display);
    await messages(first).filter({ hasText: 'Back online' }).waitFor();
  });

  it('logging out in one tab takes the other to the login screen', STEP, async () => {
    second = await tab(context);
    await second.goto('/');
    await online(second);
    const record = await stored(second);
    await first.locator(tid('logout-button')).click();
    await first.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    await second.locator(tid('auth-screen')).waitFor({ state: 'visible' });
    await waitForText(second.locator(tid('auth-error')), 'logged out in another tab');
    const refreshed = await apiAt(SHORT, 'POST', '/auth/refresh', null, { refresh_token: record.refresh_token });
    assert.equal(refreshed.status, 401, JSON.stringify(refreshed.body));
    await screenshot(second, 'logged-out-in-another-tab');
  });

  it('logging in in one tab signs the other in too', STEP, async () => {
    await logIn(first, ZOE);
    await online(second);
    await waitForText(second.locator(tid('me-name')), ZOE.display);
  });

  it('had no errors in the pages', STEP, () => {
    assert.deepEqual(closedErrors, []);
    assert.deepEqual(first.errors, []);
    assert.deepEqual(second.errors, []);
  });
});
