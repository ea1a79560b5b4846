// The composer: the text box (grows with its text, Enter sends, Escape
// cancels a reply or an edit), the file input, and sending: text over the
// socket (send_message), files over POST /uploads, each shown as a pending
// bubble until the server has it, with the server's error and a retry if
// not; a reply carries reply_to, an edit goes out as edit_message
// (message-actions.js). The same client_id on a retry: stored once.
import { api, newClientId } from './api.js';
import { emitAck } from './ack.js';
import { $, fitHeight, toast } from './dom.js';
import { state } from './state.js';
import { pendingEl } from './message-el.js';
import { atLatest, sent } from './conversation.js';
import { barState, clearBar } from './composer-bar.js';
import { editMessage } from './message-actions.js';
import { composerInput, stopTyping } from './typing.js';

const text = () => $('text');

function addPending(view, label, clientId) {
  const el = pendingEl(label);
  view.pending.set(clientId, el);
  $('pending-items').append(el);
  $('messages').scrollTop = $('messages').scrollHeight;
  return el;
}

function showSendError(message) {
  const errorBox = $('send-error');
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function failed(view, el, error, retry) {
  const message = `Not sent: ${error.message}`;
  if (state.view !== view) {
    toast(message, 'error');
    return;
  }
  showSendError(message);
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
    $('send-error').hidden = true;
    retry();
  });
  status.append(again);
}

const targetOf = (view) => (view.chatId ? { chat_id: view.chatId } : { to: view.to });
const replyOf = (replyTo) => (replyTo ? { reply_to: replyTo } : {});

// Sends into the open chat; `replyTo` is the id of the message answered.
export async function sendText(value, replyTo) {
  const view = await atLatest(state.view);
  if (!view) return;
  stopTyping();
  $('send-error').hidden = true;
  const clientId = newClientId();
  const el = addPending(view, value, clientId);
  const attempt = async () => {
    const ack = await emitAck('send_message', {
      ...targetOf(view), text: value, client_id: clientId, ...replyOf(replyTo),
    });
    if (!ack.ok) return failed(view, el, ack.error, attempt);
    el.remove();
    view.pending.delete(clientId);
    return sent(view, ack.message);
  };
  await attempt();
}

export async function sendFile(file, replyTo) {
  const view = await atLatest(state.view);
  if (!view || !file) return;
  $('send-error').hidden = true;
  const clientId = newClientId();
  const el = addPending(view, `Uploading ${file.name}…`, clientId);
  const attempt = async () => {
    const form = new FormData();
    for (const [key, value] of Object.entries({ ...targetOf(view), ...replyOf(replyTo) })) form.append(key, String(value));
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

// The edit in the bar: the bar stays (with the server's error) until it is taken.
async function sendEdit(msg, value) {
  $('send-error').hidden = true;
  const error = await editMessage(msg, value);
  if (error) {
    showSendError(`Not saved: ${error.message}`);
    return;
  }
  if (barState()?.message.id === msg.id) clearBar();
}

function submit() {
  const value = text().value;
  const bar = barState();
  if (bar?.mode === 'edit') {
    // A caption may be emptied; a text message's text may not.
    if (!value.trim() && bar.message.kind !== 'file') return;
    sendEdit(bar.message, value.trim() ? value : '');
    return;
  }
  if (!value.trim()) return;
  const replyTo = bar?.mode === 'reply' ? bar.message.id : undefined;
  clearBar();
  text().value = '';
  fitHeight(text());
  sendText(value, replyTo);
}

export function setupComposer() {
  text().addEventListener('input', () => {
    fitHeight(text());
    if (barState()?.mode !== 'edit') composerInput();
  });
  text().addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('composer').requestSubmit();
    } else if (event.key === 'Escape' && barState()) {
      event.preventDefault();
      clearBar();
    }
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  $('file-input').addEventListener('change', (event) => {
    const [file] = event.target.files;
    event.target.value = '';
    const bar = barState();
    const replyTo = bar?.mode === 'reply' ? bar.message.id : undefined;
    if (bar?.mode === 'reply') clearBar();
    sendFile(file, replyTo);
  });
}
