// The gateway's HTTP API as the dashboard uses it: the session cookie (set by POST /auth/login,
// never readable here), the CSRF value kept in memory and sent as X-CSRF-Token on every change,
// and the error envelope {code, message, detail?, request_id} turned into an ApiError.

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message, requestId, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.detail = detail;
  }
}

async function parse(res) {
  const type = res.headers.get('content-type') || '';
  if (res.status === 204) return null;
  if (type.includes('json')) {
    try {
      return await res.json();
    } catch {
      return null;
    }
  }
  return await res.text();
}

// method path [body] → the parsed answer, or throws ApiError (network failures included).
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'the gateway did not answer (' + e.message + ')', null);
  }
  const data = await parse(res);
  if (res.ok) return data;
  const env = data && typeof data === 'object' ? data : {};
  throw new ApiError(res.status, env.code || env.error || 'http_' + res.status,
    env.message || (typeof data === 'string' && data) || res.statusText || 'request failed',
    env.request_id || res.headers.get('X-Request-Id'), env.detail);
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);

// GET /auth/session: {user, csrf, expires_at} when logged in, else null.
export async function session() {
  try {
    const s = await get('/auth/session');
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function login(token, user) {
  const body = { token };
  if (user) body.user = user;
  const s = await call('POST', '/auth/login', body);
  csrf = s.csrf;
  return s;
}

export async function logout() {
  try {
    await post('/auth/logout');
  } finally {
    csrf = null;
  }
}

// The list in an answer that is either a list or an object holding one under one of keys.
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (!data || typeof data !== 'object') return [];
  for (const k of keys) if (Array.isArray(data[k])) return data[k];
  return [];
}
