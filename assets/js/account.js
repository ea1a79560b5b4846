// The account dialog: the devices signed in to this account (GET
// /auth/sessions), signing one out (DELETE /auth/sessions/:id; this one
// means logging out), the display name (PATCH /auth/me) and the password
// (POST /auth/password, which signs every other device out).
import { api, ApiError } from './api.js';
import { changePassword } from './auth.js';
import { $, h, fullTime, shortTime } from './dom.js';
import { state } from './state.js';

const dialog = $('devices-dialog');
let actions = { logOut: async () => {}, applyUser: () => {} };
let loading = 0; // the latest list request: older answers are dropped

function ago(iso) {
  if (!iso) return 'never';
  const seconds = (Date.now() - new Date(iso)) / 1000;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return shortTime(iso);
}

function note(id, text, kind = 'error') {
  const el = $(id);
  el.textContent = text ?? '';
  el.hidden = !text;
  el.classList.toggle('error', kind === 'error');
  el.classList.toggle('ok-note', kind === 'ok');
}

function deviceEl(s) {
  const meta = [
    s.ip ? `IP ${s.ip}` : null,
    `signed in ${fullTime(s.created_at)}`,
    `last active ${s.current ? 'now' : ago(s.last_used_at)}`,
  ].filter(Boolean).join(' · ');
  const signOut = h('button', {
    type: 'button',
    class: s.current ? 'ghost small' : 'secondary small',
    'data-testid': 'device-signout',
    'data-session-id': s.id,
  }, s.current ? 'Log out' : 'Sign out');
  signOut.addEventListener('click', () => (s.current ? logOutHere() : signOutDevice(s, signOut)));
  return h('li', {
    class: `device${s.current ? ' current' : ''}`,
    'data-testid': 'device-item',
    'data-session-id': s.id,
    'data-current': String(Boolean(s.current)),
  },
  h('div', { class: 'device-main' },
    h('div', { class: 'device-top' },
      h('strong', { class: 'device-name', 'data-testid': 'device-name' }, s.device_name || 'Unknown device'),
      s.current ? h('span', { class: 'tag', 'data-testid': 'device-current' }, 'This device') : null),
    s.user_agent
      ? h('small', { class: 'device-agent', 'data-testid': 'device-agent', title: s.user_agent }, s.user_agent)
      : null,
    h('small', { class: 'muted', 'data-testid': 'device-meta' }, meta)),
  signOut);
}

export async function loadDevices() {
  const mine = ++loading;
  const list = $('device-list');
  list.setAttribute('aria-busy', 'true');
  try {
    const { sessions } = await api('GET', '/auth/sessions');
    if (mine !== loading) return;
    list.replaceChildren(...sessions.map(deviceEl));
    if (!sessions.length) list.append(h('li', { class: 'muted' }, 'No devices.'));
    note('devices-error', null);
  } catch (err) {
    if (mine === loading && !(err instanceof ApiError && err.status === 401)) {
      note('devices-error', `Could not load the devices: ${err.message}`);
    }
  } finally {
    if (mine === loading) list.removeAttribute('aria-busy');
  }
}

async function signOutDevice(s, button) {
  button.disabled = true;
  try {
    await api('DELETE', `/auth/sessions/${encodeURIComponent(s.id)}`);
  } catch (err) {
    // Gone already (404): the list shows it.
    if (!(err instanceof ApiError && err.status === 404)) {
      note('devices-error', `Could not sign out ${s.device_name || 'that device'}: ${err.message}`);
      button.disabled = false;
      return;
    }
  }
  await loadDevices();
}

async function logOutHere() {
  dialog.close();
  await actions.logOut();
}

function open() {
  note('devices-error', null);
  note('profile-status', null);
  note('password-status', null);
  $('profile-name').value = state.me?.display_name ?? '';
  $('password-username').value = state.me?.username ?? '';
  $('password-current').value = '';
  $('password-new').value = '';
  $('device-list').replaceChildren(h('li', { class: 'muted' }, 'Loading…'));
  dialog.showModal();
  loadDevices();
}

export function closeAccount() {
  loading++;
  if (dialog.open) dialog.close();
}

// Another session of this account was revoked: the list, if shown, follows.
export function sessionRevokedElsewhere() {
  if (dialog.open) loadDevices();
}

export function setupAccount(handlers) {
  actions = { ...actions, ...handlers };
}

$('devices').addEventListener('click', open);
$('devices-close').addEventListener('click', () => dialog.close());

$('profile-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = $('profile-name').value.trim();
  if (!name) {
    note('profile-status', 'A display name cannot be empty.');
    return;
  }
  const button = $('profile-save');
  button.disabled = true;
  try {
    const { user } = await api('PATCH', '/auth/me', { display_name: name });
    actions.applyUser(user);
    $('profile-name').value = user.display_name;
    note('profile-status', 'Saved.', 'ok');
  } catch (err) {
    note('profile-status', err.message);
  } finally {
    button.disabled = false;
  }
});

$('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const current = $('password-current');
  const next = $('password-new');
  const button = $('password-save');
  button.disabled = true;
  note('password-status', null);
  try {
    await changePassword({ current_password: current.value, new_password: next.value });
    current.value = '';
    next.value = '';
    note('password-status', 'Password changed. Every other device was signed out.', 'ok');
    await loadDevices();
  } catch (err) {
    note('password-status', err.message);
  } finally {
    button.disabled = false;
  }
});
