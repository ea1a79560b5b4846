// Everything the page knows, in one place, and the small questions asked of it.
import { cursor } from './api.js';

export const state = {
  me: null, // User
  token: null,
  socket: null,
  users: new Map(), // id → User (the directory, with presence)
  chats: new Map(), // id → Chat (with unread_count and last_message)
  view: null, // the open conversation, see conversation.js
  typing: new Map(), // chat id → Map(user id → timer that expires the indicator)
  reads: new Map(), // chat id → Map(user id → that member's read marker)
  lastSeen: 0, // highest message id received: the /sync cursor
  syncing: false, // while true, lastSeen is not moved (a gap may lie below)
  seenWhileSyncing: 0,
  seq: 0, // seq of the last chat event applied: the catch-up cursor (catchup.js)
};

export function reset() {
  for (const who of state.typing.values()) for (const timer of who.values()) clearTimeout(timer);
  Object.assign(state, {
    me: null,
    token: null,
    socket: null,
    users: new Map(),
    chats: new Map(),
    view: null,
    typing: new Map(),
    reads: new Map(),
    lastSeen: 0,
    syncing: false,
    seenWhileSyncing: 0,
    seq: 0,
  });
}

// Moves the catch-up cursor, unless a catch-up is still owed (then a live
// message must not push the cursor over the messages not yet fetched).
export function noteSeen(id) {
  if (state.syncing) {
    state.seenWhileSyncing = Math.max(state.seenWhileSyncing, id);
    return;
  }
  if (id > state.lastSeen) {
    state.lastSeen = id;
    cursor.save(state.me.id, id);
  }
}

export const isMe = (userId) => userId === state.me?.id;

// The member a direct chat is "with" (yourself, for notes to self).
export function otherMember(chat) {
  return chat.members.find((m) => !isMe(m.user_id)) ?? chat.members[0];
}

export function chatTitle(chat) {
  if (chat.kind === 'group') return chat.name || 'Group';
  const other = otherMember(chat);
  if (!other) return 'Direct chat';
  return isMe(other.user_id) ? `${other.display_name} (you)` : other.display_name;
}

export function nameOf(userId, chat) {
  const member = chat?.members.find((m) => m.user_id === userId);
  return member?.display_name ?? state.users.get(userId)?.display_name ?? `user ${userId}`;
}

export function myRole(chat) {
  return chat.members.find((m) => isMe(m.user_id))?.role;
}

export function directChatWith(userId) {
  for (const chat of state.chats.values()) {
    if (chat.kind !== 'direct') continue;
    const ids = chat.members.map((m) => m.user_id);
    if (isMe(userId) ? ids.every(isMe) : ids.includes(userId)) return chat;
  }
  return null;
}

const activity = (chat) => chat.last_message?.created_at ?? chat.created_at;

// Newest activity first.
export function sortedChats() {
  return [...state.chats.values()].sort(
    (a, b) => activity(b).localeCompare(activity(a)) || b.id - a.id,
  );
}

// Stores a chat the server sent, never letting its last message go back.
export function upsertChat(chat) {
  const old = state.chats.get(chat.id);
  const merged = { unread_count: 0, last_message: null, ...chat };
  if (old?.last_message && (!merged.last_message || merged.last_message.id < old.last_message.id)) {
    merged.last_message = old.last_message;
  }
  state.chats.set(chat.id, merged);
  return merged;
}

export function typingNames(chatId) {
  const who = state.typing.get(chatId);
  if (!who?.size) return '';
  const chat = state.chats.get(chatId);
  const names = [...who.keys()].map((id) => nameOf(id, chat));
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
