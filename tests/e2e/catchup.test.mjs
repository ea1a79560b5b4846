// Catch-up without gaps (v2 "Catch-up") with the official socket.io-client
// over both transports: every chat event carries a top-level `seq`, one
// per event, the same for every recipient, growing in commit order;
// GET /events returns exactly what a connected socket of the user received
// (the user's own sends included), event for event; a socket that
// disconnects while others send, edit, delete, react and change members,
// and reconnects with auth.since, gets the missed events, caught_up, then
// live events with no gap and no duplicate, and ends with the same model of
// the chats as a socket that stayed connected (and as REST); more than 1000
// missed events is sync_required instead, and /events pages them; a
// cursor older than the kept events is 410 cursor_expired on /events and
// sync_required on connect (on a second server that keeps events 3 s).
//
// The users are a pool registered once for the file (the /auth/* limit
// counts registrations per address, and the whole suite shares one
// server); each test takes its cast in turn and makes its own chats.
import { test, describe, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, api, apiAt, register, send, connect, connected, open, emitAck, next, settle, withTimeout,
} from './lib.mjs';

const sockets = [];
const track = (s) => { sockets.push(s); return s; };
afterEach(() => sockets.splice(0).forEach((s) => s.disconnect()));

const POOL = 6;
const pool = [];
let turn = 0;
before(async () => {
  for (let i = 0; i < POOL; i += 1) pool.push(await register(`c${i}`));
});
const cast = (n) => {
  const start = turn;
  turn += 1;
  return Array.from({ length: n }, (_, i) => pool[(start + i) % POOL]);
};

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c63f8cfc0f01f0005000100ff89993d1d0000000049454e44ae426082', 'hex');
const CHAT_EVENTS = new Set([
  'receive_message', 'receive_file', 'group_created', 'added_to_group', 'member_added', 'read',
  'message_updated', 'message_deleted', 'reaction_added', 'reaction_removed', 'group_updated',
  'member_removed', 'member_role_changed', 'user_updated',
]);
const REPLAY_MAX = 1000;

// The chat events a socket has received, in arrival order: [{seq, type, data}].
const chatEvents = (socket) => socket.received
  .filter(({ event }) => CHAT_EVENTS.has(event))
  .map(({ event, payload }) => ({ seq: payload.seq, type: event, data: payload }));

// File URLs are signed afresh for every read: compare them without their query.
function unsigned(value) {
  if (Array.isArray(value)) return value.map(unsigned);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'url' && typeof v === 'string' ? v.split('?')[0] : unsigned(v)]));
}

async function latestSeq(account) {
  const res = await api('GET', '/events?since=0&limit=1', account.token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(Number.isSafeInteger(res.body.latest_seq), JSON.stringify(res.body));
  return res.body.latest_seq;
}

// Every event of GET /events after `since`, paged with `limit`; checks each page's shape.
async function allEvents(account, since, limit = 1000) {
  const out = [];
  let cursor = since;
  for (let page = 0; page < 100; page += 1) {
    const res = await api('GET', `/events?since=${cursor}&limit=${limit}`, account.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body).sort(), ['events', 'has_more', 'latest_seq']);
    assert.equal(typeof res.body.has_more, 'boolean');
    assert.ok(res.body.events.length <= limit);
    for (const e of res.body.events) {
      assert.deepEqual(Object.keys(e).sort(), ['data', 'seq', 'type']);
      assert.ok(CHAT_EVENTS.has(e.type), e.type);
      assert.equal(e.data.seq, e.seq, 'data carries its own seq');
      assert.ok(e.seq > cursor, `${e.seq} after ${cursor}`);
      assert.ok(e.seq <= res.body.latest_seq);
      cursor = e.seq;
    }
    out.push(...res.body.events);
    if (!res.body.has_more) return out;
    assert.ok(res.body.events.length > 0, 'has_more with an empty page');
  }
  throw new Error('more than 100 pages');
}

// What a client knows of its chats, built from chat events alone.
function model(events, meId) {
  const chats = new Map();
  const users = new Map();
  const chat = (id, kind) => {
    if (!chats.has(id)) chats.set(id, { kind, name: null, members: {}, messages: {}, reads: {} });
    return chats.get(id);
  };
  const fromGroup = (g) => {
    const c = chat(g.id, 'group');
    c.name = g.name;
    c.members = Object.fromEntries(g.members.map((m) => [m.user_id, m.role]));
  };
  const message = (m) => ({
    text: m.text, kind: m.kind, deleted: m.deleted_at !== null, edited_at: m.edited_at,
    reactions: Object.fromEntries((m.reactions ?? []).map((r) => [r.emoji, r.count])),
  });
  for (const { type, data } of events) {
    switch (type) {
      case 'receive_message':
      case 'receive_file':
        chat(data.chat_id, data.chat_kind).messages[data.id] = message(data);
        break;
      case 'message_updated':
        chat(data.message.chat_id, data.message.chat_kind).messages[data.message.id] = message(data.message);
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
        chat(data.group_id, 'group').members[data.member.user_id] = data.member.role;
        break;
      case 'member_removed':
        if (data.user_id === meId) chats.delete(data.group_id);
        else delete chat(data.group_id, 'group').members[data.user_id];
        break;
      case 'member_role_changed':
        chat(data.group_id, 'group').members[data.user_id] = data.role;
        break;
      case 'read': {
        const c = chat(data.chat_id);
        c.reads[data.user_id] = Math.max(c.reads[data.user_id] ?? 0, data.message_id);
        break;
      }
      case 'user_updated':
        users.set(data.user.id, data.user.display_name);
        break;
      default:
    }
  }
  return { chats: Object.fromEntries([...chats].sort(([a], [b]) => a - b)), users: Object.fromEntries(users) };
}

// Seqs strictly growing, each once.
function increasing(events, what) {
  for (let i = 1; i < events.length; i += 1) {
    assert.ok(events[i].seq > events[i - 1].seq, `${what}: ${events[i - 1].type} ${events[i - 1].seq} then ${events[i].type} ${events[i].seq}`);
  }
}

function refusedWith(res, status, codes, what) {
  assert.equal(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.ok([].concat(codes).includes(res.body.error.code), `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error.message, 'string');
}

const waitFor = (socket, event) => withTimeout(new Promise((resolve) => {
  const found = socket.received.find((e) => e.event === event);
  if (found) resolve(found.payload);
  else socket.on(event, resolve);
}), `${event} on ${socket.id}`);

for (const transport of ['websocket', 'polling']) {
  describe(`over ${transport}`, () => {
    const openT = async (account) => track(await open(account, transport));
    // A socket that connects with auth {token, since}.
    const openSince = (account, since) => {
      const socket = track(connect(account.token, transport, { auth: { token: account.token, since } }));
      return connected(socket);
    };

    test('every chat event carries a top-level seq: one per event, the same for every recipient, growing; none on typing or presence', async () => {
      const [alice, bob, carol] = cast(3);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const start = await latestSeq(alice);

      const dm = await send(alice, { to: bob.id }, 'hello, seq');
      const file = await emitAck(aliceSock, 'send_file', { to: bob.id, filename: 'dot.png', data: PNG });
      assert.equal(file.ok, true, JSON.stringify(file));
      const edited = await emitAck(aliceSock, 'edit_message', { message_id: dm.id, text: 'hello, seq (edited)' });
      await emitAck(bobSock, 'add_reaction', { message_id: dm.id, emoji: '👍' });
      await emitAck(bobSock, 'remove_reaction', { message_id: dm.id, emoji: '👍' });
      await emitAck(bobSock, 'mark_read', { chat_id: dm.chat_id, message_id: file.message.id });
      const created = await emitAck(aliceSock, 'create_group', { name: 'seq group', member_ids: [bob.id] });
      const g = created.group;
      await api('POST', `/groups/${g.id}/add-user`, alice.token, { user_id: carol.id });
      await api('PATCH', `/groups/${g.id}`, alice.token, { name: 'seq group, renamed' });
      await api('PATCH', `/groups/${g.id}/members/${bob.id}`, alice.token, { role: 'owner' });
      await api('DELETE', `/groups/${g.id}/members/${carol.id}`, bob.token);
      await api('PATCH', '/auth/me', bob.token, { display_name: `bob ${Date.now() % 1000}` });
      await emitAck(aliceSock, 'delete_message', { message_id: file.message.id });
      await emitAck(bobSock, 'typing', { chat_id: dm.chat_id, typing: true });
      await settle(aliceSock, alice);
      await settle(bobSock, bob);
      await settle(aliceSock, alice);

      const types = new Set();
      for (const [socket, who] of [[aliceSock, 'alice'], [bobSock, 'bob']]) {
        const events = chatEvents(socket).filter((e) => e.seq === undefined || e.seq > start);
        for (const e of events) {
          assert.ok(Number.isSafeInteger(e.seq) && e.seq > 0, `${who}: ${e.type} without a seq: ${JSON.stringify(e.data)}`);
          types.add(e.type);
        }
        increasing(events, who);
        for (const { event, payload } of socket.received) {
          if (['typing', 'presence'].includes(event)) assert.equal(payload.seq, undefined, `${event} carries no seq`);
        }
      }
      for (const type of CHAT_EVENTS) {
        if (type !== 'added_to_group' && type !== 'receive_file') assert.ok(types.has(type), `no ${type} seen`);
      }
      assert.ok(chatEvents(bobSock).some((e) => e.type === 'receive_file'));

      // One event, one seq, whoever gets it; a Message carries the seq of its latest change.
      const aliceBySeq = new Map(chatEvents(aliceSock).map((e) => [e.seq, e]));
      let shared = 0;
      for (const e of chatEvents(bobSock).filter((x) => x.seq > start)) {
        const same = aliceBySeq.get(e.seq);
        if (!same) continue;
        shared += 1;
        assert.equal(same.type, e.type, `seq ${e.seq}`);
        assert.deepEqual(unsigned(same.data), unsigned(e.data), `seq ${e.seq}: one payload for every recipient`);
      }
      assert.ok(shared >= 8, `${shared} events seen by both`);
      const received = chatEvents(bobSock).find((e) => e.type === 'receive_message' && e.data.id === dm.id);
      assert.equal(received.data.seq, dm.seq, 'the send\'s answer carries the seq of its receive_message');
      const updated = chatEvents(bobSock).find((e) => e.type === 'message_updated' && e.data.message.id === dm.id);
      assert.equal(updated.seq, edited.message.seq, 'an edit\'s ack carries the seq of its message_updated');
      const removedReaction = chatEvents(bobSock).find((e) => e.type === 'reaction_removed' && e.data.message_id === dm.id);
      const history = await api('GET', `/chats/${dm.chat_id}?limit=10`, bob.token);
      assert.equal(history.body.messages.find((m) => m.id === dm.id).seq, removedReaction.seq, 'history: the seq of the latest change');

      // The events of one commit have consecutive seqs: handing the group over is two role changes.
      const roles = chatEvents(aliceSock).filter((e) => e.type === 'member_role_changed' && e.data.group_id === g.id);
      assert.equal(roles.length, 2, JSON.stringify(roles));
      assert.equal(roles[1].seq, roles[0].seq + 1, 'one commit, consecutive seqs');
      // A Chat inside an event has unread_count 0.
      for (const e of chatEvents(bobSock).filter((x) => x.data.group)) assert.equal(e.data.group.unread_count, 0, e.type);
    });

    test('GET /events equals what a connected socket received, event for event, the user\'s own sends included; paging and refusals', async () => {
      const [alice, bob, carol] = cast(3);
      const since = await latestSeq(alice);
      // The watching socket never sends: it gets every chat event of alice's, her own REST sends included.
      const watcher = await openT(alice);
      const actor = await openT(alice);
      const bobSock = await openT(bob);
      const dm = await send(alice, { to: bob.id }, 'one');
      await emitAck(bobSock, 'send_message', { to: alice.id, text: 'two' });
      await emitAck(actor, 'edit_message', { message_id: dm.id, text: 'one, edited' });
      await emitAck(bobSock, 'add_reaction', { message_id: dm.id, emoji: '🎉' });
      await emitAck(actor, 'send_file', { to: bob.id, filename: 'dot.png', data: PNG, text: 'a dot' });
      const g = (await api('POST', '/groups', bob.token, { name: 'events', member_ids: [alice.id] })).body.group;
      await api('POST', `/groups/${g.id}/add-user`, bob.token, { user_id: carol.id });
      await send(carol, { group_id: g.id }, 'three');
      await api('PATCH', `/groups/${g.id}/members/${alice.id}`, bob.token, { role: 'admin' });
      await api('PATCH', `/groups/${g.id}`, alice.token, { name: 'events, renamed' });
      await emitAck(actor, 'delete_message', { message_id: dm.id });
      await api('PATCH', '/auth/me', carol.token, { display_name: `carol ${Date.now() % 1000}` });
      await emitAck(actor, 'leave_group', { group_id: g.id });
      const last = await send(alice, { to: alice.id }, 'the last');
      await next(watcher, 'receive_message', (m) => m.id === last.id);

      const live = chatEvents(watcher);
      increasing(live, 'the watcher');
      assert.ok(live.length >= 14, `${live.length} events`);
      const fetched = await allEvents(alice, since);
      assert.deepEqual(fetched.map((e) => `${e.seq} ${e.type}`), live.map((e) => `${e.seq} ${e.type}`));
      assert.deepEqual(unsigned(fetched), unsigned(live), 'the same payloads');
      for (const e of fetched.filter((x) => x.type === 'receive_file')) {
        const res = await fetch(BASE + e.data.attachment.url);
        assert.equal(res.status, 200, 'a file URL in /events is signed afresh and works');
        await res.arrayBuffer();
      }
      // In pages of 3, the same.
      assert.deepEqual(await allEvents(alice, since, 3), fetched);
      // A page: limit, has_more, latest_seq.
      const first = await api('GET', `/events?since=${since}&limit=1`, alice.token);
      assert.equal(first.body.events.length, 1);
      assert.equal(first.body.has_more, true);
      assert.ok(first.body.latest_seq >= fetched.at(-1).seq);
      const beyond = await api('GET', `/events?since=${first.body.latest_seq}`, alice.token);
      assert.deepEqual([beyond.status, beyond.body.events, beyond.body.has_more], [200, [], false]);
      // Bob's /events are his own: alice's note to herself is not among them.
      const bobs = await allEvents(bob, since);
      assert.ok(bobs.some((e) => e.type === 'receive_message' && e.data.id === dm.id));
      assert.ok(!bobs.some((e) => e.type === 'receive_message' && e.data.id === last.id), 'another user\'s note to self');

      for (const [query, what] of [['limit=0', 'limit 0'], ['limit=1001', 'limit 1001'], ['limit=x', 'limit not a number']]) {
        refusedWith(await api('GET', `/events?since=${since}&${query}`, alice.token), 400, 'validation_failed', what);
      }
      for (const [query, what] of [['since=-1', 'since negative'], ['since=abc', 'since not a number'], ['since=1.5', 'since not an integer']]) {
        refusedWith(await api('GET', `/events?${query}`, alice.token), 400, ['invalid_cursor', 'validation_failed'], what);
      }
      refusedWith(await api('GET', `/events?since=${since}`), 401, 'unauthorized', 'no token');
    });

    test('a socket that reconnects with since ends with the same model as one that stayed connected, and as REST: no gap, no duplicate', async () => {
      const [alice, bob, carol, dan] = cast(4);
      const stay = await openT(alice);
      let away = await openT(alice);
      const bobSock = await openT(bob);
      const start = await latestSeq(alice);

      // Both connected.
      const dm = await send(bob, { to: alice.id }, 'before');
      const g = (await api('POST', '/groups', carol.token, { name: 'model', member_ids: [alice.id, bob.id] })).body.group;
      const g2 = (await api('POST', '/groups', dan.token, { name: 'to be left', member_ids: [alice.id] })).body.group;
      const m1 = await send(carol, { group_id: g.id }, 'group one');
      const m2 = await send(alice, { group_id: g.id }, 'mine, before');
      await next(away, 'receive_message', (m) => m.id === m2.id);
      const beforeAway = chatEvents(away);
      const cursor = beforeAway.at(-1).seq;
      away.disconnect();

      // While away is gone: sends (her own too), edits, deletions, reactions, reads, names, members.
      await send(alice, { to: bob.id }, 'mine, while away');
      await emitAck(bobSock, 'edit_message', { message_id: dm.id, text: 'before, edited' });
      await emitAck(bobSock, 'add_reaction', { message_id: m1.id, emoji: '👍' });
      await api('PUT', `/messages/${m1.id}/reactions/${encodeURIComponent('🔥')}`, alice.token);
      await api('DELETE', `/messages/${m2.id}`, alice.token);
      await emitAck(bobSock, 'mark_read', { chat_id: g.id, message_id: m1.id });
      await api('POST', `/chats/${dm.chat_id}/read`, alice.token, { message_id: dm.id });
      await api('PATCH', `/groups/${g.id}`, carol.token, { name: 'model, renamed' });
      await api('POST', `/groups/${g.id}/add-user`, carol.token, { user_id: dan.id });
      await api('PATCH', `/groups/${g.id}/members/${alice.id}`, carol.token, { role: 'admin' });
      await api('DELETE', `/groups/${g.id}/members/${bob.id}`, alice.token);
      await api('DELETE', `/groups/${g2.id}/members/${alice.id}`, dan.token);
      const g3 = (await api('POST', '/groups', dan.token, { name: 'new while away', member_ids: [alice.id] })).body.group;
      await send(dan, { group_id: g3.id }, 'welcome');
      await api('PATCH', '/auth/me', carol.token, { display_name: `carol ${Date.now() % 1000}` });
      await emitAck(bobSock, 'send_file', { to: alice.id, filename: 'dot.png', data: PNG });
      const missed = await allEvents(alice, cursor);
      assert.ok(missed.length >= 15, `${missed.length} missed`);

      // Back with since, while messages keep coming.
      const during = Array.from({ length: 10 }, (_, i) => send(carol, { group_id: g.id }, `during ${i}`));
      away = await openSince(alice, cursor);
      const caught = await waitFor(away, 'caught_up');
      await Promise.all(during);
      const endMark = await send(alice, { to: alice.id }, 'the end');
      for (const s of [stay, away]) await next(s, 'receive_message', (m) => m.id === endMark.id);

      assert.deepEqual(Object.keys(caught), ['seq']);
      assert.ok(Number.isSafeInteger(caught.seq) && caught.seq >= missed.at(-1).seq, `caught_up ${caught.seq}`);
      assert.ok(!away.received.some((e) => e.event === 'sync_required'));
      const cu = away.received.findIndex((e) => e.event === 'caught_up');
      const replay = chatEvents({ received: away.received.slice(0, cu) });
      const after = chatEvents({ received: away.received.slice(cu + 1) });
      const show = (list) => JSON.stringify(list.map((e) => `${e.seq} ${e.type}`));
      assert.deepEqual(replay.filter((e) => !(e.seq > cursor && e.seq <= caught.seq)), [],
        `the replay is what came after since (${cursor}), up to caught_up (${caught.seq}): ${show(replay)}`);
      assert.deepEqual(after.filter((e) => e.seq <= caught.seq), [], `live events come after caught_up's seq (${caught.seq}): ${show(after)}`);
      assert.deepEqual(unsigned(replay.slice(0, missed.length)), unsigned(missed), 'the replay is what /events returns');

      const stayed = chatEvents(stay).filter((e) => e.seq > start);
      const back = [...beforeAway, ...replay, ...after].filter((e) => e.seq > start);
      increasing(back, 'the socket that came back');
      assert.deepEqual(back.map((e) => `${e.seq} ${e.type}`), stayed.map((e) => `${e.seq} ${e.type}`), 'event for event');
      const stayModel = model(stayed, alice.id);
      assert.deepEqual(model(back, alice.id), stayModel);

      // And as REST: the chats, their members and names, the messages' texts, deletions and reactions.
      const chats = (await api('GET', '/chats', alice.token)).body.chats.filter((c) => String(c.id) in stayModel.chats);
      assert.deepEqual(chats.map((c) => c.id).sort((a, b) => a - b), Object.keys(stayModel.chats).map(Number));
      assert.ok(!(String(g2.id) in stayModel.chats), 'the group alice was removed from is gone');
      for (const c of chats) {
        const mine = stayModel.chats[c.id];
        if (c.kind === 'group') {
          assert.equal(mine.name, c.name);
          assert.deepEqual(mine.members, Object.fromEntries(c.members.map((m) => [m.user_id, m.role])));
        }
        const page = (await api('GET', `/chats/${c.id}?limit=200`, alice.token)).body.messages;
        for (const m of page.filter((x) => String(x.id) in mine.messages)) {
          const known = mine.messages[m.id];
          assert.deepEqual([known.text, known.deleted, known.reactions],
            [m.text, m.deleted_at !== null, Object.fromEntries(m.reactions.map((r) => [r.emoji, r.count]))], `message ${m.id}`);
        }
      }
    });

    test('since = the latest seq: caught_up at once with no replay, then live events; no since: no replay and no caught_up', async () => {
      const [alice] = cast(1);
      const latest = await latestSeq(alice);
      const socket = await openSince(alice, latest);
      const caught = await waitFor(socket, 'caught_up');
      assert.ok(caught.seq >= latest);
      const cu = socket.received.findIndex((e) => e.event === 'caught_up');
      assert.deepEqual(chatEvents({ received: socket.received.slice(0, cu) }), []);
      const plain = await openT(alice);
      const note = await send(alice, { to: alice.id }, 'live after caught_up');
      for (const s of [socket, plain]) await next(s, 'receive_message', (m) => m.id === note.id);
      await settle(plain, alice);
      assert.ok(!plain.received.some((e) => ['caught_up', 'sync_required'].includes(e.event)), 'a v1 connect gets neither');
    });
  });
}

describe('more than 1000 missed events', () => {
  test('the socket gets sync_required {since}, no replay and no caught_up; live events follow; /events pages the missed ones', { timeout: 180_000 }, async () => {
    const [alice, ...others] = cast(POOL);
    // Senders of their own, so that no one goes past the per-user send limit.
    const senders = [...others];
    for (let i = senders.length; i < 12; i += 1) senders.push(await register(`s${i}`));
    const g = (await api('POST', '/groups', alice.token, { name: 'flood', member_ids: senders.map((s) => s.id) })).body.group;
    const cursor = await latestSeq(alice);
    const per = Math.ceil((REPLAY_MAX + 20) / senders.length);
    await Promise.all(senders.map(async (s) => {
      for (let i = 0; i < per; i += 10) {
        await Promise.all(Array.from({ length: Math.min(10, per - i) }, (_, k) => send(s, { group_id: g.id }, `flood ${i + k}`)));
      }
    }));
    const missed = await allEvents(alice, cursor);
    assert.ok(missed.length > REPLAY_MAX, `${missed.length} missed`);

    const socket = track(connect(alice.token, 'websocket', { auth: { token: alice.token, since: cursor } }));
    await connected(socket);
    const required = await waitFor(socket, 'sync_required');
    assert.deepEqual(required, { since: cursor });
    const live = await send(senders[0], { group_id: g.id }, 'live after sync_required');
    await next(socket, 'receive_message', (m) => m.id === live.id);
    await settle(socket, alice);
    assert.ok(!socket.received.some((e) => e.event === 'caught_up'), 'no caught_up');
    const replayed = chatEvents(socket).filter((e) => e.seq <= missed.at(-1).seq);
    assert.deepEqual(replayed, [], 'no replay');
    assert.equal(socket.received[0].event, 'sync_required', 'sync_required comes first');

    // /events: a full page of 1000, then the rest.
    const first = await api('GET', `/events?since=${cursor}&limit=1000`, alice.token);
    assert.equal(first.body.events.length, 1000);
    assert.equal(first.body.has_more, true);
    const paged = await allEvents(alice, cursor, 1000);
    assert.deepEqual(paged.slice(0, missed.length), missed);
    assert.ok(paged.some((e) => e.data.id === live.id), 'the live event is in /events too');
  });
});

// tests/e2e/run.sh starts it: a server started with --event-retention 3s.
const SHORT = process.env.CHAT_URL_SHORT_RETENTION;

describe('a cursor older than the kept events', { skip: !SHORT && 'set CHAT_URL_SHORT_RETENTION to a server started with --event-retention 3s (tests/e2e/run.sh does)' }, () => {
  test('GET /events answers 410 cursor_expired, a connect with it gets sync_required; since=0 and a recent cursor still work', { timeout: 60_000 }, async () => {
    const at = (method, path, account, body) => apiAt(SHORT, method, path, account?.token, body);
    const alice = await register('x', SHORT);
    const bob = await register('y', SHORT);
    const note = async (text) => {
      const res = await at('POST', '/chats/send-message', alice, { to: bob.id, text });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.message;
    };
    const first = await note('soon forgotten');
    const old = first.seq; // alice has seen this one, and not the next
    const second = await note('forgotten too');
    await note('the newest'); // (a server may keep its newest event whatever its age)

    // Pruned once older than 3 s (the server prunes every second or so).
    let expired;
    for (let i = 0; i < 40; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      expired = await at('GET', `/events?since=${old}`, alice);
      if (expired.status !== 200) break;
    }
    refusedWith(expired, 410, 'cursor_expired', 'a since older than the kept events');

    const fresh = await at('GET', '/events?since=0', alice);
    assert.equal(fresh.status, 200, 'since=0 starts at the oldest kept event');
    assert.deepEqual(fresh.body.events.filter((e) => e.seq <= second.seq), [], 'the old events were pruned');
    const latest = fresh.body.latest_seq;
    assert.ok(latest > second.seq);
    const recent = await at('GET', `/events?since=${latest}`, alice);
    assert.deepEqual([recent.status, recent.body.events], [200, []], 'a recent cursor');

    const socket = track(connect(alice.token, 'websocket', { auth: { token: alice.token, since: old } }, SHORT));
    await connected(socket);
    assert.deepEqual(await waitFor(socket, 'sync_required'), { since: old });
    const live = await note('live after sync_required');
    const mine = track(connect(alice.token, 'websocket', { auth: { token: alice.token, since: latest } }, SHORT));
    await connected(mine);
    await waitFor(mine, 'caught_up');
    await next(socket, 'receive_message', (m) => m.id === live.id);
    assert.ok(!socket.received.some((e) => e.event === 'caught_up'), 'no caught_up after sync_required');
  });
});
