// The one way the dashboard talks to simmimd: a fetch wrapper that sends the API token and
// turns error bodies into ApiError, the token itself (asked once on a 401, kept in this tab's
// sessionStorage), URLs for what the browser loads without headers (images, downloads, event
// streams: ?access_token=), and Server-Sent Event subscriptions that reconnect.

const TOKEN_KEY = 'simmimd.token';

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || 'internal';
    this.field = error?.field || '';
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

// Concurrent requests that all get 401 share one prompt.
let tokenPrompt = null;

function askToken(rejected) {
  if (tokenPrompt) return tokenPrompt;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  document.getElementById('token-reason').textContent = rejected
    ? 'The daemon refused that token. Enter it again.'
    : 'This daemon needs an API token.';
  input.value = '';
  tokenPrompt = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      tokenPrompt = null;
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return tokenPrompt;
}

// Calls the API: resolves with the JSON (or text) body, rejects with ApiError. A 401 asks
// for the token and tries again.
export async function api(path, { method = 'GET', body } = {}) {
  for (;;) {
    const sent = token();
    const headers = {};
    if (sent) headers.Authorization = `Bearer ${sent}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      // Another request may have got the token meanwhile; only ask if this one was current.
      if (token() === sent) await askToken(sent !== '');
      continue;
    }
    const type = res.headers.get('Content-Type') || '';
    const data = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) throw new ApiError(res.status, data?.error);
    return data;
  }
}

// A URL the browser fetches by itself, with the token in the query.
export function withToken(path) {
  const t = token();
  if (!t) return path;
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(t)}`;
}

// Shows the state of the view's event stream in the header: 'connecting', 'live',
// 'reconnecting', or null (no stream open: hidden).
function setLive(state) {
  const el = document.getElementById('live');
  el.hidden = state === null;
  el.dataset.live = state;
  el.textContent = state;
}

// Subscribes to a Server-Sent Events path. handlers: {eventName: fn(data)}. onOpen runs each
// time the stream (re)connects, so that a view can fetch what happened before or in a break.
// Returns a function that closes the stream.
export function subscribe(path, handlers, onOpen) {
  let source = null;
  let retry = null;
  let closed = false;
  const open = () => {
    source = new EventSource(withToken(path));
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => fn(JSON.parse(e.data)));
    }
    source.onopen = () => {
      setLive('live');
      onOpen();
    };
    source.onerror = () => {
      setLive('reconnecting');
      // The browser retries by itself unless the server refused the stream (e.g. a 401 or
      // a daemon restart answered with an error): then start over after a pause.
      if (source.readyState === EventSource.CLOSED && !closed) retry = setTimeout(open, 3000);
    };
  };
  setLive('connecting');
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    source.close();
    setLive(null);
  };
}
