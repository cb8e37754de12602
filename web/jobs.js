// The jobs view: every job with its state (and what a queued job waits for: its dataset's
// scan), kind, dataset, progress, latest metric, creation time and duration, the study it
// belongs to, and its actions (pause, resume, cancel, each confirmed; clone), filtered by state
// and kind (and by study: #/jobs?study=3), kept current by the all-jobs event stream. Also the pieces of a job's display that the job view shares
// (state badge, what it waits for, progress, metric, actions).
import { api, subscribe } from './api.js';
import { confirmAction, fill, flashError, fmtDuration, fmtNum, fmtPercent, fmtTime, h } from './ui.js';

const STATES = ['queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled'];
export const KINDS = ['pretrain', 'finetune', 'linprobe'];
const LIST_LIMIT = 200;
const WAIT_POLL_MS = 3000; // how often queued jobs are fetched again while one shown waits

// Which action each state allows, with its confirmation.
export const ACTIONS = [
  { name: 'pause', label: 'Pause', states: ['running'], ask: 'Pause job #{id}? It checkpoints and stops; resume continues from there.' },
  { name: 'resume', label: 'Resume', states: ['paused'], ask: 'Resume job #{id}? It is queued again.' },
  { name: 'cancel', label: 'Cancel', states: ['queued', 'running', 'paused'], ask: 'Cancel job #{id}? This cannot be undone.' },
];

// Asks for confirmation, then POSTs the action; show(job) gets the job the daemon answers
// with unless a newer one came meanwhile (fresh: the view's freshness()).
export async function runAction(id, action, fresh, show) {
  if (!(await confirmAction(action.ask.replace('{id}', id), `${action.label} job`))) return;
  try {
    const started = fresh.start();
    const updated = await api(`/api/v1/jobs/${id}/${action.name}`, { method: 'POST' });
    if (!fresh.stale(id, started)) show(updated);
  } catch (e) {
    flashError(`${action.label} failed: ${e.message}`);
  }
}

// A job object as the API sends it, stamped with when it arrived so that a running job's
// duration can tick on without trusting the browser's clock against the daemon's.
export function received(job) {
  job.receivedAt = Date.now() / 1000;
  job.metrics = job.metrics || {};
  job.progress = job.progress || {};
  return job;
}

// Folds a trainer event into a job object (as the daemon does into its row).
export function applyEvent(job, name, ev) {
  const p = job.progress;
  if (name === 'start') {
    p.total = ev.total_steps;
    // A resumed run goes back to its checkpoint, behind steps it may have reported before a
    // kill; the daemon moves the job's progress back the same way (and ignores a step beyond
    // the run, as here: the event reaches the page either way).
    if (Number.isFinite(ev.resumed_from_step) && ev.resumed_from_step <= ev.total_steps) {
      const epoch = ev.steps_per_epoch > 0 ? ev.resumed_from_step / ev.steps_per_epoch : null;
      Object.assign(p, { step: ev.resumed_from_step, epoch, eta_s: null });
    }
  }
  if (name === 'progress') {
    Object.assign(p, { step: ev.step, total: ev.total_steps, epoch: ev.epoch, eta_s: ev.eta_s });
    Object.assign(job.metrics, { loss: ev.loss, lr: ev.lr, img_per_s: ev.img_per_s });
  }
  if (name === 'eval') {
    job.metrics.val_loss = ev.val_loss;
    if (ev.top1 !== undefined) job.metrics.top1 = ev.top1;
    if (ev.knn_top1 !== undefined) job.metrics.knn_top1 = ev.knn_top1;
  }
  if (name === 'done') Object.assign(p, { step: ev.step, eta_s: 0 });
  // Paused or cancelled: the run stopped at the step of the checkpoint it just wrote, which
  // may be past its last progress event (the daemon's job object then says the same).
  if (name === 'stopped' && Number.isFinite(ev.step)) {
    const epoch = p.step > 0 && p.epoch > 0 ? (p.epoch / p.step) * ev.step : p.epoch;
    Object.assign(p, { step: ev.step, epoch, eta_s: null });
  }
}

// Job objects come from fetches and from the event stream, over different connections, so
// they may arrive out of order: a fetched job is older than a state event of that job that
// arrived while the fetch was in flight, and must not overwrite it.
export function freshness() {
  let events = 0;
  const latest = new Map(); // job id → the count of state events when its last one came
  return {
    event(id) { latest.set(id, ++events); },
    start() { return events; }, // before fetching; pass the result to stale()
    stale(id, started) { return (latest.get(id) ?? 0) > started; },
  };
}

export function liveDuration(job) {
  if (job.duration_s === null || job.duration_s === undefined) return null;
  return job.state === 'running' ? job.duration_s + (Date.now() / 1000 - job.receivedAt) : job.duration_s;
}

// Why a queued job does not start yet, from waiting_for ("dataset NAME scanning"): "waiting
// for dataset NAME: scanning"; null when it does not wait.
export function waitingText(job) {
  const why = job.state === 'queued' ? job.waiting_for : null;
  if (!why) return null;
  const m = /^dataset (\S+) (\S+)$/.exec(why);
  return m ? `waiting for dataset ${m[1]}: ${m[2]}` : `waiting for ${why}`;
}

// Whether a job waits for something (polled: the daemon announces the end of a wait only
// when the job starts or fails).
export const isWaiting = (job) => waitingText(job) !== null;

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}`, 'data-state': state }, state);
}

// A progress bar with "step / total" and the ETA while running.
export function progressView(job) {
  const { step = 0, total } = job.progress;
  const bar = h('progress', { max: total || 1, value: total ? step : 0, 'aria-label': `Job ${job.id} progress` });
  let text = total ? `${step} / ${total}` : `${step}`;
  if (job.state === 'running' && job.progress.eta_s) text += ` · ETA ${fmtDuration(job.progress.eta_s)}`;
  return h('div', { class: 'progress' }, bar, h('span', { class: 'progress-text' }, text));
}

// The latest loss, or top-1 once a fine-tuning or linear probe has evaluated; a pretraining's
// k-NN top-1 beside its loss once it has one.
export function metricText(job) {
  const m = job.metrics;
  if (m.top1 !== undefined && m.top1 !== null) return `top-1 ${fmtPercent(m.top1)}`;
  const knn = m.knn_top1 !== undefined && m.knn_top1 !== null ? `, k-NN ${fmtPercent(m.knn_top1)}` : '';
  if (m.loss !== undefined && m.loss !== null) return `loss ${fmtNum(m.loss)}${knn}`;
  return '—';
}

// onAction(id, action): a button of the row was pressed.
function jobRow(job, onAction) {
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  // The handlers name the job by id only: a redraw keeps equal buttons, with their listeners.
  const actions = ACTIONS.filter((a) => a.states.includes(job.state)).map((a) =>
    h('button', { type: 'button', class: `small ${a.name === 'cancel' ? 'danger' : 'secondary'}`, 'data-action': a.name,
      'aria-label': `${a.label} job #${job.id}`, onclick: () => onAction(job.id, a) }, a.label));
  return h('tr', { 'data-job-id': job.id },
    cell('Job', h('a', { href: `#/jobs/${job.id}` }, `#${job.id} ${job.name || ''}`),
      job.study ? h('a', { href: `#/studies/${job.study}`, class: 'study-link', 'data-study-link': job.study }, `study #${job.study}`) : null),
    cell('State', isWaiting(job)
      ? h('div', { class: 'state-cell' }, stateBadge(job.state), h('div', { class: 'waiting', 'data-waiting': job.waiting_for }, waitingText(job)))
      : stateBadge(job.state)),
    cell('Kind', job.kind),
    cell('Dataset', job.dataset || '—'),
    cell('Progress', progressView(job)),
    cell('Metric', h('span', { class: 'metric' }, metricText(job))),
    cell('Created', fmtTime(job.created_at)),
    cell('Duration', h('span', { class: 'duration' }, fmtDuration(liveDuration(job)))),
    cell('', h('div', { class: 'buttons row-actions', role: 'group', 'aria-label': `Job #${job.id} actions` },
      actions, h('a', { href: `#/new?from=${job.id}`, class: 'button small secondary', 'aria-label': `Clone job #${job.id}` }, 'Clone'))));
}

function filterSelect(label, name, options, value, onchange) {
  const select = h('select', { id: `filter-${name}`, name, onchange },
    h('option', { value: '' }, `any ${name}`),
    options.map((o) => h('option', { value: o, selected: o === value }, o)));
  return h('div', { class: 'field inline' }, h('label', { for: select.id }, label), select);
}

export function mountJobs(root, query) {
  const filter = { state: query.get('state') || '', kind: query.get('kind') || '', study: query.get('study') || '' };
  let jobs = new Map(); // id → job, the rows shown
  const fresh = freshness();
  let total = 0;
  const tbody = h('tbody');
  const summary = h('p', { class: 'muted', id: 'jobs-summary' });
  const matches = (job) => (!filter.state || job.state === filter.state) && (!filter.kind || job.kind === filter.kind)
    && (!filter.study || String(job.study) === filter.study);

  const render = () => {
    const sorted = [...jobs.values()].sort((a, b) => b.id - a.id);
    fill(tbody, sorted.map((job) => jobRow(job, onAction)));
    if (!sorted.length) fill(tbody, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No jobs. ', h('a', { href: '#/new' }, 'Submit one.'))));
    summary.textContent = `${sorted.length} of ${Math.max(total, sorted.length)} job(s)`;
  };
  // Redraws one row in place (events arrive every few steps; the rest of the table stays),
  // swapping only the cells that changed: a link replaced between the press and the release
  // of a click swallows the click.
  const renderRow = (job) => {
    const old = tbody.querySelector(`tr[data-job-id="${job.id}"]`);
    if (!old) return render();
    [...jobRow(job, onAction).children].forEach((cell, i) => {
      if (!cell.isEqualNode(old.children[i])) old.children[i].replaceWith(cell);
    });
  };

  // Loads overlap (the first, the stream's opening, a filter change); only the newest one's
  // answer is shown, or a slow unfiltered answer would overwrite a filtered one.
  let loads = 0;
  const load = async () => {
    const mine = ++loads;
    const params = new URLSearchParams({ limit: LIST_LIMIT });
    if (filter.state) params.set('state', filter.state);
    if (filter.kind) params.set('kind', filter.kind);
    if (filter.study) params.set('study', filter.study);
    try {
      const started = fresh.start();
      const list = await api(`/api/v1/jobs?${params}`);
      if (mine !== loads) return;
      const shown = jobs;
      jobs = new Map(list.jobs.map((job) =>
        [job.id, fresh.stale(job.id, started) && shown.has(job.id) ? shown.get(job.id) : received(job)]));
      total = list.total;
      render();
    } catch (e) {
      if (mine === loads) flashError(`Could not list the jobs: ${e.message}`);
    }
  };

  const onFilter = (e) => {
    filter[e.target.name] = e.target.value;
    const params = new URLSearchParams(Object.entries(filter).filter(([, v]) => v));
    history.replaceState(null, '', `#/jobs${params.size ? `?${params}` : ''}`);
    load();
  };

  // A newer job object (a state event, or the answer to an action).
  const show = (job) => {
    received(job);
    if (matches(job)) {
      if (!jobs.has(job.id)) total++;
      jobs.set(job.id, job);
      renderRow(job);
    } else if (jobs.delete(job.id)) {
      total--;
      render();
    }
  };
  const onState = (job) => {
    fresh.event(job.id);
    show(job);
  };
  const onAction = (id, action) => runAction(id, action, fresh, show);
  const onTrainerEvent = (name) => (ev) => {
    const job = jobs.get(ev.job_id);
    if (!job) return;
    applyEvent(job, name, ev);
    renderRow(job);
  };

  fill(root,
    h('div', { class: 'title-row' }, h('h1', {}, 'Jobs'), h('a', { href: '#/new', class: 'button' }, 'New job')),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      filterSelect('State', 'state', STATES, filter.state, onFilter),
      filterSelect('Kind', 'kind', KINDS, filter.kind, onFilter),
      filter.study ? h('p', { class: 'muted', id: 'study-filter' }, 'The jobs of ', h('a', { href: `#/studies/${filter.study}` }, `study #${filter.study}`),
        ' (', h('a', { href: '#/jobs' }, 'all jobs'), ')') : null),
    summary,
    h('div', { class: 'table-wrap' }, h('table', { class: 'jobs cards' },
      h('thead', {}, h('tr', {}, ['Job', 'State', 'Kind', 'Dataset', 'Progress', 'Metric', 'Created', 'Duration', ''].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));

  load(); // also before the stream opens: a 401 here asks for the token
  const close = subscribe('/api/v1/events', {
    state: onState,
    start: onTrainerEvent('start'),
    progress: onTrainerEvent('progress'),
    eval: onTrainerEvent('eval'),
    done: onTrainerEvent('done'),
    stopped: onTrainerEvent('stopped'),
  }, load);
  // A job waiting for its dataset's scan: the daemon sends a state event when it starts or
  // fails, not when the wait ends otherwise (the scan done, all job slots busy); the queued
  // jobs are fetched again while one shown waits.
  const refreshWaiting = async () => {
    if (![...jobs.values()].some(isWaiting)) return;
    try {
      const started = fresh.start();
      const list = await api(`/api/v1/jobs?state=queued&limit=${LIST_LIMIT}`);
      for (const job of list.jobs) {
        const had = jobs.get(job.id);
        if (had && !fresh.stale(job.id, started) && had.state === job.state && had.waiting_for !== job.waiting_for) show(job);
      }
    } catch {
      // The next poll, or the stream's reconnection, tries again.
    }
  };
  const waitPoll = setInterval(refreshWaiting, WAIT_POLL_MS);
  // Running jobs' durations tick between events.
  const ticker = setInterval(() => {
    for (const job of jobs.values()) {
      if (job.state !== 'running') continue;
      const el = tbody.querySelector(`tr[data-job-id="${job.id}"] .duration`);
      if (el) el.textContent = fmtDuration(liveDuration(job));
    }
  }, 1000);
  return () => {
    close();
    clearInterval(ticker);
    clearInterval(waitPoll);
  };
}
