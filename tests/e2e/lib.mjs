// Helpers for the end-to-end suite: REST calls with fetch, sockets with the
// official socket.io-client, and waits that always have a timeout.
import { io } from 'socket.io-client';

export const BASE = process.env.CHAT_URL;
if (!BASE) throw new Error('set CHAT_URL to the server under test, e.g. http://127.0.0.1:3000');
export const TIMEOUT = 10_000;

let counter = 0;
export const unique = (prefix) => `${prefix}${process.pid}x${Date.now() % 1e6}x${++counter}`;

export async function api(method, path, token, body) {
  return apiAt(BASE, method, path, token, body);
}

// api() against another server (base URL).
export async function apiAt(base, method, path, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function register(prefix = 'u', base = BASE) {
  const username = unique(prefix).slice(0, 32);
  const { status, body } = await apiAt(base, 'POST', '/auth/register', null, { username, password: 'correct horse' });
  if (status !== 201) throw new Error(`register ${username}: ${status} ${JSON.stringify(body)}`);
  return { id: body.user.id, username, token: body.token };
}

export async function send(account, target, text) {
  const { status, body } = await api('POST', '/chats/send-message', account.token, { ...target, text });
  if (status !== 201) throw new Error(`send: ${status} ${JSON.stringify(body)}`);
  return body.message;
}

// A connected socket that records every event it receives, in order.
export function connect(token, transport, extra = {}, base = BASE) {
  const socket = io(base, {
    auth: token === undefined ? undefined : { token },
    transports: [transport],
    reconnection: false,
    forceNew: true,
    ...extra,
  });
  socket.received = [];
  socket.onAny((event, payload) => socket.received.push({ event, payload }));
  return socket;
}

export function connected(socket) {
  return withTimeout(new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  }), 'connect');
}

export async function open(account, transport) {
  return connected(connect(account.token, transport));
}

export function withTimeout(promise, what, ms = TIMEOUT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function emitAck(socket, event, ...args) {
  return socket.timeout(TIMEOUT).emitWithAck(event, ...args);
}

// The next `event` satisfying `pred` that this socket has received or will
// receive; each recorded event is handed out once.
export function next(socket, event, pred = () => true) {
  socket.taken ??= new Set();
  const find = () => socket.received.findIndex((e, i) => !socket.taken.has(i) && e.event === event && pred(e.payload));
  return withTimeout(new Promise((resolve) => {
    const check = () => {
      const i = find();
      if (i >= 0) {
        socket.taken.add(i);
        socket.offAny(check);
        resolve(socket.received[i].payload);
      }
    };
    socket.onAny(check);
    check();
  }), `${event} on ${socket.id}`);
}

// Waits until everything sent to this socket before now has arrived: the
// server delivers in order, so once a fresh note to the account's own chat
// arrives, anything emitted earlier has been delivered too.
export async function settle(socket, account) {
  const marker = unique('barrier-');
  await send(account, { to: account.id }, marker);
  await next(socket, 'receive_message', (m) => m.text === marker);
}

// Events received and not yet taken, without settle's markers.
export function pending(socket, event) {
  return socket.received
    .filter((e, i) => !(socket.taken ?? new Set()).has(i) && e.event === event)
    .filter((e) => !(typeof e.payload?.text === 'string' && e.payload.text.startsWith('barrier-')))
    .map((e) => e.payload);
}
