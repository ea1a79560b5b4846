// Typing: telling the others while I type in the open chat ("true" when
// typing starts, again every few seconds while it goes on, since others
// expire it; "false" after a pause or on send), and showing who else is.
import { emitAck } from './ack.js';
import { $ } from './dom.js';
import { state, isMe } from './state.js';
import { renderChatList, renderTyping } from './render.js';

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
