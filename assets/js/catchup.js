// Catch-up without gaps (v2): the seq of the last chat event this page has
// applied, kept per user in localStorage and sent as `auth.since` whenever
// the socket (re)connects. The server then replays what was missed and
// says caught_up {seq}; or, when too much was missed, sync_required, and
// the page pages GET /events from its cursor while live events wait their
// turn; a cursor the server no longer keeps (410 cursor_expired) means
// reloading the lists and the open chat. It is on only when the server has
// seq (GET /events answers); otherwise realtime.js catches up with GET
// /sync, as with a v1 server.
import { api, ApiError } from './api.js';
import { toast } from './dom.js';
import { state } from './state.js';

const PAGE = 1000; // events per GET /events page
const PAGES = 20; // pages paged before giving up and reloading instead

let on = false; // the server has seq
let held = null; // while /events is paged: the live events that came meanwhile, [event, payload, handler]

const key = (userId) => `chat.last_seq.${userId}`;
const isSeq = (value) => Number.isSafeInteger(value) && value >= 0;

export const catchUpOn = () => on;

function store(seq) {
  state.seq = seq;
  if (state.me) localStorage.setItem(key(state.me.id), String(seq));
}

// Moves the cursor forward to an event just applied.
export function noteSeq(seq) {
  if (on && isSeq(seq) && seq > state.seq) store(seq);
}

// The server's latest seq (GET /events answers it with any page).
async function latestSeq() {
  const data = await api('GET', '/events?since=0&limit=1', undefined, { quiet: true });
  return isSeq(data?.latest_seq) ? data.latest_seq : null;
}

// At sign-in, before GET /chats: whether the server has seq, and the
// cursor: the one this user's page kept, or on a first visit the server's
// latest (what GET /chats, read next, shows has everything up to it).
export async function startCatchUp() {
  on = false;
  held = null;
  const kept = Number(localStorage.getItem(key(state.me.id)));
  let latest;
  try {
    latest = await latestSeq();
  } catch {
    latest = null; // no GET /events here (a v1 server), or unreachable: v1's /sync then
  }
  if (latest === null) return;
  on = true;
  // A kept cursor beyond the server's latest belongs to another server (a fresh database).
  store(isSeq(kept) && kept > 0 && kept <= latest ? kept : latest);
}

export function stopCatchUp() {
  on = false;
  held = null;
}

// What the socket sends when it connects: the token, and the cursor.
export function handshakeAuth(token) {
  return on ? { token, since: state.seq } : { token };
}

// A server event: applied (and its seq noted), or held back while /events is paged.
export function deliver(event, payload, handler) {
  if (held && isSeq(payload?.seq)) {
    held.push([event, payload, handler]);
    return;
  }
  handler(payload);
  noteSeq(payload?.seq);
}

// caught_up {seq}: live delivery takes over from seq. (Never backwards:
// the events applied so far stay applied.)
export function caughtUp(seq) {
  noteSeq(seq);
}

// sync_required: too much was missed for a replay. Pages GET /events from
// the cursor through `handlers` (event name → function), then applies the
// live events that came meanwhile and are newer. A cursor the server no
// longer keeps (410), or too many pages, is `reload()` (the lists and the
// open chat afresh) from the server's latest seq. Resolves to false when
// it could do neither: the live events held back are then dropped (they
// lie beyond the cursor, which stays put: the next connect brings them).
export async function pageEvents(handlers, reload) {
  if (!on || held) return true;
  held = [];
  let ok = true;
  try {
    let complete = false;
    for (let p = 0; p < PAGES && !complete; p++) {
      const data = await api('GET', `/events?since=${state.seq}&limit=${PAGE}`);
      for (const { seq, type, data: payload } of data.events) {
        handlers[type]?.(payload);
        if (seq > state.seq) store(seq);
      }
      complete = !data.has_more || !data.events.length;
    }
    if (!complete) throw new ApiError(410, 'cursor_expired', 'too much was missed');
  } catch (err) {
    ok = false;
    if (err instanceof ApiError && err.status === 410) {
      try {
        const latest = await latestSeq();
        if (latest !== null) store(latest);
        await reload();
        ok = true;
      } catch (again) {
        toast(`Reloading failed: ${again.message}`, 'error');
      }
    } else {
      toast(`Catching up failed: ${err.message}`, 'error');
    }
  } finally {
    const waiting = ok ? held : [];
    held = null;
    for (const [, payload, handler] of waiting) {
      if (payload.seq > state.seq) {
        handler(payload);
        noteSeq(payload.seq);
      }
    }
  }
  return ok;
}
