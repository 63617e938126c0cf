// Services and watchers (GET /api/v1/services, from osmoda-watch): each supervised service with
// its state, each watcher with its check and whether it is healthy or escalating.
import { get, listOf } from './api.js';
import { $, badge, brief, clear, h, showError } from './ui.js';

const GOOD = /^(active|running|healthy|ok|up)$/i;
const BAD = /^(failed|dead|crashed|degraded|down|error|stopped|inactive)$/i;

function nameOf(x) {
  return x.name || x.unit || x.id || '?';
}

function stateOf(x) {
  const s = x.status && typeof x.status === 'object' ? x.status : x;
  return s.state || s.active_state || s.status || (typeof x.status === 'string' ? x.status : '') || '';
}

function detailOf(x) {
  const skip = new Set(['name', 'unit', 'id', 'state', 'active_state', 'status']);
  return Object.entries(x).filter(([k, v]) => !skip.has(k) && v !== null && v !== '' && v !== undefined)
    .slice(0, 6).map(([k, v]) => k + ' ' + brief(v, 60)).join(' · ');
}

function row(x) {
  const state = String(stateOf(x));
  const kind = GOOD.test(state) ? 'ok' : BAD.test(state) ? 'bad' : 'warn';
  return h('li', { class: 'service', 'data-name': nameOf(x) },
    h('div', {}, state ? badge(state, kind) : null, ' ', h('strong', {}, nameOf(x))),
    h('div', { class: 'muted small' }, detailOf(x)));
}

function group(title, list, empty) {
  return [h('h3', {}, title),
    h('ul', { class: 'services' }, list.length ? list.map(row) : h('li', { class: 'empty' }, empty))];
}

export async function refresh() {
  try {
    const data = await get('/api/v1/services');
    const services = listOf(data, 'services', 'units');
    const watchers = listOf(data && data.watchers);
    const apps = listOf(data && data.apps);
    clear($('#services'), group('Services', services, 'osmoda-watch supervises no service yet.'),
      group('Watchers', watchers, 'No watcher: add one to have a service probed and healed.'),
      apps.length ? group('Apps', apps, '') : []);
    showError('services', null);
  } catch (e) {
    showError('services', e);
    throw e;
  }
}
