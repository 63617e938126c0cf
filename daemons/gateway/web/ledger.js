// The ledger: events filtered by type and actor on the server (GET /api/v1/events?type=&actor=
// &limit=&before=), searched here in what was loaded, an event's inclusion proof (GET
// /api/v1/events/{id}/proof) and the verification of the chain and checkpoints (GET
// /api/v1/events/verify).
import { get, listOf } from './api.js';
import { $, badge, brief, clear, errorLine, fmtTime, h, kv, showError, track } from './ui.js';
import { eventSummary, payloadOf } from './overview.js';

let events = [];
let oldest = null;
let hasMore = false;

function filters() {
  const f = new FormData($('#ledger-filter'));
  return { type: f.get('type').trim(), actor: f.get('actor').trim(), limit: f.get('limit'),
    q: f.get('q').trim().toLowerCase() };
}

function query(f, before) {
  const p = new URLSearchParams();
  if (f.type) p.set('type', f.type);
  if (f.actor) p.set('actor', f.actor);
  p.set('limit', f.limit);
  if (before !== null && before !== undefined) p.set('before', before);
  return '/api/v1/events?' + p.toString();
}

function matches(e, q) {
  if (!q) return true;
  const p = payloadOf(e);
  return [e.type, e.actor, typeof p === 'string' ? p : JSON.stringify(p)]
    .some((s) => s && String(s).toLowerCase().includes(q));
}

async function showProof(e) {
  const box = $('#proof');
  box.hidden = false;
  clear(box, h('h3', {}, 'Event #' + e.id), h('p', {}, 'Loading its proof…'));
  const head = [h('h3', {}, 'Event #' + e.id + ' ', h('span', { class: 'mono' }, e.type)),
    h('p', { class: 'muted' }, fmtTime(e.ts) + ' UTC by ' + e.actor),
    h('pre', { class: 'args' }, JSON.stringify(payloadOf(e), null, 2)),
    e.hash ? h('p', { class: 'mono small' }, 'hash ' + e.hash) : null];
  try {
    const proof = await track('Proof of event #' + e.id, () => get('/api/v1/events/' + encodeURIComponent(e.id) + '/proof'));
    clear(box, head, h('h4', {}, 'Inclusion proof'),
      h('p', { class: 'explain' }, 'The path of hashes from this event up to a signed checkpoint: anyone with the checkpoint can check that this event is in the ledger, unchanged.'),
      kv(proof));
  } catch (err) {
    clear(box, head, h('p', { class: 'error' }, errorLine(err)),
      err.status === 404 ? h('p', { class: 'explain' }, 'An event gets its proof once a signed '
        + 'checkpoint covers it: agentd signs one every few events or seconds.') : null);
  }
  box.scrollIntoView({ block: 'nearest' });
}

function render() {
  const q = filters().q;
  const shown = events.filter((e) => matches(e, q));
  const rows = shown.map((e) => h('tr', { 'data-event': e.id, tabindex: '0', onclick: () => showProof(e),
    onkeydown: (k) => (k.key === 'Enter' ? showProof(e) : null) },
    h('td', { class: 'mono' }, String(e.id)), h('td', { class: 'mono nowrap' }, fmtTime(e.ts)),
    h('td', { class: 'mono' }, e.type), h('td', {}, e.actor), h('td', {}, brief(eventSummary(e), 200))));
  clear($('#ledger tbody'), rows.length ? rows
    : h('tr', {}, h('td', { colspan: '5', class: 'empty' }, events.length ? 'No loaded event matches the search.' : 'No events match.')));
  $('#ledger-older').hidden = !hasMore;
}

async function load(more) {
  const f = filters();
  try {
    const data = await get(query(f, more ? oldest : null));
    const list = listOf(data, 'events');
    events = more ? events.concat(list) : list;
    if (data && 'next_before' in data) {
      hasMore = data.next_before !== null;
      oldest = data.next_before;
    } else {
      hasMore = list.length >= parseInt(f.limit, 10);
      const ids = events.map((e) => Number(e.id)).filter((n) => Number.isFinite(n));
      oldest = ids.length ? Math.min(...ids) : null;
    }
    render();
    showError('ledger', null);
  } catch (e) {
    showError('ledger', e);
    throw e;
  }
}

function verdict(r) {
  for (const k of ['ok', 'valid', 'verified', 'chain_ok'])
    if (typeof r[k] === 'boolean') return r[k];
  if (typeof r.status === 'string') return /^(ok|valid|verified)$/i.test(r.status);
  return null;
}

function counts(r) {
  const parts = [];
  if (r.events !== undefined) parts.push(r.events + ' events re-hashed');
  if (r.checkpoints !== undefined) parts.push(r.checkpoints + ' signed checkpoints checked');
  if (r.signatures_checked === false) parts.push('signatures NOT checked (no public key)');
  if (r.errors) parts.push(r.errors + ' problem(s)');
  return parts.join(', ');
}

async function verify() {
  const box = $('#verify-result');
  const button = $('#verify');
  button.disabled = true;
  box.hidden = false;
  clear(box, h('p', {}, 'Verifying every event and checkpoint…'));
  try {
    const r = await track('Verifying the ledger', () => get('/api/v1/events/verify'));
    const ok = r && typeof r === 'object' ? verdict(r) : null;
    box.className = 'verify-result ' + (ok === true ? 'good' : ok === false ? 'broken' : '');
    clear(box, h('p', { class: 'verdict' }, ok === true ? badge('verified', 'ok') : ok === false ? badge('FAILED', 'bad') : badge('done'),
      ' ', ok === true ? 'The chain of hashes and the signed checkpoints are intact.'
        : ok === false ? 'The ledger does not verify: it was changed, truncated, or a checkpoint cannot be checked. The problems are listed below.'
          : 'See the details.'),
    r && typeof r === 'object' ? h('p', {}, counts(r)) : null,
    r && typeof r === 'object' ? kv(r) : h('pre', {}, String(r)));
  } catch (e) {
    box.className = 'verify-result broken';
    clear(box, h('p', {}, errorLine(e)));
  } finally {
    button.disabled = false;
  }
}

export function init() {
  $('#ledger-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    load(false).catch(() => {});
  });
  $('#ledger-filter [name=q]').addEventListener('input', render);
  $('#ledger-older').addEventListener('click', () => load(true).catch(() => {}));
  $('#verify').addEventListener('click', verify);
}

export function refresh() {
  return load(false);
}
