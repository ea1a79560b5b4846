// The open conversation: its history, paged back while scrolling up and,
// when it was opened at a message rather than at the end (a search result,
// a quote whose original is far back), forward while scrolling down; live
// messages merged in id order; jumping to a message and highlighting it;
// read markers. Sending is composer.js's; changes to loaded messages are
// message-updates.js's.
import { api } from './api.js';
import { emitAck } from './ack.js';
import { $, show, toast } from './dom.js';
import { state, isMe, noteSeen, upsertChat, directChatWith } from './state.js';
import { renderChatList, renderHeader, renderTyping, renderReadMarks, markRuns } from './render.js';
import { messageEl } from './message-el.js';
import { stopTyping } from './typing.js';
import { clearBar } from './composer-bar.js';

const PAGE = 30;
const JUMP_PAGES = 5; // pages scrolled back to reach a message before opening the chat at it
const HIGHLIGHT_MS = 3000;

const box = () => $('messages');
const nearBottom = (margin = 80) => {
  const b = box();
  return b.scrollHeight - b.scrollTop - b.clientHeight < margin;
};
const scrollToBottom = () => {
  box().scrollTop = box().scrollHeight;
};

// A view is { chatId, to, messages (sorted by id), els: id → <li>,
// hasMore (older messages exist), hasNewer (newer ones exist: the view was
// opened at a message and does not reach the end), loading, inflight (the
// page request under way), markedRead, stick (follow new messages), pending }.
function newView(fields) {
  stopTyping();
  clearBar();
  const view = {
    chatId: null, to: null, messages: [], els: new Map(), hasMore: false, hasNewer: false, loading: false,
    inflight: null, markedRead: 0, stick: true, pending: new Map(), ...fields,
  };
  state.view = view;
  $('message-items').replaceChildren();
  $('pending-items').replaceChildren();
  $('send-error').hidden = true;
  show($('no-chat'), false);
  for (const id of ['chat-head', 'messages', 'composer']) show($(id), true);
  $('app').classList.add('show-chat');
  renderHeader();
  renderTyping();
  renderChatList();
  return view;
}

export function closeView() {
  stopTyping();
  clearBar();
  state.view = null;
  for (const id of ['chat-head', 'messages', 'composer', 'send-error']) show($(id), false);
  show($('no-chat'), true);
  $('typing').textContent = '';
  $('app').classList.remove('show-chat');
  renderChatList();
}

function historyNote(view, text) {
  $('history-note').textContent = text ?? (
    view.loading ? 'Loading…'
      : view.hasMore ? ''
        : view.messages.length ? 'This is the start of the conversation.'
          : view.chatId ? 'No messages yet.' : 'Say hello: the chat starts with your first message.');
}

export async function openChat(chatId) {
  if (!state.chats.has(chatId)) return;
  const view = newView({ chatId, loading: true });
  historyNote(view);
  await loadPage(view, `/chats/${chatId}?limit=${PAGE}`, 'initial');
  if (window.matchMedia('(min-width: 721px)').matches) $('text').focus();
}

// Opens the direct chat with a user, or a draft that the first message turns into one.
export function openDirect(userId) {
  const chat = directChatWith(userId);
  if (chat) return openChat(chat.id);
  const view = newView({ to: userId });
  historyNote(view);
  $('text').focus();
  return undefined;
}

// The open view, reaching the end of its chat: a view opened at an older
// message is replaced by the chat's newest page (before sending into it).
export async function atLatest(view) {
  if (!view?.hasNewer || state.view !== view) return view;
  await openChat(view.chatId);
  return state.view;
}

function loadPage(view, path, mode) {
  view.inflight = loadPageNow(view, path, mode).finally(() => {
    view.inflight = null;
  });
  return view.inflight;
}

async function loadPageNow(view, path, mode) {
  view.loading = true;
  historyNote(view);
  try {
    const data = await api('GET', path);
    if (state.view !== view) return;
    upsertChat(data.chat);
    if (mode === 'initial') renderHeader();
    if (mode === 'newer') view.hasNewer = data.has_more;
    else view.hasMore = data.has_more;
    merge(view, data.messages, mode);
  } catch (err) {
    if (state.view === view) historyNote(view, `Could not load messages: ${err.message}`);
    view.loading = false;
    return;
  }
  view.loading = false;
  historyNote(view);
  // Keep loading while the page does not fill the box (nothing to scroll yet).
  if (box().scrollHeight <= box().clientHeight + 20) {
    if (view.hasMore) loadOlder();
    else if (view.hasNewer) loadNewer();
  }
  maybeMarkRead();
}

export function loadOlder() {
  const view = state.view;
  if (!view?.chatId || view.loading || !view.hasMore || !view.messages.length) return undefined;
  return loadPage(view, `/chats/${view.chatId}?limit=${PAGE}&before=${view.messages[0].id}`, 'older');
}

function loadNewer() {
  const view = state.view;
  if (!view?.chatId || view.loading || !view.hasNewer || !view.messages.length) return undefined;
  return loadPage(view, `/chats/${view.chatId}?limit=${PAGE}&after=${view.messages.at(-1).id}`, 'newer');
}

// Makes (or remakes) the element of a message of the view.
export function drawMessage(view, msg, chat = state.chats.get(view.chatId)) {
  const el = messageEl(msg, chat);
  el.querySelector('img')?.addEventListener('load', () => imageLoaded(view, el));
  view.els.set(msg.id, el);
  return el;
}

// Puts messages of the open chat in place, in id order, without duplicates.
// mode: 'initial' (scroll to the end), 'older' (keep the reader's place),
// 'newer' and 'around' (stay put), 'live' (follow if the reader was at the
// end or the message is mine).
function merge(view, messages, mode) {
  const chat = state.chats.get(view.chatId);
  let added = false;
  let mine = false;
  for (const msg of messages) {
    if (msg.chat_id !== view.chatId || view.els.has(msg.id)) continue;
    if (mode === 'live' && view.messages.length) {
      // Outside the loaded stretch: it will come with scrolling there.
      if (view.hasMore && msg.id < view.messages[0].id) continue;
      if (view.hasNewer && msg.id > view.messages.at(-1).id) continue;
    }
    drawMessage(view, msg, chat);
    view.messages.push(msg);
    added = true;
    mine ||= isMe(msg.sender_id);
    const pending = msg.client_id && view.pending.get(msg.client_id);
    if (pending) {
      pending.remove();
      view.pending.delete(msg.client_id);
    }
  }
  if (!added) return;
  const b = box();
  const fromBottom = b.scrollHeight - b.scrollTop;
  const follow = mode === 'initial' || (mode === 'live' && (view.stick || mine));
  view.messages.sort((x, y) => x.id - y.id);
  $('message-items').replaceChildren(...view.messages.map((m) => view.els.get(m.id)));
  markRuns(view);
  renderReadMarks(view);
  if (!view.loading) historyNote(view);
  if (follow) scrollToBottom();
  else if (mode === 'older') b.scrollTop = b.scrollHeight - fromBottom;
  view.stick = nearBottom() && !view.hasNewer;
}

// Back to the end after something grew, if the reader was there.
export function keepAtEnd(view) {
  if (state.view === view && view.stick) scrollToBottom();
}

// An image changes the height when it arrives: stay at the end, or stay put.
function imageLoaded(view, el) {
  if (state.view !== view) return;
  if (view.stick) scrollToBottom();
  else if (el.getBoundingClientRect().bottom <= box().getBoundingClientRect().top) {
    box().scrollTop += el.querySelector('img').offsetHeight - 64; // 64: its size before loading
  }
}

export function onScroll() {
  const view = state.view;
  if (!view) return;
  view.stick = nearBottom() && !view.hasNewer;
  if (box().scrollTop < 150) loadOlder();
  if (view.hasNewer && nearBottom(300)) loadNewer();
  if (view.stick) maybeMarkRead();
}

// Any message that reached this page: a live event, an ack, a catch-up.
// live=false (catch-up): unread counts come from GET /chats afterwards.
export function received(msg, { live = true } = {}) {
  noteSeen(msg.id);
  const chat = state.chats.get(msg.chat_id);
  const newest = chat && (!chat.last_message || msg.id > chat.last_message.id);
  if (newest) chat.last_message = msg;
  const who = state.typing.get(msg.chat_id);
  if (who?.has(msg.sender_id)) {
    clearTimeout(who.get(msg.sender_id));
    who.delete(msg.sender_id);
    renderTyping();
  }
  const view = state.view;
  const open = view?.chatId === msg.chat_id;
  if (open) merge(view, [msg], 'live');
  // Unread unless it shows: a view opened at an older message does not show it yet.
  if (newest && live && !isMe(msg.sender_id) && (!open || view.hasNewer || document.hidden)) chat.unread_count += 1;
  renderChatList();
  if (open) maybeMarkRead();
  return Boolean(chat);
}

// My own message came back (ack or upload answer): a draft becomes its chat.
export async function sent(view, msg) {
  if (state.view === view && !view.chatId) {
    view.chatId = msg.chat_id;
    view.to = null;
    try {
      const data = await api('GET', `/chats/${msg.chat_id}?limit=${PAGE}`);
      upsertChat(data.chat);
      if (state.view === view) {
        view.hasMore = data.has_more;
        renderHeader();
        merge(view, data.messages, 'initial');
        historyNote(view);
      }
    } catch (err) {
      toast(`Could not load the new chat: ${err.message}`, 'error');
    }
  }
  received(msg);
}

// Scrolls a loaded message into the middle of the box and lights it up a moment.
function highlight(view, messageId) {
  const el = view.els.get(messageId);
  if (!el) return false;
  for (const other of $('message-items').querySelectorAll('.highlight')) other.classList.remove('highlight');
  el.scrollIntoView({ block: 'center' });
  el.classList.add('highlight');
  setTimeout(() => el.classList.remove('highlight'), HIGHLIGHT_MS);
  view.stick = nearBottom() && !view.hasNewer;
  return true;
}

// A fresh view of a chat around one message: the page up to it and the page after.
async function openAround(chatId, messageId) {
  const view = newView({ chatId, loading: true });
  historyNote(view);
  let older;
  let newer;
  try {
    [older, newer] = await Promise.all([
      api('GET', `/chats/${chatId}?limit=${PAGE}&before=${messageId + 1}`),
      api('GET', `/chats/${chatId}?limit=${PAGE}&after=${messageId}`),
    ]);
  } catch (err) {
    if (state.view === view) historyNote(view, `Could not load messages: ${err.message}`);
    view.loading = false;
    return null;
  }
  if (state.view !== view) return null;
  upsertChat(older.chat);
  renderHeader();
  view.hasMore = older.has_more;
  view.hasNewer = newer.has_more;
  merge(view, [...older.messages, ...newer.messages], 'around');
  view.loading = false;
  historyNote(view);
  return view;
}

// Shows a message of a chat: opens the chat if it is not open, finds the
// message in what is loaded (scrolling back a few pages for it), or else
// opens the chat at it; then scrolls to it and highlights it.
export async function showMessage(chatId, messageId) {
  if (!state.chats.has(chatId)) {
    toast('That chat is not in your list.', 'error');
    return false;
  }
  let view = state.view;
  if (view?.chatId === chatId) {
    if (view.inflight) await view.inflight;
    for (let page = 0; page < JUMP_PAGES && state.view === view && !view.els.has(messageId)
      && view.hasMore && view.messages.length && messageId < view.messages[0].id; page++) {
      await (view.inflight ?? loadOlder());
    }
    if (state.view !== view) return false;
  }
  if (view?.chatId !== chatId || !view.els.has(messageId)) {
    view = await openAround(chatId, messageId);
    if (!view) return false;
  }
  if (highlight(view, messageId)) return true;
  toast('That message is not there any more.', 'error');
  return false;
}

// Moves my read marker to the newest message, when the chat is on screen.
export function maybeMarkRead() {
  const view = state.view;
  if (!view?.chatId || view.hasNewer || document.visibilityState !== 'visible' || !nearBottom()) return;
  const newest = view.messages.at(-1);
  if (!newest || newest.id <= view.markedRead) return;
  view.markedRead = newest.id;
  const chatId = view.chatId;
  emitAck('mark_read', { chat_id: chatId, message_id: newest.id }).then((ack) => {
    if (!ack.ok) {
      if (view.markedRead === newest.id) view.markedRead = 0;
      return;
    }
    const chat = state.chats.get(chatId);
    if (chat && (!chat.last_message || newest.id >= chat.last_message.id)) {
      chat.unread_count = 0;
      renderChatList();
    }
  });
}

export function readEvent({ chat_id: chatId, user_id: userId, message_id: messageId }) {
  const chat = state.chats.get(chatId);
  if (isMe(userId)) {
    // I read it on another device (or this one).
    if (chat && (!chat.last_message || messageId >= chat.last_message.id)) chat.unread_count = 0;
    renderChatList();
    return;
  }
  let markers = state.reads.get(chatId);
  if (!markers) state.reads.set(chatId, (markers = new Map()));
  markers.set(userId, Math.max(markers.get(userId) ?? 0, messageId));
  if (state.view?.chatId === chatId) renderReadMarks(state.view);
}
