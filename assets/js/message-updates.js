// Changes to messages already sent: edits, deletions and reactions, from
// the broadcasts (message_updated, message_deleted, reaction_added,
// reaction_removed), from the acks of this page's own changes, and from
// re-reading the open chat after a reconnect. Each replaces the page's copy
// of the message wherever it shows: the open chat, the chat list's preview,
// the composer bar, and the quotes of it in replies.
// Reactions in events have no `me`: the page keeps its own from acks and
// REST answers (`me`) and from reaction events whose user_id is mine.
import { api } from './api.js';
import { toast } from './dom.js';
import { state, isMe } from './state.js';
import { renderChatList, renderReadMarks } from './render.js';
import { quoteOf } from './message-el.js';
import { drawMessage, keepAtEnd } from './conversation.js';
import { barMessageChanged } from './composer-bar.js';

const REFRESH_PAGES = 5; // pages of 200 re-read after a reconnect

// The page's copy of a message: in the open chat, or a chat's last message.
export function knownMessage(chatId, messageId) {
  const view = state.view;
  if (view?.chatId === chatId) {
    const msg = view.messages.find((m) => m.id === messageId);
    if (msg) return msg;
  }
  const last = state.chats.get(chatId)?.last_message;
  return last?.id === messageId ? last : null;
}

// A change older than the copy (an ack and a broadcast crossing): Message
// objects and events carry the `seq` of their change, when the server has one.
const stale = (known, seq) => known?.seq != null && seq != null && seq < known.seq;

// Redraws one loaded message of the open view, keeping its place in the runs.
function redraw(view, msg) {
  const old = view.els.get(msg.id);
  if (!old) return;
  const el = drawMessage(view, msg);
  for (const name of ['first', 'highlight']) el.classList.toggle(name, old.classList.contains(name));
  old.replaceWith(el);
}

// Every loaded message of the open chat drawn again: my role in the group
// changed, and with it whose messages I may delete.
export function redrawOpenChat() {
  const view = state.view;
  if (!view?.chatId) return;
  for (const msg of view.messages) redraw(view, msg);
  renderReadMarks(view);
}

// The replies in the open chat that quote a message show it as it is now.
function updateQuotes(chatId, quote) {
  const view = state.view;
  if (view?.chatId !== chatId) return;
  for (const [i, msg] of view.messages.entries()) {
    if (msg.reply_to?.id !== quote.id) continue;
    if (msg.reply_to.text === quote.text && msg.reply_to.deleted === quote.deleted) continue;
    view.messages[i] = { ...msg, reply_to: { ...msg.reply_to, ...quote } };
    redraw(view, view.messages[i]);
  }
}

// The page's copy of msg.id becomes `msg`, wherever it shows.
function replace(msg) {
  const chat = state.chats.get(msg.chat_id);
  if (chat?.last_message?.id === msg.id) {
    chat.last_message = msg;
    renderChatList();
  }
  if (barMessageChanged(msg)) toast('The message you were editing was deleted.', 'error');
  updateQuotes(msg.chat_id, quoteOf(msg));
  const view = state.view;
  if (view?.chatId !== msg.chat_id) return;
  const i = view.messages.findIndex((m) => m.id === msg.id);
  if (i < 0) return;
  view.messages[i] = msg;
  redraw(view, msg);
  renderReadMarks(view);
  keepAtEnd(view);
}

// `me` for each reaction: the message's own (an ack, REST), else what the
// page knew of it (an event).
function withMine(reactions = [], known = []) {
  return reactions.map((r) => ({ ...r, me: r.me ?? known.find((k) => k.emoji === r.emoji)?.me ?? false }));
}

// A whole message: message_updated's, or an ack's (edit, delete, react).
export function applyMessage(msg) {
  const known = knownMessage(msg.chat_id, msg.id);
  if (!known) {
    // Not shown, but replies to it may be.
    updateQuotes(msg.chat_id, quoteOf(msg));
    return;
  }
  if (stale(known, msg.seq)) return;
  replace({ ...msg, reactions: withMine(msg.reactions, known.reactions) });
}

// message_deleted: the message becomes its tombstone.
export function applyDeleted({ chat_id: chatId, message_id: messageId, deleted_at: deletedAt, seq }) {
  const known = knownMessage(chatId, messageId);
  if (!known) {
    updateQuotes(chatId, { id: messageId, text: null, deleted: true });
    return;
  }
  if (known.deleted_at || stale(known, seq)) return;
  replace({
    ...known, text: null, attachment: null, reply_to: null, reactions: [], deleted_at: deletedAt, seq: seq ?? known.seq,
  });
}

// reaction_added / reaction_removed: `count` is the emoji's new count.
export function applyReaction({ chat_id: chatId, message_id: messageId, user_id: userId, emoji, count, seq }, added) {
  const known = knownMessage(chatId, messageId);
  if (!known || known.deleted_at) return;
  const mine = isMe(userId) ? added : undefined;
  let reactions = known.reactions ?? [];
  const had = reactions.some((r) => r.emoji === emoji);
  if (!stale(known, seq)) {
    if (count <= 0) reactions = reactions.filter((r) => r.emoji !== emoji);
    else if (!had) reactions = [...reactions, { emoji, count, me: mine ?? false }];
    else reactions = reactions.map((r) => (r.emoji === emoji ? { ...r, count, me: mine ?? r.me } : r));
    replace({ ...known, reactions, seq: seq ?? known.seq });
  } else if (mine !== undefined && had) {
    // Counts have moved on since, but whether I reacted is news.
    replace({ ...known, reactions: reactions.map((r) => (r.emoji === emoji ? { ...r, me: mine } : r)) });
  }
}

// What an edit, a deletion or a reaction changes (not the signed file URL,
// which is new on every read).
const changes = (m) => JSON.stringify([m.text, m.edited_at, m.deleted_at, m.reply_to, m.reactions]);
const changed = (a, b) => changes(a) !== changes(b);

// After a reconnect: the open chat's loaded messages read again (what was
// edited, deleted or reacted to while the socket was down), newest first.
export async function refreshOpenChat() {
  const view = state.view;
  if (!view?.chatId || !view.messages.length) return;
  const oldest = view.messages[0].id;
  let before = view.messages.at(-1).id + 1;
  for (let page = 0; page < REFRESH_PAGES; page++) {
    const data = await api('GET', `/chats/${view.chatId}?limit=200&before=${before}`);
    if (state.view !== view) return;
    for (const msg of data.messages) {
      const known = view.messages.find((m) => m.id === msg.id);
      if (known && changed(known, msg)) replace(msg);
    }
    if (!data.has_more || !data.messages.length || data.messages[0].id <= oldest) return;
    before = data.messages[0].id;
  }
}
