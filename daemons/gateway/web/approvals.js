// Approvals waiting for a person (GET /api/v1/approvals): what the agent asked for and why it
// waits, approve (once, or with a TTL for identical calls) or deny with a reason (POST
// /api/v1/approvals/{id}/approve|deny). agentd records the decision under the logged-in user.
import { get, listOf, post } from './api.js';
import { $, ago, badge, brief, clear, errorLine, fmtTime, h, showError, track } from './ui.js';

let onChange = () => {};

export function setOnChange(fn) {
  onChange = fn;
}

function isPending(a) {
  return !a.status || a.status === 'pending';
}

function argumentsView(a) {
  const args = a.arguments;
  if (args === undefined || args === null) return a.command ? h('code', {}, a.command) : null;
  return h('pre', { class: 'args' }, JSON.stringify(args, null, 2));
}

async function decide(a, verb, body, item) {
  const out = item.querySelector('.decision');
  const buttons = item.querySelectorAll('button');
  buttons.forEach((b) => (b.disabled = true));
  try {
    const r = await track((verb === 'approve' ? 'Approving ' : 'Denying ') + (a.tool || a.id),
      () => post('/api/v1/approvals/' + encodeURIComponent(a.id) + '/' + verb, body));
    const by = (r && (r.decided_for || (r.approval && r.approval.decided_by))) || '';
    clear(out, badge(verb === 'approve' ? 'approved' : 'denied', verb === 'approve' ? 'ok' : 'bad'),
      by ? ' by ' + by : '');
    item.classList.add('decided');
    onChange();
  } catch (e) {
    clear(out, errorLine(e));
    buttons.forEach((b) => (b.disabled = false));
  }
}

function approvalItem(a) {
  const ttl = h('input', { type: 'number', min: '1', max: '86400', placeholder: 'seconds',
    class: 'ttl', 'aria-label': 'TTL in seconds' });
  const reason = h('input', { type: 'text', maxlength: '500', placeholder: 'why (recorded)',
    class: 'reason', 'aria-label': 'Reason for denying' });
  const item = h('li', { class: 'approval', 'data-approval': a.id });
  const approve = () => {
    const n = parseInt(ttl.value, 10);
    const body = n > 0 ? { mode: 'always', ttl_s: n } : { mode: 'once' };
    decide(a, 'approve', body, item);
  };
  const deny = () => decide(a, 'deny', reason.value.trim() ? { reason: reason.value.trim() } : {}, item);
  item.append(
    h('div', { class: 'approval-head' },
      h('strong', { class: 'mono' }, a.tool || brief(a.command, 60) || a.id), ' ',
      a.is_destructive ? badge('destructive', 'bad') : null, ' ',
      h('span', { class: 'muted' }, 'asked by ' + (a.actor || 'the agent') + ' ' + ago(a.created_at))),
    a.reason ? h('p', { class: 'approval-reason' }, 'Why it waits: ' + a.reason) : null,
    argumentsView(a),
    h('p', { class: 'muted' }, 'id ' + a.id,
      a.job_id ? ' · job ' + a.job_id + ' runs when approved' : '',
      a.expires_at ? ' · expires ' + fmtTime(a.expires_at) + ' UTC' : ''),
    isPending(a)
      ? h('div', { class: 'approval-actions' },
        h('div', { class: 'action' }, h('button', { type: 'button', class: 'approve primary', onclick: approve }, 'Approve'),
          h('label', {}, ' TTL ', ttl), h('span', { class: 'hint' }, 'optional: also allow identical calls for this long')),
        h('div', { class: 'action' }, h('button', { type: 'button', class: 'deny danger-outline', onclick: deny }, 'Deny'),
          h('label', {}, ' ', reason)))
      : h('p', {}, badge(a.status, a.status === 'approved' ? 'ok' : 'bad'),
        a.decided_by ? ' by ' + a.decided_by : ''),
    h('div', { class: 'decision', role: 'status' }));
  return item;
}

export async function refresh() {
  try {
    const data = await get('/api/v1/approvals');
    const list = listOf(data, 'approvals', 'pending');
    const pending = list.filter(isPending);
    clear($('#approvals'), pending.length ? pending.map(approvalItem)
      : h('li', { class: 'empty' }, 'Nothing is waiting for you.'));
    const count = $('#approvals-count');
    count.hidden = pending.length === 0;
    count.textContent = String(pending.length);
    showError('approvals', null);
  } catch (e) {
    showError('approvals', e);
    throw e;
  }
}
