// Early answers: requests the server refuses while the client is still
// sending the body (a file of the wrong type or over the limit, a target the
// caller may not write to, no token, over the rate limit, a JSON body over
// the limit, junk posted to a long-polling Socket.IO session).
//
// The server may answer before it has read the whole body, but it must then
// still let the client see that answer: if it closes the connection with
// bytes unread, the kernel resets it and Node's fetch (undici) reports
// `fetch failed` (cause `write EPIPE` / `ECONNRESET` / `other side closed`)
// instead of the contract's `{"error":{"code","message"}}`. That depends on
// timing, so every case is repeated REPEATS times with a body of a few MB,
// far more than the server needs to read before it can refuse (and, as a
// multipart body goes out in several writes, once with a small one too).
// Against a server that closes with the body unread most repetitions fail.
//
// Registrations (limited per IP: burst 100) are counted: this file makes
// 17. The upload limiter (burst 20 per user) is spent by every upload
// that reaches the target check, refused or not, so uploaders are rotated.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BASE, api, register } from './lib.mjs';

const { env } = process;
const MB = 1024 * 1024;
const REPEATS = Number(env.EARLY_ANSWER_REPEATS ?? 25);
// The server's --max-upload-bytes and --max-json-bytes: the runner starts it
// with the defaults.
const UPLOAD_LIMIT = Number(env.CHAT_MAX_UPLOAD_BYTES ?? 10 * MB);
const MAX_JSON = Number(env.CHAT_MAX_JSON_BYTES ?? 262_144);
// "A few MB": more than the kernel's socket buffers take in at once.
const BODY = Number(env.EARLY_ANSWER_BODY_BYTES ?? 4 * MB);
const size = (n) => (n >= MB ? `${+(n / MB).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`);
const REQUEST_TIMEOUT = 20_000;
const CASE = { timeout: 60_000 };
const USES_PER_UPLOADER = 15; // below the upload burst of 20
const NO_SUCH_ID = 2_000_000_000;

const PNG_MAGIC = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// A file of `size` bytes that starts with `head` (padding after it).
function fileOf(head, size) {
  const bytes = new Uint8Array(size);
  const start = typeof head === 'string' ? Uint8Array.from(head, (c) => c.charCodeAt(0)) : head;
  bytes.set(start);
  for (let i = start.length; i < size; i++) bytes[i] = 0x20 + (i % 90);
  return bytes;
}

const png = (size) => new Blob([fileOf(PNG_MAGIC, size)], { type: 'image/png' });

// Disallowed types, by their own first bytes; the last one lies about its
// name and type (the server must look at the bytes).
const DISALLOWED = [
  { name: 'anim.gif', type: 'image/gif', head: 'GIF89a\x01\x00\x01\x00' },
  { name: 'setup.exe', type: 'application/x-msdownload', head: 'MZ\x90\x00\x03\x00\x00\x00' },
  { name: 'notes.txt', type: 'text/plain', head: 'Dear diary, today I uploaded a text file.\n' },
  { name: 'logo.svg', type: 'image/svg+xml', head: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>' },
  { name: 'photo.png', type: 'image/png', head: 'GIF87a\x01\x00\x01\x00' },
].map((d) => ({ ...d, blob: new Blob([fileOf(d.head, BODY)], { type: d.type }) }));

let registrations = 0;
async function account(prefix) {
  registrations++;
  return register(prefix);
}

// Hands out accounts, a fresh one every `uses` calls.
function rotating(prefix, uses = USES_PER_UPLOADER) {
  let current;
  let used = uses;
  return async () => {
    if (used >= uses) {
      current = await account(prefix);
      used = 0;
    }
    used++;
    return current;
  };
}

// A multipart upload: the target fields first (as the demo page and most
// forms send them), the file last, so the server can refuse before reading
// the bytes.
function uploadForm(fields, file, filename) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
  form.append('file', file, filename);
  return form;
}

function describeError(err) {
  const causes = [];
  for (let e = err; e; e = e.cause) {
    causes.push([e.name, e.code, e.message].filter(Boolean).join(' '));
    if (causes.length > 4) break;
  }
  return causes.join(' <- ');
}

// One request; never throws. A network error (or a body cut short) is
// returned as { error }.
async function attempt(path, init) {
  let res;
  try {
    res = await fetch(BASE + path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT) });
  } catch (err) {
    return { error: `no response: ${describeError(err)}` };
  }
  let text;
  try {
    text = await res.text();
  } catch (err) {
    return { status: res.status, error: `response body cut short: ${describeError(err)}` };
  }
  return { status: res.status, headers: res.headers, text };
}

// What is wrong with an answer that should be `status` with the contract's
// error `code` (null: nothing).
function contractError(got, status, code) {
  if (got.error) return got.error;
  if (got.status !== status) return `status ${got.status} (want ${status}): ${got.text.slice(0, 200)}`;
  const type = got.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) return `content-type ${JSON.stringify(type)}: ${got.text.slice(0, 200)}`;
  let body;
  try {
    body = JSON.parse(got.text);
  } catch {
    return `not JSON: ${got.text.slice(0, 200)}`;
  }
  if (body?.error?.code !== code) return `code ${JSON.stringify(body?.error?.code)} (want ${code}): ${got.text.slice(0, 200)}`;
  if (typeof body.error.message !== 'string' || !body.error.message) return `no message: ${got.text.slice(0, 200)}`;
  return null;
}

// Runs `once(i)` REPEATS times (one after the other); each returns what was
// wrong with that repetition, or null. Fails with every problem, counted.
async function repeat(t, once, times = REPEATS) {
  const problems = [];
  for (let i = 0; i < times; i++) {
    const problem = await once(i);
    if (problem) problems.push(`#${i + 1}: ${problem}`);
  }
  t.diagnostic(`${problems.length} of ${times} repetitions failed`);
  assert.equal(problems.length, 0,
    `${problems.length} of ${times} repetitions failed, first ${problems[0]}\n${problems.join('\n')}`);
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

describe('early answers reach the client', { timeout: 600_000 }, () => {
  let peer; // the target of direct uploads
  let group; // a group that the uploaders are not in

  before(async () => {
    peer = await account('peer');
    const owner = await account('owner');
    const made = await api('POST', '/groups', owner.token, { name: 'members only' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    group = made.body.group.id;
  });

  it(`POST /uploads of a disallowed type (${size(BODY)}) is 415 unsupported_media_type`, CASE, async (t) => {
    const uploader = rotating('mime');
    await repeat(t, async (i) => {
      const me = await uploader();
      const file = DISALLOWED[i % DISALLOWED.length];
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: bearer(me.token),
        body: uploadForm({ to: peer.id }, file.blob, file.name),
      });
      const problem = contractError(got, 415, 'unsupported_media_type');
      return problem && `${file.name}: ${problem}`;
    });
  });

  it(`POST /uploads over the ${size(UPLOAD_LIMIT)} limit is 413 payload_too_large`, CASE, async (t) => {
    const uploader = rotating('big');
    // Just over the file limit, and over the limit of the whole body too.
    // The server reads 10 MiB before it can refuse these, and by then the
    // client is mostly waiting for the socket to drain rather than writing:
    // a reset is rarely caught here (about 1 in 30), hence twice the tries.
    const files = [png(UPLOAD_LIMIT + BODY / 8), png(UPLOAD_LIMIT + BODY / 2)];
    await repeat(t, async (i) => {
      const me = await uploader();
      const file = files[i % files.length];
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: bearer(me.token),
        body: uploadForm({ to: peer.id }, file, 'huge.png'),
      });
      const problem = contractError(got, 413, 'payload_too_large');
      return problem && `${file.size} bytes: ${problem}`;
    }, 2 * REPEATS);
  });

  it('POST /uploads to a group the caller is not in is 403 not_a_member', CASE, async (t) => {
    const outsider = rotating('out');
    const file = png(BODY);
    await repeat(t, async () => {
      const me = await outsider();
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: bearer(me.token),
        body: uploadForm({ group_id: group }, file, 'party.png'),
      });
      return contractError(got, 403, 'not_a_member');
    });
  });

  it('POST /uploads to a chat that does not exist is 404 chat_not_found', CASE, async (t) => {
    const uploader = rotating('nochat');
    const file = png(BODY);
    await repeat(t, async () => {
      const me = await uploader();
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: bearer(me.token),
        body: uploadForm({ chat_id: NO_SUCH_ID }, file, 'lost.png'),
      });
      return contractError(got, 404, 'chat_not_found');
    });
  });

  it('POST /uploads to a user that does not exist is 404 user_not_found', CASE, async (t) => {
    const uploader = rotating('nouser');
    const file = png(BODY);
    await repeat(t, async () => {
      const me = await uploader();
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: bearer(me.token),
        body: uploadForm({ to: NO_SUCH_ID }, file, 'lost.png'),
      });
      return contractError(got, 404, 'user_not_found');
    });
  });

  it('POST /uploads with no token or a bad one is 401 unauthorized', CASE, async (t) => {
    const file = png(BODY);
    const tokens = [null, 'not-a-token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'];
    await repeat(t, async (i) => {
      const token = tokens[i % tokens.length];
      const got = await attempt('/uploads', {
        method: 'POST',
        headers: token ? bearer(token) : {},
        body: uploadForm({ to: peer.id }, file, 'anon.png'),
      });
      const problem = contractError(got, 401, 'unauthorized');
      return problem && `token ${JSON.stringify(token)}: ${problem}`;
    });
  });

  it('POST /uploads of a small file (16 KiB) with no token is 401 unauthorized too', CASE, async (t) => {
    // Not only big bodies: a multipart body goes out in several writes, and
    // a refusal sent after the headers can reset the connection between two.
    const file = png(16 * 1024);
    await repeat(t, async () => {
      const got = await attempt('/uploads', { method: 'POST', body: uploadForm({ to: peer.id }, file, 'small.png') });
      return contractError(got, 401, 'unauthorized');
    });
  });

  it('POST /uploads over the upload rate limit is 429 rate_limited with Retry-After', CASE, async (t) => {
    const me = await account('rate');
    const tiny = new Blob(['GIF89a tiny'], { type: 'image/gif' });
    const big = DISALLOWED[0].blob; // a GIF: a refilled token gets a 415, never a stored file
    // Spends the user's upload tokens with small requests until refused.
    const drain = async () => {
      for (let k = 0; k < 40; k++) {
        const got = await attempt('/uploads', {
          method: 'POST', headers: bearer(me.token), body: uploadForm({ to: peer.id }, tiny, 'tiny.gif'),
        });
        if (got.error) return got.error;
        if (got.status === 429) return null;
        if (got.status !== 415) return `draining: status ${got.status}: ${got.text.slice(0, 200)}`;
      }
      return 'draining: never rate limited after 40 uploads';
    };
    let refilled = 0;
    await repeat(t, async () => {
      // A token may come back between the drain and the big upload (about
      // one a second): that answer is a 415, and the repetition runs again.
      for (let tries = 0; tries < 3; tries++) {
        const drained = await drain();
        if (drained) return drained;
        const got = await attempt('/uploads', {
          method: 'POST', headers: bearer(me.token), body: uploadForm({ to: peer.id }, big, 'anim.gif'),
        });
        if (!got.error && got.status === 415) {
          refilled++;
          continue;
        }
        const problem = contractError(got, 429, 'rate_limited');
        if (problem) return problem;
        const retryAfter = got.headers.get('retry-after');
        if (!/^\d+$/.test(retryAfter ?? '')) return `Retry-After ${JSON.stringify(retryAfter)}`;
        return null;
      }
      return 'a token came back before every one of 3 tries';
    });
    if (refilled) t.diagnostic(`${refilled} tries met a refilled token (415) and ran again`);
  });

  it(`POST /chats/send-message with a JSON body of ${size(32 * MAX_JSON)} (32 times --max-json-bytes) is 413 payload_too_large`, CASE, async (t) => {
    // A string body goes to the socket in one write: under about 4 MB it is
    // all in the kernel's buffers before the server refuses it, and the
    // answer mostly gets through even from the unfixed server: hence 8 MB.
    const me = await account('json');
    const body = JSON.stringify({ to: peer.id, text: 'x'.repeat(32 * MAX_JSON) });
    await repeat(t, async () => {
      const got = await attempt('/chats/send-message', {
        method: 'POST',
        headers: { ...bearer(me.token), 'content-type': 'application/json' },
        body,
      });
      return contractError(got, 413, 'payload_too_large');
    });
  });

  it(`junk (${size(BODY)}) POSTed to a long-polling Socket.IO session gets an HTTP answer`, CASE, async (t) => {
    // Packets an Engine.IO v4 payload cannot hold ("j" is no packet type),
    // separated as v4 payloads are (0x1e), so the first one already fails.
    const junk = 'junk, not a packet\x1e'.repeat(Math.ceil(BODY / 19)).slice(0, BODY);
    const statuses = new Map();
    const report = () => t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    await repeat(t, async () => {
      const handshake = await attempt('/socket.io/?EIO=4&transport=polling', { method: 'GET' });
      if (handshake.error) return `handshake: ${handshake.error}`;
      if (handshake.status !== 200 || !handshake.text.startsWith('0{')) {
        return `handshake: status ${handshake.status}: ${handshake.text.slice(0, 200)}`;
      }
      const { sid } = JSON.parse(handshake.text.slice(1));
      const got = await attempt(`/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: junk,
      });
      if (got.error) return got.error;
      statuses.set(got.status, (statuses.get(got.status) ?? 0) + 1);
      if (got.status < 400 || got.status >= 500) return `status ${got.status} for junk: ${got.text.slice(0, 200)}`;
      return null;
    }).finally(report);
  });

  it('stayed well under the registration limit', () => {
    assert.ok(registrations < 40, `${registrations} registrations`);
  });
});
