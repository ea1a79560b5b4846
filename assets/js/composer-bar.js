// The bar above the composer saying what the next send is: a reply to a
// message (quoted here; the send carries its id as reply_to) or an edit of
// one of mine (the text box then holds its text, and what was being typed
// comes back afterwards). Its ✕, or Escape, goes back to plain sending.
// It knows nothing of sockets: composer.js reads it when sending.
import { $, fitHeight } from './dom.js';
import { state, nameOf } from './state.js';
import { quoteText, quoteOf } from './message-el.js';

// null, or { mode: 'reply' | 'edit', message, draft: the text box's text before an edit }
let bar = null;

export const barState = () => bar;

function setText(value) {
  const text = $('text');
  text.value = value;
  fitHeight(text);
}

function render() {
  const el = $('composer-bar');
  el.hidden = !bar;
  if (!bar) return;
  const chat = state.chats.get(bar.message.chat_id);
  el.dataset.mode = bar.mode;
  $('composer-bar-title').textContent = bar.mode === 'edit'
    ? 'Editing message'
    : `Replying to ${nameOf(bar.message.sender_id, chat)}`;
  $('composer-bar-text').textContent = quoteText(quoteOf(bar.message));
}

export function replyTo(msg) {
  if (bar?.mode === 'edit') setText(bar.draft);
  bar = { mode: 'reply', message: msg };
  render();
  $('text').focus();
}

export function startEdit(msg) {
  const draft = bar?.mode === 'edit' ? bar.draft : $('text').value;
  bar = { mode: 'edit', message: msg, draft };
  setText(msg.text ?? '');
  render();
  const text = $('text');
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
}

// Back to plain sending; after an edit (sent or cancelled) the text that
// was being typed before it comes back.
export function clearBar() {
  if (!bar) return;
  if (bar.mode === 'edit') setText(bar.draft);
  bar = null;
  render();
}

// The message the bar is about changed (edited, deleted): say it as it is
// now. An edit of a message someone deleted meanwhile has nothing left to edit.
export function barMessageChanged(msg) {
  if (!bar || bar.message.id !== msg.id) return false;
  if (bar.mode === 'edit' && msg.deleted_at) {
    clearBar();
    return true;
  }
  bar.message = msg;
  render();
  return false;
}

export function setupComposerBar() {
  $('composer-bar-cancel').addEventListener('click', () => {
    clearBar();
    $('text').focus();
  });
}
