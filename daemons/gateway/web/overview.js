// Overview: the gateway's own health (GET /health), each daemon's (GET /api/v1/health) with one
// line on what it is, and the newest ledger events in words.
import { get, listOf } from './api.js';
import { $, ago, badge, brief, clear, duration, h, showError } from './ui.js';

// What a person should read for the event types they will meet first.
const EVENT_WORDS = {
  'tool.call': 'the agent called a tool',
  'tool.result': 'a tool call finished',
  'approval.requested': 'an action waits for your approval',
  'approval.approved': 'an action was approved',
  'approval.denied': 'an action was denied',
  'approval.expired': 'an approval expired undecided',
  'approval.cancelled': 'an approval was cancelled',
  'switch.begin': 'a SafeSwitch change started',
  'switch.applied': 'a SafeSwitch change was applied',
  'switch.check': 'a SafeSwitch health check ran',
  'switch.committed': 'a SafeSwitch change was kept',
  'switch.rolled_back': 'a SafeSwitch change was rolled back',
  'service.start': 'a service started',
  'service.ready': 'a service is ready',
  'service.crashed': 'a service crashed',
  'service.failed': 'a service failed',
  'service.restart': 'a service was restarted',
  'service.stop': 'a service was stopped',
  'app.deploy': 'a service was deployed',
  'watch.escalation': 'a watcher escalated: its check keeps failing',
  'watch.notify': 'a watcher sent a notice',
  'emergency.stop': 'emergency STOP',
  'emergency.freeze': 'emergency FREEZE',
  'emergency.thaw': 'the agent was thawed',
  'emergency.lockdown': 'emergency LOCKDOWN',
  'emergency.unlock': 'the lockdown was lifted',
  'daemon.start': 'a daemon started',
};

export function eventWords(type) {
  return EVENT_WORDS[type] || '';
}

export function payloadOf(e) {
  if (typeof e.payload !== 'string') return e.payload;
  try {
    return JSON.parse(e.payload);
  } catch {
    return e.payload;
  }
}

// One line for an event: words for its type, then the payload fields that say most.
export function eventSummary(e) {
  const p = payloadOf(e);
  const words = eventWords(e.type);
  let detail = '';
  if (p && typeof p === 'object') {
    const keys = ['tool', 'decision', 'status', 'state', 'reason', 'unit', 'name', 'id', 'path'];
    detail = keys.filter((k) => p[k] !== undefined && typeof p[k] !== 'object')
      .map((k) => k + ' ' + p[k]).join(', ');
    if (!detail) detail = brief(p, 120);
  } else if (p) {
    detail = brief(p, 120);
  }
  return words ? words + (detail ? ' — ' + detail : '') : detail;
}

function machineCards(g) {
  const cards = [];
  const card = (title, value, note) =>
    h('div', { class: 'card' }, h('div', { class: 'card-title' }, title),
      h('div', { class: 'card-value' }, value), note ? h('div', { class: 'card-note' }, note) : null);
  cards.push(card('Gateway', g.status === 'ok' ? badge('up', 'ok') : badge(g.status || '?', 'bad'),
    g.uptime !== undefined ? 'up ' + duration(g.uptime) : null));
  const agents = listOf(g.agents);
  const enabled = agents.filter((a) => a.enabled);
  cards.push(card('Agent', enabled.length ? enabled.map((a) => a.id).join(', ') : 'none configured',
    enabled.length ? 'drivers: ' + listOf(g.drivers).join(', ')
      : 'configure one to chat (see the Chat page)'));
  if (g.sessions !== undefined) cards.push(card('Chat sessions', String(g.sessions)));
  return cards;
}

// What the agents asked of their models: the gateway makes every model request itself (keys
// never reach an agent), under a per-agent limit, and counts the provider's tokens.
function modelCard(status) {
  const llm = status && status.llm;
  if (!llm || !llm.totals) return [];
  const t = llm.totals;
  const per = listOf(llm.agents).map((a) => a.agent_id + ': ' + a.requests + ' requests, ' +
    a.input_tokens + ' in / ' + a.output_tokens + ' out tokens' +
    (a.refused ? ', ' + a.refused + ' refused by its limit of ' + a.rpm + '/min' : ''));
  return [h('div', { class: 'card', 'data-card': 'llm' },
    h('div', { class: 'card-title' }, 'Model use'),
    h('div', { class: 'card-value' }, t.requests + ' requests'),
    h('div', { class: 'card-note' }, t.input_tokens + ' tokens in, ' + t.output_tokens +
      ' out' + (per.length ? ' — ' + per.join('; ') : '')))];
}

function daemonItem(d) {
  const health = d.health && typeof d.health === 'object' ? d.health : null;
  const up = d.up === true;
  const detail = [];
  if (up && d.latency_ms !== undefined) detail.push('answered in ' + d.latency_ms + ' ms');
  if (!up) detail.push(d.error || (d.status ? 'answered ' + d.status : 'not answering'));
  if (health && health.status && health.status !== 'ok') detail.push('says ' + health.status);
  return h('li', { class: 'daemon ' + (up ? 'up' : 'down'), 'data-daemon': d.name },
    h('div', { class: 'daemon-head' }, badge(up ? 'healthy' : 'down', up ? 'ok' : 'bad'), ' ',
      h('strong', {}, d.name)),
    h('div', { class: 'daemon-what' }, d.what || ''),
    h('div', { class: 'daemon-detail' }, detail.join('; ')));
}

async function loadDaemons() {
  const box = $('#daemons');
  try {
    const data = await get('/api/v1/health');
    const list = listOf(data, 'daemons');
    clear(box, list.map(daemonItem));
    return list;
  } catch (e) {
    clear(box, h('li', { class: 'daemon down' }, 'Daemon health is not available: ' + e.message));
    throw e;
  }
}

async function loadRecent() {
  const box = $('#recent');
  try {
    const data = await get('/api/v1/events?limit=8');
    const list = listOf(data, 'events');
    clear(box, list.length ? list.map((e) => h('li', {},
      h('span', { class: 'when' }, ago(e.ts || e.timestamp)), ' ', h('span', { class: 'mono' }, e.type),
      ' ', h('span', { class: 'actor' }, e.actor), ' ', eventSummary(e)))
      : h('li', {}, 'Nothing has happened yet.'));
  } catch (e) {
    clear(box, h('li', {}, 'The ledger is not available: ' + e.message));
    throw e;
  }
}

export async function refresh() {
  const errors = [];
  const g = await get('/health').catch((e) => (errors.push(e), null));
  const st = await get('/api/v1/status').catch((e) => (errors.push(e), null));
  clear($('#machine'), (g ? machineCards(g) : []).concat(modelCard(st)));
  await loadDaemons().catch((e) => errors.push(e));
  await loadRecent().catch((e) => errors.push(e));
  showError('overview', errors[0] || null);
  if (errors.length) throw errors[0];
}
