// The open group's settings (v2 group management): its name (PATCH
// /groups/:id, owner and admins), its members with their roles, a role
// changed (PATCH /groups/:id/members/:userId, the owner only; giving
// "owner" hands the group over), a member removed (DELETE
// /groups/:id/members/:userId: the owner anyone but themself, an admin
// plain members), and leaving (socket leave_group). The server's events
// (group_updated, member_removed, member_role_changed) and the answers to
// this page's own changes go through the same apply* functions, which keep
// the chat list, the header, the open chat's delete buttons and this
// dialog in step; a user who left or was removed loses the chat at once.
import { api } from './api.js';
import { emitAck } from './ack.js';
import { $, h, avatar, toast } from './dom.js';
import { state, isMe, myRole, chatTitle, nameOf } from './state.js';
import { renderChatList, renderHeader } from './render.js';
import { closeView } from './conversation.js';
import { redrawOpenChat } from './message-updates.js';

const dialog = $('group-settings-dialog');
let shownId = null; // the group the dialog shows
let busy = false;

const ROLE_LABEL = { owner: 'Owner', admin: 'Admin', member: 'Member' };

function note(text, kind = 'error') {
  const el = $('group-settings-status');
  el.textContent = text ?? '';
  el.hidden = !text;
  el.classList.toggle('error', kind === 'error');
  el.classList.toggle('ok-note', kind === 'ok');
}

// Owner and admins may remove: the owner anyone but themself, an admin plain members.
function canRemove(mine, member) {
  if (isMe(member.user_id)) return false;
  return mine === 'owner' || (mine === 'admin' && member.role === 'member');
}

function memberEl(chat, member, mine) {
  const me = isMe(member.user_id);
  let role;
  if (mine === 'owner' && !me) {
    role = h('select', {
      class: 'role-select', 'data-testid': 'group-member-role-select', 'aria-label': `Role of ${member.display_name}`,
    }, ['member', 'admin', 'owner'].map((r) => h('option', { value: r }, r === 'owner' ? 'Owner (hand over)' : ROLE_LABEL[r])));
    role.value = member.role;
    role.addEventListener('change', () => changeRole(chat.id, member, role));
  } else {
    role = h('span', { class: `tag role-${member.role}`, 'data-testid': 'group-member-role' }, ROLE_LABEL[member.role] ?? member.role);
  }
  const remove = canRemove(mine, member)
    ? h('button', {
      type: 'button', class: 'ghost small danger-text', 'data-testid': 'group-member-remove', title: `Remove ${member.display_name}`,
    }, 'Remove')
    : null;
  remove?.addEventListener('click', () => removeMember(chat.id, member, remove));
  return h('li', {
    class: 'group-member', 'data-testid': 'group-member', 'data-user-id': member.user_id, 'data-role': member.role,
  },
  avatar(member.display_name, member.user_id),
  h('span', { class: 'group-member-name', 'data-testid': 'group-member-name' },
    member.display_name, me ? h('small', { class: 'muted' }, ' (you)') : null),
  role,
  remove);
}

// Draws the dialog from the state (called again after every change).
function render() {
  if (!dialog.open || !shownId) return;
  const chat = state.chats.get(shownId);
  if (!chat) return;
  const mine = myRole(chat);
  const mayRename = mine === 'owner' || mine === 'admin';
  $('group-settings-title').textContent = chatTitle(chat);
  const input = $('group-rename-input');
  if (document.activeElement !== input || input.disabled) input.value = chat.name ?? '';
  input.disabled = !mayRename;
  $('group-rename-save').hidden = !mayRename;
  $('group-rename-hint').hidden = mayRename;
  $('group-settings-count').textContent = `${chat.members.length} member${chat.members.length === 1 ? '' : 's'}`;
  const order = { owner: 0, admin: 1, member: 2 };
  const members = [...chat.members].sort((a, b) => order[a.role] - order[b.role] || a.joined_at.localeCompare(b.joined_at));
  $('group-member-list').replaceChildren(...members.map((m) => memberEl(chat, m, mine)));
  $('group-leave-confirm-row').hidden = true;
  $('group-leave').hidden = false;
}

export function openGroupSettings(chatId = state.view?.chatId) {
  const chat = state.chats.get(chatId);
  if (chat?.kind !== 'group') return;
  shownId = chatId;
  note(null);
  $('group-rename-input').value = chat.name ?? '';
  dialog.showModal();
  render();
}

export function closeGroupSettings() {
  shownId = null;
  if (dialog.open) dialog.close();
}

// ---- what the page learns, from the server's events or its answers -------

function refresh(chatId, { roles = false } = {}) {
  renderChatList();
  if (state.view?.chatId === chatId) {
    renderHeader();
    if (roles) redrawOpenChat(); // who may delete what has changed
  }
  if (shownId === chatId) render();
}

// A group's members changed some other way (member_added): the dialog follows.
export function groupChanged(chatId) {
  if (shownId === chatId) render();
}

// A group as the server sent it (group_updated, or an answer): its name and
// members; the unread count and last message stay the page's own (an
// event's Chat has unread_count 0 for everyone).
export function applyGroup(group) {
  const known = state.chats.get(group.id);
  if (!known) return false;
  const mineBefore = myRole(known);
  Object.assign(known, { name: group.name, members: group.members });
  if (group.last_message && (!known.last_message || group.last_message.id > known.last_message.id)) {
    known.last_message = group.last_message;
  }
  if (!group.members.some((m) => isMe(m.user_id))) {
    dropGroup(group.id);
    return true;
  }
  refresh(group.id, { roles: myRole(known) !== mineBefore });
  return true;
}

// The page forgets a group it is no longer in.
export function dropGroup(chatId, message) {
  if (!state.chats.has(chatId)) return;
  state.chats.delete(chatId);
  state.typing.delete(chatId);
  state.reads.delete(chatId);
  if (shownId === chatId) closeGroupSettings();
  if (state.view?.chatId === chatId) closeView();
  renderChatList();
  if (message) toast(message);
}

// member_removed {group_id, user_id, by, reason}
export function memberRemoved({ group_id: groupId, user_id: userId, by, reason }) {
  const chat = state.chats.get(groupId);
  if (!chat) return;
  const title = chatTitle(chat);
  if (isMe(userId)) {
    const why = reason === 'left' ? `You left ${title}` : `${nameOf(by, chat)} removed you from ${title}`;
    dropGroup(groupId, why);
    return;
  }
  const name = nameOf(userId, chat);
  chat.members = chat.members.filter((m) => m.user_id !== userId);
  refresh(groupId);
  if (state.view?.chatId === groupId && !isMe(by)) {
    toast(reason === 'left' ? `${name} left ${title}` : `${nameOf(by, chat)} removed ${name}`);
  }
}

// member_role_changed {group_id, user_id, role}
export function roleChanged({ group_id: groupId, user_id: userId, role }) {
  const chat = state.chats.get(groupId);
  const member = chat?.members.find((m) => m.user_id === userId);
  if (!member) return;
  if (member.role === role) return;
  member.role = role;
  refresh(groupId, { roles: isMe(userId) });
  if (isMe(userId) && state.view?.chatId === groupId) {
    toast(role === 'owner' ? `You are now the owner of ${chatTitle(chat)}` : `You are now ${role === 'admin' ? 'an admin' : 'a member'} of ${chatTitle(chat)}`);
  }
}

// ---- this page's changes ------------------------------------------------

async function run(what, fn) {
  if (busy) {
    render(); // one change at a time: the dialog shows the group as it is
    return;
  }
  busy = true;
  note(null);
  try {
    await fn();
  } catch (err) {
    note(`${what}: ${err.message}`);
    render();
  } finally {
    busy = false;
  }
}

function rename() {
  const chatId = shownId;
  const name = $('group-rename-input').value.trim();
  if (!name) {
    note('A group needs a name.');
    return undefined;
  }
  if (name === state.chats.get(chatId)?.name) return undefined;
  return run('Not renamed', async () => {
    const { group } = await api('PATCH', `/groups/${chatId}`, { name });
    applyGroup(group);
    note('Saved.', 'ok');
  });
}

function changeRole(chatId, member, select) {
  const role = select.value;
  return run('Role not changed', async () => {
    const { group } = await api('PATCH', `/groups/${chatId}/members/${member.user_id}`, { role });
    applyGroup(group);
    if (role === 'owner') note(`${member.display_name} owns the group now; you are an admin.`, 'ok');
  });
}

function removeMember(chatId, member, button) {
  button.disabled = true;
  return run('Not removed', async () => {
    const { group } = await api('DELETE', `/groups/${chatId}/members/${member.user_id}`);
    applyGroup(group);
  });
}

function leave() {
  const chatId = shownId;
  const title = chatTitle(state.chats.get(chatId));
  return run('Could not leave', async () => {
    const ack = await emitAck('leave_group', { group_id: chatId });
    if (!ack.ok) throw new Error(ack.error.message);
    dropGroup(chatId, `You left ${title}`);
  });
}

export function setupGroupSettings() {
  $('group-settings').addEventListener('click', () => openGroupSettings());
  $('group-settings-close').addEventListener('click', () => closeGroupSettings());
  dialog.addEventListener('close', () => {
    shownId = null;
  });
  $('group-rename-form').addEventListener('submit', (event) => {
    event.preventDefault();
    rename();
  });
  $('group-leave').addEventListener('click', () => {
    $('group-leave').hidden = true;
    $('group-leave-confirm-row').hidden = false;
  });
  $('group-leave-cancel').addEventListener('click', () => {
    $('group-leave').hidden = false;
    $('group-leave-confirm-row').hidden = true;
  });
  $('group-leave-confirm').addEventListener('click', () => leave());
}
