// The cluster under faults (run by tests/cluster/run.sh: three nodes behind
// nginx, PostgreSQL, Redis and an S3 store of the suite's own). Official socket.io-client
// users are spread over the nodes (each from its own loopback address, which
// nginx hashes), on both transports, all in one group, flooding it with
// client_id'd messages that they resend until acknowledged, as a careful
// client does. Mid-flood: kill -9 a node; restart Redis; restart PostgreSQL.
// After each: every acknowledged message is stored exactly once; sockets that
// stayed connected received every acknowledged message (live, or from
// /sync when live delivery was interrupted, which is what a client is told
// to do); and the cluster recovers by itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';

const BASE = process.env.CHAT_URL;
const NODES = (process.env.CHAT_NODES ?? '').split(',');
const CTL = process.env.CHAT_CLUSTER_CTL;
const HEARTBEAT_MS = Number(process.env.CHAT_CLUSTER_HEARTBEAT_MS ?? 1000);
if (!BASE || NODES.length !== 3 || !CTL) throw new Error('run through tests/cluster/run.sh');

const TIMEOUT = 20_000;
const ctl = (...args) => execFileSync(CTL, args, { stdio: 'inherit' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, ms = TIMEOUT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

async function api(base, method, path, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  } catch (e) {
    return { status: 0, body: { error: { code: 'network', message: String(e) } } };
  }
}

let run = 0;
const unique = (p) => `${p}${process.pid % 10000}r${++run}`;

async function register(name) {
  const username = unique(name).slice(0, 32);
  const { status, body } = await api(BASE, 'POST', '/auth/register', null, { username, password: 'correct horse' });
  assert.equal(status, 201, JSON.stringify(body));
  return { id: body.user.id, username, token: body.token };
}

// A user and one socket of theirs, through nginx from 127.0.0.<host>.
async function person(name, host, transport) {
  const p = { ...(await register(name)), host, transport, received: new Map(), connects: 0, drops: 0 };
  p.socket = io(BASE, {
    auth: { token: p.token },
    transports: [transport],
    // Polling goes through the agent, the WebSocket through localAddress.
    agent: new http.Agent({ localAddress: `127.0.0.${host}`, keepAlive: true }),
    localAddress: `127.0.0.${host}`,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    timeout: 5000,
    forceNew: true,
  });
  p.socket.on('connect', () => { p.connects += 1; });
  p.socket.on('disconnect', () => { p.drops += 1; });
  p.socket.on('receive_message', (m) => p.received.set(m.id, m));
  await until(`${name} connects`, () => p.socket.connected);
  return p;
}

// Sends `text` with its client_id until acknowledged (through reconnects).
async function sendUntilAcked(p, groupId, text) {
  const deadline = Date.now() + 60_000;
  let last = 'never connected';
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${p.username}: ${text} not acked within 60 s (last: ${last})`);
    if (p.socket.connected) {
      try {
        const ack = await p.socket.timeout(3000).emitWithAck('group_message', { group_id: groupId, text, client_id: text });
        if (ack.ok) return ack.message;
        last = JSON.stringify(ack);
        if (ack.error.code !== 'unavailable') throw new Error(`${text}: ${JSON.stringify(ack)}`);
      } catch (e) {
        // No answer in time, or the connection dropped before the ack: the
        // send may or may not have been stored; resending the same
        // client_id is safe either way.
        const retry = ['timed out', 'operation has timed out', 'socket has been disconnected'];
        if (!retry.some((r) => String(e).includes(r))) throw e;
        last = String(e);
      }
    }
    await sleep(50);
  }
}

// Everything stored in the group, by paging /sync.
async function stored(p, groupId) {
  const all = [];
  let after = 0;
  for (;;) {
    const { status, body } = await api(BASE, 'GET', `/sync?after=${after}&limit=200`, p.token);
    assert.equal(status, 200, JSON.stringify(body));
    const page = body.messages.filter((m) => m.chat_id === groupId);
    all.push(...page);
    if (!body.has_more) return all;
    after = body.messages.at(-1).id;
  }
}

// What a client that may have missed live events does after reconnecting.
async function catchUp(p, groupId) {
  for (const m of await stored(p, groupId)) p.received.set(m.id, m);
}

describe('a cluster of three behind nginx, under faults', () => {
  let people = [];
  let groupId;
  before(async () => {
    // Twelve people on hosts 127.0.0.2..13, transports alternating: nginx's
    // hash puts them on all three nodes.
    for (let i = 0; i < 12; i++) {
      people.push(await person(`u${i}`, 2 + i, i % 2 ? 'polling' : 'websocket'));
    }
    const [owner, ...rest] = people;
    const made = await api(BASE, 'POST', '/groups', owner.token, { name: 'flood', member_ids: rest.map((p) => p.id) });
    assert.equal(made.status, 201);
    groupId = made.body.group.id;
  });
  after(() => { for (const p of people) p.socket.close(); });

  // Floods the group from everyone for `ms`, with `fault` at half time;
  // returns the acked messages.
  async function flood(tag, ms, fault) {
    const acked = [];
    let stop = false;
    const senders = people.map(async (p, i) => {
      for (let n = 0; !stop; n++) {
        acked.push(await sendUntilAcked(p, groupId, `${tag}-${i}-${n}`));
        await sleep(20);
      }
    }).map((sender) => sender.catch((e) => { stop = true; throw e; }));
    try {
      await sleep(ms / 2);
      await fault();
      await sleep(ms / 2);
    } finally {
      stop = true;
    }
    await Promise.all(senders);
    return acked;
  }

  // `live(p)`: whether p must have had every acked message live (else it
  // may catch up with /sync first).
  async function checkAfter(tag, acked, live) {
    const all = await stored(people[0], groupId);
    const mine = all.filter((m) => (m.text ?? '').startsWith(`${tag}-`));
    const byText = new Map();
    for (const m of mine) byText.set(m.text, (byText.get(m.text) ?? 0) + 1);
    const doubled = [...byText].filter(([, n]) => n > 1);
    assert.deepEqual(doubled, [], 'no message stored twice');
    const ids = new Set(mine.map((m) => m.id));
    const lost = acked.filter((m) => !ids.has(m.id));
    assert.deepEqual(lost.map((m) => m.text), [], 'every acked message stored');
    for (const p of people) {
      await until(`${p.username} connected again`, () => p.socket.connected);
      if (!live(p)) await catchUp(p, groupId);
      await until(`${p.username} has every acked message`, () => acked.every((m) => m.sender_id === p.id || p.received.has(m.id)));
    }
    return { acked: acked.length, lost: lost.length, doubled: doubled.length };
  }

  it('a file uploaded through one node is served by every node (one S3 store)', async () => {
    const [owner] = people;
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(unique('png'))]);
    const form = new FormData();
    form.append('group_id', String(groupId));
    form.append('file', new Blob([png], { type: 'image/png' }), 'shared.png');
    const res = await fetch(`${NODES[0]}/uploads`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form });
    const body = await res.json();
    assert.equal(res.status, 201, JSON.stringify(body));
    for (const node of NODES) {
      const got = await fetch(node + body.message.attachment.url);
      assert.equal(got.status, 200, node);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), png, node);
      const part = await fetch(node + body.message.attachment.url, { headers: { range: 'bytes=1-3' } });
      assert.equal(part.status, 206, node);
      assert.equal(Buffer.from(await part.arrayBuffer()).toString(), 'PNG', node);
    }
  });

  it('kill -9 of a node: its clients move on, nothing acked is lost or doubled, its users go offline', async () => {
    // A watcher on node 1 and a user whose only socket is on node 2.
    const watcher = people.find(() => true);
    const lonely = await register('lonely');
    const joined = await api(BASE, 'POST', `/groups/${groupId}/add-user`, people[0].token, { user_id: lonely.id });
    assert.equal(joined.status, 200);
    const presence = [];
    watcher.socket.on('presence', (e) => presence.push({ ...e, at: Date.now() }));
    const direct = io(NODES[1], { auth: { token: lonely.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await until('lonely on node 2', () => direct.connected);
    await until('lonely online', () => presence.some((e) => e.user_id === lonely.id && e.online));

    const connects = new Map(people.map((p) => [p, p.connects]));
    let killedAt;
    const acked = await flood('kill', 4000, async () => {
      ctl('kill-node', '2');
      killedAt = Date.now();
    });
    const offline = await until('lonely offline', () => presence.find((e) => e.user_id === lonely.id && !e.online), 8 * HEARTBEAT_MS + 5000);
    const bound = 4 * HEARTBEAT_MS + 2000;
    assert.ok(offline.at - killedAt <= bound, `offline ${offline.at - killedAt} ms after the kill (bound ${bound})`);
    // Sockets on the dead node reconnected through nginx and missed what was
    // sent meanwhile: they catch up, as the contract tells clients to.
    const stayed = (p) => p.connects === connects.get(p);
    assert.ok(people.some(stayed) && !people.every(stayed), 'clients were on the dead node and on the others');
    const figures = await checkAfter('kill', acked, stayed);
    console.log(`kill -9: ${JSON.stringify(figures)}, offline after ${offline.at - killedAt} ms`);
    direct.close();
    ctl('start-node', '2');
  });

  it('a Redis restart: sends go on being stored and acked, live delivery comes back by itself', async () => {
    let back;
    const acked = await flood('redis', 4000, async () => {
      ctl('stop-redis');
      await sleep(1000);
      ctl('start-redis');
      back = Date.now();
    });
    // Live delivery across nodes works again without anyone reconnecting.
    const probe = await sendUntilAcked(people[0], groupId, unique('after-redis'));
    await until('live delivery across nodes again', () => people.every((p) => p.id === probe.sender_id || p.received.has(probe.id)));
    const recovered = Date.now() - back;
    const figures = await checkAfter('redis', acked, () => false);
    console.log(`redis restart: ${JSON.stringify(figures)}, live delivery back within ${recovered} ms`);
  });

  it('a PostgreSQL restart: unavailable while it is down, nothing acked lost, recovery by itself', async () => {
    let unavailable = 0;
    const probe = setInterval(async () => {
      const r = await api(BASE, 'GET', '/healthz');
      if (r.status === 503) unavailable += 1;
    }, 100);
    let back;
    const dropsBefore = people.reduce((n, p) => n + p.drops, 0);
    const acked = await flood('pg', 5000, async () => {
      ctl('stop-postgres');
      await sleep(1500);
      ctl('start-postgres');
      back = Date.now();
    });
    clearInterval(probe);
    await until('healthy again', async () => (await api(BASE, 'GET', '/healthz')).status === 200);
    const recovered = Date.now() - back;
    assert.ok(unavailable > 0, '/healthz said 503 while PostgreSQL was down');
    const figures = await checkAfter('pg', acked, () => true);
    console.log(`postgres restart: ${JSON.stringify(figures)}, 503 answers ${unavailable}, healthy ${recovered} ms after, sockets dropped meanwhile ${people.reduce((n, p) => n + p.drops, 0) - dropsBefore}`);
  });
});
