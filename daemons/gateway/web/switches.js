// SafeSwitch history (GET /api/v1/switches): each transaction's plan, its health checks, how
// probation went and the outcome — committed, rolled back (and why), or still on probation.
import { get, listOf } from './api.js';
import { $, ago, badge, brief, clear, fmtTime, h, showError } from './ui.js';

const OUTCOME = {
  probation: ['on probation', 'warn', 'applied; its health checks are running'],
  applying: ['applying', 'warn', 'the change is being applied'],
  committed: ['committed', 'ok', 'the checks passed and the change was kept'],
  rolling_back: ['rolling back', 'warn', 'a check failed; the previous state is being restored'],
  rolled_back: ['rolled back', 'bad', 'the previous state was restored'],
  rollback_failed: ['rollback failed', 'bad', 'restoring the previous state failed: look at it now'],
};

function stateOf(s) {
  if (s.status && typeof s.status === 'object') return s.status.state || 'unknown';
  return s.state || s.status || s.outcome || 'unknown';
}

function reasonOf(s) {
  return (s.status && typeof s.status === 'object' && s.status.reason) || s.reason || '';
}

function planText(plan) {
  if (typeof plan === 'string') return plan;
  if (plan && typeof plan === 'object') {
    if (plan.backend === 'files' && plan.files) {
      const paths = Array.isArray(plan.files) ? plan.files.map((f) => f.path || f) : Object.keys(plan.files);
      return 'files: ' + paths.join(', ');
    }
    return (plan.backend ? plan.backend + ': ' : '') + brief(plan.profile || plan.generation || plan, 120);
  }
  return '';
}

function checkText(c) {
  if (typeof c === 'string') return c;
  if (!c || typeof c !== 'object') return String(c);
  const what = c.type === 'command' ? [c.cmd].concat(c.args || []).join(' ')
    : c.url || c.unit || (c.host ? c.host + ':' + c.port : '') || brief(c, 100);
  return (c.type ? c.type + ' ' : '') + what;
}

function switchItem(s) {
  const state = stateOf(s);
  const [label, kind, words] = OUTCOME[state] || [state, '', ''];
  const checks = listOf(s.health_checks);
  const c = s.checks && typeof s.checks === 'object' ? s.checks : null;
  const when = s.started_at || s.created_at;
  return h('li', { class: 'switch state-' + state, 'data-switch': s.id, 'data-state': state },
    h('div', { class: 'switch-head' }, badge(label, kind), ' ', h('strong', {}, planText(s.plan) || s.id)),
    h('p', {}, words, reasonOf(s) ? ': ' + reasonOf(s) : ''),
    h('p', { class: 'muted' }, 'id ' + s.id, when ? ' · started ' + fmtTime(when) + ' UTC (' + ago(when) + ')' : '',
      s.ttl_secs ? ' · probation ' + s.ttl_secs + ' s' : '',
      s.previous_generation && s.previous_generation !== 'unknown' ? ' · previous generation ' + s.previous_generation : ''),
    checks.length
      ? h('div', { class: 'checks' }, h('span', { class: 'muted' }, 'Health checks: '),
        h('ul', {}, checks.map((x) => h('li', { class: 'mono small' }, checkText(x)))),
        c ? h('span', { class: 'muted' }, 'ran ' + (c.rounds ?? '?') + ' round(s), ' + (c.failures ?? 0) + ' failure(s)'
          + (c.last_error ? ': ' + c.last_error : '')) : null)
      : h('p', { class: 'muted' }, 'No health checks: committed when probation ends.'));
}

export async function refresh() {
  try {
    const data = await get('/api/v1/switches');
    const list = listOf(data, 'switches', 'transactions').slice();
    list.sort((a, b) => String(b.started_at || '').localeCompare(String(a.started_at || '')));
    clear($('#switches'), list.length ? list.map(switchItem)
      : h('li', { class: 'empty' }, 'No SafeSwitch transaction yet.'));
    showError('switches', null);
  } catch (e) {
    showError('switches', e);
    throw e;
  }
}
