// What a message offers, behind the buttons message-el.js draws (one click
// listener on the message list): reply and edit (handed to the composer
// bar), delete (after asking, with socket delete_message), react (the
// picker) and a reaction chip (toggles mine), and a reply's quote (shows
// the original). Edits are sent from here too (socket edit_message). Acks'
// messages are applied like broadcasts; refusals show the server's message.
import { emitAck } from './ack.js';
import { $ } from './dom.js';
import { state } from './state.js';
import { showMessage } from './conversation.js';
import { replyTo, startEdit } from './composer-bar.js';
import { applyMessage, knownMessage } from './message-updates.js';
import { togglePicker, toggleReaction, closePicker } from './reactions.js';

const dialog = $('delete-dialog');
let deleting = null; // the message the delete dialog asks about

// Sends an edit; resolves to null when the server took it, else its error.
export async function editMessage(msg, text) {
  const ack = await emitAck('edit_message', { message_id: msg.id, text });
  if (!ack.ok) return ack.error;
  applyMessage(ack.message);
  return null;
}

function askDelete(msg) {
  deleting = msg;
  $('delete-error').hidden = true;
  $('delete-preview').textContent = msg.text ?? msg.attachment?.filename ?? '';
  dialog.showModal();
  $('delete-cancel').focus();
}

async function confirmDelete() {
  const msg = deleting;
  if (!msg) return;
  const button = $('delete-confirm');
  button.disabled = true;
  try {
    const ack = await emitAck('delete_message', { message_id: msg.id });
    if (!ack.ok) {
      $('delete-error').textContent = `Not deleted: ${ack.error.message}`;
      $('delete-error').hidden = false;
      return;
    }
    applyMessage(ack.message);
    deleting = null;
    dialog.close();
  } finally {
    button.disabled = false;
  }
}

export function closeDeleteDialog() {
  deleting = null;
  if (dialog.open) dialog.close();
}

function act(action, button, li, msg) {
  switch (action) {
    case 'reply':
      closePicker();
      replyTo(msg);
      break;
    case 'edit':
      closePicker();
      startEdit(msg);
      break;
    case 'delete':
      closePicker();
      askDelete(msg);
      break;
    case 'react':
      togglePicker(li, msg);
      break;
    case 'toggle-reaction':
      toggleReaction(msg, button.dataset.emoji);
      break;
    case 'show-original':
      showMessage(msg.chat_id, Number(button.dataset.replyTo));
      break;
    default:
  }
}

export function setupMessageActions() {
  $('message-items').addEventListener('click', (event) => {
    const button = event.target.closest('[data-action]');
    const li = button?.closest('[data-testid="message"]');
    if (!li) return;
    const msg = knownMessage(state.view?.chatId, Number(li.dataset.messageId));
    if (msg) act(button.dataset.action, button, li, msg);
  });
  $('delete-form').addEventListener('submit', (event) => {
    event.preventDefault();
    confirmDelete();
  });
  $('delete-cancel').addEventListener('click', () => closeDeleteDialog());
  dialog.addEventListener('close', () => {
    deleting = null;
  });
}
