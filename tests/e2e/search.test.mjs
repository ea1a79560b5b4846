// Search (v2) over REST (Node's fetch), with messages sent, edited and
// deleted over the official socket.io-client: a message is searchable as
// soon as its send is acked, an edit at once, a deletion is gone at once;
// and the query language of the contract (whole words, case and accents,
// the last word as a prefix, AND, quoted phrases), paging, scope, snippets
// and errors. The users are registered once for the file (the /auth/*
// limit counts registrations per address, and the whole suite shares one
// server); their chats hold only this file's messages, and each test
// searches for words of its own, so the results are known exactly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, register, send, open, emitAck } from './lib.mjs';

const sockets = [];
const track = (s) => { sockets.push(s); return s; };
after(() => sockets.forEach((s) => s.disconnect()));

// Alice and Bob share a direct chat; Carol shares only two groups with
// Alice (the paging test's, and the one she is removed from); Eve is in no
// chat with anyone.
let alice;
let bob;
let carol;
let eve;
before(async () => {
  alice = await register('a');
  bob = await register('b');
  carol = await register('c');
  eve = await register('e');
});

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c63f8cfc0f01f0005000100ff89993d1d0000000049454e44ae426082', 'hex');

// A word no other test uses: letters only, so that every engine sees one word.
const word = () => `q${Array.from({ length: 11 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;

async function search(account, params) {
  const qs = new URLSearchParams(params).toString();
  return api('GET', `/search?${qs}`, account.token);
}

// The ids found, newest first, after checking the answer's shape.
async function found(account, params) {
  const { status, body } = await search(account, params);
  assert.equal(status, 200, `${JSON.stringify(params)}: ${status} ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(body).sort(), ['has_more', 'results']);
  assert.equal(typeof body.has_more, 'boolean');
  for (const r of body.results) {
    assert.deepEqual(Object.keys(r).sort(), ['message', 'snippet']);
    assert.equal(r.message.deleted_at, null);
    assert.equal(typeof r.snippet, 'string');
    const bare = unescapeHtml(r.snippet.replace(/<\/?mark>/g, ''));
    assert.ok(Array.from(bare).length <= 200, `snippet of ${Array.from(bare).length} characters`);
  }
  const ids = body.results.map((r) => r.message.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => y - x), 'newest first');
  return Object.assign(ids, { body });
}

function unescapeHtml(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;|&#0*34;|&#x0*22;/gi, '"')
    .replace(/&#0*39;|&#x0*27;|&apos;/gi, "'").replace(/&amp;/g, '&');
}
const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function refusedWith(res, status, code, what) {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code, what);
  assert.equal(typeof res.body.error.message, 'string');
}

for (const transport of ['websocket', 'polling']) {
  describe(`over ${transport}`, () => {
    const openT = async (account) => track(await open(account, transport));

    test('searchable as soon as the send is acked; edits at once; deletions gone at once', async () => {
      const aliceSock = await openT(alice);
      const [w1, w2, w3, w4, w5] = [word(), word(), word(), word(), word()];

      const sent = await emitAck(aliceSock, 'send_message', { to: bob.id, text: `find the ${w1} here` });
      assert.equal(sent.ok, true, JSON.stringify(sent));
      const id = sent.message.id;
      for (const who of [alice, bob]) {
        const ids = await found(who, { q: w1 });
        assert.deepEqual([...ids], [id]);
        assert.ok(ids.body.results[0].snippet.includes(`<mark>${w1}</mark>`), ids.body.results[0].snippet);
        assert.deepEqual(ids.body.results[0].message, sent.message);
      }

      const g = (await api('POST', '/groups', alice.token, { name: 'g', member_ids: [bob.id] })).body.group;
      const inGroup = await emitAck(aliceSock, 'group_message', { group_id: g.id, text: `group ${w5}` });
      assert.deepEqual([...await found(bob, { q: w5 })], [inGroup.message.id]);

      const file = await emitAck(aliceSock, 'send_file', { to: bob.id, filename: `${w3}.png`, data: PNG, text: `caption ${w4}` });
      assert.equal(file.ok, true, JSON.stringify(file));
      assert.deepEqual([...await found(bob, { q: w3 })], [file.message.id], 'by file name');
      assert.deepEqual([...await found(bob, { q: w4 })], [file.message.id], 'by caption');

      const edited = await emitAck(aliceSock, 'edit_message', { message_id: id, text: `now ${w2} instead` });
      assert.equal(edited.ok, true, JSON.stringify(edited));
      assert.deepEqual([...await found(bob, { q: w2 })], [id], 'the new text at once');
      assert.deepEqual([...await found(bob, { q: w1 })], [], 'the old text is gone at once');
      const caption = await emitAck(aliceSock, 'edit_message', { message_id: file.message.id, text: '' });
      assert.equal(caption.ok, true, JSON.stringify(caption));
      assert.deepEqual([...await found(bob, { q: w4 })], [], 'the removed caption');
      assert.deepEqual([...await found(bob, { q: w3 })], [file.message.id], 'still by file name');

      for (const [messageId, q] of [[id, w2], [file.message.id, w3], [inGroup.message.id, w5]]) {
        const deleted = await emitAck(aliceSock, 'delete_message', { message_id: messageId });
        assert.equal(deleted.ok, true, JSON.stringify(deleted));
        assert.deepEqual([...await found(alice, { q })], [], `deleted ${messageId} is gone at once`);
        assert.deepEqual([...await found(bob, { q })], []);
      }
    });
  });
}

describe('the query', () => {
  test('whole words, case and accents, the last word as a prefix, AND, quoted phrases', async () => {
    const to = { to: bob.id };
    const cafe = await send(alice, to, 'Meet me at the Cafe Royal');
    const creme = await send(bob, { to: alice.id }, 'Crème brûlée at the CAFÉ');
    const cyrillic = await send(alice, to, 'привет мир');
    const hippo = await send(alice, to, 'A hippopotamus and a zebra walked into a bar');
    const fox = await send(bob, { to: alice.id }, 'the quick brown fox jumps');
    const hare = await send(alice, to, 'brown is the fox, quick is the hare');
    const cases = [
      ['café', [creme, cafe]],
      ['CAFE', [creme, cafe]],
      ['creme brulee', [creme]],
      ['BRÛLÉE', [creme]],
      ['ПРИВЕТ', [cyrillic]],
      ['royal', [cafe]],
      ['roy', [cafe]],
      ['hippopot', [hippo]],
      ['zebra hippopot', [hippo]],
      ['hippopot zebra', []],
      ['zebra bar', [hippo]],
      ['zebra piano', []],
      ['ebra', []],
      ['quick brown', [hare, fox]],
      ['"quick brown"', [fox]],
      ['"brown quick"', []],
      ['"brown fox"', [fox]],
      ['Quick, BROWN!', [hare, fox]],
    ];
    for (const [q, expected] of cases) {
      assert.deepEqual([...await found(alice, { q })], expected.map((m) => m.id), `q=${q}`);
    }
  });

  test('snippets: HTML-escaped, at most 200 characters around the first match, every match marked', async () => {
    const html = await send(alice, { to: bob.id }, '<b>Bold</b> & brave tigers, "tigers" everywhere');
    let ids = await found(bob, { q: 'TIGERS' });
    assert.deepEqual([...ids], [html.id]);
    let { snippet } = ids.body.results[0];
    assert.ok(!snippet.includes('<b>'), snippet);
    assert.ok(snippet.includes('&lt;b&gt;') || !snippet.includes('Bold'), snippet);
    assert.ok(snippet.includes('<mark>tigers</mark>'), snippet);
    let bare = snippet.replace(/<\/?mark>/g, '');
    assert.ok(html.text.includes(unescapeHtml(bare)), `${snippet} is a piece of the text`);
    assert.equal((snippet.match(/<mark>/g) ?? []).length, (bare.match(/tigers/gi) ?? []).length, snippet);
    assert.ok(!bare.includes('"') || escapeHtml(html.text).includes(bare), snippet);

    const long = `${'lorem '.repeat(80)}needle ${'ipsum '.repeat(80)}`.trim();
    const needle = await send(alice, { to: bob.id }, long);
    ids = await found(alice, { q: 'needle' });
    assert.deepEqual([...ids], [needle.id]);
    ({ snippet } = ids.body.results[0]);
    bare = snippet.replace(/<\/?mark>/g, '');
    assert.ok(snippet.includes('<mark>needle</mark>'), snippet);
    assert.ok(Array.from(bare).length <= 200, `${Array.from(bare).length} characters`);
    assert.ok(long.includes(bare), snippet);
  });

  test('paging: newest first, limit (default 20), before, has_more; chat_id; only the caller\'s chats', async () => {
    const ids = [];
    for (let i = 0; i < 25; i += 1) ids.push((await send(alice, { to: bob.id }, `kiwi number ${i}`)).id);
    const g = (await api('POST', '/groups', alice.token, { name: 'kiwis', member_ids: [carol.id] })).body.group;
    const inGroup = (await send(carol, { group_id: g.id }, 'kiwi in the group')).id;
    const newest = [inGroup, ...[...ids].reverse()];

    let page = await found(alice, { q: 'kiwi' });
    assert.deepEqual([...page], newest.slice(0, 20), 'default limit 20');
    assert.equal(page.body.has_more, true);
    page = await found(alice, { q: 'kiwi', before: String(page[19]) });
    assert.deepEqual([...page], newest.slice(20));
    assert.equal(page.body.has_more, false);
    page = await found(alice, { q: 'kiwi', limit: '100' });
    assert.deepEqual([...page], newest);
    assert.equal(page.body.has_more, false);
    page = await found(alice, { q: 'kiwi', limit: '1', before: String(ids[3]) });
    assert.deepEqual([...page], [ids[2]]);
    assert.equal(page.body.has_more, true);

    assert.deepEqual([...await found(alice, { q: 'kiwi', chat_id: String(g.id) })], [inGroup]);
    assert.deepEqual([...await found(carol, { q: 'kiwi' })], [inGroup], 'carol sees only her chat');
    assert.deepEqual([...await found(bob, { q: 'kiwi', limit: '100' })], [...ids].reverse(), 'bob sees only his');
    assert.deepEqual([...await found(eve, { q: 'kiwi' })], []);
  });

  test('errors: not a member, unknown chat, no searchable word, bad lengths and cursors, no token; engine syntax is never a 500', async () => {
    const m = await send(alice, { to: bob.id }, 'marmalade sandwich');

    refusedWith(await search(eve, { q: 'marmalade', chat_id: String(m.chat_id) }), 403, 'not_a_member', 'outsider chat_id');
    refusedWith(await search(alice, { q: 'marmalade', chat_id: '2000000000' }), 404, 'chat_not_found', 'unknown chat_id');
    for (const q of ['', '*', '!!!', '?.,;:-', '""', '"', '()', '* -', '\u3000']) {
      refusedWith(await search(alice, { q }), 400, 'validation_failed', `q=${JSON.stringify(q)}`);
    }
    refusedWith(await api('GET', '/search', alice.token), 400, 'validation_failed', 'no q');
    refusedWith(await search(alice, { q: 'a'.repeat(201) }), 400, 'validation_failed', '201 characters');
    assert.deepEqual([...await found(alice, { q: 'a'.repeat(200) })], [], '200 characters');
    for (const limit of ['0', '101', 'x']) {
      refusedWith(await search(alice, { q: 'marmalade', limit }), 400, 'validation_failed', `limit=${limit}`);
    }
    for (const before of ['abc', '0', '-3']) {
      const res = await search(alice, { q: 'marmalade', before });
      assert.equal(res.status, 400, `before=${before}`);
      assert.ok(['invalid_cursor', 'validation_failed'].includes(res.body.error.code), JSON.stringify(res.body));
    }
    refusedWith(await api('GET', '/search?q=marmalade'), 401, 'unauthorized', 'no token');

    for (const q of [
      'marmalade OR sandwich', 'marmalade AND NOT sandwich', 'NEAR(marmalade sandwich)', 'marmalade*', 'marm*',
      '"marmalade', 'marmalade"', 'text:marmalade', '^marmalade', '{marmalade}', '-marmalade', '+marmalade',
      'marmalade & sandwich', 'marmalade | sandwich', '!marmalade', 'marmalade:*', 'marmalade <-> sandwich',
      "marmalade' OR '1'='1", 'marmalade; DROP TABLE messages; --', 'marmalade\\', 'marmalade%', 'marmalade_',
      '(marmalade', 'marmalade)', '[marmalade]', 'marmalade~2', 'marmalade^2',
    ]) {
      const res = await search(alice, { q });
      assert.equal(res.status, 200, `q=${JSON.stringify(q)}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.ok(Array.isArray(res.body.results));
    }
    // A control character may be refused, but is never a 500.
    const nul = await search(alice, { q: 'marmalade\u0000' });
    assert.ok(nul.status === 200 || (nul.status === 400 && nul.body.error.code === 'validation_failed'), `NUL: ${nul.status} ${JSON.stringify(nul.body)}`);
  });

  test('a user who left a group, or was removed from it, no longer finds its messages', async () => {
    const g = (await api('POST', '/groups', alice.token, { name: 'g', member_ids: [bob.id, carol.id] })).body.group;
    const w = word();
    const m = await send(alice, { group_id: g.id }, `secret ${w}`);
    assert.deepEqual([...await found(bob, { q: w })], [m.id]);
    assert.deepEqual([...await found(carol, { q: w })], [m.id]);
    // Leaving is POST /groups/:id/leave (v2 "Groups").
    const left = await api('POST', `/groups/${g.id}/leave`, bob.token);
    assert.equal(left.status, 204, JSON.stringify(left.body));
    assert.deepEqual([...await found(bob, { q: w })], []);
    refusedWith(await search(bob, { q: w, chat_id: String(g.id) }), 403, 'not_a_member', 'the group it left');
    // Removing is DELETE /groups/:id/members/:userId.
    const removed = await api('DELETE', `/groups/${g.id}/members/${carol.id}`, alice.token);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual([...await found(carol, { q: w })], []);
    refusedWith(await search(carol, { q: w, chat_id: String(g.id) }), 403, 'not_a_member', 'the group it was removed from');
    assert.deepEqual([...await found(alice, { q: w })], [m.id], 'the members still find it');
  });
});
