// The group dialog: a new group (POST /groups with the people picked), or
// people added to the open group (POST /groups/:id/add-user).
import { api } from './api.js';
import { $, h, avatar, toast } from './dom.js';
import { state, upsertChat, isMe } from './state.js';
import { renderChatList, renderHeader } from './render.js';
import { openChat } from './conversation.js';
import { loadUsers, selectTab } from './lists.js';

const dialog = $('group-dialog');
let dialogMode = 'create';
const picked = new Set();
const addedByMe = new Set(); // "group:user" pairs this page added: no "joined" toast for those

// member_added for someone this page added (asked once per pair).
export const addedHere = (groupId, userId) => addedByMe.delete(`${groupId}:${userId}`);

export function closeGroupDialog() {
  if (dialog.open) dialog.close();
}

async function openGroupDialog(mode) {
  dialogMode = mode;
  picked.clear();
  $('group-dialog-title').textContent = mode === 'create' ? 'New group' : 'Add people';
  $('group-submit').textContent = mode === 'create' ? 'Create' : 'Add';
  $('group-name-row').hidden = mode !== 'create';
  $('group-name').value = '';
  $('group-filter').value = '';
  $('group-error').hidden = true;
  renderPickList();
  dialog.showModal();
  (mode === 'create' ? $('group-name') : $('group-filter')).focus();
  try {
    await loadUsers(); // people who joined since the page loaded
    renderPickList();
  } catch (err) {
    toast(err.message, 'error');
  }
}

function renderPickList() {
  const chat = dialogMode === 'add' ? state.chats.get(state.view?.chatId) : null;
  const members = new Set(chat?.members.map((m) => m.user_id) ?? []);
  const filter = $('group-filter').value.trim().toLowerCase();
  const people = [...state.users.values()].filter((u) => !isMe(u.id) && !members.has(u.id)
    && (!filter || u.username.toLowerCase().startsWith(filter) || u.display_name.toLowerCase().startsWith(filter)));
  $('group-people').replaceChildren(...people.map((u) => {
    const box = h('input', {
      type: 'checkbox', value: u.id, 'data-testid': 'group-person', 'data-username': u.username,
    });
    box.checked = picked.has(u.id);
    box.addEventListener('change', () => (box.checked ? picked.add(u.id) : picked.delete(u.id)));
    return h('li', {}, h('label', {}, box, avatar(u.display_name, u.id),
      h('span', {}, u.display_name, ' ', h('small', { class: 'muted' }, `@${u.username}`))));
  }));
  if (!people.length) $('group-people').append(h('li', { class: 'muted' }, 'Nobody to add.'));
}

async function submit() {
  const error = $('group-error');
  error.hidden = true;
  const button = $('group-submit');
  button.disabled = true;
  try {
    if (dialogMode === 'create') {
      const name = $('group-name').value.trim();
      if (!name) throw new Error('Give the group a name.');
      const { group } = await api('POST', '/groups', { name, member_ids: [...picked] });
      upsertChat(group);
      dialog.close();
      selectTab('chats');
      await openChat(group.id);
    } else {
      const groupId = state.view.chatId;
      for (const userId of picked) {
        addedByMe.add(`${groupId}:${userId}`);
        const { group } = await api('POST', `/groups/${groupId}/add-user`, { user_id: userId });
        upsertChat(group);
      }
      dialog.close();
      renderHeader();
      renderChatList();
    }
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

export function setupGroupDialog() {
  $('group-filter').addEventListener('input', renderPickList);
  $('new-group').addEventListener('click', () => openGroupDialog('create'));
  $('add-people').addEventListener('click', () => openGroupDialog('add'));
  $('group-cancel').addEventListener('click', () => dialog.close());
  $('group-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
}
