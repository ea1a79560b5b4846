// The demo's entry point: signing in and out, loading the lists, the
// Socket.IO connection and its events, catch-up after being offline, and
// the group dialog.
import { api, useToken, session, cursor, ApiError } from './api.js';
import { $, h, avatar, show, debounce, toast } from './dom.js';
import { state, reset, noteSeen, upsertChat, directChatWith, isMe, chatTitle } from './state.js';
import { renderChatList, renderUsers, renderHeader } from './render.js';
import {
  openChat, openDirect, closeView, onScroll, received, sendText, sendFile, maybeMarkRead,
  composerInput, stopTyping, typingEvent, readEvent,
} from './conversation.js';

// ---- signing in and out ------------------------------------------------

function showAuth(message) {
  show($('app'), false);
  show($('auth'), true);
  const error = $('auth-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  $('auth-form').elements.username.focus();
}

$('auth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const register = event.submitter?.value === 'register';
  const { username, password, display_name: displayName } = form.elements;
  const body = { username: username.value.trim(), password: password.value };
  if (register && displayName.value.trim()) body.display_name = displayName.value.trim();
  for (const button of form.querySelectorAll('button')) button.disabled = true;
  try {
    const data = await api('POST', register ? '/auth/register' : '/auth/login', body);
    password.value = '';
    const saved = { token: data.token, user: data.user, expires_at: data.expires_at };
    session.save(saved);
    await start(saved);
  } catch (err) {
    $('auth-error').textContent = err.message;
    $('auth-error').hidden = false;
  } finally {
    for (const button of form.querySelectorAll('button')) button.disabled = false;
  }
});

function logout(message) {
  stopTyping();
  state.socket?.disconnect();
  closeView();
  reset();
  session.clear();
  useToken(null);
  $('chat-list').replaceChildren();
  $('user-list').replaceChildren();
  showAuth(message);
}

$('logout').addEventListener('click', () => logout());

async function start(saved) {
  state.token = saved.token;
  state.me = saved.user;
  useToken(saved.token, () => logout('Your session has ended. Please log in again.'));
  show($('auth'), false);
  show($('app'), true);
  renderMe();
  state.lastSeen = cursor.load(saved.user.id);
  listsLoaded = false;
  try {
    const { user } = await api('GET', '/auth/me');
    state.me = user;
    session.save({ ...saved, user });
    renderMe();
    await Promise.all([loadChats(), loadUsers()]);
    listsLoaded = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // logged out already
    toast(`Could not load: ${err.message}`, 'error');
  }
  if (!state.me) return;
  if (!state.lastSeen) {
    // A first visit: nothing was missed, everything is in GET /chats.
    const newest = Math.max(0, ...[...state.chats.values()].map((c) => c.last_message?.id ?? 0));
    if (newest) noteSeen(newest);
  }
  connect();
}

function renderMe() {
  $('me-name').textContent = state.me.display_name;
  const pic = avatar(state.me.display_name, state.me.id);
  pic.id = 'me-avatar';
  $('me-avatar').replaceWith(pic);
}

// ---- lists -------------------------------------------------------------

let listsLoaded = false; // false until GET /chats and /users have answered once

async function loadChats() {
  const { chats } = await api('GET', '/chats');
  const known = new Set(chats.map((c) => c.id));
  for (const id of state.chats.keys()) if (!known.has(id)) state.chats.delete(id);
  for (const chat of chats) upsertChat(chat);
  learnMembers(chats);
  // A draft to someone who wrote first in the meantime: open the real chat.
  const view = state.view;
  if (view?.to) {
    const chat = directChatWith(view.to);
    if (chat) {
      const text = $('text').value;
      await openChat(chat.id);
      $('text').value = text;
    }
  }
  renderChatList();
  renderHeader();
  maybeMarkRead();
}

const refreshChats = debounce(() => loadChats().catch((err) => toast(err.message, 'error')), 200);
const refreshUsers = debounce(() => loadUsers().catch(() => {}), 300);

// Someone who signed up after the People list was loaded: fetch it again
// (for their presence: it is not sent to people who shared no chat then).
function learnMembers(chats) {
  if (chats.some((c) => c.members.some((m) => !state.users.has(m.user_id)))) refreshUsers();
}

async function loadUsers() {
  const users = new Map();
  let after = 0;
  for (let page = 0; page < 5; page++) {
    const data = await api('GET', `/users?limit=200&after=${after}`);
    for (const user of data.users) users.set(user.id, user);
    if (!data.has_more || !data.users.length) break;
    after = data.users.at(-1).id;
  }
  state.users = users;
  renderPeople();
  renderChatList();
  renderHeader();
}

let searchResults = null; // users matching the People search, or null

function renderPeople() {
  renderUsers(searchResults ?? [...state.users.values()]);
}

$('people-search').addEventListener('input', debounce(async (event) => {
  const q = event.target.value.trim();
  if (!q) {
    searchResults = null;
  } else {
    try {
      const { users } = await api('GET', `/users?limit=50&q=${encodeURIComponent(q)}`);
      for (const user of users) state.users.set(user.id, user);
      searchResults = users;
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  renderPeople();
}, 250));

function selectTab(name) {
  for (const tab of ['chats', 'people']) {
    $(`tab-${tab}`).setAttribute('aria-selected', String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === 'people') loadUsers().catch(() => {});
}

$('tab-chats').addEventListener('click', () => selectTab('chats'));
$('tab-people').addEventListener('click', () => selectTab('people'));

$('chat-list').addEventListener('click', (event) => {
  const item = event.target.closest('[data-chat-id]');
  if (item) openChat(Number(item.dataset.chatId));
});

$('user-list').addEventListener('click', (event) => {
  const item = event.target.closest('[data-user-id]');
  if (item) openDirect(Number(item.dataset.userId));
});

// ---- the open chat -----------------------------------------------------

$('back').addEventListener('click', () => closeView());
$('messages').addEventListener('scroll', onScroll, { passive: true });

const text = $('text');
function autoGrow() {
  text.style.height = 'auto';
  text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
}

text.addEventListener('input', () => {
  autoGrow();
  composerInput();
});

text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = text.value;
  if (!value.trim()) return;
  text.value = '';
  autoGrow();
  sendText(value);
});

$('file-input').addEventListener('change', (event) => {
  const [file] = event.target.files;
  event.target.value = '';
  sendFile(file);
});

document.addEventListener('visibilitychange', () => maybeMarkRead());

// ---- real time ---------------------------------------------------------

function setConnection(text, ok) {
  const el = $('conn');
  el.textContent = text;
  el.classList.toggle('ok', ok);
}

function connect() {
  const socket = window.io({ auth: { token: state.token } });
  state.socket = socket;
  let connectedBefore = false;
  socket.on('connect', () => {
    setConnection('online', true);
    catchUp(state.lastSeen, connectedBefore);
    connectedBefore = true;
  });
  socket.on('disconnect', (reason) => {
    setConnection('offline: reconnecting…', false);
    // The server closed it on purpose: try again (a bad token then logs out).
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000);
  });
  socket.on('connect_error', (err) => {
    if (err.message === 'unauthorized') logout('Your session has ended. Please log in again.');
    else setConnection('offline: reconnecting…', false);
  });
  socket.on('receive_message', live);
  socket.on('receive_file', live);
  socket.on('typing', typingEvent);
  socket.on('read', readEvent);
  socket.on('presence', ({ user_id: userId, online, last_seen_at: lastSeenAt }) => {
    const user = state.users.get(userId);
    if (!user) {
      refreshUsers();
      return;
    }
    Object.assign(user, { online, last_seen_at: lastSeenAt });
    renderPeople();
    renderChatList();
    renderHeader();
  });
  socket.on('group_created', ({ group }) => {
    upsertChat(group);
    learnMembers([group]);
    renderChatList();
  });
  socket.on('added_to_group', ({ group }) => {
    upsertChat(group);
    learnMembers([group]);
    renderChatList();
    toast(`You were added to ${chatTitle(group)}`);
  });
  socket.on('member_added', ({ group_id: groupId, member }) => {
    const chat = state.chats.get(groupId);
    if (!chat) return refreshChats();
    if (!chat.members.some((m) => m.user_id === member.user_id)) chat.members.push(member);
    if (state.view?.chatId === groupId) {
      renderHeader();
      if (!addedByMe.delete(`${groupId}:${member.user_id}`)) toast(`${member.display_name} joined ${chatTitle(chat)}`);
    }
    return undefined;
  });
}

function live(msg) {
  if (!received(msg)) refreshChats(); // a chat this page does not know yet
}

// After connecting: fetch what was missed since the cursor; after a
// reconnect (or if anything was missed) also the lists as they are now
// (unread counts, presence, chats this page has not heard of).
let catchingUp = false;
async function catchUp(after, reconnected) {
  if (catchingUp) return;
  catchingUp = true;
  state.syncing = true;
  let cursorAt = after;
  try {
    let complete = false;
    let missed = 0;
    for (let page = 0; page < 20 && !complete; page++) {
      const data = await api('GET', `/sync?after=${cursorAt}&limit=200`);
      for (const msg of data.messages) {
        received(msg, { live: false });
        cursorAt = Math.max(cursorAt, msg.id);
      }
      missed += data.messages.length;
      complete = !data.has_more || !data.messages.length;
    }
    state.syncing = false;
    noteSeen(Math.max(cursorAt, state.seenWhileSyncing));
    if (reconnected || missed || !listsLoaded) {
      await Promise.all([loadChats(), loadUsers()]);
      listsLoaded = true;
    }
    // Too much missed to merge: show the open chat afresh.
    if (!complete && state.view?.chatId) openChat(state.view.chatId);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    // The cursor stays where it was; the next try starts from there.
    toast(`Catching up failed: ${err.message}`, 'error');
    setTimeout(() => state.socket?.connected && catchUp(after, true), 5000);
  } finally {
    catchingUp = false;
  }
}

// ---- groups ------------------------------------------------------------

const dialog = $('group-dialog');
let dialogMode = 'create';
const picked = new Set();
const addedByMe = new Set(); // "group:user" pairs this page added: no "joined" toast for those

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

$('group-filter').addEventListener('input', renderPickList);
$('new-group').addEventListener('click', () => openGroupDialog('create'));
$('add-people').addEventListener('click', () => openGroupDialog('add'));
$('group-cancel').addEventListener('click', () => dialog.close());

$('group-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('group-error');
  error.hidden = true;
  const submit = $('group-submit');
  submit.disabled = true;
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
    submit.disabled = false;
  }
});

// ---- go ----------------------------------------------------------------

const saved = session.load();
if (saved) start(saved);
else showAuth();
