// One message as the page draws it: who sent it, the quote of the message
// it answers, its file, its text (or "message deleted" for a tombstone),
// "edited", the time and read status, its reaction chips, and the buttons
// it offers (reply, react, edit, delete). It only draws: the buttons carry
// data-action and are handled by message-actions.js.
import { fileObjectUrl } from './api.js';
import { h, icon, shortTime, fullTime, humanSize } from './dom.js';
import { isMe, nameOf, myRole } from './state.js';

const ICONS = {
  document: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5M9 13h6M9 17h4',
  reply: 'M9 17l-5-5 5-5M4 12h11a5 5 0 0 1 5 5v2',
  react: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14.5a4.5 4.5 0 0 0 7 0M9 9.5h.01M15 9.5h.01',
  edit: 'M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4',
  delete: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
};

export const DELETED = 'message deleted';

// What a quote says of the message it quotes: a reply's reply_to, or the
// bar above the composer. `quoted` is { sender_id, kind, text, deleted }.
export function quoteText(quoted) {
  if (quoted.deleted) return DELETED;
  if (quoted.text) return quoted.text;
  return quoted.kind === 'file' ? 'File' : '';
}

// A message's quote as its reply_to would carry it (text: the first 200
// characters): for updating the quotes of it that the page shows.
export function quoteOf(msg) {
  const deleted = Boolean(msg.deleted_at);
  return {
    id: msg.id,
    sender_id: msg.sender_id,
    kind: msg.kind,
    text: deleted || msg.text == null ? null : [...msg.text].slice(0, 200).join(''),
    deleted,
  };
}

function quoteEl(replyTo, chat) {
  return h('button', {
    type: 'button',
    class: `quote${replyTo.deleted ? ' gone' : ''}`,
    'data-action': 'show-original',
    'data-testid': 'reply-quote',
    'data-reply-to': replyTo.id,
    'data-quoted-sender-id': replyTo.sender_id,
    title: 'Show the original message',
  },
  h('span', { class: 'quote-sender', 'data-testid': 'reply-quote-sender' }, nameOf(replyTo.sender_id, chat)),
  h('span', { class: 'quote-text', 'data-testid': 'reply-quote-text' }, quoteText(replyTo)));
}

function attachmentEl(att) {
  if (att.content_type.startsWith('image/')) {
    const img = h('img', { src: att.url, alt: att.filename, 'data-testid': 'message-image' });
    const link = h('a', { class: 'image', href: att.url, target: '_blank', rel: 'noopener' }, img);
    // A signed URL lasts a day: a page open longer asks again with its token.
    img.addEventListener('error', () => {
      img.dataset.fallback = 'token';
      fileObjectUrl(att).then((url) => {
        img.src = url;
        link.href = url;
      }, () => {});
    }, { once: true });
    return link;
  }
  const link = h('a', { class: 'file', href: att.url, target: '_blank', rel: 'noopener', 'data-testid': 'message-file' },
    icon(ICONS.document),
    h('span', { class: 'file-name' }, att.filename),
    h('small', {}, humanSize(att.size)));
  if (!att.url) {
    // No signed URL: download it with the token instead.
    link.addEventListener('click', (event) => {
      event.preventDefault();
      fileObjectUrl(att).then((url) => h('a', { href: url, download: att.filename }).click(), () => {});
    });
  }
  return link;
}

function actionButton(action, label) {
  return h('button', {
    type: 'button', class: 'act', 'data-action': action, 'data-testid': `action-${action}`, title: label, 'aria-label': label,
  }, icon(ICONS[action]));
}

// Mine; and in a group, anyone's for its owner and admins.
export function canDelete(msg, chat) {
  if (isMe(msg.sender_id)) return true;
  const role = chat?.kind === 'group' ? myRole(chat) : null;
  return role === 'owner' || role === 'admin';
}

function actionsEl(msg, chat) {
  return h('div', { class: 'actions', 'data-testid': 'message-actions' },
    actionButton('reply', 'Reply'),
    actionButton('react', 'React'),
    isMe(msg.sender_id) ? actionButton('edit', msg.kind === 'file' ? 'Edit caption' : 'Edit') : null,
    canDelete(msg, chat) ? actionButton('delete', 'Delete') : null);
}

function reactionsEl(reactions) {
  return h('div', { class: 'reactions', 'data-testid': 'reactions' }, reactions.map((r) => h('button', {
    type: 'button',
    class: `chip${r.me ? ' me' : ''}`,
    'data-action': 'toggle-reaction',
    'data-testid': 'reaction',
    'data-emoji': r.emoji,
    'data-mine': String(Boolean(r.me)),
    'aria-pressed': String(Boolean(r.me)),
    title: r.me ? 'You reacted: click to take it back' : 'React with this too',
  },
  h('span', { class: 'chip-emoji' }, r.emoji),
  h('span', { class: 'chip-count', 'data-testid': 'reaction-count' }, String(r.count)))));
}

export function messageEl(msg, chat) {
  const mine = isMe(msg.sender_id);
  const deleted = Boolean(msg.deleted_at);
  const reactions = deleted ? [] : msg.reactions ?? [];
  return h('li', {
    class: `msg ${mine ? 'mine' : 'theirs'}${deleted ? ' deleted' : ''}`,
    'data-testid': 'message',
    'data-message-id': msg.id,
    'data-sender-id': msg.sender_id,
    'data-kind': msg.kind,
    'data-deleted': String(deleted),
  },
  h('div', { class: 'sender', 'data-testid': 'message-sender' }, nameOf(msg.sender_id, chat)),
  h('div', { class: 'line' },
    h('div', { class: 'bubble' },
      msg.reply_to && !deleted ? quoteEl(msg.reply_to, chat) : null,
      msg.attachment && !deleted ? attachmentEl(msg.attachment) : null,
      deleted
        ? h('div', { class: 'text tombstone', 'data-testid': 'message-deleted' }, DELETED)
        : msg.text ? h('div', { class: 'text', 'data-testid': 'message-text' }, msg.text) : null,
      h('div', { class: 'meta' },
        msg.edited_at && !deleted
          ? h('span', { class: 'edited', 'data-testid': 'message-edited', title: `edited ${fullTime(msg.edited_at)}` }, 'edited')
          : null,
        h('time', { datetime: msg.created_at, title: fullTime(msg.created_at) }, shortTime(msg.created_at)),
        mine ? h('span', { class: 'status', 'data-testid': 'read-status' }, 'sent') : null)),
    deleted ? null : actionsEl(msg, chat)),
  reactions.length ? reactionsEl(reactions) : null);
}

// A message of mine on its way: "sending…", or why it failed and a retry.
export function pendingEl(label) {
  return h('li', { class: 'msg mine pending', 'data-testid': 'pending-message' },
    h('div', { class: 'bubble' },
      h('div', { class: 'text' }, label),
      h('div', { class: 'meta' }, h('span', { class: 'status' }, 'sending…'))));
}
