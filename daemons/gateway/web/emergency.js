// The emergency bar: STOP, FREEZE, LOCKDOWN (POST /api/v1/emergency/{action}), each confirmed
// first, with what it does said in words.
import { post } from './api.js';
import { $, clear, errorLine, h, track } from './ui.js';

const WHAT = {
  stop: 'STOP: stop every agent process gracefully?',
  freeze: 'FREEZE: freeze every agent process where it is (state kept; agentctl thaw resumes)?',
  lockdown: 'LOCKDOWN: kill the agent, block its network, lock the vault and make its workspace '
    + 'read-only? Only root lifts it (agentctl unlock).',
};

let pending = null;
let onChange = () => {};

export function setOnChange(fn) {
  onChange = fn;
}

function ask(action) {
  pending = action;
  $('#emergency-question').textContent = WHAT[action];
  $('#emergency-confirm').hidden = false;
  $('#emergency-yes').focus();
}

async function run() {
  const action = pending;
  $('#emergency-confirm').hidden = true;
  pending = null;
  if (!action) return;
  const out = $('#emergency-result');
  try {
    await track(action.toUpperCase() + ' in progress', () => post('/api/v1/emergency/' + action));
    clear(out, h('strong', {}, action.toUpperCase() + ' done.'), ' It is in the ledger.');
    onChange();
  } catch (e) {
    clear(out, action.toUpperCase() + ' failed: ', errorLine(e),
      e.status === 404 ? ' Use agentctl ' + action + ' on the server.' : '');
  }
}

export function init() {
  document.querySelectorAll('[data-emergency]').forEach((b) =>
    b.addEventListener('click', () => ask(b.dataset.emergency)));
  $('#emergency-yes').addEventListener('click', run);
  $('#emergency-no').addEventListener('click', () => {
    pending = null;
    $('#emergency-confirm').hidden = true;
  });
}
