// Small DOM helpers shared by the pages: elements built with text nodes only (nothing the
// server sends is ever parsed as HTML), times, badges, errors, and the activity strip that shows
// what is running and for how long.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'hidden' || k === 'disabled') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel) => document.querySelector(sel);

export function clear(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

// "2025-06-01T10:00:00.000Z" or Unix seconds → "2025-06-01 10:00:00"
export function fmtTime(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t > 1e12 ? t : t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export function ago(t) {
  const d = typeof t === 'number' ? new Date(t > 1e12 ? t : t * 1000) : new Date(t);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (Number.isNaN(s)) return '';
  if (s < 0) return 'in ' + duration(-s);
  return duration(s) + ' ago';
}

export function duration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 90) return s + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  if (s < 172800) return Math.round(s / 3600) + ' h';
  return Math.round(s / 86400) + ' days';
}

export function badge(text, kind) {
  return h('span', { class: 'badge ' + (kind || '') }, text);
}

// The text of any JSON value, short.
export function brief(v, max = 160) {
  if (v === undefined || v === null) return '';
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s.length > max) s = s.slice(0, max - 1) + '…';
  return s;
}

// A definition list of an object's fields, nested objects indented; for answers whose exact
// shape the dashboard does not need to know (proofs, verification details).
export function kv(obj, depth = 0) {
  if (obj === null || typeof obj !== 'object') return h('span', {}, brief(obj, 400));
  const dl = h('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(obj)) {
    const nested = v && typeof v === 'object' && depth < 2 && !Array.isArray(v);
    let val;
    if (nested) val = kv(v, depth + 1);
    else if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) val = v.join(', ');
    else val = brief(v, 400);
    dl.append(h('dt', {}, k), h('dd', { class: 'mono' }, val));
  }
  return dl;
}

// Shows err (an ApiError or any Error) in the page's error box, or hides it when err is null.
export function showError(page, err) {
  const box = document.querySelector('[data-error="' + page + '"]');
  if (!box) return;
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  box.replaceChildren(errorLine(err));
}

export function errorLine(err) {
  const parts = [h('strong', {}, err.message || String(err))];
  if (err.code) parts.push(' ', h('span', { class: 'mono' }, '(' + err.code + ')'));
  if (err.requestId) parts.push(h('span', { class: 'rid' }, ' request ' + err.requestId));
  return h('span', {}, parts);
}

// Long operations: a line each while they run, with the time they have taken so far.
const running = new Map();
let ticker = null;

function renderActivity() {
  const box = document.getElementById('activity');
  if (!box) return;
  const now = Date.now();
  box.replaceChildren(...[...running.values()].map((a) =>
    h('div', { class: 'job' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      a.text, ' ', h('span', { class: 'elapsed' }, duration((now - a.start) / 1000)))));
  if (running.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

// Runs fn() while showing text in the activity strip; returns fn's result.
export async function track(text, fn) {
  const id = Symbol(text);
  running.set(id, { text, start: Date.now() });
  if (!ticker) ticker = setInterval(renderActivity, 1000);
  renderActivity();
  try {
    return await fn();
  } finally {
    running.delete(id);
    renderActivity();
  }
}

// A long job whose end is signalled elsewhere (a chat turn): {update(text), end()}.
export function begin(text) {
  const id = Symbol(text);
  running.set(id, { text, start: Date.now() });
  if (!ticker) ticker = setInterval(renderActivity, 1000);
  renderActivity();
  return {
    update(t) {
      const a = running.get(id);
      if (a) a.text = t;
      renderActivity();
    },
    end() {
      running.delete(id);
      renderActivity();
    },
  };
}
