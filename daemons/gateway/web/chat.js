// Chat with the agent over the gateway's WebSocket (/ws, authenticated by the session cookie):
// osModa's messages — text streamed into the answer, tool_use and tool_result shown with the
// policy's decision, status as progress, error (the "no driver" one as guidance), done.
import { $, badge, begin, clear, h } from './ui.js';

const RECONNECT_MAX_MS = 60000;

let ws = null;
let wanted = false;
let retryMs = 1000;
let retryTimer = null;
let answer = null; // the element the streamed text goes into
let turn = null; // the activity line of the running turn
const tools = new Map(); // tool_use id → its card
let onEvent = () => {};

export function setOnEvent(fn) {
  onEvent = fn;
}

function log(...nodes) {
  const box = $('#chat-log');
  const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 40;
  box.append(...nodes);
  if (stick) box.scrollTop = box.scrollHeight;
}

function setState(text, kind) {
  const el = $('#chat-state');
  el.textContent = text;
  el.className = 'chat-state ' + (kind || '');
}

function busy(on) {
  $('#chat-abort').disabled = !on;
  $('#chat-send').disabled = on;
  if (!on) {
    answer = null;
    if (turn) turn.end();
    turn = null;
  }
}

function decisionBadge(m) {
  const d = m.decision;
  if (d === 'pending' || d === 'approve')
    return [badge('waits for approval', 'warn'), ' decide it on the ',
      h('a', { href: '#approvals' }, 'Approvals'), ' page'];
  if (d === 'deny' || d === 'denied' || d === 'refused') return [badge('denied by the policy', 'bad')];
  if (m.is_error) return [badge('failed', 'bad')];
  return [badge(d ? String(d) : 'done', 'ok')];
}

function toolUse(m) {
  const card = h('div', { class: 'msg tool', 'data-tool': m.name || '' },
    h('div', {}, 'Tool ', h('strong', { class: 'mono' }, m.name || '?'), ' ',
      h('span', { class: 'tool-decision' }, badge('running', 'warn'))),
    m.input !== undefined ? h('pre', { class: 'args' }, JSON.stringify(m.input, null, 2)) : null);
  if (m.id) tools.set(m.id, card);
  answer = null; // text after a tool call starts a new bubble
  log(card);
  if (turn) turn.update('The agent is using ' + (m.name || 'a tool'));
}

function toolResult(m) {
  let card = m.id ? tools.get(m.id) : null;
  if (!card) {
    card = h('div', { class: 'msg tool' }, h('div', {}, 'Tool result ', h('span', { class: 'tool-decision' })));
    log(card);
  }
  clear(card.querySelector('.tool-decision'), decisionBadge(m));
  onEvent('tool_result', m);
}

function errorMessage(m) {
  if (m.code === 'no_driver') {
    log(h('div', { class: 'msg guidance', role: 'note' },
      h('strong', {}, 'Setting up the chat'),
      h('p', { class: 'pre' }, m.text || ''),
      h('p', {}, 'Everything else on this dashboard works without an agent.')));
  } else {
    log(h('div', { class: 'msg error' }, badge(m.code || 'error', 'bad'), ' ', m.text || 'error'));
  }
}

function receive(ev) {
  let m;
  try {
    m = JSON.parse(ev.data);
  } catch {
    return;
  }
  switch (m.type) {
  case 'text':
    if (!answer) {
      answer = h('div', { class: 'msg agent' });
      log(answer);
    }
    answer.append(document.createTextNode(m.text || ''));
    break;
  case 'tool_use': toolUse(m); break;
  case 'tool_result': toolResult(m); break;
  case 'status':
    if (turn) turn.update(m.text || 'working');
    log(h('div', { class: 'msg status' }, m.text || ''));
    break;
  case 'error': errorMessage(m); break;
  case 'done':
    busy(false);
    onEvent('done', m);
    break;
  case 'backpressure_pause':
    log(h('div', { class: 'msg status' }, 'The connection is slow: some messages are being skipped.'));
    break;
  case 'backpressure_resume':
    log(h('div', { class: 'msg status' }, 'Caught up' + (m.dropped ? ' (' + m.dropped + ' messages skipped)' : '') + '.'));
    break;
  default: break;
  }
}

function scheduleReconnect() {
  if (!wanted || retryTimer) return;
  setState('reconnecting in ' + Math.round(retryMs / 1000) + ' s', 'warn');
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
}

function connect() {
  if (ws && ws.readyState <= WebSocket.OPEN) return;
  wanted = true;
  setState('connecting…', 'warn');
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  ws.addEventListener('open', () => {
    retryMs = 1000;
    setState('connected', 'ok');
    $('#chat-send').disabled = false;
  });
  ws.addEventListener('message', receive);
  ws.addEventListener('close', (e) => {
    ws = null;
    if (turn) busy(false);
    if (e.code === 4003) {
      setState('closed after 10 minutes without a message; sending reconnects', '');
      return;
    }
    setState('disconnected' + (e.reason ? ': ' + e.reason : ''), 'bad');
    scheduleReconnect();
  });
}

function send(e) {
  e.preventDefault();
  const text = $('#chat-text').value.trim();
  if (!text) return;
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    connect();
    log(h('div', { class: 'msg status' }, 'Connecting; send again in a moment.'));
    return;
  }
  log(h('div', { class: 'msg me' }, text));
  ws.send(JSON.stringify({ type: 'chat', text }));
  $('#chat-text').value = '';
  busy(true);
  turn = begin('The agent is answering');
}

export function init() {
  $('#chat-form').addEventListener('submit', send);
  $('#chat-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) send(e);
  });
  $('#chat-abort').addEventListener('click', () => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'abort' }));
  });
}

// Opens the socket the first time the chat is shown; it stays open afterwards.
export function show() {
  connect();
}

export function stop() {
  wanted = false;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (ws) ws.close(1000);
  ws = null;
}
