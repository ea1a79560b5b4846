// The Socket.IO side of the contract, driven by the official client over
// both transports.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, api, register, send, connect, connected, open, emitAck, next, settle, pending, withTimeout,
} from './lib.mjs';

const sockets = [];
const track = (s) => { sockets.push(s); return s; };
after(() => sockets.forEach((s) => s.disconnect()));

for (const transport of ['websocket', 'polling']) {
  describe(`over ${transport}`, () => {
    const openT = async (account) => track(await open(account, transport));

    test('a missing or bad token is refused with "unauthorized"', async () => {
      for (const token of [undefined, 'garbage']) {
        const socket = track(connect(token, transport));
        const err = await withTimeout(new Promise((resolve) => socket.once('connect_error', resolve)), 'connect_error');
        assert.equal(err.message, 'unauthorized');
      }
      const alice = await register('a');
      const viaQuery = track(connect(undefined, transport, { query: { token: alice.token } }));
      await connected(viaQuery);
    });

    test('a message reaches every device of both users but the sending socket', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const alicePhone = await openT(alice);
      const aliceLaptop = await openT(alice);
      const bobPhone = await openT(bob);
      const bobLaptop = await openT(bob);

      const ack = await emitAck(alicePhone, 'send_message', { to: bob.id, text: 'hi bob' });
      assert.equal(ack.ok, true);
      assert.equal(ack.message.text, 'hi bob');
      for (const s of [bobPhone, bobLaptop, aliceLaptop]) {
        assert.deepEqual(await next(s, 'receive_message', (m) => m.id === ack.message.id), ack.message);
      }
      await settle(alicePhone, alice);
      assert.deepEqual(pending(alicePhone, 'receive_message'), []);
    });

    test('a REST message reaches the sockets', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const bobSock = await openT(bob);
      const message = await send(alice, { to: bob.id }, 'from REST');
      assert.deepEqual(await next(bobSock, 'receive_message'), message);
    });

    test('groups: created, messaged, and silent for outsiders', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const eve = await register('e');
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const eveSock = await openT(eve);

      const created = await emitAck(aliceSock, 'create_group', { name: 'team', member_ids: [bob.id] });
      assert.equal(created.ok, true);
      const { group } = created;
      assert.deepEqual((await next(bobSock, 'group_created')).group, group);
      assert.deepEqual((await next(aliceSock, 'group_created')).group, group);

      const sent = await emitAck(bobSock, 'group_message', { group_id: group.id, text: 'hello team' });
      assert.equal(sent.ok, true);
      assert.deepEqual(await next(aliceSock, 'receive_message'), sent.message);

      const joined = await emitAck(bobSock, 'join_group', { group_id: group.id });
      assert.equal(joined.ok, true);
      assert.equal(joined.group.id, group.id);
      const refused = await emitAck(eveSock, 'join_group', { group_id: group.id });
      assert.deepEqual(refused.error.code, 'not_a_member');
      assert.equal(refused.ok, false);

      await settle(eveSock, eve);
      assert.deepEqual(pending(eveSock, 'group_created'), []);
      assert.deepEqual(pending(eveSock, 'receive_message'), []);
    });

    test('add-user brings the added user\'s open socket into the group live', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const carol = await register('c');
      const bobSock = await openT(bob);
      const carolSock = await openT(carol);
      const group = (await api('POST', '/groups', alice.token, { name: 'g', member_ids: [bob.id] })).body.group;

      const added = await api('POST', `/groups/${group.id}/add-user`, alice.token, { user_id: carol.id });
      assert.equal(added.status, 200);
      assert.equal((await next(carolSock, 'added_to_group')).group.id, group.id);
      const memberAdded = await next(bobSock, 'member_added');
      assert.deepEqual([memberAdded.group_id, memberAdded.member.user_id], [group.id, carol.id]);

      const message = await send(bob, { group_id: group.id }, 'welcome');
      assert.deepEqual(await next(carolSock, 'receive_message', (m) => m.id === message.id), message);
    });

    test('typing, read receipts and presence', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const first = await send(alice, { to: bob.id }, 'hi');
      const aliceSock = await openT(alice);

      const bobSock = await openT(bob);
      const online = await next(aliceSock, 'presence', (p) => p.user_id === bob.id);
      assert.equal(online.online, true);

      assert.equal((await emitAck(aliceSock, 'typing', { chat_id: first.chat_id, typing: true })).ok, true);
      assert.deepEqual(await next(bobSock, 'typing'), { chat_id: first.chat_id, user_id: alice.id, typing: true });

      assert.equal((await emitAck(bobSock, 'mark_read', { chat_id: first.chat_id, message_id: first.id })).ok, true);
      // (Catch-up, v2, adds `seq` to every chat event, `read` included.)
      const { seq, ...read } = await next(aliceSock, 'read');
      assert.deepEqual(read, { chat_id: first.chat_id, user_id: bob.id, message_id: first.id });

      bobSock.disconnect();
      const offline = await next(aliceSock, 'presence', (p) => p.user_id === bob.id && !p.online);
      assert.equal(typeof offline.last_seen_at, 'string');
    });

    test('malformed payloads get validation_failed and the connection stays up', async () => {
      const alice = await register('a');
      const socket = await openT(alice);
      for (const [event, payload] of [
        ['send_message', 42],
        ['send_message', { text: 'no target' }],
        ['send_message', { to: 'x', text: 'hi' }],
        ['create_group', { name: 7 }],
        ['mark_read', null],
        ['typing', 'yes'],
      ]) {
        const ack = await emitAck(socket, event, payload);
        assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)}`);
        assert.equal(ack.error.code, 'validation_failed');
      }
      const missing = await emitAck(socket, 'send_message');
      assert.equal(missing.error.code, 'validation_failed');
      socket.emit('send_message', { nonsense: true }); // no ack callback
      assert.equal(socket.connected, true);
      const ok = await emitAck(socket, 'send_message', { to: alice.id, text: 'still here' });
      assert.equal(ok.ok, true);
    });

    test('200 quick messages to a 3-member group arrive complete and in order', async () => {
      const members = [await register('a'), await register('b'), await register('c')];
      const group = (await api('POST', '/groups', members[0].token, {
        name: 'burst', member_ids: [members[1].id, members[2].id],
      })).body.group;
      const listeners = await Promise.all(members.map(openT));
      const senders = await Promise.all(members.map(openT));

      const acks = await Promise.all(Array.from({ length: 200 }, (_, i) =>
        emitAck(senders[i % 3], 'group_message', { group_id: group.id, text: `m${i}` })));
      assert.ok(acks.every((a) => a.ok));
      const expected = acks.map((a) => a.message.id).sort((x, y) => x - y);

      for (const listener of listeners) {
        const got = [];
        while (got.length < expected.length) got.push((await next(listener, 'receive_message')).id);
        assert.deepEqual(got, expected);
      }
    });

    test('send_file: the recipient gets receive_file with a working signed URL', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const png = Buffer.from(
        '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
        '1f15c4890000000d49444154789c63f8cfc0f01f0005000100ff89993d1d0000000049454e44ae426082', 'hex');

      const ack = await emitAck(aliceSock, 'send_file', { to: bob.id, filename: 'dot.png', data: png, text: 'look' });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.equal(ack.message.kind, 'file');
      assert.equal(ack.message.attachment.content_type, 'image/png');
      const received = await next(bobSock, 'receive_file');
      assert.equal(received.id, ack.message.id);
      assert.equal(received.text, 'look');
      const res = await fetch(BASE + received.attachment.url);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), png);

      const refused = await emitAck(aliceSock, 'send_file', { to: bob.id, filename: 'x.png', data: Buffer.from('MZ not an image') });
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, 'unsupported_media_type');
      await settle(aliceSock, alice);
      assert.deepEqual(pending(aliceSock, 'receive_file'), []);
    });

    test('a message is in history before its recipient receives it', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      for (let i = 0; i < 10; i += 1) aliceSock.emit('send_message', { to: bob.id, text: `h${i}` });
      for (let i = 0; i < 10; i += 1) {
        const message = await next(bobSock, 'receive_message');
        const page = await api('GET', `/chats/${message.chat_id}?limit=200`, bob.token);
        assert.ok(page.body.messages.some((m) => m.id === message.id), `message ${message.id} stored first`);
      }
    });
  });
}
