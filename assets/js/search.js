// Searching my messages (GET /search): the box above the chat list, the
// results in its place (chat, sender, time, and the server's snippet with
// the matched words marked), "More results" (paging with before), "only
// in the open chat" (chat_id), and opening a result: its chat,
// scrolled to the message. Errors are the server's message.
import { api } from './api.js';
import { $, h, debounce, shortTime, fullTime } from './dom.js';
import { state, chatTitle, nameOf, isMe } from './state.js';
import { showMessage } from './conversation.js';
import { loadChats } from './lists.js';

const LIMIT = 20;

// The search now shown: { q, chatId, results, hasMore }, or null.
let shown = null;
let asked = 0; // the latest request: older answers are dropped
let askedFor = ''; // its query and scope, so that typing then Enter asks once

// The snippet is escaped text with <mark> tags: it goes in as HTML only if
// <mark> and </mark> are all the markup it has. Anything else (which the
// server should never send) goes in as plain text.
export function snippetEl(snippet) {
  const el = h('span', { class: 'snippet', 'data-testid': 'search-result-snippet' });
  const text = String(snippet ?? '');
  if (/[<>]/.test(text.replace(/<\/?mark>/g, ''))) {
    el.textContent = new DOMParser().parseFromString(text, 'text/html').body.textContent;
    el.dataset.unsafe = 'true';
  } else {
    el.innerHTML = text;
  }
  return el;
}

function resultEl({ message, snippet }) {
  const chat = state.chats.get(message.chat_id);
  return h('li', {},
    h('button', {
      type: 'button',
      class: 'item result',
      'data-testid': 'search-result',
      'data-chat-id': message.chat_id,
      'data-message-id': message.id,
    },
    h('span', { class: 'item-main' },
      h('span', { class: 'item-top' },
        h('span', { class: 'name', 'data-testid': 'search-result-chat' }, chat ? chatTitle(chat) : `Chat ${message.chat_id}`),
        h('time', { class: 'when', datetime: message.created_at, title: fullTime(message.created_at) }, shortTime(message.created_at))),
      h('span', { class: 'result-sender', 'data-testid': 'search-result-sender' },
        isMe(message.sender_id) ? 'You' : nameOf(message.sender_id, chat)),
      snippetEl(snippet))));
}

function status(text, kind) {
  const el = $('search-status');
  el.textContent = text ?? '';
  el.hidden = !text;
  el.classList.toggle('error', kind === 'error');
}

function render() {
  // The results take the chat list's place (CSS hides it while searching).
  $('panel-chats').classList.toggle('searching', Boolean(shown));
  $('search-panel').hidden = !shown;
  if (!shown) return;
  $('search-results').replaceChildren(...shown.results.map(resultEl));
  $('search-more').hidden = !shown.hasMore;
}

function scopeChatId() {
  return $('search-scope').checked && state.view?.chatId ? state.view.chatId : null;
}

async function search({ more = false, again = true } = {}) {
  const q = $('message-search').value.trim();
  if (!q) {
    asked += 1;
    askedFor = '';
    shown = null;
    status();
    render();
    return;
  }
  const chatId = scopeChatId();
  const key = JSON.stringify([q, chatId]);
  if (!again && !more && key === askedFor) return;
  askedFor = key;
  const previous = more && shown?.q === q && shown.chatId === chatId ? shown : null;
  const params = new URLSearchParams({ q, limit: String(LIMIT) });
  if (chatId) params.set('chat_id', String(chatId));
  if (previous) params.set('before', String(previous.results.at(-1).message.id));
  const mine = ++asked;
  if (!previous) {
    shown = { q, chatId, results: [], hasMore: false };
    render();
  }
  status('Searching…');
  try {
    const data = await api('GET', `/search?${params}`);
    if (mine !== asked) return;
    shown = { q, chatId, results: [...(previous?.results ?? []), ...data.results], hasMore: data.has_more };
    status(shown.results.length ? '' : 'No messages found.');
  } catch (err) {
    if (mine !== asked) return;
    status(err.message, 'error');
  }
  render();
}

async function open(button) {
  for (const el of $('search-results').querySelectorAll('.active')) el.classList.remove('active');
  button.classList.add('active');
  const chatId = Number(button.dataset.chatId);
  if (!state.chats.has(chatId)) {
    // A chat this page has not heard of yet (made a moment ago elsewhere).
    try {
      await loadChats();
    } catch (err) {
      status(err.message, 'error');
      return;
    }
  }
  await showMessage(chatId, Number(button.dataset.messageId));
}

// Signed out: nothing of this user's search stays.
export function resetSearch() {
  asked += 1;
  askedFor = '';
  shown = null;
  $('message-search').value = '';
  $('search-scope').checked = false;
  $('search-results').replaceChildren();
  status();
  render();
}

export function setupSearch() {
  const input = $('message-search');
  input.addEventListener('input', debounce(() => search({ again: false }), 300));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') search();
    if (event.key === 'Escape' && input.value) {
      input.value = '';
      search();
    }
  });
  $('search-scope').addEventListener('change', () => search());
  $('search-more').addEventListener('click', () => search({ more: true }));
  $('search-results').addEventListener('click', (event) => {
    const button = event.target.closest('[data-testid="search-result"]');
    if (button) open(button);
  });
}
