// Drawing the lists, the chat header, and the open chat's read marks and
// sender runs from the state (one message's element: message-el.js).
import { $, h, avatar, fillAvatar, shortTime, lastSeen } from './dom.js';
import { state, isMe, otherMember, chatTitle, nameOf, myRole, sortedChats, typingNames } from './state.js';

function preview(chat) {
  const typing = typingNames(chat.id);
  if (typing) return { text: typing, typing: true };
  const m = chat.last_message;
  if (!m) return { text: chat.kind === 'group' ? 'Group created' : 'No messages yet' };
  let text = m.deleted_at ? 'message deleted' : m.text ?? '';
  if (m.attachment && !m.deleted_at) {
    const label = m.attachment.content_type.startsWith('image/') ? 'Photo' : m.attachment.filename;
    text = text ? `${label}: ${text}` : label;
  }
  const who = isMe(m.sender_id) ? 'You' : chat.kind === 'group' ? nameOf(m.sender_id, chat) : '';
  return { text: who ? `${who}: ${text}` : text };
}

function presenceDot(online) {
  return h('span', { class: `dot ${online ? 'on' : 'off'}`, 'data-testid': 'presence-dot', 'data-online': String(online) });
}

export function renderChatList() {
  const list = $('chat-list');
  const openId = state.view?.chatId;
  let total = 0;
  const items = sortedChats().map((chat) => {
    total += chat.unread_count;
    const other = chat.kind === 'direct' ? otherMember(chat) : null;
    const user = other && !isMe(other.user_id) ? state.users.get(other.user_id) : null;
    const { text, typing } = preview(chat);
    const pic = avatar(chatTitle(chat), other?.user_id ?? chat.id, chat.kind);
    return h('li', {},
      h('button', {
        type: 'button',
        class: `item${chat.id === openId ? ' active' : ''}${chat.unread_count ? ' unread' : ''}`,
        'data-testid': 'chat-item',
        'data-chat-id': chat.id,
        'data-kind': chat.kind,
      },
      h('span', { class: 'pic' }, pic, user ? presenceDot(user.online) : null),
      h('span', { class: 'item-main' },
        h('span', { class: 'item-top' },
          h('span', { class: 'name', 'data-testid': 'chat-name' }, chatTitle(chat)),
          h('time', { class: 'when' }, shortTime(chat.last_message?.created_at ?? chat.created_at))),
        h('span', { class: 'item-bottom' },
          h('span', { class: `preview${typing ? ' typing-text' : ''}` }, text),
          chat.unread_count
            ? h('span', { class: 'badge', 'data-testid': 'unread-badge' }, String(chat.unread_count))
            : null))));
  });
  list.replaceChildren(...items);
  $('chats-empty').hidden = items.length > 0;
  const badge = $('total-unread');
  badge.hidden = total === 0;
  badge.textContent = String(total);
  document.title = total ? `(${total}) chat-server` : 'chat-server';
}

export function renderUsers(users) {
  const items = users
    .filter((u) => !isMe(u.id))
    .map((u) => h('li', {},
      h('button', {
        type: 'button',
        class: 'item',
        'data-testid': 'user-item',
        'data-user-id': u.id,
        'data-username': u.username,
      },
      h('span', { class: 'pic' }, avatar(u.display_name, u.id), presenceDot(u.online)),
      h('span', { class: 'item-main' },
        h('span', { class: 'item-top' }, h('span', { class: 'name' }, u.display_name)),
        h('span', { class: 'item-bottom' }, h('span', { class: 'preview' }, `@${u.username} · ${lastSeen(u)}`))))));
  $('user-list').replaceChildren(...items);
  $('people-empty').hidden = items.length > 0;
}

export function renderHeader() {
  const view = state.view;
  const chat = view?.chatId ? state.chats.get(view.chatId) : null;
  let title;
  let sub;
  let kind = 'user';
  let picId;
  if (chat) {
    title = chatTitle(chat);
    kind = chat.kind;
    if (chat.kind === 'group') {
      picId = chat.id;
      const names = chat.members.map((m) => (isMe(m.user_id) ? 'you' : m.display_name));
      sub = `${chat.members.length} members: ${names.join(', ')}`;
    } else {
      const other = otherMember(chat);
      picId = other.user_id;
      sub = isMe(other.user_id) ? 'notes to yourself' : lastSeen(state.users.get(other.user_id)) || `@${other.username}`;
    }
  } else if (view?.to) {
    const user = state.users.get(view.to);
    title = user?.display_name ?? `user ${view.to}`;
    picId = view.to;
    sub = lastSeen(user);
  }
  $('chat-title').textContent = title ?? '';
  $('chat-sub').textContent = sub ?? '';
  fillAvatar($('chat-avatar'), title, picId ?? 0, kind);
  const role = chat ? myRole(chat) : null;
  $('add-people').hidden = !(chat?.kind === 'group' && (role === 'owner' || role === 'admin'));
  $('group-settings').hidden = chat?.kind !== 'group';
  $('messages').classList.toggle('group-chat', chat?.kind === 'group');
}

export function renderTyping() {
  const chatId = state.view?.chatId;
  $('typing').textContent = chatId ? typingNames(chatId) : '';
}

// "read" on my messages that another member's marker has passed.
export function renderReadMarks(view) {
  const chat = state.chats.get(view.chatId);
  if (!chat) return;
  const markers = [...(state.reads.get(chat.id)?.entries() ?? [])]
    .filter(([userId]) => !isMe(userId))
    .map(([, messageId]) => messageId);
  for (const msg of view.messages) {
    if (!isMe(msg.sender_id)) continue;
    const el = view.els.get(msg.id);
    const readers = markers.filter((m) => m >= msg.id).length;
    const status = el.querySelector('.status');
    status.textContent = !readers ? 'sent' : chat.kind === 'group' ? `read by ${readers}` : 'read';
    el.classList.toggle('read', readers > 0);
  }
}

// The sender's name shows on the first of a run of messages by one person.
export function markRuns(view) {
  let previous = null;
  for (const msg of view.messages) {
    view.els.get(msg.id).classList.toggle('first', msg.sender_id !== previous);
    previous = msg.sender_id;
  }
}
