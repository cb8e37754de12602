// The one way the dashboard talks to simmimd: a fetch wrapper that sends the API token and
// turns error bodies into ApiError, the token itself (asked once on a 401, kept in this tab's
// sessionStorage), URLs for what the browser loads without headers (images, downloads:
// ?access_token=), and Server-Sent Event subscriptions (read with fetch) that reconnect.

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

// Splits a Server-Sent Events body (a ReadableStream of bytes) into events, as EventSource
// does: "event", "data" (lines joined by \n), "id" and "retry" fields, comments ignored, an
// event dispatched at its blank line (and dropped when the stream ends before it). Resolves
// when the stream ends.
async function readEvents(body, onEvent, onRetry) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  let type = '';
  let data = [];
  let id = null;
  const line = (text) => {
    if (text === '') {
      if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id });
      type = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const name = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') type = value;
    else if (name === 'data') data.push(value);
    else if (name === 'id' && !value.includes('\0')) id = value;
    else if (name === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // A "\r" at the end of a chunk may be the first half of "\r\n": keep it for the next one.
    const text = rest + value;
    const cut = text.endsWith('\r') ? text.length - 1 : text.length;
    const lines = text.slice(0, cut).split(/\r\n|\r|\n/);
    rest = lines.pop() + text.slice(cut);
    for (const l of lines) line(l);
  }
}

// Subscribes to a Server-Sent Events path. handlers: {eventName: fn(data)}. onOpen runs each
// time the stream (re)connects, so that a view can fetch what happened before or in a break.
// Returns a function that closes the stream.
//
// The stream is read with fetch() rather than EventSource: Chromium's virtual time (headless
// `--virtual-time-budget`, which screenshot tools use) waits for every EventSource as for a
// load that never ends, so a page holding one never settled, while a fetch() whose body is
// being streamed does not hold it. Reconnection follows EventSource's rules: after the
// server's "retry" delay, with Last-Event-ID, also after a refused stream (a 401, a restart).
export function subscribe(path, handlers, onOpen) {
  let closed = false;
  let abort = null;
  let retry = null;
  let delay = 3000;
  let lastId = null;
  const dispatch = (ev) => {
    if (ev.id !== null) lastId = ev.id;
    const fn = handlers[ev.type];
    if (!fn) return;
    // A handler's exception is the page's, as with EventSource's listeners: reported, and the
    // stream goes on.
    try {
      fn(JSON.parse(ev.data));
    } catch (e) {
      reportError(e);
    }
  };
  const open = async () => {
    abort = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    const sent = token();
    if (sent) headers.Authorization = `Bearer ${sent}`;
    if (lastId !== null) headers['Last-Event-ID'] = lastId;
    try {
      const res = await fetch(path, { headers, cache: 'no-store', signal: abort.signal });
      if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
        res.body?.cancel();
      } else {
        setLive('live');
        onOpen();
        await readEvents(res.body, dispatch, (ms) => { delay = ms; });
      }
    } catch {
      // A network failure, or close() aborting the read: both end this connection.
    }
    if (closed) return;
    setLive('reconnecting');
    retry = setTimeout(open, delay);
  };
  setLive('connecting');
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    abort?.abort();
    setLive(null);
  };
}
