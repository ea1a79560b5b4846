// The open conversation: history with scroll-back, live messages merged in
// id order, sending (text over the socket, files over POST /uploads),
// typing, and read markers.
import { api, newClientId } from './api.js';
import { $, show, toast } from './dom.js';
import { state, isMe, noteSeen, upsertChat, directChatWith } from './state.js';
import {
  renderChatList, renderHeader, renderTyping, renderReadMarks, messageEl, pendingEl, markRuns,
} from './render.js';

const PAGE = 30;
const ACK_TIMEOUT = 15_000;

// Emits with an acknowledgement; a timeout becomes an ordinary error ack.
export async function emitAck(event, payload) {
  if (!state.socket) return { ok: false, error: { code: 'offline', message: 'not connected' } };
  try {
    return await state.socket.timeout(ACK_TIMEOUT).emitWithAck(event, payload);
  } catch {
    return { ok: false, error: { code: 'timeout', message: 'the server did not answer; try again' } };
  }
}

const box = () => $('messages');
const nearBottom = () => {
  const b = box();
  return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
};
const scrollToBottom = () => {
  box().scrollTop = box().scrollHeight;
};

// A view is { chatId, to, messages (sorted by id), els: id → <li>,
// hasMore, loading, markedRead, stick (follow new messages), pending }.
function newView(fields) {
  stopTyping();
  const view = {
    chatId: null, to: null, messages: [], els: new Map(), hasMore: false, loading: false,
    markedRead: 0, stick: true, pending: new Map(), ...fields,
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

async function loadPage(view, path, mode) {
  view.loading = true;
  historyNote(view);
  try {
    const data = await api('GET', path);
    if (state.view !== view) return;
    upsertChat(data.chat);
    if (mode === 'initial') renderHeader();
    view.hasMore = data.has_more;
    merge(view, data.messages, mode);
  } catch (err) {
    if (state.view === view) historyNote(view, `Could not load messages: ${err.message}`);
    view.loading = false;
    return;
  }
  view.loading = false;
  historyNote(view);
  // Keep loading while the page does not fill the box (nothing to scroll yet).
  if (view.hasMore && box().scrollHeight <= box().clientHeight + 20) loadOlder();
  maybeMarkRead();
}

export function loadOlder() {
  const view = state.view;
  if (!view?.chatId || view.loading || !view.hasMore || !view.messages.length) return;
  loadPage(view, `/chats/${view.chatId}?limit=${PAGE}&before=${view.messages[0].id}`, 'older');
}

// Puts messages of the open chat in place, in id order, without duplicates.
// mode: 'initial' (scroll to the end), 'older' (keep the reader's place),
// 'live' (follow if the reader was at the end or the message is mine).
function merge(view, messages, mode) {
  const chat = state.chats.get(view.chatId);
  let added = false;
  let mine = false;
  for (const msg of messages) {
    if (msg.chat_id !== view.chatId || view.els.has(msg.id)) continue;
    // Older than the loaded page: it will come with scrolling back.
    if (mode === 'live' && view.hasMore && view.messages.length && msg.id < view.messages[0].id) continue;
    const el = messageEl(msg, chat);
    el.querySelector('img')?.addEventListener('load', () => imageLoaded(view, el));
    view.els.set(msg.id, el);
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
  view.stick = nearBottom();
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
  view.stick = nearBottom();
  if (box().scrollTop < 150) loadOlder();
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
  if (newest && live && !isMe(msg.sender_id) && (!open || document.hidden)) chat.unread_count += 1;
  renderChatList();
  if (open) maybeMarkRead();
  return Boolean(chat);
}

// My own message came back (ack or upload answer): a draft becomes its chat.
async function sent(view, msg) {
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

function addPending(view, label, clientId) {
  const el = pendingEl(label);
  view.pending.set(clientId, el);
  $('pending-items').append(el);
  scrollToBottom();
  return el;
}

function failed(view, el, error, retry) {
  const text = `Not sent: ${error.message}`;
  if (state.view !== view) {
    toast(text, 'error');
    return;
  }
  const errorBox = $('send-error');
  errorBox.textContent = text;
  errorBox.hidden = false;
  el.classList.add('failed');
  const status = el.querySelector('.status');
  status.textContent = 'not sent · ';
  const again = document.createElement('button');
  again.type = 'button';
  again.className = 'link';
  again.textContent = 'retry';
  again.addEventListener('click', () => {
    el.classList.remove('failed');
    status.textContent = 'sending…';
    errorBox.hidden = true;
    retry();
  });
  status.append(again);
}

const targetOf = (view) => (view.chatId ? { chat_id: view.chatId } : { to: view.to });

export async function sendText(text) {
  const view = state.view;
  if (!view) return;
  stopTyping();
  $('send-error').hidden = true;
  const clientId = newClientId();
  const el = addPending(view, text, clientId);
  const attempt = async () => {
    // The same client_id on a retry: the server stores the message once.
    const ack = await emitAck('send_message', { ...targetOf(view), text, client_id: clientId });
    if (!ack.ok) return failed(view, el, ack.error, attempt);
    el.remove();
    view.pending.delete(clientId);
    return sent(view, ack.message);
  };
  await attempt();
}

export async function sendFile(file) {
  const view = state.view;
  if (!view || !file) return;
  $('send-error').hidden = true;
  const clientId = newClientId();
  const el = addPending(view, `Uploading ${file.name}…`, clientId);
  const attempt = async () => {
    const form = new FormData();
    for (const [key, value] of Object.entries(targetOf(view))) form.append(key, String(value));
    form.append('client_id', clientId);
    form.append('file', file, file.name); // last: the server checks the fields first
    try {
      const { message } = await api('POST', '/uploads', form);
      el.remove();
      view.pending.delete(clientId);
      await sent(view, message);
    } catch (err) {
      failed(view, el, err, attempt);
    }
  };
  await attempt();
}

// Moves my read marker to the newest message, when the chat is on screen.
export function maybeMarkRead() {
  const view = state.view;
  if (!view?.chatId || document.visibilityState !== 'visible' || !nearBottom()) return;
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

// Typing: "true" when typing starts (again every few seconds while it
// goes on, since others expire it), "false" after a pause or on send.
let typingChat = null;
let typingSentAt = 0;
let typingTimer;

export function composerInput() {
  const view = state.view;
  const text = $('text').value;
  if (!view?.chatId || !text.trim()) return stopTyping();
  if (typingChat !== view.chatId) stopTyping();
  if (!typingChat || Date.now() - typingSentAt > 4000) {
    typingChat = view.chatId;
    typingSentAt = Date.now();
    emitAck('typing', { chat_id: typingChat, typing: true });
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
  return undefined;
}

export function stopTyping() {
  clearTimeout(typingTimer);
  if (!typingChat) return;
  emitAck('typing', { chat_id: typingChat, typing: false });
  typingChat = null;
  typingSentAt = 0;
}

export function typingEvent({ chat_id: chatId, user_id: userId, typing }) {
  if (isMe(userId)) return;
  let who = state.typing.get(chatId);
  if (!who) state.typing.set(chatId, (who = new Map()));
  clearTimeout(who.get(userId));
  if (typing) {
    who.set(userId, setTimeout(() => {
      who.delete(userId);
      renderTyping();
      renderChatList();
    }, 6000));
  } else {
    who.delete(userId);
  }
  renderTyping();
  renderChatList();
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
