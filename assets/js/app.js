// The demo's entry point: signing in and out, loading the lists, the
// Socket.IO connection and its events, catch-up after being offline, and
// the group dialog.
import { api, useToken, session, cursor, ApiError } from './api.js';
import {
  begin, end, refresh, refreshedToken, recordOf, currentSession, onSession, updateUser, isExpired,
  deviceName, logOutOnServer, forgetKept,
} from './auth.js';
import { setupAccount, closeAccount, sessionRevokedElsewhere } from './account.js';
import { $, h, avatar, show, debounce, toast } from './dom.js';
import { state, reset, noteSeen, upsertChat, directChatWith, isMe, chatTitle, nameOf } from './state.js';
import { renderChatList, renderUsers, renderHeader, renderTyping } from './render.js';
import {
  openChat, openDirect, closeView, onScroll, received, sendText, sendFile, maybeMarkRead,
  composerInput, stopTyping, typingEvent, readEvent,
} from './conversation.js';

// ---- signing in and out ------------------------------------------------

const MESSAGES = {
  revoked: 'This device was signed out: your session has ended. Please log in again.',
  logout: 'You logged out in another tab.',
};

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
  const body = { username: username.value.trim(), password: password.value, device_name: deviceName() };
  if (register && displayName.value.trim()) body.display_name = displayName.value.trim();
  for (const button of form.querySelectorAll('button')) button.disabled = true;
  try {
    const data = await api('POST', register ? '/auth/register' : '/auth/login', body, { bearer: false });
    password.value = '';
    const record = recordOf(data);
    begin(record);
    await start(record);
  } catch (err) {
    $('auth-error').textContent = err.message;
    $('auth-error').hidden = false;
  } finally {
    for (const button of form.querySelectorAll('button')) button.disabled = false;
  }
});

// Leaves the app for the login screen (what is stored is the caller's).
function leave(message) {
  stopTyping();
  const socket = state.socket;
  state.socket = null;
  socket?.disconnect();
  closeView();
  closeAccount();
  if (dialog.open) dialog.close();
  reset();
  end();
  $('chat-list').replaceChildren();
  $('user-list').replaceChildren();
  showAuth(message);
}

// Forgets the stored session, unless another tab has stored a different
// one meanwhile (the other tabs follow by the storage event).
function forget(record, reason) {
  const stored = session.load();
  if (!stored || !record || stored.token === record.token
      || (record.session?.id && stored.session?.id === record.session.id)) {
    session.clear(reason);
    forgetKept();
  }
}

// The session is over (revoked, refresh token refused), or another tab
// logged out.
function signedOut(reason, record = currentSession(), { otherTab = false } = {}) {
  if (loggingOut) return; // logOut() goes to the login screen itself
  if (!otherTab) forget(record, reason === 'logout' ? 'logout' : 'revoked');
  leave(MESSAGES[reason] ?? MESSAGES.revoked);
}

// "Log out": revokes the session on the server (whatever the answer, the
// page then goes to the login screen).
let loggingOut = false;
async function logOut() {
  if (loggingOut) return;
  loggingOut = true;
  $('logout').disabled = true;
  try {
    const record = currentSession();
    session.markLoggingOut();
    await logOutOnServer();
    forget(record, 'logout');
    leave();
  } finally {
    loggingOut = false;
    $('logout').disabled = false;
  }
}

$('logout').addEventListener('click', () => logOut());

// Another tab signed in (or as someone else): this one follows.
function switchTo(record) {
  if (state.me) leave();
  begin(record, { save: false });
  start(record);
}

useToken(null, {
  refresh: refreshedToken,
  unauthorized: () => signedOut('revoked'),
});

onSession({
  changed(record) {
    // New tokens (refreshed here or in another tab): the next reconnect uses them.
    state.token = record.token;
    if (state.socket) state.socket.auth = { token: record.token };
  },
  signedOut,
  signedIn: switchTo,
});

async function start(saved) {
  state.token = saved.token;
  state.me = saved.user;
  show($('auth'), false);
  show($('app'), true);
  renderMe();
  state.lastSeen = cursor.load(saved.user.id);
  listsLoaded = false;
  try {
    const { user } = await api('GET', '/auth/me');
    if (!state.me) return; // signed out meanwhile
    state.me = user;
    updateUser(user);
    renderMe();
    await Promise.all([loadChats(), loadUsers()]);
    listsLoaded = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // logged out already
    toast(`Could not load: ${err.message}`, 'error');
  }
  if (!state.me || state.socket) return;
  if (!state.lastSeen) {
    // A first visit: nothing was missed, everything is in GET /chats.
    const newest = Math.max(0, ...[...state.chats.values()].map((c) => c.last_message?.id ?? 0));
    if (newest) noteSeen(newest);
  }
  connect();
}

// A user's new name (user_updated, or my own edit): wherever it shows.
function applyUser(user) {
  const known = state.users.get(user.id);
  if (known) state.users.set(user.id, { ...known, ...user });
  if (isMe(user.id)) {
    state.me = { ...state.me, ...user };
    updateUser(state.me);
    renderMe();
  }
  for (const chat of state.chats.values()) {
    for (const member of chat.members) {
      if (member.user_id === user.id) Object.assign(member, { display_name: user.display_name, username: user.username });
    }
  }
  renderPeople();
  renderChatList();
  renderHeader();
  renderTyping();
  const chat = state.chats.get(state.view?.chatId);
  for (const el of document.querySelectorAll(`[data-testid="message"][data-sender-id="${Number(user.id)}"] [data-testid="message-sender"]`)) {
    el.textContent = nameOf(user.id, chat);
  }
}

setupAccount({ logOut, applyUser });

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
  let refused = false; // a connect was refused since the last connect: refreshed once already
  socket.on('connect', () => {
    refused = false;
    setConnection('online', true);
    catchUp(state.lastSeen, connectedBefore);
    connectedBefore = true;
  });
  socket.on('disconnect', (reason) => {
    if (state.socket !== socket) return;
    setConnection('offline: reconnecting…', false);
    // The server closed it on purpose: try again (a bad token then logs out).
    if (reason === 'io server disconnect') setTimeout(() => state.socket === socket && socket.connect(), 1000);
  });
  socket.on('connect_error', async (err) => {
    if (state.socket !== socket) return;
    setConnection('offline: reconnecting…', false);
    if (err.message !== 'unauthorized') return;
    // Refused (an expired token, say): refresh once, then connect with the
    // new token; refused again with that one, the session is over.
    if (refused) {
      signedOut('revoked');
      return;
    }
    refused = true;
    const used = socket.auth?.token;
    let fresh;
    try {
      fresh = await refreshedToken(used);
    } catch {
      refused = false; // not the server's verdict: try again later
      setTimeout(() => state.socket === socket && !socket.connected && socket.connect(), 5000);
      return;
    }
    if (state.socket !== socket || !fresh) return; // signed out meanwhile
    socket.auth = { token: fresh };
    socket.connect();
  });
  // This session was revoked (logged out elsewhere, signed out from another
  // device, password changed): the server disconnects next.
  socket.on('session_revoked', ({ session_id: sessionId } = {}) => {
    if (state.socket !== socket) return;
    const mine = currentSession();
    if (sessionId == null || mine?.session?.id == null || String(sessionId) === String(mine.session.id)) {
      // A logout in another tab of this browser revokes this tab's session too.
      signedOut(session.signoutReason(15_000) === 'logout' ? 'logout' : 'revoked', mine);
    } else {
      sessionRevokedElsewhere(sessionId);
    }
  });
  socket.on('user_updated', ({ user } = {}) => {
    if (user) applyUser(user);
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

// A session stored by an earlier visit (or another tab): its access token
// may have expired meanwhile, then it is refreshed first.
async function boot() {
  const saved = session.load();
  if (!saved) {
    showAuth();
    return;
  }
  begin(saved, { save: false });
  let record = saved;
  if (saved.refresh_token && isExpired(saved)) {
    try {
      record = await refresh(saved.token);
    } catch {
      // Cannot reach the server: carry on, the calls say so.
    }
    if (!record) return; // the session is over: the login screen shows why
  }
  start(record);
}

boot();
