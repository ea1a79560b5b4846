// The demo's entry point: signing in and out, the signed-in user (name,
// avatar, user_updated), and starting the page: each part sets itself up
// here (lists, composer, message actions, search, group dialog, group
// settings, account), and realtime.js connects once the lists are in.
import { api, useToken, session, cursor, ApiError } from './api.js';
import {
  begin, end, refresh, refreshedToken, recordOf, currentSession, onSession, updateUser, isExpired,
  deviceName, logOutOnServer, forgetKept,
} from './auth.js';
import { setupAccount, closeAccount } from './account.js';
import { $, avatar, show, toast } from './dom.js';
import { state, reset, noteSeen, isMe, nameOf } from './state.js';
import { renderChatList, renderHeader, renderTyping } from './render.js';
import { closeView, onScroll, maybeMarkRead } from './conversation.js';
import { stopTyping } from './typing.js';
import { setupComposerBar } from './composer-bar.js';
import { setupComposer } from './composer.js';
import { setupMessageActions, closeDeleteDialog } from './message-actions.js';
import { setupReactions, closePicker } from './reactions.js';
import { setupSearch, resetSearch } from './search.js';
import { setupLists, forgetLists, loadLists, renderPeople } from './lists.js';
import { setupGroupDialog, closeGroupDialog } from './group-dialog.js';
import { setupGroupSettings, closeGroupSettings } from './group-settings.js';
import { connect, setSocketToken } from './realtime.js';
import { startCatchUp, stopCatchUp } from './catchup.js';

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
  closeGroupDialog();
  closeGroupSettings();
  closeDeleteDialog();
  closePicker();
  resetSearch();
  stopCatchUp();
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
    setSocketToken(record.token);
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
  forgetLists();
  try {
    const { user } = await api('GET', '/auth/me');
    if (!state.me) return; // signed out meanwhile
    state.me = user;
    updateUser(user);
    renderMe();
    await startCatchUp(); // before GET /chats: its cursor is what the lists then show
    if (!state.me) return;
    await loadLists();
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
  connect({ signedOut, applyUser });
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
  const id = Number(user.id);
  for (const el of document.querySelectorAll(`[data-testid="message"][data-sender-id="${id}"] [data-testid="message-sender"], `
    + `[data-quoted-sender-id="${id}"] [data-testid="reply-quote-sender"]`)) {
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

// ---- the parts of the page ---------------------------------------------

setupLists();
setupComposerBar();
setupComposer();
setupMessageActions();
setupReactions();
setupSearch();
setupGroupDialog();
setupGroupSettings();
$('back').addEventListener('click', () => closeView());
$('messages').addEventListener('scroll', onScroll, { passive: true });
document.addEventListener('visibilitychange', () => maybeMarkRead());

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
