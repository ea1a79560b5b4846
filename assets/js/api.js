// REST calls (same origin, bearer token) and what the page keeps in
// localStorage: the session, and per user the highest message id seen.

const SESSION_KEY = 'chat.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = null;
let onUnauthorized = () => {};

export function useToken(value, whenUnauthorized) {
  token = value;
  if (whenUnauthorized) onUnauthorized = whenUnauthorized;
}

// Calls the API; resolves to the parsed body, rejects with an ApiError
// carrying the contract's error code and message.
export async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below with the status.
  }
  if (!res.ok) {
    const error = data?.error ?? { code: `http_${res.status}`, message: res.statusText || 'request failed' };
    if (res.status === 401 && error.code === 'unauthorized' && token) onUnauthorized();
    throw new ApiError(res.status, error.code, error.message);
  }
  return data;
}

// A file by the bearer-token route, as an object URL (for an <img> whose
// signed URL has expired).
export async function fileObjectUrl(attachment) {
  const res = await fetch(`/files/${attachment.id}/${encodeURIComponent(attachment.filename)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, 'file not available');
  return URL.createObjectURL(await res.blob());
}

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
  clear() {
    localStorage.removeItem(SESSION_KEY);
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
