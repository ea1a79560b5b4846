// Replies, edits, deletions and reactions (v2) with the official
// socket.io-client over both transports: the acks, who gets each broadcast
// (every socket of every member, the acting socket included, no outsider),
// idempotent repeats that broadcast nothing, the refusals and their ack
// shape, and the order of a chat's events.
import { test, describe, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, api, register, send, open, emitAck, next, settle, pending,
} from './lib.mjs';

// Each test opens its own sockets and closes them when it ends.
const sockets = [];
const track = (s) => { sockets.push(s); return s; };
afterEach(() => sockets.splice(0).forEach((s) => s.disconnect()));

// The whole suite runs against one server, whose /auth/* limit counts
// registrations per client address: this file registers a pool of users once
// and gives each test its cast from it in turn (so the load of sends and
// reactions is spread, too). Chats are shared between tests, so each test
// looks only at the messages it made. Eve, the outsider, is in no chat with
// anyone.
const POOL = 6;
const pool = [];
let eve;
let turn = 0;
before(async () => {
  for (let i = 0; i < POOL; i += 1) pool.push(await register(`m${i}`));
  eve = await register('e');
});
const cast = (n) => {
  const start = turn;
  turn += 1;
  return Array.from({ length: n }, (_, i) => pool[(start + i) % POOL]);
};

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c63f8cfc0f01f0005000100ff89993d1d0000000049454e44ae426082', 'hex');
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const NO_SUCH_ID = 2_000_000_000;
const V2_EVENTS = ['message_updated', 'message_deleted', 'reaction_added', 'reaction_removed'];

// Catch-up (v2) adds `seq` to every chat event; these tests are about the rest.
const noSeq = (payload) => {
  const { seq, ...rest } = payload;
  return rest;
};
// A Message as events carry it: reactions without the caller's `me`.
const noMe = (m) => ({ ...m, reactions: m.reactions.map(({ emoji, count }) => ({ emoji, count })) });
const codePoints = (s) => Array.from(s);

// An ack that refuses: exactly `{ok: false, error: {code, message}}`.
function refused(ack, code, what = '') {
  assert.equal(ack.ok, false, `${what} ${JSON.stringify(ack)}`);
  assert.deepEqual(Object.keys(ack).sort(), ['error', 'ok'], what);
  assert.deepEqual(Object.keys(ack.error).sort(), ['code', 'message'], what);
  assert.equal(ack.error.code, code, `${what} ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, 'string');
  assert.ok(ack.error.message.length > 0);
}

function accepted(ack, what = '') {
  assert.equal(ack.ok, true, `${what} ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.message, 'object', what);
  return ack.message;
}

const aboutMessage = (event, p) => (event === 'message_updated' ? p.message.id : p.message_id);

// Waits until everything sent to these sockets before now has arrived (see
// lib.mjs `settle`), then checks that no v2 message event about the given
// messages arrived that the test has not already taken with `next`. The
// outsider (eve) must have heard nothing at all: no message event and no
// message.
async function quiet(pairs, ids) {
  for (const [socket, account] of pairs) {
    await settle(socket, account);
    for (const event of V2_EVENTS) {
      const extra = pending(socket, event).filter((p) => account === eve || ids.includes(aboutMessage(event, p)));
      assert.deepEqual(extra, [], `${event} on a socket of ${account.username}`);
    }
    if (account === eve) {
      assert.deepEqual(pending(socket, 'receive_message'), [], 'eve got a message');
      assert.deepEqual(pending(socket, 'receive_file'), [], 'eve got a file');
    }
  }
}

function expectTombstone(tomb, before) {
  for (const k of ['id', 'chat_id', 'chat_kind', 'sender_id', 'kind', 'created_at', 'client_id', 'edited_at']) {
    assert.deepEqual(tomb[k], before[k], `tombstone keeps ${k}`);
  }
  assert.match(tomb.deleted_at, ISO_MS);
  assert.ok(tomb.deleted_at >= tomb.created_at);
  assert.equal(tomb.text, null);
  assert.equal(tomb.attachment, null);
  assert.equal(tomb.reply_to, null);
  assert.deepEqual(tomb.reactions, []);
}

async function history(account, chatId) {
  const { status, body } = await api('GET', `/chats/${chatId}?limit=200`, account.token);
  assert.equal(status, 200, JSON.stringify(body));
  return body.messages;
}

async function group(owner, members, name = 'g') {
  const { status, body } = await api('POST', '/groups', owner.token, { name, member_ids: members.map((m) => m.id) });
  assert.equal(status, 201, JSON.stringify(body));
  return body.group;
}

for (const transport of ['websocket', 'polling']) {
  describe(`over ${transport}`, () => {
    const openT = async (account) => track(await open(account, transport));

    test('reply_to on send_message, group_message and send_file: the ack and every recipient get the quoted original', async () => {
      const [alice, bob] = cast(2);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);

      // 252 code points, 502 UTF-16 units: reply_to.text is the first 200 code points.
      const long = `ab${'🦀'.repeat(250)}`;
      const original = await send(alice, { to: bob.id }, long);
      const quoted = {
        id: original.id, sender_id: alice.id, kind: 'text', text: codePoints(long).slice(0, 200).join(''), deleted: false,
      };
      const reply = accepted(await emitAck(bobSock, 'send_message', { chat_id: original.chat_id, text: 'crabs!', reply_to: original.id }));
      assert.deepEqual(reply.reply_to, quoted);
      assert.equal(codePoints(reply.reply_to.text).length, 200);
      assert.equal(reply.edited_at, null);
      assert.equal(reply.deleted_at, null);
      assert.deepEqual(reply.reactions, []);
      assert.deepEqual(await next(aliceSock, 'receive_message', (m) => m.id === reply.id), reply);

      const g = await group(alice, [bob]);
      const first = await send(bob, { group_id: g.id }, 'first in the group');
      const answer = accepted(await emitAck(aliceSock, 'group_message', { group_id: g.id, text: 'an answer', reply_to: first.id }));
      assert.deepEqual(answer.reply_to, { id: first.id, sender_id: bob.id, kind: 'text', text: 'first in the group', deleted: false });
      assert.deepEqual(await next(bobSock, 'receive_message', (m) => m.id === answer.id), answer);

      const file = accepted(await emitAck(bobSock, 'send_file', {
        to: alice.id, filename: 'dot.png', data: PNG, text: 'a dot', reply_to: original.id,
      }));
      assert.equal(file.kind, 'file');
      assert.deepEqual(file.reply_to, quoted);
      const received = await next(aliceSock, 'receive_file', (m) => m.id === file.id);
      assert.deepEqual(received.reply_to, quoted);

      // A reply to a file message quotes its caption.
      const toFile = accepted(await emitAck(aliceSock, 'send_message', { to: bob.id, text: 'nice dot', reply_to: file.id }));
      assert.deepEqual(toFile.reply_to, { id: file.id, sender_id: bob.id, kind: 'file', text: 'a dot', deleted: false });

      // History shows the same quotes.
      const page = await history(bob, original.chat_id);
      assert.deepEqual(page.find((m) => m.id === reply.id).reply_to, quoted);
      assert.deepEqual(page.find((m) => m.id === toFile.id).reply_to, toFile.reply_to);

      // Refusals: another chat's message, a missing one, one the caller cannot see, a wrong type.
      const hidden = await send(eve, { to: eve.id }, 'not for alice');
      refused(await emitAck(aliceSock, 'send_message', { to: bob.id, text: 'nope', reply_to: first.id }), 'validation_failed', 'another chat');
      refused(await emitAck(aliceSock, 'group_message', { group_id: g.id, text: 'nope', reply_to: original.id }), 'validation_failed', 'another chat');
      refused(await emitAck(bobSock, 'send_file', { to: alice.id, filename: 'dot.png', data: PNG, text: 'nope', reply_to: first.id }), 'validation_failed', 'another chat');
      refused(await emitAck(aliceSock, 'send_message', { to: bob.id, text: 'nope', reply_to: NO_SUCH_ID }), 'not_found', 'missing');
      refused(await emitAck(aliceSock, 'send_message', { to: bob.id, text: 'nope', reply_to: hidden.id }), 'not_found', 'cannot see');
      refused(await emitAck(aliceSock, 'send_message', { to: bob.id, text: 'nope', reply_to: 'the first' }), 'validation_failed', 'wrong type');
      const eveSock = await openT(eve);
      refused(await emitAck(eveSock, 'send_message', { chat_id: original.chat_id, text: 'nope', reply_to: original.id }), 'not_a_member', 'outsider');

      await settle(bobSock, bob);
      assert.deepEqual(pending(bobSock, 'receive_message').filter((m) => m.text === 'nope'), []);
      assert.deepEqual(pending(bobSock, 'receive_file').filter((m) => m.text === 'nope'), []);
    });

    test('reply_to shows the original as it is now in history, and as it was in the event', async () => {
      const [alice, bob] = cast(2);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const original = await send(alice, { to: bob.id }, 'before the edit');
      const reply = accepted(await emitAck(bobSock, 'send_message', { to: alice.id, text: 'noted', reply_to: original.id }));
      const event = await next(aliceSock, 'receive_message', (m) => m.id === reply.id);
      assert.equal(event.reply_to.text, 'before the edit');

      accepted(await emitAck(aliceSock, 'edit_message', { message_id: original.id, text: 'after the edit' }));
      let page = await history(bob, original.chat_id);
      assert.deepEqual(page.find((m) => m.id === reply.id).reply_to,
        { id: original.id, sender_id: alice.id, kind: 'text', text: 'after the edit', deleted: false });

      accepted(await emitAck(aliceSock, 'delete_message', { message_id: original.id }));
      page = await history(alice, original.chat_id);
      assert.deepEqual(page.find((m) => m.id === reply.id).reply_to,
        { id: original.id, sender_id: alice.id, kind: 'text', text: null, deleted: true });

      // Replying to a deleted message is allowed.
      const late = accepted(await emitAck(bobSock, 'send_message', { to: alice.id, text: 'too late', reply_to: original.id }));
      assert.deepEqual(late.reply_to, { id: original.id, sender_id: alice.id, kind: 'text', text: null, deleted: true });
      assert.deepEqual((await next(aliceSock, 'receive_message', (m) => m.id === late.id)).reply_to, late.reply_to);
    });

    test('edit_message: the ack, message_updated to every socket of both members (the editor\'s included), nothing to outsiders or on a repeat', async () => {
      const [alice, bob] = cast(2);
      const alicePhone = await openT(alice);
      const aliceLaptop = await openT(alice);
      const bobSock = await openT(bob);
      const eveSock = await openT(eve);
      const everyone = [[alicePhone, alice], [aliceLaptop, alice], [bobSock, bob], [eveSock, eve]];

      const msg = await send(alice, { to: bob.id }, 'helo bob');
      // Bob's reaction, so that the edit's event carries reactions (without `me`).
      accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: '👀' }));
      for (const s of [alicePhone, aliceLaptop, bobSock]) await next(s, 'reaction_added', (p) => p.message_id === msg.id);

      const ack = await emitAck(alicePhone, 'edit_message', { message_id: msg.id, text: 'hello bob' });
      const edited = accepted(ack);
      assert.equal(edited.id, msg.id);
      assert.equal(edited.text, 'hello bob');
      assert.match(edited.edited_at, ISO_MS);
      assert.ok(edited.edited_at >= msg.created_at);
      for (const k of ['chat_id', 'sender_id', 'kind', 'created_at', 'client_id', 'reply_to', 'deleted_at']) {
        assert.deepEqual(edited[k], msg[k], k);
      }
      assert.deepEqual(edited.reactions, [{ emoji: '👀', count: 1, me: false }], 'the ack has me');

      for (const s of [alicePhone, aliceLaptop, bobSock]) {
        const event = await next(s, 'message_updated', (p) => p.message.id === msg.id);
        assert.deepEqual(noSeq(event), { message: noMe(edited) });
        assert.deepEqual(event.message.reactions, [{ emoji: '👀', count: 1 }], 'events have no me');
      }
      const stored = (await history(alice, msg.chat_id)).find((m) => m.id === msg.id);
      assert.deepEqual(stored, edited);

      // The same text again: ok, nothing changes, nothing is broadcast.
      assert.deepEqual(accepted(await emitAck(aliceLaptop, 'edit_message', { message_id: msg.id, text: 'hello bob' })), edited);

      // Refusals.
      refused(await emitAck(bobSock, 'edit_message', { message_id: msg.id, text: 'bob was here' }), 'forbidden', 'not the sender');
      refused(await emitAck(eveSock, 'edit_message', { message_id: msg.id, text: 'eve was here' }), 'not_a_member', 'outsider');
      refused(await emitAck(eveSock, 'edit_message', { message_id: msg.id, text: '   ' }), 'not_a_member', 'outsider, bad text');
      refused(await emitAck(alicePhone, 'edit_message', { message_id: msg.id, text: '   ' }), 'message_empty');
      refused(await emitAck(alicePhone, 'edit_message', { message_id: msg.id, text: 'x'.repeat(4001) }), 'message_too_long');
      refused(await emitAck(alicePhone, 'edit_message', { message_id: NO_SUCH_ID, text: 'hello' }), 'not_found');
      await quiet(everyone, [msg.id]);

      // An edit over REST is broadcast the same way.
      const rest = await api('PATCH', `/messages/${msg.id}`, alice.token, { text: 'hello again, bob' });
      assert.equal(rest.status, 200, JSON.stringify(rest.body));
      assert.equal(rest.body.message.text, 'hello again, bob');
      for (const s of [alicePhone, aliceLaptop, bobSock]) {
        const event = await next(s, 'message_updated', (p) => p.message.id === msg.id);
        assert.deepEqual(noSeq(event), { message: noMe(rest.body.message) });
      }
      await quiet(everyone, [msg.id]);
    });

    test('delete_message: the tombstone in the ack, message_deleted to every member socket, the same tombstone and no broadcast the second time', async () => {
      const [alice, bob] = cast(2);
      const alicePhone = await openT(alice);
      const aliceLaptop = await openT(alice);
      const bobSock = await openT(bob);
      const eveSock = await openT(eve);
      const everyone = [[alicePhone, alice], [aliceLaptop, alice], [bobSock, bob], [eveSock, eve]];

      const original = await send(bob, { to: alice.id }, 'the original');
      const clientId = `del-${Date.now()}-${Math.random()}`;
      const msg = accepted(await emitAck(alicePhone, 'send_message', {
        to: bob.id, text: 'to be deleted', client_id: clientId, reply_to: original.id,
      }));
      accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: '🔥' }));
      const edited = accepted(await emitAck(alicePhone, 'edit_message', { message_id: msg.id, text: 'to be deleted soon' }));
      for (const s of [alicePhone, aliceLaptop, bobSock]) {
        await next(s, 'reaction_added', (p) => p.message_id === msg.id);
        await next(s, 'message_updated', (p) => p.message.id === msg.id);
      }

      refused(await emitAck(bobSock, 'delete_message', { message_id: msg.id }), 'forbidden', 'not the sender, in a direct chat');
      refused(await emitAck(eveSock, 'delete_message', { message_id: msg.id }), 'not_a_member', 'outsider');
      refused(await emitAck(alicePhone, 'delete_message', { message_id: NO_SUCH_ID }), 'not_found');

      const tomb = accepted(await emitAck(aliceLaptop, 'delete_message', { message_id: msg.id }));
      expectTombstone(tomb, edited);
      assert.equal(tomb.client_id, clientId);
      for (const s of [alicePhone, aliceLaptop, bobSock]) {
        const event = await next(s, 'message_deleted', (p) => p.message_id === msg.id);
        assert.deepEqual(noSeq(event), { chat_id: msg.chat_id, message_id: msg.id, deleted_at: tomb.deleted_at });
      }

      // Twice: 200 with the same tombstone, no second broadcast.
      assert.deepEqual(accepted(await emitAck(alicePhone, 'delete_message', { message_id: msg.id })), tomb);
      // A tombstone cannot be edited or reacted to; outsiders still get not_a_member first.
      refused(await emitAck(alicePhone, 'edit_message', { message_id: msg.id, text: 'back' }), 'not_found', 'edit a tombstone');
      refused(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: '👍' }), 'not_found', 'react to a tombstone');
      refused(await emitAck(eveSock, 'add_reaction', { message_id: msg.id, emoji: '👍' }), 'not_a_member', 'outsider, tombstone');
      await quiet(everyone, [msg.id, original.id]);

      // History and sync return the tombstone; the chat's last_message is it.
      assert.deepEqual((await history(bob, msg.chat_id)).find((m) => m.id === msg.id), tomb);
      const sync = await api('GET', `/sync?after=${msg.id - 1}&limit=1`, alice.token);
      assert.deepEqual(sync.body.messages, [tomb]);
      const chats = await api('GET', '/chats', bob.token);
      assert.deepEqual(chats.body.chats.find((c) => c.id === msg.chat_id).last_message, tomb);

      // A deletion over REST is broadcast the same way.
      const other = await send(alice, { to: bob.id }, 'deleted over REST');
      const rest = await api('DELETE', `/messages/${other.id}`, alice.token);
      assert.equal(rest.status, 200, JSON.stringify(rest.body));
      for (const s of [alicePhone, aliceLaptop, bobSock]) {
        const event = await next(s, 'message_deleted', (p) => p.message_id === other.id);
        assert.deepEqual(noSeq(event), { chat_id: other.chat_id, message_id: other.id, deleted_at: rest.body.message.deleted_at });
      }
      await quiet(everyone, [msg.id, other.id]);
    });

    test('in a group the owner may delete anyone\'s message, a plain member only their own, and nobody edits another\'s', async () => {
      const [alice, bob, carol] = cast(3);
      const g = await group(alice, [bob, carol]);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const carolSock = await openT(carol);
      const members = [aliceSock, bobSock, carolSock];
      const spam = await send(carol, { group_id: g.id }, 'spam');
      const own = await send(bob, { group_id: g.id }, 'my own words');

      refused(await emitAck(bobSock, 'delete_message', { message_id: spam.id }), 'forbidden', 'plain member');
      refused(await emitAck(aliceSock, 'edit_message', { message_id: spam.id, text: 'moderated' }), 'forbidden', 'owner edits');

      const byOwner = accepted(await emitAck(aliceSock, 'delete_message', { message_id: spam.id }));
      expectTombstone(byOwner, spam);
      assert.equal(byOwner.sender_id, carol.id);
      for (const s of members) {
        const event = await next(s, 'message_deleted', (p) => p.message_id === spam.id);
        assert.deepEqual(noSeq(event), { chat_id: g.id, message_id: spam.id, deleted_at: byOwner.deleted_at });
      }

      const byMember = accepted(await emitAck(bobSock, 'delete_message', { message_id: own.id }));
      expectTombstone(byMember, own);
      for (const s of members) await next(s, 'message_deleted', (p) => p.message_id === own.id);
      await quiet([[aliceSock, alice], [bobSock, bob], [carolSock, carol]], [spam.id, own.id]);
    });

    test('in a group an admin may delete anyone\'s message', async () => {
      const [alice, bob, carol] = cast(3);
      const g = await group(alice, [bob, carol]);
      // Roles are set with PATCH /groups/:id/members/:userId (v2 "Groups").
      const promoted = await api('PATCH', `/groups/${g.id}/members/${bob.id}`, alice.token, { role: 'admin' });
      assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
      const bobSock = await openT(bob);
      const carolSock = await openT(carol);
      const spam = await send(carol, { group_id: g.id }, 'more spam');
      const tomb = accepted(await emitAck(bobSock, 'delete_message', { message_id: spam.id }));
      expectTombstone(tomb, spam);
      for (const s of [bobSock, carolSock]) await next(s, 'message_deleted', (p) => p.message_id === spam.id);
      refused(await emitAck(bobSock, 'edit_message', { message_id: (await send(carol, { group_id: g.id }, 'mine')).id, text: 'x' }), 'forbidden', 'admin edits');
    });

    test('add_reaction / remove_reaction: acks with me, events {chat_id, message_id, user_id, emoji, count} to every member socket, repeats silent', async () => {
      const [alice, bob] = cast(2);
      const alicePhone = await openT(alice);
      const aliceLaptop = await openT(alice);
      const bobSock = await openT(bob);
      const eveSock = await openT(eve);
      const members = [alicePhone, aliceLaptop, bobSock];
      const everyone = [[alicePhone, alice], [aliceLaptop, alice], [bobSock, bob], [eveSock, eve]];
      const msg = await send(bob, { to: alice.id }, 'react to me');
      const base = { chat_id: msg.chat_id, message_id: msg.id };
      const expectEvent = async (event, payload) => {
        for (const s of members) {
          const got = await next(s, event, (p) => p.message_id === msg.id);
          assert.deepEqual(noSeq(got), { ...base, ...payload }, `${event} on ${s.id}`);
        }
      };

      let m = accepted(await emitAck(alicePhone, 'add_reaction', { message_id: msg.id, emoji: '👍' }));
      assert.equal(m.id, msg.id);
      assert.deepEqual(m.reactions, [{ emoji: '👍', count: 1, me: true }]);
      await expectEvent('reaction_added', { user_id: alice.id, emoji: '👍', count: 1 });

      m = accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: '👍' }));
      assert.deepEqual(m.reactions, [{ emoji: '👍', count: 2, me: true }]);
      await expectEvent('reaction_added', { user_id: bob.id, emoji: '👍', count: 2 });

      // Short codes and sequences are kept exactly as sent, ordered by first use.
      const family = '👩‍👩‍👧‍👦';
      m = accepted(await emitAck(aliceLaptop, 'add_reaction', { message_id: msg.id, emoji: ':tada:' }));
      await expectEvent('reaction_added', { user_id: alice.id, emoji: ':tada:', count: 1 });
      m = accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: family }));
      await expectEvent('reaction_added', { user_id: bob.id, emoji: family, count: 1 });
      assert.deepEqual(m.reactions, [
        { emoji: '👍', count: 2, me: true }, { emoji: ':tada:', count: 1, me: false }, { emoji: family, count: 1, me: true },
      ]);

      // Repeats: ok, unchanged, nothing broadcast.
      assert.deepEqual(accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: '👍' })).reactions, m.reactions);
      assert.deepEqual(accepted(await emitAck(bobSock, 'remove_reaction', { message_id: msg.id, emoji: ':tada:' })).reactions, m.reactions);
      await quiet(everyone, [msg.id]);

      m = accepted(await emitAck(alicePhone, 'remove_reaction', { message_id: msg.id, emoji: '👍' }));
      assert.deepEqual(m.reactions, [
        { emoji: '👍', count: 1, me: false }, { emoji: ':tada:', count: 1, me: true }, { emoji: family, count: 1, me: false },
      ]);
      await expectEvent('reaction_removed', { user_id: alice.id, emoji: '👍', count: 1 });
      m = accepted(await emitAck(bobSock, 'remove_reaction', { message_id: msg.id, emoji: '👍' }));
      assert.deepEqual(m.reactions, [{ emoji: ':tada:', count: 1, me: false }, { emoji: family, count: 1, me: true }]);
      await expectEvent('reaction_removed', { user_id: bob.id, emoji: '👍', count: 0 });
      assert.deepEqual(accepted(await emitAck(alicePhone, 'remove_reaction', { message_id: msg.id, emoji: '👍' })).reactions,
        [{ emoji: ':tada:', count: 1, me: true }, { emoji: family, count: 1, me: false }]);

      // REST shows me for the caller; over REST the broadcast is the same.
      const rest = await api('PUT', `/messages/${msg.id}/reactions/${encodeURIComponent('🎉')}`, alice.token);
      assert.equal(rest.status, 200, JSON.stringify(rest.body));
      assert.deepEqual(rest.body.message.reactions, [
        { emoji: ':tada:', count: 1, me: true }, { emoji: family, count: 1, me: false }, { emoji: '🎉', count: 1, me: true },
      ]);
      await expectEvent('reaction_added', { user_id: alice.id, emoji: '🎉', count: 1 });
      const bobView = (await history(bob, msg.chat_id)).find((x) => x.id === msg.id);
      assert.deepEqual(bobView.reactions, [
        { emoji: ':tada:', count: 1, me: false }, { emoji: family, count: 1, me: true }, { emoji: '🎉', count: 1, me: false },
      ]);

      // Refusals: outsiders (membership first), bad emoji, unknown message.
      refused(await emitAck(eveSock, 'add_reaction', { message_id: msg.id, emoji: '👍' }), 'not_a_member', 'outsider adds');
      refused(await emitAck(eveSock, 'remove_reaction', { message_id: msg.id, emoji: '🎉' }), 'not_a_member', 'outsider removes');
      refused(await emitAck(eveSock, 'add_reaction', { message_id: msg.id, emoji: 'not an emoji' }), 'not_a_member', 'outsider, bad emoji');
      for (const emoji of ['', 'thumbs up', 'tab\there', 'new\nline', 'ok\u0007', 'ideographic\u3000space', 'x'.repeat(33)]) {
        refused(await emitAck(alicePhone, 'add_reaction', { message_id: msg.id, emoji }), 'validation_failed', JSON.stringify(emoji));
      }
      accepted(await emitAck(alicePhone, 'add_reaction', { message_id: msg.id, emoji: 'x'.repeat(32) }), '32 characters');
      await expectEvent('reaction_added', { user_id: alice.id, emoji: 'x'.repeat(32), count: 1 });
      refused(await emitAck(alicePhone, 'add_reaction', { message_id: NO_SUCH_ID, emoji: '👍' }), 'not_found');
      await quiet(everyone, [msg.id]);
    });

    test('the 21st distinct emoji is refused with too_many_reactions; more of an existing one is fine', async () => {
      const [alice, bob] = cast(2);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const msg = await send(alice, { to: bob.id }, 'popular');
      for (let k = 1; k <= 20; k += 1) {
        accepted(await emitAck(aliceSock, 'add_reaction', { message_id: msg.id, emoji: `:r${k}:` }), `reaction ${k}`);
      }
      refused(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: ':r21:' }), 'too_many_reactions');
      const rest = await api('PUT', `/messages/${msg.id}/reactions/${encodeURIComponent('🙃')}`, bob.token);
      assert.equal(rest.status, 409);
      assert.equal(rest.body.error.code, 'too_many_reactions');
      const m = accepted(await emitAck(bobSock, 'add_reaction', { message_id: msg.id, emoji: ':r7:' }));
      assert.equal(m.reactions.length, 20);
      assert.deepEqual(m.reactions[6], { emoji: ':r7:', count: 2, me: true });
      await next(bobSock, 'reaction_added', (p) => p.emoji === ':r7:' && p.count === 2);
      await settle(bobSock, bob);
      assert.deepEqual(pending(bobSock, 'reaction_added').filter((p) => p.emoji === ':r21:' || p.emoji === '🙃'), []);
    });

    test('a deleted file message\'s URL answers 404 at once; the same bytes in another message are still served', async () => {
      const [alice, bob] = cast(2);
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const first = accepted(await emitAck(aliceSock, 'send_file', { to: bob.id, filename: 'dot.png', data: PNG, text: 'a caption' }));
      const second = accepted(await emitAck(aliceSock, 'send_file', { to: bob.id, filename: 'same.png', data: PNG }));
      const url = first.attachment.url;
      let res = await fetch(BASE + url);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG);

      // A caption can be edited, and removed with "" (then null).
      let m = accepted(await emitAck(aliceSock, 'edit_message', { message_id: first.id, text: 'a new caption' }));
      assert.equal(m.text, 'a new caption');
      assert.equal(m.attachment.id, first.attachment.id);
      m = accepted(await emitAck(aliceSock, 'edit_message', { message_id: first.id, text: '' }));
      assert.equal(m.text, null);
      assert.equal(m.kind, 'file');
      assert.equal(m.attachment.id, first.attachment.id);
      const updated = await next(bobSock, 'message_updated', (p) => p.message.id === first.id && p.message.text === null);
      assert.equal(updated.message.attachment.id, first.attachment.id);

      const tomb = accepted(await emitAck(aliceSock, 'delete_message', { message_id: first.id }));
      expectTombstone(tomb, m);
      assert.equal(tomb.kind, 'file');
      await next(bobSock, 'message_deleted', (p) => p.message_id === first.id);

      res = await fetch(BASE + url);
      assert.equal(res.status, 404, 'the signed URL from before');
      assert.equal(typeof (await res.json()).error.code, 'string');
      res = await fetch(`${BASE}/files/${first.attachment.id}/dot.png`, { headers: { authorization: `Bearer ${bob.token}` } });
      assert.equal(res.status, 404, 'a member\'s token');
      await res.arrayBuffer();

      res = await fetch(BASE + second.attachment.url);
      assert.equal(res.status, 200, 'the other message with the same bytes');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG);
    });

    test('a chat\'s events arrive in commit order with the messages around them', async () => {
      const [alice, bob, carol] = cast(3);
      const g = await group(alice, [bob, carol]);
      const aliceSock = await openT(alice);
      const aliceLaptop = await openT(alice);
      const bobSock = await openT(bob);
      const carolSock = await openT(carol);
      const gm = async (socket, text) => accepted(await emitAck(socket, 'group_message', { group_id: g.id, text }));

      // Each step waits for its ack, so this is the commit order.
      const a = await gm(aliceSock, 'A');
      accepted(await emitAck(aliceSock, 'edit_message', { message_id: a.id, text: 'A, edited' }));
      const b = await gm(bobSock, 'B');
      accepted(await emitAck(carolSock, 'add_reaction', { message_id: a.id, emoji: '👍' }));
      accepted(await emitAck(aliceSock, 'delete_message', { message_id: b.id }));
      accepted(await emitAck(carolSock, 'remove_reaction', { message_id: a.id, emoji: '👍' }));
      const c = await gm(carolSock, 'C');
      const steps = [
        ['receive_message', a.id, aliceSock], ['message_updated', a.id], ['receive_message', b.id, bobSock],
        ['reaction_added', a.id], ['message_deleted', b.id], ['reaction_removed', a.id], ['receive_message', c.id, carolSock],
      ];
      const idOf = (event, p) => (event === 'receive_message' ? p.id : event === 'message_updated' ? p.message.id : p.message_id);
      const relevant = new Set(steps.map(([e]) => e));
      for (const s of [aliceSock, aliceLaptop, bobSock, carolSock]) {
        // The last event this socket gets, then everything it got for this chat, in arrival order.
        const last = [...steps].reverse().find(([, , sender]) => sender !== s);
        await next(s, last[0], (p) => idOf(last[0], p) === last[1]);
        const seen = s.received
          .filter(({ event, payload }) => relevant.has(event) && (payload.chat_id ?? payload.message?.chat_id) === g.id)
          .map(({ event, payload }) => `${event} ${idOf(event, payload)}`);
        const expected = steps.filter(([, , sender]) => sender !== s).map(([e, id]) => `${e} ${id}`);
        assert.deepEqual(seen, expected, `order on a socket of ${s === bobSock ? 'bob' : s === carolSock ? 'carol' : 'alice'}`);
      }
    });

    test('concurrent edits, reactions and sends reach every member in one order, counts in commit order', async () => {
      const [alice, bob, carol] = cast(3);
      const g = await group(alice, [bob, carol]);
      const aliceSender = await openT(alice);
      const bobSender = await openT(bob);
      const watchers = [await openT(alice), await openT(bob), await openT(carol)];
      const messages = [];
      for (let i = 0; i < 5; i += 1) messages.push(await send(alice, { group_id: g.id }, `m${i}`));
      for (const w of watchers) await next(w, 'receive_message', (m) => m.id === messages[4].id);
      const ops = [];
      messages.forEach((m, i) => {
        ops.push(emitAck(aliceSender, 'edit_message', { message_id: m.id, text: `m${i}, edited` }));
        ops.push(emitAck(aliceSender, 'add_reaction', { message_id: m.id, emoji: '👍' }));
        ops.push(emitAck(bobSender, 'add_reaction', { message_id: m.id, emoji: '👍' }));
        ops.push(emitAck(bobSender, 'group_message', { group_id: g.id, text: `n${i}` }));
      });
      const acks = await Promise.all(ops);
      acks.forEach((a) => accepted(a));
      const newIds = acks.filter((a) => a.message.text?.startsWith('n')).map((a) => a.message.id);

      const orders = [];
      for (const w of watchers) {
        for (let k = 0; k < 5; k += 1) await next(w, 'message_updated', (p) => p.message.chat_id === g.id);
        for (let k = 0; k < 10; k += 1) await next(w, 'reaction_added', (p) => p.chat_id === g.id);
        for (let k = 0; k < 5; k += 1) await next(w, 'receive_message', (m) => newIds.includes(m.id));
        // The updates, reactions and new messages, in arrival order.
        const seen = w.received
          .filter(({ event, payload }) => (event === 'message_updated' && payload.message.chat_id === g.id)
            || (event === 'reaction_added' && payload.chat_id === g.id)
            || (event === 'receive_message' && newIds.includes(payload.id)))
          .map(({ event, payload }) => (event === 'receive_message' ? `receive ${payload.id}`
            : event === 'message_updated' ? `updated ${payload.message.id}`
              : `reaction ${payload.message_id} ${payload.user_id} ${payload.count}`));
        assert.equal(seen.length, 20);
        orders.push(seen);
        // Per message, the two 👍 arrive with counts 1 then 2.
        for (const m of messages) {
          const counts = seen.filter((x) => x.startsWith(`reaction ${m.id} `)).map((x) => Number(x.split(' ')[3]));
          assert.deepEqual(counts, [1, 2]);
        }
        // New messages arrive in id order.
        const received = seen.filter((x) => x.startsWith('receive ')).map((x) => Number(x.split(' ')[1]));
        assert.deepEqual(received, [...received].sort((x, y) => x - y));
      }
      assert.deepEqual(orders[1], orders[0], 'bob sees the order alice sees');
      assert.deepEqual(orders[2], orders[0], 'carol sees the order alice sees');
    });

    test('malformed payloads of the new events get validation_failed and the connection stays up', async () => {
      const [alice] = cast(1);
      const socket = await openT(alice);
      const msg = await send(alice, { to: alice.id }, 'mine');
      for (const [event, payload] of [
        ['edit_message', 42],
        ['edit_message', null],
        ['edit_message', { text: 'no id' }],
        ['edit_message', { message_id: msg.id }],
        ['edit_message', { message_id: 'one', text: 'x' }],
        ['edit_message', { message_id: msg.id, text: 7 }],
        ['delete_message', 'x'],
        ['delete_message', {}],
        ['delete_message', { message_id: 'one' }],
        ['add_reaction', { message_id: msg.id }],
        ['add_reaction', { emoji: '👍' }],
        ['add_reaction', { message_id: msg.id, emoji: 5 }],
        ['remove_reaction', { message_id: msg.id }],
        ['remove_reaction', 'x'],
      ]) {
        refused(await emitAck(socket, event, payload), 'validation_failed', `${event} ${JSON.stringify(payload)}`);
      }
      for (const event of ['edit_message', 'delete_message', 'add_reaction', 'remove_reaction']) {
        refused(await emitAck(socket, event), 'validation_failed', `${event} without a payload`);
      }
      socket.emit('edit_message', { message_id: msg.id, text: 'no ack callback' });
      assert.equal(socket.connected, true);
      const ok = accepted(await emitAck(socket, 'edit_message', { message_id: msg.id, text: 'still here' }));
      assert.equal(ok.text, 'still here');
    });
  });
}
