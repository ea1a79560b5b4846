// The session's tokens: a short-lived access token, refreshed shortly
// before it expires (and once when the server refuses it), with a
// single-use refresh token. Every tab of the browser shares one session
// record in localStorage, so refreshing is done under a lock shared by the
// tabs: a refresh token presented twice revokes the whole session on the
// server. Tabs learn of each other's tokens (and logouts) from the
// `storage` event. Inside the lock the tokens are read from IndexedDB too:
// a tab's localStorage may not show yet what another tab wrote a moment
// ago (Chromium delivers it to each tab's copy later), IndexedDB does.
import {
  api, useToken, session, clockSkew, noteServerDate, ApiError, SESSION_KEY,
} from './api.js';

const LOCK = 'chat.session.refresh';
const MIN_DELAY = 5_000; // never refresh sooner than this after getting a token…
const RETRY_DELAY = 5_000; // …except to try again after a failed attempt
const REFRESH_TIMEOUT = 15_000;

let current = null; // this tab's session record, or null when signed out
let timer = null;
let inflight = null; // this tab's refresh under way: Promise<record|null>
let generation = 0; // moves on each begin() and end(): answers for an older session are dropped
let listeners = {
  changed: () => {}, // (record, previous): new tokens (here or in another tab)
  signedOut: () => {}, // (reason, record, {otherTab}): the session ended, or another tab logged out
  signedIn: () => {}, // (record): another tab logged in while this one was signed out
};

export function onSession(handlers) {
  listeners = { ...listeners, ...handlers };
}

export const currentSession = () => current;

// A session record from a login, register, refresh or password answer.
export function recordOf(data, previous) {
  return {
    token: data.token,
    expires_at: data.expires_at,
    refresh_token: data.refresh_token ?? previous?.refresh_token ?? null,
    refresh_expires_at: data.refresh_expires_at ?? previous?.refresh_expires_at ?? null,
    user: data.user ?? previous?.user,
    session: data.session ?? previous?.session ?? null,
    issued: Date.now(),
    skew: clockSkew(),
  };
}

// When the access token expires, on our clock.
function expiresLocal(record) {
  return Date.parse(record.expires_at ?? '') + (record.skew ?? 0);
}

// When to refresh: at 80 % of the token's lifetime or 30 s before it
// expires, whichever is earlier, but not sooner than MIN_DELAY (or half its
// lifetime, for very short ones) after it was issued.
export function refreshDue(record) {
  const expires = expiresLocal(record);
  if (!Number.isFinite(expires) || !record.refresh_token) return Infinity;
  const issued = Math.min(record.issued ?? Date.now(), expires);
  const life = expires - issued;
  const lead = Math.min(0.8 * life, life - 30_000);
  return issued + Math.max(lead, Math.min(MIN_DELAY, life / 2));
}

export const isExpired = (record, margin = 2_000) => Date.now() + margin >= expiresLocal(record);

function schedule(at) {
  clearTimeout(timer);
  timer = null;
  if (!current || !Number.isFinite(at)) return;
  // setTimeout takes at most 2^31-1 ms; a later time is scheduled again then.
  const delay = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
  timer = setTimeout(() => {
    timer = null;
    if (!current) return;
    if (Date.now() < at - 1000) return schedule(at);
    refresh(current.token).catch(() => {}); // a failure schedules a retry
    return undefined;
  }, delay);
}

// This tab now uses `record` (or nothing).
function adopt(record) {
  const previous = current;
  current = record;
  useToken(record?.token ?? null);
  if (record) schedule(refreshDue(record));
  else schedule(Infinity);
  if (record && previous && record.token !== previous.token) listeners.changed(record, previous);
}

// Starts using a session this page got from a login or register (saves it
// for the other tabs) or found in localStorage.
export function begin(record, { save = true } = {}) {
  if (save) session.save(record);
  generation++;
  current = null;
  inflight = null;
  adopt(record);
}

// Stops refreshing and forgets the tokens (clearing is the caller's).
export function end() {
  generation++;
  inflight = null;
  adopt(null);
}

// The new record's user, e.g. after PATCH /auth/me; saved for the other tabs.
export function updateUser(user) {
  if (!current) return;
  current = { ...current, user };
  const stored = session.load();
  if (stored && stored.token === current.token) session.save({ ...stored, user });
}

// Changes the password (POST /auth/password). The answer replaces this
// session's refresh token, so it is asked under the tabs' refresh lock: a
// tab refreshing with the old one meanwhile would revoke the session.
export async function changePassword(body) {
  const attempt = () => withLock(async () => {
    const gen = generation;
    const used = current?.token;
    if (!used) throw new ApiError(401, 'unauthorized', 'signed out');
    let res;
    try {
      res = await fetch('/auth/password', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${used}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REFRESH_TIMEOUT),
      });
    } catch {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    noteServerDate(res);
    const data = await res.json().catch(() => null);
    if (res.ok && gen === generation) {
      const record = recordOf(data, current);
      await saveShared(record);
      adopt(record);
    }
    return { res, data, used };
  });
  let { res, data, used } = await attempt();
  if (res.status === 401 && data?.error?.code === 'unauthorized') {
    // An expired access token: once more with a fresh one.
    if (await refreshedToken(used)) ({ res, data, used } = await attempt());
  }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error?.code ?? `http_${res.status}`, data?.error?.message ?? 'request failed');
  }
  return data;
}

const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// The tokens as the last refresh (or password change) under the lock left
// them, in IndexedDB: { ...record } or null. Every call may fail (no
// IndexedDB): then localStorage alone is used.
const IDB_NAME = 'chat';
const IDB_STORE = 'session';
let idbOpen = null;
function idb() {
  idbOpen ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(IDB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(IDB_STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB blocked'));
  });
  idbOpen.catch(() => { idbOpen = null; });
  return idbOpen;
}

async function idbDo(mode, op) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(IDB_STORE, mode);
    const req = op(tx.objectStore(IDB_STORE));
    tx.oncomplete = () => resolve(req.result ?? null);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

const kept = {
  load: () => idbDo('readonly', (store) => store.get('current')),
  save: (record) => idbDo('readwrite', (store) => store.put(record, 'current')),
  clear: () => idbDo('readwrite', (store) => store.delete('current')),
};

// Under the lock: the session record as the tabs last left it.
async function sharedRecord() {
  const local = session.load();
  if (!local) return null;
  let last = null;
  try {
    last = await kept.load();
  } catch {
    return local;
  }
  if (last?.session?.id != null && last.session.id === local.session?.id && last.token !== local.token
      && (last.issued ?? 0) >= (local.issued ?? 0)) {
    return { ...last, user: local.user ?? last.user }; // newer than this tab's localStorage shows
  }
  return local;
}

// Under the lock: a new record for every tab.
async function saveShared(record) {
  try {
    await kept.save(record);
  } catch {
    // No IndexedDB: localStorage only.
  }
  session.save(record);
}

// Forgets the kept tokens (after a logout); the record in localStorage is
// the caller's.
export function forgetKept() {
  kept.clear().catch(() => {});
}

// The tabs' lock: Web Locks where there are (secure contexts), else a
// lease in IndexedDB (taken in one transaction, so only one tab gets it;
// it lapses if its tab dies holding it). Without either, no lock.
const LEASE_MS = REFRESH_TIMEOUT + 5_000;

function lease(me, take) {
  return idb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(IDB_STORE, 'readwrite');
    const store = tx.objectStore(IDB_STORE);
    let mine = false;
    const req = store.get('lease');
    req.onsuccess = () => {
      const held = req.result;
      if (take && (!held || held.until < Date.now())) {
        store.put({ owner: me, until: Date.now() + LEASE_MS }, 'lease');
        mine = true;
      } else if (!take && held?.owner === me) {
        store.delete('lease');
      }
    };
    tx.oncomplete = () => resolve(mine);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  }));
}

async function withLock(fn) {
  if (navigator.locks?.request) return navigator.locks.request(LOCK, fn);
  const me = `${Date.now()}-${Math.random()}`;
  const deadline = Date.now() + LEASE_MS;
  let held = false;
  for (;;) {
    try {
      held = await lease(me, true);
    } catch {
      break; // no IndexedDB
    }
    if (held || Date.now() > deadline) break;
    await wait(100);
  }
  try {
    return await fn();
  } finally {
    if (held) lease(me, false).catch(() => {});
  }
}

// Gets a new access token because `stale` is (nearly) expired or was
// refused. Resolves to the record now in use (maybe one another tab stored
// meanwhile), or null when the session is over (signed out in another tab,
// or the refresh token refused: then the page is told); rejects when the
// server cannot be reached or fails (then a retry is scheduled).
export function refresh(stale) {
  if (!current) return Promise.resolve(null);
  if (current.token !== stale) return Promise.resolve(current);
  if (inflight) return inflight;
  const mine = current;
  const gen = generation;
  const attempt = withLock(async () => {
    // Inside the lock: what is stored now is the truth for every tab.
    const stored = await sharedRecord();
    if (!stored) return { record: null, reason: session.signoutReason() ?? 'logout' };
    if (stored.token !== stale || stored.session?.id !== mine.session?.id) {
      return { record: stored }; // another tab refreshed (or signed in afresh)
    }
    if (!stored.refresh_token) return { record: null, reason: 'revoked' };
    let res;
    try {
      res = await fetch('/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: stored.refresh_token }),
        signal: AbortSignal.timeout(REFRESH_TIMEOUT),
      });
    } catch {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    noteServerDate(res);
    const data = await res.json().catch(() => null);
    if (res.ok && data?.token) {
      const record = recordOf(data, stored);
      await saveShared(record);
      return { record };
    }
    if (res.status === 401) return { record: null, reason: 'revoked' };
    throw new ApiError(res.status, data?.error?.code ?? `http_${res.status}`, data?.error?.message ?? 'refresh failed');
  });
  const settled = attempt.then(({ record, reason }) => {
    if (inflight === settled) inflight = null;
    if (gen !== generation) return current; // signed out (or in afresh) meanwhile
    if (!record) {
      end();
      listeners.signedOut(reason, mine);
      return null;
    }
    if (record.user?.id !== mine.user?.id) {
      // Another tab signed in as someone else: start over with that.
      end();
      listeners.signedIn(record);
      return null;
    }
    if (record.token !== current?.token) adopt(record);
    return current;
  }, (err) => {
    if (inflight === settled) inflight = null;
    if (gen === generation) schedule(Date.now() + RETRY_DELAY);
    throw err;
  });
  inflight = settled;
  return settled;
}

// The api() hook: a token to try again with, or null.
export async function refreshedToken(stale) {
  const record = await refresh(stale);
  return record?.token ?? null;
}

// Refreshes now if it is due (after the computer slept, or came back online).
function catchUpOnTime() {
  if (current && !inflight && Date.now() >= refreshDue(current)) refresh(current.token).catch(() => {});
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') catchUpOnTime();
});
window.addEventListener('online', catchUpOnTime);

// Another tab stored tokens, logged in or out.
window.addEventListener('storage', (event) => {
  if (event.storageArea !== localStorage || (event.key !== SESSION_KEY && event.key !== null)) return;
  const stored = session.load();
  if (!current) {
    if (stored) listeners.signedIn(stored);
    return;
  }
  if (!stored) {
    const mine = current;
    end();
    listeners.signedOut(session.signoutReason() ?? 'logout', mine, { otherTab: true });
    return;
  }
  if (stored.token === current.token) {
    current = stored;
    return;
  }
  if (stored.user?.id !== current.user?.id || stored.session?.id !== current.session?.id) {
    end();
    listeners.signedIn(stored);
    return;
  }
  adopt(stored);
});

// Where the page runs: "Chrome on Linux", for the devices list.
export function deviceName(ua = navigator.userAgent) {
  const browsers = [
    [/Edg(?:e|A|iOS)?\//, 'Edge'],
    [/OPR\/|Opera/, 'Opera'],
    [/SamsungBrowser\//, 'Samsung Internet'],
    [/Firefox\/|FxiOS\//, 'Firefox'],
    [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
    [/Safari\//, 'Safari'],
  ];
  const systems = [
    [/Android/, 'Android'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/CrOS/, 'ChromeOS'],
    [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Linux|X11/, 'Linux'],
  ];
  const browser = browsers.find(([re]) => re.test(ua))?.[1] ?? 'Browser';
  const system = systems.find(([re]) => re.test(ua))?.[1];
  const name = system ? `${browser} on ${system}` : browser;
  return name.slice(0, 64);
}

// Logs out on the server (revokes the session), as far as it can: the
// page goes to the login screen whatever the answer.
export async function logOutOnServer() {
  if (!current) return;
  try {
    await api('POST', '/auth/logout', undefined, { quiet: true, timeout: 5_000 });
  } catch {
    // Already revoked, expired or offline: signed out here all the same.
  }
}
