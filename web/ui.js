// Small pieces every view uses: building DOM nodes (text only, never HTML from the API),
// number/time formatting, the confirmation dialog, the flash message, the tabs of #/new,
// showing an API validation error beside the form control it names (a list's, for one of its
// elements), reading a list of integers typed in a box, and posting a form.
import { api } from './api.js';

// h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child...) → Element.
// Attributes that are false/null/undefined are left out; on* values become listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

// Replaces an element's content.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function fmtTime(unixSeconds) {
  if (!unixSeconds) return '—';
  return new Date(unixSeconds * 1000).toLocaleString();
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

// A number in few characters: 0.1234, 1.2e-5, 3456.
export function fmtNum(x, digits = 4) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

// A top-1 as the study tables write it: two decimals (67.97%, not 68%).
export function fmtPercent(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}%`;
}

// Shows a message at the top of the page until the next one (or ms milliseconds).
let flashTimer = null;
export function flash(text, ms = 6000) {
  const el = document.getElementById('flash');
  el.textContent = text;
  el.hidden = false;
  el.classList.remove('failure');
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, ms);
}

// A failure the user should see; also logged, so that it shows in the browser's console
// (log false: news of a failure elsewhere, such as a dataset's scan, not the page's own).
export function flashError(text, log = true) {
  flash(text, 12000);
  document.getElementById('flash').classList.add('failure');
  if (log) console.error(text);
}

// The two forms of #/new as tabs: a job (#/new) or a study (#/new?study); current: 'job' or
// 'study'.
export function newTabs(current) {
  const tab = (href, label, name) => h('a', { href, class: 'tab', 'aria-current': name === current ? 'page' : null }, label);
  return h('nav', { class: 'tabs', 'aria-label': 'What to start' }, tab('#/new', 'A job', 'job'), tab('#/new?study', 'A study', 'study'));
}

// Asks before an action that cannot be undone; resolves true when confirmed.
export function confirmAction(question, yesLabel) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = question;
  document.getElementById('confirm-yes').textContent = yesLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    dialog.showModal();
  });
}

// A labelled form control with a slot for its error message. The control's name is the
// API's field name (e.g. "train.epochs"), which is how showFieldError finds it.
export function field(label, control, hint) {
  const id = control.id || `f-${control.name.replace(/\W/g, '-')}`;
  control.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-error-for': control.name, hidden: true });
  const describedBy = [`${id}-error`];
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { class: 'hint', id: `${id}-hint` }, hint);
    describedBy.push(hintEl.id);
  }
  control.setAttribute('aria-describedby', describedBy.join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl, error);
}

export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

// Puts the API's message beside the control named by error.field, or into the fallback
// slot (e.g. the form's summary) when no visible control has that name. Returns whether a
// control was found.
export function showFieldError(form, error, fallback) {
  const control = error.field && form.querySelector(`[name="${CSS.escape(error.field)}"]`);
  const folded = control && control.closest('details:not([open])');
  if (folded) folded.open = true;
  const slot = control && control.offsetParent !== null
    && form.querySelector(`[data-error-for="${CSS.escape(error.field)}"]`);
  if (!slot) {
    fill(fallback, error.message);
    fallback.hidden = false;
    return false;
  }
  slot.textContent = error.message;
  slot.hidden = false;
  control.setAttribute('aria-invalid', 'true');
  control.focus();
  return true;
}

// "2, 2, 6" → [2, 2, 6]; null when it is not a list of integers (the daemon says what it takes).
export function parseIntList(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  return parts.length && parts.every((p) => /^\d+$/.test(p)) ? parts.map(Number) : null;
}

// The control of an error's field: a list's for one of its elements ("model.num_heads[1]" is
// typed in the box of model.num_heads).
const listControl = (field) => field?.replace(/\[\d+\]$/, '');

// A form's submit handler: clears its errors, builds the body (null: build showed why), POSTs
// it to path with the submit button disabled, and gives done the answer. A refusal (4xx) shows
// beside the control controlFor(its field) names, or in summary; anything else in summary as
// "Could not <what>: ...".
export function postForm(form, summary, { path, build, done, what, controlFor = listControl }) {
  return async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    summary.hidden = true;
    const body = build();
    if (!body) return;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      done(await api(path, { method: 'POST', body }));
    } catch (err) {
      if (!err.status || err.status >= 500) {
        fill(summary, `Could not ${what}: ${err.message}`);
        summary.hidden = false;
      } else {
        showFieldError(form, { field: controlFor(err.field), message: err.message }, summary);
      }
    } finally {
      button.disabled = false;
    }
  };
}
