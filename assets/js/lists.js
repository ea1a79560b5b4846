// The sidebar's lists: chats (GET /chats) and people (GET /users, with the
// People search), the two tabs, and opening a chat or a person from them.
import { api } from './api.js';
import { $, debounce, toast } from './dom.js';
import { state, upsertChat, directChatWith } from './state.js';
import { renderChatList, renderUsers, renderHeader } from './render.js';
import { openChat, openDirect, maybeMarkRead } from './conversation.js';

let loaded = false; // false until GET /chats and /users have answered once
let peopleResults = null; // users matching the People search, or null

export const listsLoaded = () => loaded;

export function forgetLists() {
  loaded = false;
}

export async function loadLists() {
  await Promise.all([loadChats(), loadUsers()]);
  loaded = true;
}

export async function loadChats() {
  const { chats } = await api('GET', '/chats');
  const known = new Set(chats.map((c) => c.id));
  for (const id of state.chats.keys()) if (!known.has(id)) state.chats.delete(id);
  for (const chat of chats) upsertChat(chat);
  learnMembers(chats);
  // A draft to someone who wrote first in the meantime: open the real chat.
  const view = state.view;
  if (view?.to) {
    const chat = directChatWith(view.to);
    if (chat) {
      const text = $('text').value;
      await openChat(chat.id);
      $('text').value = text;
    }
  }
  renderChatList();
  renderHeader();
  maybeMarkRead();
}

export const refreshChats = debounce(() => loadChats().catch((err) => toast(err.message, 'error')), 200);
export const refreshUsers = debounce(() => loadUsers().catch(() => {}), 300);

// Someone who signed up after the People list was loaded: fetch it again
// (for their presence: it is not sent to people who shared no chat then).
export function learnMembers(chats) {
  if (chats.some((c) => c.members.some((m) => !state.users.has(m.user_id)))) refreshUsers();
}

export async function loadUsers() {
  const users = new Map();
  let after = 0;
  for (let page = 0; page < 5; page++) {
    const data = await api('GET', `/users?limit=200&after=${after}`);
    for (const user of data.users) users.set(user.id, user);
    if (!data.has_more || !data.users.length) break;
    after = data.users.at(-1).id;
  }
  state.users = users;
  renderPeople();
  renderChatList();
  renderHeader();
}

export function renderPeople() {
  renderUsers(peopleResults ?? [...state.users.values()]);
}

export function selectTab(name) {
  for (const tab of ['chats', 'people']) {
    $(`tab-${tab}`).setAttribute('aria-selected', String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === 'people') loadUsers().catch(() => {});
}

export function setupLists() {
  $('people-search').addEventListener('input', debounce(async (event) => {
    const q = event.target.value.trim();
    if (!q) {
      peopleResults = null;
    } else {
      try {
        const { users } = await api('GET', `/users?limit=50&q=${encodeURIComponent(q)}`);
        for (const user of users) state.users.set(user.id, user);
        peopleResults = users;
      } catch (err) {
        toast(err.message, 'error');
      }
    }
    renderPeople();
  }, 250));

  $('tab-chats').addEventListener('click', () => selectTab('chats'));
  $('tab-people').addEventListener('click', () => selectTab('people'));

  $('chat-list').addEventListener('click', (event) => {
    const item = event.target.closest('[data-chat-id]');
    if (item) openChat(Number(item.dataset.chatId));
  });

  $('user-list').addEventListener('click', (event) => {
    const item = event.target.closest('[data-user-id]');
    if (item) openDirect(Number(item.dataset.userId));
  });
}
