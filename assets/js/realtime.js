// The Socket.IO connection: connecting with the token (refreshed once when
// the server refuses it), the connection status, the server's events
// (messages, their edits, deletions and reactions, typing, reads,
// presence, groups and their members and roles, names, a revoked
// session), and catching up after being offline: with a v2 server by the
// replay it sends on connect (catchup.js: auth.since, caught_up,
// sync_required), else by GET /sync from the message cursor, then the
// lists and the open chat's loaded messages afresh.
import { api, session, ApiError } from './api.js';
import { refreshedToken, currentSession } from './auth.js';
import { sessionRevokedElsewhere } from './account.js';
import { $, toast } from './dom.js';
import { state, noteSeen, upsertChat, chatTitle } from './state.js';
import { renderChatList, renderHeader } from './render.js';
import { openChat, received, readEvent } from './conversation.js';
import { typingEvent } from './typing.js';
import { applyMessage, applyDeleted, applyReaction, refreshOpenChat } from './message-updates.js';
import {
  listsLoaded, loadLists, refreshChats, refreshUsers, learnMembers, renderPeople,
} from './lists.js';
import { addedHere } from './group-dialog.js';
import { applyGroup, groupChanged, memberRemoved, roleChanged } from './group-settings.js';
import {
  catchUpOn, handshakeAuth, deliver, caughtUp, pageEvents,
} from './catchup.js';

const REPLAY_WAIT = 5000; // ms to wait for caught_up / sync_required before catching up the v1 way

// What the page does about its session and its people: set by connect().
let page = { signedOut: () => {}, applyUser: () => {} };
// The token the socket connects with (the handshake reads it at every connect).
let socketToken = null;

export function setSocketToken(token) {
  socketToken = token;
}

function setConnection(text, ok) {
  const el = $('conn');
  el.textContent = text;
  el.classList.toggle('ok', ok);
}

function live(msg) {
  if (!received(msg)) refreshChats(); // a chat this page does not know yet
}

// The chat events (the ones that carry seq): what each does to the page,
// whether it comes live, in a replay, or from a page of GET /events.
const chatEvents = {
  user_updated: ({ user } = {}) => user && page.applyUser(user),
  receive_message: live,
  receive_file: live,
  message_updated: ({ message } = {}) => message && applyMessage(message),
  message_deleted: (event) => event && applyDeleted(event),
  reaction_added: (event) => event && applyReaction(event, true),
  reaction_removed: (event) => event && applyReaction(event, false),
  read: (event) => event && readEvent(event),
  group_created: ({ group } = {}) => {
    if (!group) return;
    upsertChat(group);
    learnMembers([group]);
    renderChatList();
  },
  added_to_group: ({ group } = {}) => {
    if (!group) return;
    upsertChat(group);
    learnMembers([group]);
    renderChatList();
    toast(`You were added to ${chatTitle(group)}`);
  },
  member_added: ({ group_id: groupId, member } = {}) => {
    const chat = state.chats.get(groupId);
    if (!chat || !member) return refreshChats();
    if (!chat.members.some((m) => m.user_id === member.user_id)) chat.members.push(member);
    groupChanged(groupId);
    if (state.view?.chatId === groupId) {
      renderHeader();
      if (!addedHere(groupId, member.user_id)) toast(`${member.display_name} joined ${chatTitle(chat)}`);
    }
    return undefined;
  },
  group_updated: ({ group } = {}) => {
    if (group && !applyGroup(group)) refreshChats();
  },
  member_removed: (event) => event && memberRemoved(event),
  member_role_changed: (event) => event && roleChanged(event),
};

// A cursor the server no longer keeps: everything afresh.
async function reloadAll() {
  await loadLists();
  if (state.view?.chatId && state.chats.has(state.view.chatId)) await openChat(state.view.chatId);
}

// handlers: { signedOut(reason, record), applyUser(user) }
export function connect(handlers) {
  page = { ...page, ...handlers };
  socketToken = state.token;
  const socket = window.io({ auth: (cb) => cb(handshakeAuth(socketToken)) });
  state.socket = socket;
  let connectedBefore = false;
  let refused = false; // a connect was refused since the last connect: refreshed once already
  let replayed = false; // this connection's caught_up or sync_required has come
  let replayTimer = null;
  socket.on('connect', () => {
    refused = false;
    setConnection('online', true);
    const reconnected = connectedBefore;
    connectedBefore = true;
    if (!catchUpOn()) {
      catchUp(state.lastSeen, reconnected);
      return;
    }
    // The server replays what was missed, then says caught_up (or
    // sync_required); one that says neither did not take auth.since.
    clearTimeout(replayTimer);
    if (!replayed) {
      replayTimer = setTimeout(() => {
        if (state.socket === socket && socket.connected && !replayed) catchUp(state.lastSeen, reconnected);
      }, REPLAY_WAIT);
    }
  });
  socket.on('caught_up', ({ seq } = {}) => {
    if (state.socket !== socket) return;
    replayed = true;
    clearTimeout(replayTimer);
    caughtUp(seq);
    // Presence is no chat event: the People list afresh.
    if (!listsLoaded()) loadLists().catch((err) => toast(err.message, 'error'));
    else refreshUsers();
  });
  socket.on('sync_required', async () => {
    if (state.socket !== socket) return;
    replayed = true;
    clearTimeout(replayTimer);
    const ok = await pageEvents(chatEvents, reloadAll);
    if (state.socket !== socket) return;
    if (!ok) {
      // Could not page the missed events: connect again later (sync_required again).
      socket.disconnect();
      setTimeout(() => state.socket === socket && socket.connect(), 5000);
      return;
    }
    refreshUsers();
  });
  socket.on('disconnect', (reason) => {
    replayed = false;
    clearTimeout(replayTimer);
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
      page.signedOut('revoked');
      return;
    }
    refused = true;
    const used = socketToken;
    let fresh;
    try {
      fresh = await refreshedToken(used);
    } catch {
      refused = false; // not the server's verdict: try again later
      setTimeout(() => state.socket === socket && !socket.connected && socket.connect(), 5000);
      return;
    }
    if (state.socket !== socket || !fresh) return; // signed out meanwhile
    socketToken = fresh;
    socket.connect();
  });
  // This session was revoked (logged out elsewhere, signed out from another
  // device, password changed): the server disconnects next.
  socket.on('session_revoked', ({ session_id: sessionId } = {}) => {
    if (state.socket !== socket) return;
    const mine = currentSession();
    if (sessionId == null || mine?.session?.id == null || String(sessionId) === String(mine.session.id)) {
      // A logout in another tab of this browser revokes this tab's session too.
      page.signedOut(session.signoutReason(15_000) === 'logout' ? 'logout' : 'revoked', mine);
    } else {
      sessionRevokedElsewhere(sessionId);
    }
  });
  for (const [event, handler] of Object.entries(chatEvents)) {
    socket.on(event, (payload) => {
      if (state.socket === socket) deliver(event, payload, handler);
    });
  }
  socket.on('typing', typingEvent);
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
}

// After connecting: fetch what was missed since the cursor; after a
// reconnect (or if anything was missed) also the lists as they are now
// (unread counts, presence, chats this page has not heard of) and the open
// chat's loaded messages (edits, deletions, reactions: /sync has only new
// messages).
let catchingUp = false;
async function catchUp(after, reconnected) {
  if (catchingUp) return;
  catchingUp = true;
  state.syncing = true;
  let cursorAt = after;
  try {
    let complete = false;
    let missed = 0;
    for (let p = 0; p < 20 && !complete; p++) {
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
    if (reconnected || missed || !listsLoaded()) await loadLists();
    // Too much missed to merge: show the open chat afresh.
    if (!complete && state.view?.chatId) openChat(state.view.chatId);
    else if (reconnected) await refreshOpenChat();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    // The cursor stays where it was; the next try starts from there.
    toast(`Catching up failed: ${err.message}`, 'error');
    setTimeout(() => state.socket?.connected && catchUp(after, true), 5000);
  } finally {
    catchingUp = false;
  }
}
