// Reacting to a message: the picker of a few emoji under a message, and
// toggling my reaction (a picked emoji, or a chip clicked) with socket
// add_reaction / remove_reaction. The ack's message (whose reactions carry
// `me`) is applied like a broadcast; a refusal is shown with the server's
// message.
import { emitAck } from './ack.js';
import { h, toast } from './dom.js';
import { applyMessage, knownMessage } from './message-updates.js';

export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

let picker = null; // { el, messageId } of the open picker

export function closePicker() {
  picker?.el.remove();
  picker = null;
}

// Adds my reaction, or takes it back when I have it.
export async function toggleReaction(shown, emoji) {
  const msg = knownMessage(shown.chat_id, shown.id) ?? shown; // as it is now
  const mine = (msg.reactions ?? []).some((r) => r.emoji === emoji && r.me);
  const ack = await emitAck(mine ? 'remove_reaction' : 'add_reaction', { message_id: msg.id, emoji });
  if (!ack.ok) {
    toast(`Could not ${mine ? 'take back the reaction' : 'react'}: ${ack.error.message}`, 'error');
    return;
  }
  applyMessage(ack.message);
}

// Opens (or, clicked again, closes) the picker under a message's bubble.
export function togglePicker(li, msg) {
  const same = picker?.messageId === msg.id && picker.el.isConnected;
  closePicker();
  if (same) return;
  const el = h('div', { class: 'picker', role: 'group', 'aria-label': 'React with', 'data-testid': 'reaction-picker' },
    QUICK_EMOJI.map((emoji) => h('button', {
      type: 'button',
      class: 'pick',
      'data-testid': 'pick-emoji',
      'data-emoji': emoji,
      title: `React with ${emoji}`,
      onclick: (event) => {
        event.stopPropagation();
        closePicker();
        toggleReaction(msg, emoji);
      },
    }, emoji)));
  li.querySelector('.line').after(el);
  picker = { el, messageId: msg.id };
  el.querySelector('button').focus();
}

export function setupReactions() {
  // A click anywhere else, or Escape, closes the picker.
  document.addEventListener('click', (event) => {
    if (picker && !picker.el.contains(event.target) && !event.target.closest('[data-action="react"]')) closePicker();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && picker) closePicker();
  });
}
