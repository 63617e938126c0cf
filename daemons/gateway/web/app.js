// The dashboard: login, the pages (one per hash: #overview, #approvals, ...) and live updates.
//
// Live updates: the page shown is refreshed when the chat's WebSocket reports a tool result or
// the end of a turn (the ledger and approvals changed), after every decision made here, and
// otherwise every REFRESH_MS while the tab is visible — doubled after each failure up to
// REFRESH_MAX_MS, back to REFRESH_MS after a success. Nothing polls in a tight loop, and a
// hidden tab polls nothing.
import * as api from './api.js';
import * as approvals from './approvals.js';
import * as chat from './chat.js';
import * as emergency from './emergency.js';
import * as ledger from './ledger.js';
import * as overview from './overview.js';
import * as services from './services.js';
import * as switches from './switches.js';
import { $, h } from './ui.js';

const REFRESH_MS = 15000;
const REFRESH_MAX_MS = 120000;

const pages = {
  overview: overview.refresh,
  approvals: approvals.refresh,
  ledger: ledger.refresh,
  switches: switches.refresh,
  services: services.refresh,
  chat: null,
};

let current = null;
let timer = null;
let delay = REFRESH_MS;

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (document.hidden || !current || !pages[current]) {
    $('#live-note').textContent = current === 'chat'
      ? 'Live: the chat streams as the agent works; the other pages refresh when it acts.' : '';
    return;
  }
  timer = setTimeout(() => refresh(), delay);
  $('#live-note').textContent = 'Live: this page refreshes every ' + Math.round(delay / 1000)
    + ' s while visible, and at once after the agent acts.';
}

// Refreshes the page shown (and the approvals count, which the tabs show everywhere).
async function refresh() {
  const fn = pages[current];
  let ok = true;
  if (fn) ok = await fn().then(() => true, () => false);
  if (current !== 'approvals') approvals.refresh().catch(() => {});
  delay = ok ? REFRESH_MS : Math.min(delay * 2, REFRESH_MAX_MS);
  schedule();
}

function show(name) {
  if (!(name in pages)) name = 'overview';
  current = name;
  document.querySelectorAll('.view').forEach((v) => (v.hidden = v.id !== 'view-' + name));
  document.querySelectorAll('.tabs a').forEach((a) =>
    a.setAttribute('aria-current', a.dataset.view === name ? 'page' : 'false'));
  if (name === 'chat') chat.show();
  delay = REFRESH_MS;
  refresh();
}

function route() {
  show(location.hash.slice(1) || 'overview');
}

function loggedIn(s) {
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#who').hidden = false;
  $('#who-name').textContent = 'Logged in as ' + s.user;
  route();
}

function loggedOut(message) {
  clearTimeout(timer);
  chat.stop();
  current = null;
  $('#app').hidden = true;
  $('#who').hidden = true;
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#login-token').focus();
}

async function submitLogin(e) {
  e.preventDefault();
  const err = $('#login-error');
  err.hidden = true;
  try {
    const s = await api.login($('#login-token').value.trim(), $('#login-user').value.trim());
    $('#login-token').value = '';
    loggedIn(s);
  } catch (x) {
    err.hidden = false;
    err.replaceChildren(h('strong', {}, x.message),
      x.status === 401 ? ' Check the token file named above.' : '',
      x.requestId ? h('span', { class: 'rid' }, ' request ' + x.requestId) : '');
  }
}

// Any 401 after login means the session ended (expired, logged out elsewhere).
function watchSession(fn) {
  return () => fn().catch((e) => {
    if (e.status === 401) loggedOut('Your session ended: log in again.');
    throw e;
  });
}

async function boot() {
  for (const k of Object.keys(pages)) if (pages[k]) pages[k] = watchSession(pages[k]);
  $('#login-form').addEventListener('submit', submitLogin);
  $('#logout').addEventListener('click', async () => {
    await api.logout().catch(() => {});
    loggedOut('');
  });
  document.querySelectorAll('[data-refresh]').forEach((b) =>
    b.addEventListener('click', () => {
      delay = REFRESH_MS;
      refresh();
    }));
  window.addEventListener('hashchange', () => {
    if (!$('#app').hidden) route();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && current) refresh();
    else schedule();
  });
  ledger.init();
  chat.init();
  emergency.init();
  // after the agent or the operator acted: refresh soon, once for a burst of events
  let soon = null;
  const now = () => {
    if (!soon)
      soon = setTimeout(() => {
        soon = null;
        if (current) refresh();
      }, 300);
  };
  approvals.setOnChange(now);
  emergency.setOnChange(now);
  chat.setOnEvent(now);
  try {
    const s = await api.session();
    if (s) loggedIn(s);
    else loggedOut('');
  } catch (e) {
    loggedOut('The gateway did not answer: ' + e.message);
  }
}

boot();
