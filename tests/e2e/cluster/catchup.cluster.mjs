// Catch-up without gaps (v2 "Catch-up") and removal from a group (v2
// "Groups") through the cluster (run by tests/cluster/run.sh: three nodes
// behind nginx on one PostgreSQL and one Redis), with the official
// socket.io-client, its users spread over the nodes: through nginx from
// loopback addresses of their own (nginx hashes the client's address), and
// directly against each node's URL.
//
// 1. A client that reconnects with auth.since in the middle of a flood that
//    comes from every node (sends, edits, deletions, reactions, reads,
//    renames, a member added and removed) gets the missed events, caught_up,
//    then only later events, none twice; once the flood is over it has seen
//    exactly the events of a client of the same user that never left, and
//    of GET /events, with the same payloads (compared as sets: live events
//    relayed from different nodes may arrive out of seq order), and builds
//    the same model of the group from them (which is also what REST says).
// 2. A member removed through one node hears nothing more of the group on
//    the other nodes from the moment the removal is answered: messages (and
//    a rename, a reaction) sent right after through the other two nodes do
//    not reach their sockets there, while member_removed does.
import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { io } from 'socket.io-client';

const BASE = process.env.CHAT_URL;
const NODES = (process.env.CHAT_NODES ?? '').split(',').filter(Boolean);
if (!BASE || NODES.length !== 3) throw new Error('run through tests/cluster/run.sh');

const TIMEOUT = 20_000;
const CHAT_EVENTS = new Set([
  'receive_message', 'receive_file', 'group_created', 'added_to_group', 'member_added', 'read',
  'message_updated', 'message_deleted', 'reaction_added', 'reaction_removed', 'group_updated',
  'member_removed', 'member_role_changed', 'user_updated',
]);
const REPLAY_MAX = 1000;
const EMOJI = ['👍', '🔥', '🎉', ':ok:'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, what, ms = TIMEOUT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Waits for a condition that no single event marks (several sockets, a
// count); `check` may throw to give up early.
async function until(what, check, ms = TIMEOUT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function api(base, method, path, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await withTimeout(
    fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
    `${method} ${base}${path}`,
  );
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function answer(res, status, what) {
  assert.equal(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function acked(ack, what) {
  assert.equal(ack?.ok, true, `${what}: ${JSON.stringify(ack)}`);
  return ack;
}

let counter = 0;
const unique = (p) => `${p}${process.pid % 10000}x${Date.now() % 100000}x${++counter}`;

async function register(name) {
  const username = unique(name).slice(0, 32);
  const body = answer(await api(BASE, 'POST', '/auth/register', null, { username, password: 'correct horse' }), 201, `register ${username}`);
  return { id: body.user.id, username, token: body.token };
}

// Every socket and agent a test opens, closed when it ends: the agents once
// the sockets' last requests (a polling socket's close) are through, so
// that no connection keeps the test process alive.
const sockets = [];
const agents = [];
afterEach(async () => {
  const closing = sockets.splice(0).map((s) => {
    const engine = s.io.engine;
    const closed = !engine || engine.readyState === 'closed' ? Promise.resolve() : new Promise((r) => engine.once('close', r));
    s.disconnect();
    return closed;
  });
  await withTimeout(Promise.all(closing), 'the sockets to close', 5000).catch(() => {});
  agents.splice(0).forEach((a) => a.destroy());
});

// A socket of `account`'s, directly on a node (`{node: i}`) or through nginx
// from 127.0.0.<host> (`{host}`), that records every event in order; with
// `since`, it asks to catch up (auth.since).
function open(account, at, transport, since) {
  const extra = {};
  if (at.host !== undefined) {
    // Polling goes through the agent, the WebSocket through localAddress.
    const agent = new http.Agent({ localAddress: `127.0.0.${at.host}`, keepAlive: false });
    agents.push(agent);
    Object.assign(extra, { agent, localAddress: `127.0.0.${at.host}` });
  }
  const socket = io(at.node !== undefined ? NODES[at.node] : BASE, {
    auth: since === undefined ? { token: account.token } : { token: account.token, since },
    transports: [transport],
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    ...extra,
  });
  socket.where = `${account.username} on ${at.node !== undefined ? `node ${at.node + 1}` : `nginx from 127.0.0.${at.host}`} (${transport})`;
  socket.received = [];
  socket.onAny((event, payload) => socket.received.push({ event, payload }));
  sockets.push(socket);
  return socket;
}

function connected(socket) {
  return withTimeout(new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (e) => reject(new Error(`${socket.where}: connect_error ${e.message}`)));
  }), `${socket.where} to connect`);
}

// One line per received event: seq, name, and what it is about.
function describeEvent({ event, payload }) {
  const p = payload ?? {};
  const bits = [p.seq ?? '-', event];
  const message = p.message ?? (event === 'receive_message' || event === 'receive_file' ? p : null);
  const chat = p.chat_id ?? p.group_id ?? p.group?.id ?? message?.chat_id;
  if (chat !== undefined) bits.push(`chat ${chat}`);
  const id = message?.id ?? p.message_id;
  if (id !== undefined) bits.push(`message ${id}`);
  if (p.user_id !== undefined) bits.push(`user ${p.user_id}`);
  if (p.member?.user_id !== undefined) bits.push(`member ${p.member.user_id}`);
  if (p.emoji !== undefined) bits.push(`${p.emoji} ×${p.count}`);
  if (p.group?.name !== undefined) bits.push(JSON.stringify(p.group.name));
  if (typeof message?.text === 'string') bits.push(JSON.stringify(message.text));
  if (event === 'caught_up') bits.push(JSON.stringify(p));
  return bits.join(' ');
}
const dump = (received) => `\n  ${received.map(describeEvent).join('\n  ')}`;

// The first event named `event` (one of `event`s) satisfying `pred` that
// the socket has received or will receive.
async function waitEvent(socket, event, pred = () => true, ms = TIMEOUT) {
  const names = [].concat(event);
  let check;
  try {
    return await withTimeout(new Promise((resolve) => {
      check = () => {
        const found = socket.received.find((e) => names.includes(e.event) && pred(e.payload));
        if (found) resolve(found);
      };
      socket.onAny(check);
      check();
    }), `${names.join(' or ')} on ${socket.where}`, ms);
  } catch (e) {
    throw new Error(`${e.message}; its last events:${dump(socket.received.slice(-40))}`);
  } finally {
    socket.offAny(check);
  }
}

// The chat events among `received`: [{seq, type, data}], in arrival order.
const chatEvents = (received) => received
  .filter(({ event }) => CHAT_EVENTS.has(event))
  .map(({ event, payload }) => ({ seq: payload.seq, type: event, data: payload }));
const asReceived = (events) => events.map(({ type, data }) => ({ event: type, payload: data }));

// File URLs are signed afresh for every read: compare them without their query.
function unsigned(value) {
  if (Array.isArray(value)) return value.map(unsigned);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'url' && typeof v === 'string' ? v.split('?')[0] : unsigned(v)]));
}

async function latestSeq(account) {
  const body = answer(await api(BASE, 'GET', '/events?since=0&limit=1', account.token), 200, 'GET /events');
  assert.ok(Number.isSafeInteger(body.latest_seq), JSON.stringify(body));
  return body.latest_seq;
}

// Every event of GET /events after `since`, paging through has_more, each
// page through the next node.
async function allEvents(account, since, limit = 100) {
  const out = [];
  let cursor = since;
  for (let page = 0; page < 200; page += 1) {
    const base = NODES[page % NODES.length];
    const body = answer(await api(base, 'GET', `/events?since=${cursor}&limit=${limit}`, account.token), 200, `GET /events page ${page}`);
    for (const e of body.events) {
      assert.equal(e.data.seq, e.seq, `/events: data carries its own seq: ${JSON.stringify(e)}`);
      assert.ok(e.seq > cursor, `/events through ${base}: seq ${e.seq} after ${cursor}`);
      cursor = e.seq;
    }
    out.push(...body.events);
    if (!body.has_more) return out;
    assert.ok(body.events.length > 0, 'has_more with an empty page');
  }
  throw new Error('more than 200 pages of /events');
}

// What a client knows of its chats, built from chat events alone. Events
// are applied in seq order (seq is the commit order across the cluster; live
// events relayed from different nodes may arrive in another order).
function model(events, meId) {
  const chats = {};
  const chat = (id) => (chats[id] ??= { name: null, members: {}, messages: {}, reads: {} });
  const fromGroup = (g) => {
    const c = chat(g.id);
    c.name = g.name;
    c.members = Object.fromEntries(g.members.map((m) => [m.user_id, m.role]));
  };
  const message = (m) => ({
    text: m.text, deleted: m.deleted_at !== null, edited: m.edited_at !== null,
    reactions: Object.fromEntries((m.reactions ?? []).map((r) => [r.emoji, r.count])),
  });
  for (const { type, data } of [...events].sort((a, b) => a.seq - b.seq)) {
    switch (type) {
      case 'receive_message':
      case 'receive_file':
        chat(data.chat_id).messages[data.id] = message(data);
        break;
      case 'message_updated':
        chat(data.message.chat_id).messages[data.message.id] = message(data.message);
        break;
      case 'message_deleted': {
        const m = chat(data.chat_id).messages[data.message_id];
        if (m) Object.assign(m, { text: null, deleted: true, reactions: {} });
        break;
      }
      case 'reaction_added':
      case 'reaction_removed': {
        const m = chat(data.chat_id).messages[data.message_id];
        if (!m) break;
        if (data.count > 0) m.reactions[data.emoji] = data.count;
        else delete m.reactions[data.emoji];
        break;
      }
      case 'group_created':
      case 'added_to_group':
      case 'group_updated':
        fromGroup(data.group);
        break;
      case 'member_added':
        chat(data.group_id).members[data.member.user_id] = data.member.role;
        break;
      case 'member_removed':
        if (data.user_id === meId) delete chats[data.group_id];
        else delete chat(data.group_id).members[data.user_id];
        break;
      case 'member_role_changed':
        chat(data.group_id).members[data.user_id] = data.role;
        break;
      case 'read': {
        const c = chat(data.chat_id);
        c.reads[data.user_id] = Math.max(c.reads[data.user_id] ?? 0, data.message_id);
        break;
      }
      default:
    }
  }
  return chats;
}

// How often a seq arrived below the one before it (diagnostics only), and the first few times.
const inversions = (events) => events.filter((e, i) => i > 0 && e.seq < events[i - 1].seq).length;
const firstInversions = (events, n = 3) => events
  .map((e, i) => (i > 0 && e.seq < events[i - 1].seq ? `${e.seq} ${e.type} after ${events[i - 1].seq} ${events[i - 1].type}` : null))
  .filter(Boolean).slice(0, n);
const duplicates = (events) => {
  const seen = new Map();
  for (const e of events) seen.set(e.seq, (seen.get(e.seq) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([seq, n]) => `${seq} ×${n}`);
};
// `a` and `b` as sets of "seq type": what one has and the other lacks.
function difference(a, b) {
  const key = (e) => `${e.seq} ${e.type}`;
  const inB = new Set(b.map(key));
  const inA = new Set(a.map(key));
  return {
    missing: b.filter((e) => !inA.has(key(e))).map((e) => describeEvent({ event: e.type, payload: e.data })),
    extra: a.filter((e) => !inB.has(key(e))).map((e) => describeEvent({ event: e.type, payload: e.data })),
  };
}

// A small seeded generator, so that a failing run's choices can be replayed.
function generator(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('catch-up and removal across the nodes of a cluster', () => {
  it('a reconnect with since in the middle of a flood from every node ends with the model of a client that never left, and of /events', { timeout: 240_000 }, async (t) => {
    const alice = await register('ca');
    const cast = {};
    for (const name of ['cb', 'cc', 'cd', 'ce', 'cf', 'cg']) cast[name] = await register(name);
    const group = answer(await api(NODES[0], 'POST', '/groups', cast.cc.token, {
      name: 'flood 0', member_ids: [alice, cast.cb, cast.cd, cast.ce, cast.cf].map((a) => a.id),
    }), 201, 'create the group').group;

    // Alice: one client that stays (through nginx) and one that goes away
    // (on node 2) and comes back (on node 3). She acts through REST only,
    // so that both her clients hear of everything she does.
    const ref = open(alice, { host: 40 }, 'websocket');
    const away = open(alice, { node: 1 }, 'websocket');
    // The others, on every node: through nginx from their own addresses, and
    // directly on each node, over both transports.
    const actors = [
      { account: alice, socket: null, send: 'rest' },
      { account: cast.cb, socket: open(cast.cb, { host: 41 }, 'websocket'), send: 'socket' },
      { account: cast.cc, socket: open(cast.cc, { node: 0 }, 'websocket'), send: 'rest', base: NODES[2] },
      { account: cast.cd, socket: open(cast.cd, { node: 1 }, 'polling'), send: 'socket' },
      { account: cast.ce, socket: open(cast.ce, { node: 2 }, 'websocket'), send: 'rest', base: NODES[0] },
      { account: cast.cf, socket: open(cast.cf, { host: 42 }, 'polling'), send: 'socket' },
    ];
    const owner = actors[2];
    const gina = cast.cg;
    await Promise.all([ref, away, ...actors.filter((a) => a.socket).map((a) => a.socket)].map(connected));
    const start = await latestSeq(alice);

    // Before going away: one message from everyone, seen by both of alice's clients.
    const state = { stop: false, failed: null, messages: [], deleted: new Set(), reactions: new Map(), ops: 0, ginaIn: false, name: group.name };
    const sendAs = async (actor, text, n) => {
      let message;
      if (actor.send === 'socket') {
        message = acked(await actor.socket.timeout(TIMEOUT).emitWithAck('group_message', { group_id: group.id, text, client_id: text }), `group_message ${text}`).message;
      } else {
        const base = actor.base ?? [...NODES, BASE][n % 4];
        message = answer(await api(base, 'POST', '/chats/send-message', actor.account.token, { group_id: group.id, text, client_id: text }), 201, `send ${text} through ${base}`).message;
      }
      state.messages.push({ message, author: actor });
      return message;
    };
    for (const [i, actor] of actors.entries()) await sendAs(actor, `warm-${i}`, i);
    const warm = await allEvents(alice, start);
    const seqsOf = (list) => new Set(list.map((e) => e.seq));
    const hasAll = (socket, wanted) => { const s = seqsOf(chatEvents(socket.received)); return wanted.every((e) => s.has(e.seq)); };
    await until('both of alice\'s clients to have the warm-up', () => hasAll(ref, warm) && hasAll(away, warm));
    const before = chatEvents(away.received).filter((e) => e.seq > start);
    const since = Math.max(...before.map((e) => e.seq));
    away.disconnect();

    // The flood: everyone sends; meanwhile one after the other, through the
    // nodes in turn (and the actors' sockets), edits, reactions added and
    // removed, reads, deletions, renames, and a member added and removed.
    const seed = Number(process.env.CHAT_CLUSTER_SEED ?? Date.now() % 1e9);
    t.diagnostic(`seed ${seed} (CHAT_CLUSTER_SEED)`);
    const random = generator(seed);
    const pick = (list) => list[Math.floor(random() * list.length)];
    const alive = () => state.messages.filter(({ message }) => !state.deleted.has(message.id));
    const viaSocket = (actor, k) => actor.socket && k % 2 === 1;
    const emit = async (actor, event, payload) => acked(await actor.socket.timeout(TIMEOUT).emitWithAck(event, payload), `${event} ${JSON.stringify(payload)} on ${actor.socket.where}`);
    const OPS = [
      async function edit(k, base) {
        const { message, author } = pick(alive());
        const text = `${message.text} (edit ${k})`;
        if (viaSocket(author, k)) await emit(author, 'edit_message', { message_id: message.id, text });
        else answer(await api(base, 'PATCH', `/messages/${message.id}`, author.account.token, { text }), 200, `edit through ${base}`);
      },
      async function react(k, base) {
        const { message } = pick(alive());
        const who = pick(actors);
        const emoji = pick(EMOJI);
        if (viaSocket(who, k)) await emit(who, 'add_reaction', { message_id: message.id, emoji });
        else answer(await api(base, 'PUT', `/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`, who.account.token), 200, `react through ${base}`);
        state.reactions.set(`${message.id} ${who.account.id} ${emoji}`, { id: message.id, who, emoji });
      },
      async function unreact(k, base) {
        const active = [...state.reactions].filter(([, r]) => !state.deleted.has(r.id));
        if (active.length === 0) return OPS[1](k, base);
        const [key, { id, who, emoji }] = pick(active);
        if (viaSocket(who, k)) await emit(who, 'remove_reaction', { message_id: id, emoji });
        else answer(await api(base, 'DELETE', `/messages/${id}/reactions/${encodeURIComponent(emoji)}`, who.account.token), 200, `unreact through ${base}`);
        state.reactions.delete(key);
      },
      async function read(k, base) {
        const who = pick(actors);
        const { message } = alive().at(-1);
        if (viaSocket(who, k)) await emit(who, 'mark_read', { chat_id: group.id, message_id: message.id });
        else answer(await api(base, 'POST', `/chats/${group.id}/read`, who.account.token, { message_id: message.id }), 200, `read through ${base}`);
      },
      async function remove(k, base) {
        const { message, author } = pick(alive());
        // The sender deletes their own; the owner deletes anyone's.
        if (k % 2 === 1) await emit(owner, 'delete_message', { message_id: message.id });
        else answer(await api(base, 'DELETE', `/messages/${message.id}`, author.account.token), 200, `delete through ${base}`);
        state.deleted.add(message.id);
      },
      async function rename(k, base) {
        const name = `flood ${k}`;
        answer(await api(base, 'PATCH', `/groups/${group.id}`, owner.account.token, { name }), 200, `rename through ${base}`);
        state.name = name;
      },
      async function member(k, base) {
        if (state.ginaIn) answer(await api(base, 'DELETE', `/groups/${group.id}/members/${gina.id}`, owner.account.token), 200, `remove gina through ${base}`);
        else answer(await api(base, 'POST', `/groups/${group.id}/add-user`, owner.account.token, { user_id: gina.id }), 200, `add gina through ${base}`);
        state.ginaIn = !state.ginaIn;
      },
    ];
    const MAX_PER_SENDER = 250;
    const loops = [
      ...actors.map(async (actor, i) => {
        for (let n = 0; !state.stop && n < MAX_PER_SENDER; n += 1) {
          await sendAs(actor, `f-${i}-${n}`, n);
          await sleep(10); // pacing, so that the other loops get their turn
        }
      }),
      (async () => {
        for (let k = 0; !state.stop; k += 1) {
          // Through each node in turn, shifted every round so that each kind of change goes through every node.
          const base = NODES[(k + Math.floor(k / OPS.length)) % NODES.length];
          await OPS[k % OPS.length](k, base);
          state.ops += 1;
        }
      })(),
    ].map((loop) => loop.catch((e) => { state.stop = true; state.failed ??= e; }));
    const going = (what, check) => until(what, () => {
      if (state.failed) throw state.failed;
      return check();
    }, 60_000);

    let back;
    let caught;
    let from;
    try {
      await going('the flood under way while the client is away', () => state.messages.length >= actors.length + 120 && state.ops >= OPS.length);
      // Mid-flood: back, on another node, with since.
      back = open(alice, { node: 2 }, 'polling', since);
      await connected(back);
      const first = await waitEvent(back, ['caught_up', 'sync_required'], () => true, 30_000);
      const missedSoFar = (await allEvents(alice, since)).length;
      assert.equal(first.event, 'caught_up', `${back.where}: ${first.event} ${JSON.stringify(first.payload)} instead of caught_up (${missedSoFar} events after since ${since} by now, the replay's limit is ${REPLAY_MAX})`);
      caught = first.payload;
      from = { messages: state.messages.length, ops: state.ops };
      // The flood goes on for a while after caught_up.
      await going('the flood to go on after caught_up', () => state.messages.length >= from.messages + 150 && state.ops >= from.ops + 2 * OPS.length);
    } finally {
      state.stop = true;
      await Promise.all(loops);
    }
    if (state.failed) throw state.failed;

    // Everything is answered: /events lists what alice has to have seen.
    const expected = (await allEvents(alice, start)).filter((e) => e.seq > start);
    const wanted = expected.filter((e) => e.seq > since);
    const everyBack = () => [...before, ...chatEvents(back.received)];
    await until('both of alice\'s clients to have every event /events lists', () => hasAll(ref, expected) && hasAll(back, wanted))
      .catch(() => false); // what is missing is told below
    for (const [socket, who] of [[ref, 'the client that stayed'], [away, 'the client before it went'], [back, 'the client that came back']]) {
      for (const e of chatEvents(socket.received)) assert.ok(Number.isSafeInteger(e.seq) && e.seq > 0, `${who}: ${e.type} without a seq: ${JSON.stringify(e.data)}`);
    }

    // The socket that came back: the replay, caught_up, then live events above it.
    assert.ok(!back.received.some((e) => e.event === 'sync_required'), `sync_required on ${back.where}:${dump(back.received)}`);
    assert.equal(back.received.filter((e) => e.event === 'caught_up').length, 1, `one caught_up:${dump(back.received)}`);
    assert.deepEqual(Object.keys(caught), ['seq']);
    assert.ok(Number.isSafeInteger(caught.seq) && caught.seq >= since, `caught_up ${JSON.stringify(caught)} after since ${since}`);
    const cu = back.received.findIndex((e) => e.event === 'caught_up');
    const replay = chatEvents(back.received.slice(0, cu));
    const live = chatEvents(back.received.slice(cu + 1));
    const story = `since ${since}, caught_up ${caught.seq}; what ${back.where} received, in order:${dump(back.received)}`;
    assert.deepEqual(replay.filter((e) => !(e.seq > since && e.seq <= caught.seq)).map((e) => describeEvent({ event: e.type, payload: e.data })), [],
      `the replay holds only events after since and up to caught_up; ${story}`);
    assert.equal(inversions(replay), 0, `the replay comes in seq order; ${story}`);
    assert.deepEqual(difference(replay, wanted.filter((e) => e.seq <= caught.seq)), { missing: [], extra: [] },
      `the replay is every event /events has after since and up to caught_up; ${story}`);
    assert.deepEqual(live.filter((e) => e.seq <= caught.seq).map((e) => describeEvent({ event: e.type, payload: e.data })), [],
      `after caught_up only events above its seq; ${story}`);
    assert.ok(replay.length > 0, `the client missed something while away; ${story}`);
    assert.ok(live.length > 0, `the client came back mid-flood, with live events after caught_up; ${story}`);

    // No seq twice; the same events as the client that stayed and as /events.
    const stayed = chatEvents(ref.received).filter((e) => e.seq > start);
    const returned = everyBack().filter((e) => e.seq > start);
    assert.deepEqual(duplicates(returned), [], `no seq twice on the client that came back; ${story}`);
    assert.deepEqual(duplicates(stayed), [], `no seq twice on the client that stayed:${dump(asReceived(stayed))}`);
    assert.deepEqual(difference(stayed, expected), { missing: [], extra: [] }, 'the client that stayed has seen what /events lists');
    assert.deepEqual(difference(returned, expected), { missing: [], extra: [] }, `the client that came back has seen what /events lists; ${story}`);
    assert.deepEqual(difference(returned, stayed), { missing: [], extra: [] }, 'both clients have seen the same events');
    const stayedBySeq = new Map(stayed.map((e) => [e.seq, e]));
    const returnedBySeq = new Map(returned.map((e) => [e.seq, e]));
    for (const e of expected) {
      assert.deepEqual(unsigned(returnedBySeq.get(e.seq).data), unsigned(stayedBySeq.get(e.seq).data), `seq ${e.seq} ${e.type}: one payload on both clients`);
      assert.deepEqual(unsigned(e.data), unsigned(stayedBySeq.get(e.seq).data), `seq ${e.seq} ${e.type}: /events has the payload that was sent`);
    }
    const listed = new Set(expected.filter((e) => e.type === 'receive_message').map((e) => e.data.id));
    assert.deepEqual(state.messages.filter(({ message }) => !listed.has(message.id)).map(({ message }) => message.text), [], 'every answered send is an event of alice\'s');

    // The same model from both, and it is what REST says.
    const mine = model(returned, alice.id);
    assert.deepEqual(mine, model(stayed, alice.id), 'the same model on both clients');
    const known = mine[group.id];
    const now = answer(await api(NODES[1], 'GET', `/groups/${group.id}`, alice.token), 200, 'GET /groups/:id').group;
    assert.equal(known.name, state.name);
    assert.equal(known.name, now.name);
    assert.deepEqual(known.members, Object.fromEntries(now.members.map((m) => [m.user_id, m.role])));
    const history = {};
    for (let older = null, page = 0; page < 100; page += 1) {
      const body = answer(await api(NODES[page % 3], 'GET', `/chats/${group.id}?limit=200${older ? `&before=${older}` : ''}`, alice.token), 200, 'history');
      for (const m of body.messages) {
        history[m.id] = { text: m.text, deleted: m.deleted_at !== null, edited: m.edited_at !== null, reactions: Object.fromEntries(m.reactions.map((r) => [r.emoji, r.count])) };
      }
      if (!body.has_more) break;
      older = body.messages[0].id;
    }
    assert.deepEqual(known.messages, history, 'the messages, their texts, deletions and reactions, as history has them');

    const counts = {
      messages: state.messages.length, changes: state.ops, deleted: state.deleted.size, events: expected.length,
      replayed: replay.length, live_after_caught_up: live.length, out_of_seq_order_arrivals: { stayed: inversions(stayed), came_back_live: inversions(live), first: firstInversions(stayed) },
    };
    t.diagnostic(JSON.stringify(counts));
  });

  it('a member removed through one node stops getting the group\'s events at once on the other nodes', { timeout: 120_000 }, async (t) => {
    const owner = await register('ro');
    const victim = await register('rv');
    const x = await register('rx');
    const y = await register('ry');
    const isAbout = (id) => ({ event, payload: p }) => CHAT_EVENTS.has(event)
      && [p.chat_id, p.group_id, p.group?.id, p.message?.chat_id].includes(id);
    // Removal through each node in turn; the removed user's sockets on the two others.
    for (let a = 0; a < 3; a += 1) {
      const [b, c] = [(a + 1) % 3, (a + 2) % 3];
      const node = (n) => `node ${n + 1}`;
      const group = answer(await api(NODES[a], 'POST', '/groups', owner.token, { name: `removal ${a}`, member_ids: [victim.id, x.id, y.id] }), 201, 'create').group;
      const onB = open(victim, { node: b }, 'websocket');
      const onC = open(victim, { node: c }, 'polling');
      const xOnB = open(x, { node: b }, 'websocket');
      const yOnC = open(y, { node: c }, 'polling');
      const all = [onB, onC, xOnB, yOnC];
      await Promise.all(all.map(connected));
      // In the room: a message through node a reaches every socket.
      const hello = answer(await api(NODES[a], 'POST', '/chats/send-message', owner.token, { group_id: group.id, text: `before the removal ${a}` }), 201, 'send').message;
      for (const s of all) await waitEvent(s, 'receive_message', (m) => m.id === hello.id);

      const removed = answer(await api(NODES[a], 'DELETE', `/groups/${group.id}/members/${victim.id}`, owner.token), 200, `remove through ${node(a)}`).group;
      assert.ok(!removed.members.some((m) => m.user_id === victim.id), JSON.stringify(removed));
      // At once, through both other nodes: sends over REST and the socket, a rename, a reaction.
      const [restB, restC, ackB, ackC] = await Promise.all([
        api(NODES[b], 'POST', '/chats/send-message', owner.token, { group_id: group.id, text: `after ${a}: REST through ${node(b)}` }),
        api(NODES[c], 'POST', '/chats/send-message', owner.token, { group_id: group.id, text: `after ${a}: REST through ${node(c)}` }),
        xOnB.timeout(TIMEOUT).emitWithAck('group_message', { group_id: group.id, text: `after ${a}: socket on ${node(b)}` }),
        yOnC.timeout(TIMEOUT).emitWithAck('group_message', { group_id: group.id, text: `after ${a}: socket on ${node(c)}` }),
        api(NODES[b], 'PATCH', `/groups/${group.id}`, owner.token, { name: `removal ${a}, renamed` }).then((r) => answer(r, 200, 'rename')),
        api(NODES[c], 'PUT', `/messages/${hello.id}/reactions/${encodeURIComponent('👍')}`, x.token).then((r) => answer(r, 200, 'react')),
      ]);
      const sent = [
        { message: answer(restB, 201, 'send').message, by: null },
        { message: answer(restC, 201, 'send').message, by: null },
        { message: acked(ackB, 'group_message').message, by: xOnB },
        { message: acked(ackC, 'group_message').message, by: yOnC },
      ];
      // The barrier: notes to the removed user's own chat, through every node, sent after all that was answered.
      const barriers = [];
      for (const n of [b, c, a]) {
        barriers.push(answer(await api(NODES[n], 'POST', '/chats/send-message', victim.token, { to: victim.id, text: `barrier ${a} through ${node(n)}` }), 201, 'barrier').message);
      }
      for (const s of [onB, onC]) {
        const { payload } = await waitEvent(s, 'member_removed', (p) => p.group_id === group.id && p.user_id === victim.id);
        const { seq, ...rest } = payload;
        assert.deepEqual(rest, { group_id: group.id, user_id: victim.id, by: owner.id, reason: 'removed' });
        assert.ok(Number.isSafeInteger(seq), JSON.stringify(payload));
        for (const m of barriers) await waitEvent(s, 'receive_message', (p) => p.id === m.id);
        // Whatever of the group was committed after the removal (all that was
        // sent after its answer is) must not have reached the socket. (Events
        // from before it may: group_created can arrive just after the connect.)
        const sentIds = new Set(sent.map(({ message }) => message.id));
        for (const { message } of sent) assert.ok(message.seq > seq, `message ${message.id} (seq ${message.seq}), sent after the removal (seq ${seq}) was answered, has a higher seq`);
        const leaked = s.received
          .filter(isAbout(group.id))
          .filter(({ event, payload: p }) => p.seq > seq || (event === 'receive_message' && sentIds.has(p.id)));
        assert.deepEqual(leaked.map(describeEvent), [],
          `${s.where}: events of group ${group.id} after the removal was answered through ${node(a)}; it received, in order:${dump(s.received)}`);
        assert.ok(s.connected, `${s.where} stays connected`);
      }
      // The others did get all of it, across the nodes (so the silence above means something).
      for (const s of [xOnB, yOnC]) {
        for (const { message, by } of sent) if (by !== s) await waitEvent(s, 'receive_message', (m) => m.id === message.id);
        await waitEvent(s, 'member_removed', (p) => p.group_id === group.id && p.user_id === victim.id);
        await waitEvent(s, 'group_updated', (p) => p.group.id === group.id && p.group.name === `removal ${a}, renamed`);
        await waitEvent(s, 'reaction_added', (p) => p.message_id === hello.id);
      }
      answer(await api(NODES[b], 'GET', `/chats/${group.id}`, victim.token), 403, 'history after the removal');
      t.diagnostic(`removed through ${node(a)}: nothing of the group on ${onB.where} and ${onC.where}`);
      all.forEach((s) => s.disconnect());
    }
  });
});
