// Group management in the demo page (API v2 "Groups"), in headless
// Chromium, with three people in three browser contexts.
//
// ana makes a group with ben and cai; cai writes in it. ana opens its
// settings: the members with their roles, a role menu and a remove button
// for each of the others. She renames it: ben's and cai's pages show the
// new name at once. ben (a plain member) sees the settings read-only and no
// delete button on cai's message; ana makes him an admin, and his open
// settings and the message's delete button follow live. ben removes cai:
// cai's page drops the group (its open chat closes) and ana's member list
// follows. ana adds cai back over the API: the group is back in cai's list.
// ana hands the group to ben ("Owner" in the role menu): both pages show
// ben as owner and ana as admin. ana leaves: her page drops the group, and
// ben's member list and header follow. The server's copy is checked at each
// step.
//
// Steps run in order and share state; every wait has a timeout;
// screenshots go to target/e2e-screenshots/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  TIMEOUT, api, launch, person, screenshot, tid, waitForText,
} from './lib.mjs';

const STEP = { timeout: 60_000 };
const PASSWORD = 'correct horse battery';

const suffix = `${process.pid % 10000}`;
const ANA = { username: `gana${suffix}`, display: 'Ana Owner' };
const BEN = { username: `gben${suffix}`, display: 'Ben Member' };
const CAI = { username: `gcai${suffix}`, display: 'Cai Member' };
const NAMES = { first: `Book club ${suffix}`, renamed: `Reading circle ${suffix}` };

let browser;
const people = {}; // ana, ben, cai: { context, page, id, token }
let groupId;
let caiMessage;

const chatItem = (page, name) => page.locator(tid('chat-item')).filter({
  has: page.locator(tid('chat-name')).getByText(name, { exact: true }),
});
const groupItem = (page) => page.locator(`${tid('chat-item')}[data-chat-id="${groupId}"]`);
const settings = (page) => page.locator(tid('group-settings'));
const memberRow = (page, who) => settings(page).locator(`${tid('group-member')}[data-user-id="${people[who].id}"]`);
const messageById = (page, id) => page.locator(`${tid('message-list')} ${tid('message')}[data-message-id="${id}"]`);
const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')));

async function signUp(who, { username, display }) {
  const { page } = people[who];
  await page.goto('/');
  await page.locator(tid('auth-username')).fill(username);
  await page.locator(tid('auth-password')).fill(PASSWORD);
  await page.locator(tid('auth-display-name')).fill(display);
  await page.locator(tid('register-button')).click();
  await page.locator(tid('app')).waitFor({ state: 'visible' });
  await waitForText(page.locator(tid('me-name')), display);
  await waitForText(page.locator(tid('connection-status')), 'online');
  const record = await stored(page);
  Object.assign(people[who], { id: record.user.id, token: record.token });
}

async function openGroup(page) {
  await page.locator(tid('tab-chats')).click();
  await groupItem(page).click();
  await page.locator(`${tid('message-list')}`).waitFor({ state: 'visible' });
}

async function openSettings(page) {
  await page.locator(tid('group-settings-button')).click();
  await settings(page).waitFor({ state: 'visible' });
}

// The roles the settings dialog shows, by person: { ana: 'owner', … }.
// (Read in one go: the list is redrawn whenever an event comes.)
async function shownRoles(page) {
  const rows = await page.evaluate(() => [...document.querySelectorAll(
    '[data-testid="group-settings"] [data-testid="group-member"]',
  )].map((el) => [Number(el.dataset.userId), el.dataset.role]));
  const out = {};
  for (const [id, role] of rows) out[Object.keys(people).find((k) => people[k].id === id) ?? String(id)] = role;
  return out;
}

async function rolesAre(page, expected, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await shownRoles(page);
    if (JSON.stringify(Object.entries(last).sort()) === JSON.stringify(Object.entries(expected).sort())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for roles ${JSON.stringify(expected)}; last shown ${JSON.stringify(last)}`);
}

async function serverRoles(who) {
  const res = await api('GET', `/groups/${groupId}`, people[who].token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const out = {};
  for (const m of res.body.group.members) {
    out[Object.keys(people).find((k) => people[k].id === m.user_id)] = m.role;
  }
  return { name: res.body.group.name, roles: out };
}

describe('group settings in the demo page: rename, roles, remove, leave', { timeout: 300_000 }, () => {
  before(async () => {
    browser = await launch();
    for (const who of ['ana', 'ben', 'cai']) people[who] = await person(browser);
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });

  it('three people sign up; ana makes a group with ben and cai, cai writes in it', STEP, async () => {
    await signUp('ben', BEN);
    await signUp('cai', CAI);
    await signUp('ana', ANA);
    const made = await api('POST', '/groups', people.ana.token, { name: NAMES.first, member_ids: [people.ben.id, people.cai.id] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    groupId = made.body.group.id;
    for (const who of ['ana', 'ben', 'cai']) await chatItem(people[who].page, NAMES.first).waitFor();
    const said = await api('POST', '/chats/send-message', people.cai.token, { group_id: groupId, text: 'Chapter one is long' });
    assert.equal(said.status, 201, JSON.stringify(said.body));
    caiMessage = said.body.message.id;
    for (const who of ['ana', 'ben', 'cai']) await openGroup(people[who].page);
    await messageById(people.ben.page, caiMessage).waitFor();
  });

  it('ana opens the settings: every member with a role, a role menu and a remove button for the others', STEP, async () => {
    const { page } = people.ana;
    await openSettings(page);
    await waitForText(settings(page).locator(tid('group-settings-title')), NAMES.first);
    await waitForText(settings(page).locator(tid('group-settings-count')), '3 members');
    await rolesAre(page, { ana: 'owner', ben: 'member', cai: 'member' });
    assert.equal(await memberRow(page, 'ana').locator(tid('group-member-role-select')).count(), 0, 'no menu for her own role');
    assert.equal(await memberRow(page, 'ana').locator(tid('group-member-remove')).count(), 0, 'no remove button for herself');
    for (const who of ['ben', 'cai']) {
      assert.equal(await memberRow(page, who).locator(tid('group-member-role-select')).inputValue(), 'member');
      await memberRow(page, who).locator(tid('group-member-remove')).waitFor();
    }
    assert.equal(await settings(page).locator(tid('group-rename-input')).isEnabled(), true);
    await screenshot(page, 'groups-settings-owner');
  });

  it('ana renames the group: everyone sees the new name at once', STEP, async () => {
    const { page } = people.ana;
    const input = settings(page).locator(tid('group-rename-input'));
    await input.fill(NAMES.renamed);
    await settings(page).locator(tid('group-rename-save')).click();
    await waitForText(settings(page).locator(tid('group-settings-status')), 'Saved.');
    await waitForText(settings(page).locator(tid('group-settings-title')), NAMES.renamed);
    for (const who of ['ana', 'ben', 'cai']) {
      const p = people[who].page;
      await chatItem(p, NAMES.renamed).waitFor();
      await waitForText(p.locator(tid('chat-title')), NAMES.renamed);
    }
    assert.equal((await serverRoles('cai')).name, NAMES.renamed);
  });

  it('ben, a plain member, sees the settings read-only and no delete button on cai\'s message', STEP, async () => {
    const { page } = people.ben;
    await openSettings(page);
    await rolesAre(page, { ana: 'owner', ben: 'member', cai: 'member' });
    assert.equal(await settings(page).locator(tid('group-rename-input')).isDisabled(), true);
    assert.equal(await settings(page).locator(tid('group-rename-save')).isHidden(), true);
    assert.equal(await settings(page).locator(tid('group-member-role-select')).count(), 0);
    assert.equal(await settings(page).locator(tid('group-member-remove')).count(), 0);
    assert.equal(await messageById(page, caiMessage).locator(tid('action-delete')).count(), 0);
  });

  it('ana makes ben an admin: his open settings and the delete button on cai\'s message follow live', STEP, async () => {
    await memberRow(people.ana.page, 'ben').locator(tid('group-member-role-select')).selectOption('admin');
    await rolesAre(people.ana.page, { ana: 'owner', ben: 'admin', cai: 'member' });
    const { page } = people.ben;
    await rolesAre(page, { ana: 'owner', ben: 'admin', cai: 'member' });
    await page.waitForFunction(() => !document.querySelector('[data-testid="group-rename-input"]').disabled, null, { timeout: TIMEOUT });
    await memberRow(page, 'cai').locator(tid('group-member-remove')).waitFor();
    assert.equal(await memberRow(page, 'ana').locator(tid('group-member-remove')).count(), 0, 'an admin may not remove the owner');
    assert.equal(await settings(page).locator(tid('group-member-role-select')).count(), 0, 'only the owner sets roles');
    assert.deepEqual((await serverRoles('ben')).roles, { ana: 'owner', ben: 'admin', cai: 'member' });
    await screenshot(page, 'groups-settings-admin');
    await settings(page).locator(tid('group-settings-close')).click();
    await messageById(page, caiMessage).locator(tid('action-delete')).waitFor({ state: 'attached' });
  });

  it('ben removes cai: cai\'s page drops the group, ana\'s member list follows', STEP, async () => {
    const { page } = people.ben;
    await openSettings(page);
    await memberRow(page, 'cai').locator(tid('group-member-remove')).click();
    await rolesAre(page, { ana: 'owner', ben: 'admin' });
    await rolesAre(people.ana.page, { ana: 'owner', ben: 'admin' });
    await waitForText(settings(people.ana.page).locator(tid('group-settings-count')), '2 members');

    const cai = people.cai.page;
    await groupItem(cai).waitFor({ state: 'detached' });
    assert.equal(await cai.locator(tid('chat-title')).isVisible(), false, 'the open chat closed');
    await waitForText(cai.locator(tid('toasts')), `${BEN.display} removed you from ${NAMES.renamed}`);
    await screenshot(cai, 'groups-removed');
    const res = await api('GET', `/chats/${groupId}`, people.cai.token);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    // Messages sent now do not reach cai's page.
    const said = await api('POST', '/chats/send-message', people.ana.token, { group_id: groupId, text: 'Now without cai' });
    assert.equal(said.status, 201);
    await messageById(people.ben.page, said.body.message.id).waitFor();
    assert.equal(await groupItem(cai).count(), 0);
    await settings(page).locator(tid('group-settings-close')).click();
  });

  it('ana adds cai back: the group is in cai\'s list again', STEP, async () => {
    const added = await api('POST', `/groups/${groupId}/add-user`, people.ana.token, { user_id: people.cai.id });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const cai = people.cai.page;
    await chatItem(cai, NAMES.renamed).waitFor();
    await openGroup(cai);
    await waitForText(cai.locator(tid('chat-title')), NAMES.renamed);
    await rolesAre(people.ana.page, { ana: 'owner', ben: 'admin', cai: 'member' });
  });

  it('ana hands the group to ben: both pages show ben as owner and ana as admin', STEP, async () => {
    const { page } = people.ana;
    await memberRow(page, 'ben').locator(tid('group-member-role-select')).selectOption('owner');
    await rolesAre(page, { ana: 'admin', ben: 'owner', cai: 'member' });
    await waitForText(settings(page).locator(tid('group-settings-status')), 'owns the group now');
    assert.equal(await settings(page).locator(tid('group-member-role-select')).count(), 0, 'ana sets no roles any more');
    await memberRow(page, 'cai').locator(tid('group-member-remove')).waitFor();
    assert.equal(await memberRow(page, 'ben').locator(tid('group-member-remove')).count(), 0, 'an admin may not remove the owner');

    const ben = people.ben.page;
    await openSettings(ben);
    await rolesAre(ben, { ana: 'admin', ben: 'owner', cai: 'member' });
    assert.equal(await memberRow(ben, 'ana').locator(tid('group-member-role-select')).inputValue(), 'admin');
    assert.deepEqual((await serverRoles('cai')).roles, { ana: 'admin', ben: 'owner', cai: 'member' });
  });

  it('ana leaves: her page drops the group, ben\'s member list and header follow', STEP, async () => {
    const { page } = people.ana;
    await settings(page).locator(tid('group-leave')).click();
    await settings(page).locator(tid('group-leave-confirm')).click();
    await settings(page).waitFor({ state: 'hidden' });
    await groupItem(page).waitFor({ state: 'detached' });
    await waitForText(page.locator(tid('toasts')), `You left ${NAMES.renamed}`);

    const ben = people.ben.page;
    await rolesAre(ben, { ben: 'owner', cai: 'member' });
    await waitForText(ben.locator(tid('chat-subtitle')), '2 members');
    await screenshot(ben, 'groups-after-leave');
    assert.deepEqual((await serverRoles('ben')).roles, { ben: 'owner', cai: 'member' });
    const res = await api('GET', `/groups/${groupId}`, people.ana.token);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    // After a reload the group stays gone.
    await page.reload();
    await waitForText(page.locator(tid('connection-status')), 'online', 20_000);
    assert.equal(await groupItem(page).count(), 0);
  });

  it('had no errors in the pages', STEP, () => {
    for (const who of ['ana', 'ben', 'cai']) assert.deepEqual(people[who].page.errors, [], who);
  });
});
