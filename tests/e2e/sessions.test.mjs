// Sessions (v2) with the official socket.io-client over both transports:
// a revoked session's socket gets `session_revoked` and is disconnected by
// the server, its token is refused at the next connect, the user's other
// devices carry on; a refreshed token connects; a profile change reaches
// the users who share a chat.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, register, send, connect, open, next, settle, pending, withTimeout,
} from './lib.mjs';

const sockets = [];
const track = (s) => { sockets.push(s); return s; };
after(() => sockets.forEach((s) => s.disconnect()));

async function login(username, device) {
  const { status, body } = await api('POST', '/auth/login', null, {
    username, password: 'correct horse', device_name: device,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return { id: body.user.id, username, token: body.token, refresh: body.refresh_token, session: body.session.id };
}

const disconnected = (socket) => withTimeout(
  new Promise((resolve) => socket.once('disconnect', resolve)), 'disconnect', 1_000,
);

for (const transport of ['websocket', 'polling']) {
  describe(`over ${transport}`, () => {
    const openT = async (account) => track(await open(account, transport));

    test('logout: the session\'s socket is told and closed within a second; the other device stays', async () => {
      const alice = await register('a');
      const laptop = await login(alice.username, 'laptop');
      const phone = await login(alice.username, 'phone');
      const laptopSock = await openT(laptop);
      const phoneSock = await openT(phone);
      const gone = disconnected(laptopSock);

      const { status } = await api('POST', '/auth/logout', laptop.token);
      assert.equal(status, 204);
      assert.deepEqual(await next(laptopSock, 'session_revoked'), { session_id: laptop.session });
      assert.equal(await gone, 'io server disconnect');

      const again = track(connect(laptop.token, transport));
      const err = await withTimeout(new Promise((resolve) => again.once('connect_error', resolve)), 'connect_error');
      assert.equal(err.message, 'unauthorized');

      await settle(phoneSock, phone);
      assert.deepEqual(pending(phoneSock, 'session_revoked'), []);
      assert.equal(phoneSock.connected, true);
    });

    test('a refreshed token connects; the spent refresh token, presented again, ends the session', async () => {
      const alice = await register('a');
      const first = await login(alice.username, 'laptop');
      const { status, body } = await api('POST', '/auth/refresh', null, { refresh_token: first.refresh });
      assert.equal(status, 200);
      const sock = await openT({ token: body.token });
      const gone = disconnected(sock);
      const reuse = await api('POST', '/auth/refresh', null, { refresh_token: first.refresh });
      assert.equal(reuse.status, 401);
      assert.equal(reuse.body.error.code, 'unauthorized');
      assert.deepEqual(await next(sock, 'session_revoked'), { session_id: first.session });
      assert.equal(await gone, 'io server disconnect');
    });

    test('a password change closes the other sessions\' sockets and keeps this one\'s', async () => {
      const alice = await register('a');
      const laptop = await login(alice.username, 'laptop');
      const phone = await login(alice.username, 'phone');
      const laptopSock = await openT(laptop);
      const phoneSock = await openT(phone);
      const gone = disconnected(phoneSock);
      const { status } = await api('POST', '/auth/password', laptop.token, {
        current_password: 'correct horse', new_password: 'a better horse',
      });
      assert.equal(status, 200);
      assert.deepEqual(await next(phoneSock, 'session_revoked'), { session_id: phone.session });
      assert.equal(await gone, 'io server disconnect');
      await settle(laptopSock, laptop);
      assert.equal(laptopSock.connected, true);
    });

    test('a new display name reaches the partner and the user\'s own sockets, not strangers', async () => {
      const alice = await register('a');
      const bob = await register('b');
      const eve = await register('e');
      await send(alice, { to: bob.id }, 'hello');
      const aliceSock = await openT(alice);
      const bobSock = await openT(bob);
      const eveSock = await openT(eve);
      const { status, body } = await api('PATCH', '/auth/me', alice.token, { display_name: 'Alice Liddell' });
      assert.equal(status, 200);
      for (const s of [aliceSock, bobSock]) {
        const event = await next(s, 'user_updated');
        assert.deepEqual(event.user, { ...body.user, online: event.user.online });
        assert.equal(event.user.display_name, 'Alice Liddell');
      }
      await settle(eveSock, eve);
      assert.deepEqual(pending(eveSock, 'user_updated'), []);
    });
  });
}
