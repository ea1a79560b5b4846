// REST calls (same origin, bearer token) and what the page keeps in
// localStorage: the session (access and refresh token), and per user the
// highest message id seen.

export const SESSION_KEY = 'chat.session';
const SIGNOUT_KEY = 'chat.signout'; // why the last session record was cleared

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = null;
let hooks = {
  // Called with the token a request was refused with (401 unauthorized):
  // resolves to a token to try once more with, or null.
  refresh: async () => null,
  // Called when a 401 could not be fixed by a refresh.
  unauthorized: () => {},
};

export function useToken(value, newHooks) {
  token = value;
  if (newHooks) hooks = { ...hooks, ...newHooks };
}

export const currentToken = () => token;

// Our clock minus the server's (from the Date header), when they differ by
// more than a few seconds: token expiry times are the server's.
let skew = 0;
export const clockSkew = () => skew;
export function noteServerDate(res) {
  const server = Date.parse(res.headers.get('date') ?? '');
  if (!Number.isFinite(server)) return;
  const diff = Date.now() - server;
  skew = Math.abs(diff) > 5000 ? diff : 0;
}

async function parse(res) {
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below with the status.
  }
  return data;
}

function errorOf(res, data) {
  const error = data?.error ?? { code: `http_${res.status}`, message: res.statusText || 'request failed' };
  return new ApiError(res.status, error.code, error.message);
}

async function request(method, path, body, bearer, timeout) {
  const headers = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: payload, signal: timeout ? AbortSignal.timeout(timeout) : undefined,
    });
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  noteServerDate(res);
  return { res, data: await parse(res) };
}

const refused = (res, data) => res.status === 401 && data?.error?.code === 'unauthorized';

// Calls the API; resolves to the parsed body, rejects with an ApiError
// carrying the contract's error code and message. A 401 `unauthorized`
// gets one refresh of the access token and one more try; if that does not
// help, the page is told (unless `quiet`).
// Options: quiet (no "unauthorized" hook), timeout (ms), bearer (false: none).
export async function api(method, path, body, { quiet = false, timeout, bearer = true } = {}) {
  let used = bearer ? token : null;
  let { res, data } = await request(method, path, body, used, timeout);
  if (refused(res, data) && used) {
    let fresh = null;
    let failed = false;
    try {
      fresh = await hooks.refresh(used);
    } catch {
      failed = true; // could not refresh now (offline?): report the 401 as it is
    }
    if (fresh && fresh !== used) {
      used = fresh;
      ({ res, data } = await request(method, path, body, used, timeout));
    }
    // (A refresh that found the session over has told the page already.)
    if (refused(res, data) && !quiet && !failed && token === used) hooks.unauthorized();
  }
  if (!res.ok) throw errorOf(res, data);
  return data;
}

// A file by the bearer-token route, as an object URL (for an <img> whose
// signed URL has expired).
export async function fileObjectUrl(attachment) {
  const path = `/files/${attachment.id}/${encodeURIComponent(attachment.filename)}`;
  const get = (bearer) => fetch(path, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  let res = await get(token);
  if (res.status === 401 && token) {
    const fresh = await hooks.refresh(token).catch(() => null);
    if (fresh) res = await get(fresh);
  }
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, 'file not available');
  return URL.createObjectURL(await res.blob());
}

// The session record: { token, expires_at, refresh_token,
// refresh_expires_at, user, session (the Session object), issued (our
// clock, ms), skew (ms) }. Shared by every tab of this browser.
export const session = {
  load() {
    try {
      const value = JSON.parse(localStorage.getItem(SESSION_KEY));
      return value?.token && value?.user ? value : null;
    } catch {
      return null;
    }
  },
  save(value) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  // reason: 'logout' (this person logged out) or 'revoked' (the server
  // ended the session); other tabs read it when they see the record go.
  clear(reason = 'logout') {
    localStorage.setItem(SIGNOUT_KEY, JSON.stringify({ reason, at: Date.now() }));
    localStorage.removeItem(SESSION_KEY);
  },
  // Said before POST /auth/logout: the other tabs, told by the server that
  // the session was revoked, then know that it was a logout.
  markLoggingOut() {
    localStorage.setItem(SIGNOUT_KEY, JSON.stringify({ reason: 'logout', at: Date.now() }));
  },
  // Why the session was last cleared, if that was at most maxAge ms ago.
  signoutReason(maxAge = 60_000) {
    try {
      const value = JSON.parse(localStorage.getItem(SIGNOUT_KEY));
      return value && Date.now() - value.at <= maxAge ? value.reason : null;
    } catch {
      return null;
    }
  },
};

// The catch-up cursor: the highest message id this user's page has
// received, kept per user so that two accounts in one browser don't mix.
export const cursor = {
  load(userId) {
    const value = Number(localStorage.getItem(`chat.last_seen.${userId}`));
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  },
  save(userId, id) {
    localStorage.setItem(`chat.last_seen.${userId}`, String(id));
  },
};

// A client_id for idempotent sends (crypto.randomUUID needs a secure context).
export function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
