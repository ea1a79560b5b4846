// Small DOM helpers. User text only ever goes in through textContent or
// attributes set with setAttribute: never through innerHTML (the one
// exception, a search snippet, is checked first: see search.js).

export const $ = (id) => document.getElementById(id);

// h('li', { class: 'msg', 'data-testid': 'message', onclick: fn }, child, 'text', ...)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// An inline icon: one SVG path, drawn in the current colour.
export function icon(path) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(SVG, 'path');
  p.setAttribute('d', path);
  svg.append(p);
  return svg;
}

// A text box as tall as its text, up to `max` pixels.
export function fitHeight(el, max = 160) {
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight, max)}px`;
}

export function show(el, visible) {
  el.hidden = !visible;
}

// A round badge with the name's initials, coloured by id.
export function fillAvatar(el, name, id, kind = 'user') {
  const words = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  const initials = words.length > 1 ? words[0][0] + words[1][0] : (words[0] ?? '?')[0];
  el.textContent = initials.toUpperCase();
  el.style.setProperty('--hue', String((Number(id) * 47 + (kind === 'group' ? 180 : 0)) % 360));
  el.classList.toggle('group', kind === 'group');
  return el;
}

export function avatar(name, id, kind) {
  return fillAvatar(h('span', { class: 'avatar', 'aria-hidden': 'true' }), name, id, kind);
}

const sameDay = (a, b) => a.toDateString() === b.toDateString();

// "14:05" today, "Mon 14:05" this week, "3 Mar" before.
export function shortTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const now = new Date();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (sameDay(date, now)) return time;
  if (now - date < 6 * 86400e3) return `${date.toLocaleDateString([], { weekday: 'short' })} ${time}`;
  return date.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

export function fullTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

export function lastSeen(user) {
  if (!user) return '';
  if (user.online) return 'online';
  if (!user.last_seen_at) return 'offline';
  const minutes = Math.round((Date.now() - new Date(user.last_seen_at)) / 60e3);
  if (minutes < 1) return 'last seen just now';
  if (minutes < 60) return `last seen ${minutes} min ago`;
  return `last seen ${shortTime(user.last_seen_at)}`;
}

export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function toast(text, kind = 'info') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), 5000);
}
