// The Socket.IO connection: connecting with the token (refreshed once when
// the server refuses it), the connection status, the server's events
// (messages, their edits, deletions and reactions, typing, reads,
// presence, groups, names, a revoked session), and catching up after
// being offline (GET /sync from the cursor, then the lists and the open
// chat's loaded messages afresh).
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

// What the page does about its session and its people: set by connect().
let page = { signedOut: () => {}, applyUser: () => {} };

function setConnection(text, ok) {
  const el = $('conn');
  el.textContent = text;
  el.classList.toggle('ok', ok);
}

function live(msg) {
  if (!received(msg)) refreshChats(); // a chat this page does not know yet
}

// handlers: { signedOut(reason, record), applyUser(user) }
export function connect(handlers) {
  page = { ...page, ...handlers };
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
      page.signedOut('revoked');
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
      page.signedOut(session.signoutReason(15_000) === 'logout' ? 'logout' : 'revoked', mine);
    } else {
      sessionRevokedElsewhere(sessionId);
    }
  });
  socket.on('user_updated', ({ user } = {}) => {
    if (user) page.applyUser(user);
  });
  socket.on('receive_message', live);
  socket.on('receive_file', live);
  socket.on('message_updated', ({ message } = {}) => message && applyMessage(message));
  socket.on('message_deleted', (event) => event && applyDeleted(event));
  socket.on('reaction_added', (event) => event && applyReaction(event, true));
  socket.on('reaction_removed', (event) => event && applyReaction(event, false));
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
      if (!addedHere(groupId, member.user_id)) toast(`${member.display_name} joined ${chatTitle(chat)}`);
    }
    return undefined;
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
