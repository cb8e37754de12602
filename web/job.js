// The job view: state (and what a queued job waits for: its dataset's scan) and actions
// (pause, resume, cancel, delete, each confirmed; clone), its study, its model (the arch and
// sizes: design.js) and its MPI ranks when it has several, a pretraining's design settings
// (mask, decoder, target, loss: design.js), progress, live training-loss / learning-rate /
// validation / throughput curves, the reconstruction previews with a slider over their steps,
// checkpoints with their arch and download links, the log tail and the spec. Everything live
// from the job's event stream.
import { api, subscribe, withToken } from './api.js';
import { fitRange, lineChart } from './charts.js';
import { designRows, initFromText, modelText, previewNote, ranksText } from './design.js';
import { ACTIONS, applyEvent, freshness, isWaiting, liveDuration, metricText, progressView, received, runAction, stateBadge, waitingText } from './jobs.js';
import { confirmAction, fill, flash, flashError, fmtBytes, fmtDuration, fmtNum, fmtPercent, fmtTime, h } from './ui.js';

const LOG_LINES = 200;
const LOG_POLL_MS = 5000;
const WAIT_POLL_MS = 2000; // a queued job waiting for its dataset's scan is fetched again this often
const FINISHED = ['succeeded', 'failed', 'cancelled'];
// Column labels of the reconstruction preview, left to right (core/data/preview.c's layout).
export const PREVIEW_COLUMNS = ['original', 'masked', 'prediction', 'prediction in context'];

// The metric points of a job by step: training (progress events) and evaluation (eval events).
// Maps make a point that arrives twice (fetch and event stream overlap) count once.
//
// An evaluation is placed at its real epoch, step / steps per epoch: its event's "epoch" is
// the whole epochs completed (an evaluation at the end of a run cut short by max_steps, at
// 0.64 epoch, says 0). Steps per epoch come, by preference, from the start event when the
// page saw it, from the progress points (whose epoch is step / steps per epoch, a fraction),
// or from the job's progress.
export function metricStore() {
  const train = new Map();
  const evals = new Map();
  const perEpoch = { start: null, train: null, job: null };
  const ratio = (step, epoch) => (step > 0 && epoch > 0 && Number.isFinite(step / epoch) ? Math.round(step / epoch) : null);
  const stepsPerEpoch = () => perEpoch.start ?? perEpoch.train ?? perEpoch.job;
  return {
    train,
    evals,
    add(p) {
      if (p.loss !== undefined) {
        train.set(p.step, { loss: p.loss, lr: p.lr, img_per_s: p.img_per_s });
        perEpoch.train ??= ratio(p.step, p.epoch);
      }
      if (p.val_loss !== undefined || p.top1 !== undefined || p.knn_top1 !== undefined) {
        evals.set(p.step, { epoch: p.epoch ?? null, val_loss: p.val_loss ?? null, top1: p.top1 ?? null,
          knn_top1: p.knn_top1 ?? null });
      }
    },
    // From a start event's steps_per_epoch.
    setStepsPerEpoch(n) {
      if (n > 0) perEpoch.start = n;
    },
    // From a job's progress {step, epoch}.
    learnFrom(progress) {
      perEpoch.job = ratio(progress.step, progress.epoch) ?? perEpoch.job;
    },
    stepsPerEpoch,
    // The epoch of the evaluation at step (null: not known).
    evalEpoch(step) {
      const n = stepsPerEpoch();
      return n ? step / n : evals.get(step)?.epoch ?? null;
    },
    lastStep() {
      return Math.max(0, ...train.keys(), ...evals.keys());
    },
  };
}

const sortedKeys = (map) => [...map.keys()].sort((a, b) => a - b);

function columns(map, keys, x, ...fields) {
  return [keys.map((k) => (x ? map.get(k)[x] : k)), ...fields.map((f) => keys.map((k) => map.get(k)[f] ?? null))];
}

export function mountJob(root, id) {
  let job = null;
  const fresh = freshness();
  const metrics = metricStore();
  const previews = [];     // steps, ascending
  let followPreviews = true; // the slider stays on the newest preview until moved back
  let charts = [];
  let drawQueued = false;
  const cleanups = [];

  const header = h('div');
  const progressBox = h('section', { class: 'panel', 'aria-label': 'Progress' });
  const chartBoxes = {
    loss: h('div', { class: 'chart', id: 'chart-loss' }),
    lr: h('div', { class: 'chart', id: 'chart-lr' }),
    val: h('div', { class: 'chart', id: 'chart-val' }),
    speed: h('div', { class: 'chart', id: 'chart-speed' }),
  };
  const previewImg = h('img', { id: 'preview-img', alt: 'Reconstruction preview, one test image per row; columns: original, masked, prediction, prediction in context', hidden: true });
  // Labels over the preview's four columns, as wide as the image (shown with it).
  const previewColumns = h('div', { class: 'preview-columns', id: 'preview-columns', 'aria-hidden': 'true', hidden: true },
    PREVIEW_COLUMNS.map((c) => h('span', {}, c)));
  const slider = h('input', { type: 'range', id: 'preview-slider', min: 0, max: 0, value: 0, step: 1, disabled: true });
  const previewLabel = h('output', { for: 'preview-slider', id: 'preview-step' }, 'no preview yet');
  const checkpointsBody = h('tbody');
  const logPre = h('pre', { class: 'log', id: 'log', tabindex: 0, 'aria-label': 'Log tail' });
  const specPre = h('pre', { class: 'spec' });

  // --- header, actions, progress ---
  const act = (action) => runAction(id, action, fresh, showJob);
  const remove = async () => {
    if (!(await confirmAction(`Delete job #${id} with its checkpoints, previews and logs?`, 'Delete'))) return;
    try {
      await api(`/api/v1/jobs/${id}`, { method: 'DELETE' });
      flash(`Job #${id} deleted.`);
      location.hash = '#/jobs';
    } catch (e) {
      flashError(`Delete failed: ${e.message}`);
    }
  };

  const renderHeader = () => {
    const actions = ACTIONS.filter((a) => a.states.includes(job.state)).map((a) =>
      h('button', { type: 'button', class: a.name === 'cancel' ? 'danger' : 'secondary', 'data-action': a.name, onclick: () => act(a) }, a.label));
    if (FINISHED.includes(job.state)) {
      actions.push(h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: remove }, 'Delete'));
    }
    actions.push(h('a', { href: `#/new?from=${id}`, class: 'button secondary' }, 'Clone'));
    const meta = [
      ['Kind', job.kind], ['Dataset', job.dataset || '—'],
      ['Model', h('span', { 'data-setting': 'model', 'data-arch': job.arch }, modelText(job.spec?.model))],
      ...(ranksText(job.spec?.train) ? [['Ranks', h('span', { 'data-setting': 'ranks' }, ranksText(job.spec.train))]] : []),
      ['Priority', job.priority],
      ['Created', fmtTime(job.created_at)], ['Started', fmtTime(job.started_at)],
      ['Finished', fmtTime(job.finished_at)], ['Duration', h('span', { id: 'duration' }, fmtDuration(liveDuration(job)))],
    ];
    if (job.study) meta.push(['Study', h('a', { href: `#/studies/${job.study}`, 'data-study-link': job.study }, `study #${job.study}`)]);
    const from = job.spec?.[job.kind]?.init_from;
    if (job.init_checkpoint_id) {
      meta.push(['Starts from', h('a', { href: withToken(`/api/v1/checkpoints/${job.init_checkpoint_id}/download`), download: '' },
        `checkpoint ${job.init_checkpoint_id}`)]);
    } else if (initFromText(from)) {
      meta.push(['Starts from', initFromText(from)]);
    }
    // A pretraining's design choices, from its spec (an old job's lacks them: the defaults).
    if (job.kind === 'pretrain') {
      for (const [key, label, text] of designRows(job.spec)) meta.push([label, h('span', { 'data-setting': key }, text)]);
    }
    fill(header,
      h('div', { class: 'title-row' },
        h('h1', {}, `Job #${job.id} `, h('span', { class: 'muted' }, job.name || '')),
        h('span', { id: 'job-state' }, stateBadge(job.state))),
      h('div', { class: 'buttons', role: 'group', 'aria-label': 'Job actions' }, actions),
      job.error ? h('p', { class: 'error', role: 'alert' }, job.error) : null,
      // Queued behind its dataset's scan: it starts when the scan ends, or fails with it.
      isWaiting(job) ? h('p', { class: 'waiting', id: 'job-waiting', role: 'status', 'data-waiting': job.waiting_for },
        h('strong', {}, 'Queued, ', waitingText(job), '.'),
        ' It starts once the scan is done, and fails if the scan fails or the dataset does not suit it. ',
        h('a', { href: '#/datasets' }, 'Datasets')) : null,
      h('dl', { class: 'meta' }, meta.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
    renderProgress();
  };

  const renderProgress = () => {
    const m = job.metrics;
    fill(progressBox,
      h('h2', {}, 'Progress'),
      progressView(job),
      h('dl', { class: 'meta' },
        h('dt', {}, 'Epoch'), h('dd', {}, fmtNum(job.progress.epoch, 3)),
        h('dt', {}, 'Latest'), h('dd', {}, metricText(job)),
        h('dt', {}, 'Learning rate'), h('dd', {}, fmtNum(m.lr)),
        h('dt', {}, 'Throughput'), h('dd', { id: 'throughput' }, m.img_per_s ? `${Math.round(m.img_per_s)} img/s` : '—'),
        h('dt', {}, 'Validation'), h('dd', {}, m.val_loss !== undefined ? `loss ${fmtNum(m.val_loss)}` : '—'),
        ...(m.knn_top1 !== undefined ? [h('dt', {}, 'k-NN top-1'), h('dd', { id: 'knn-top1' }, fmtPercent(m.knn_top1))] : [])));
  };

  // --- charts ---
  // The accuracy the validation chart draws beside the loss: a classifier's top1, or a
  // pretraining's k-NN probe (eval.knn: auto draws an empty series until the first evaluation
  // brings one; switched off, none is drawn).
  const accuracyKey = () => {
    if (job.kind !== 'pretrain') return 'top1';
    return job.spec?.eval?.knn?.enabled === false ? null : 'knn_top1';
  };
  const valTitle = { top1: 'Validation loss and top-1 by epoch', knn_top1: 'Validation loss and k-NN top-1 by epoch' };
  const makeCharts = () => {
    const val = [{ label: 'validation loss', points: true }];
    // Top-1 (a fine-tuning's or linear probe's; a pretraining's k-NN probe's) on an axis
    // fitted to its values (±1 point at least), not 0–100 where a few percent of change is a
    // flat line.
    const percent = { scale: '%', points: true, range: fitRange({ share: 0.15, minPad: 1, floor: 0, ceil: 100 }) };
    if (accuracyKey() === 'top1') val.push({ label: 'top-1 %', ...percent });
    else if (accuracyKey()) val.push({ label: 'k-NN top-1 %', ...percent });
    // Epochs from 0 to just past the latest evaluation (from the data: for a lone point
    // uPlot passes a widened range).
    const epochs = (u) => {
      const hi = Math.max(0, ...u.data[0]);
      return [0, hi > 0 ? hi * 1.05 : 1];
    };
    charts = [
      ['loss', lineChart(chartBoxes.loss, { title: 'Training loss', x: 'step', series: [{ label: 'loss' }] })],
      ['lr', lineChart(chartBoxes.lr, { title: 'Learning rate', x: 'step', series: [{ label: 'lr', exp: true }] })],
      ['val', lineChart(chartBoxes.val, { title: valTitle[accuracyKey()] ?? 'Validation loss by epoch', x: 'epoch', xRange: epochs, series: val })],
      ['speed', lineChart(chartBoxes.speed, { title: 'Throughput (img/s)', x: 'step', series: [{ label: 'img/s' }] })],
    ];
  };
  const drawCharts = () => {
    drawQueued = false;
    const trainSteps = sortedKeys(metrics.train);
    metrics.learnFrom(job.progress);
    const evalSteps = sortedKeys(metrics.evals).filter((s) => metrics.evalEpoch(s) !== null);
    const val = columns(metrics.evals, evalSteps, null, 'val_loss', ...(accuracyKey() ? [accuracyKey()] : []));
    val[0] = evalSteps.map((s) => metrics.evalEpoch(s));
    const data = {
      loss: columns(metrics.train, trainSteps, null, 'loss'),
      lr: columns(metrics.train, trainSteps, null, 'lr'),
      val,
      speed: columns(metrics.train, trainSteps, null, 'img_per_s'),
    };
    for (const [name, chart] of charts) chart.setData(data[name]);
  };
  // Progress events come every few steps; draw at most once a frame.
  const queueDraw = () => {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(drawCharts);
  };
  // since: only points after this step (the API wants a step ≥ 0; 0 means all).
  const loadMetrics = async (since) => {
    const q = since > 0 ? `?since=${since}` : '';
    const res = await api(`/api/v1/jobs/${id}/metrics${q}`);
    for (const p of res.metrics) metrics.add(p);
    queueDraw();
  };

  // --- previews ---
  const showPreview = (index) => {
    const step = previews[index];
    slider.value = index;
    previewLabel.textContent = `step ${step} (${index + 1} of ${previews.length})`;
    previewImg.src = withToken(`/api/v1/jobs/${id}/preview.png?step=${step}`);
    previewImg.hidden = false;
    previewColumns.hidden = false;
  };
  const addPreview = (step) => {
    if (previews.includes(step)) return;
    previews.push(step);
    previews.sort((a, b) => a - b);
    slider.max = previews.length - 1;
    slider.disabled = previews.length < 2;
    if (followPreviews) showPreview(previews.length - 1);
  };
  slider.addEventListener('input', () => {
    followPreviews = Number(slider.value) === previews.length - 1;
    showPreview(Number(slider.value));
  });
  const loadPreviews = async () => {
    const res = await api(`/api/v1/jobs/${id}/previews`);
    for (const p of res.previews) addPreview(p.step);
  };

  // --- checkpoints and log ---
  // A corrupt checkpoint (its file no longer hashes to the sha256 recorded when it was
  // written; the daemon refuses to serve it) is marked, and its download disabled.
  const CORRUPT_TITLE = 'The file no longer matches the SHA-256 recorded when it was written; the daemon will not serve or train from it.';
  const checkpointRow = (c) => h('tr', { class: c.corrupt ? 'corrupt' : null, 'data-corrupt': c.corrupt ? 'true' : null },
    h('td', { 'data-label': 'Step' }, c.step,
      c.corrupt ? [' ', h('span', { class: 'badge state-failed', title: CORRUPT_TITLE }, 'corrupt')] : null),
    h('td', { 'data-label': 'Arch', 'data-arch': c.arch }, c.arch || '—'),
    h('td', { 'data-label': 'Size' }, fmtBytes(c.bytes)),
    h('td', { 'data-label': 'SHA-256' }, h('code', { class: 'sha' }, c.sha256)),
    h('td', { 'data-label': 'Written' }, fmtTime(c.created_at)),
    h('td', { 'data-label': '' }, c.corrupt
      ? h('button', { type: 'button', class: 'small secondary', disabled: true, title: CORRUPT_TITLE }, 'Download')
      : h('a', { href: withToken(c.download), download: '', class: 'button small secondary' }, 'Download')));
  const loadCheckpoints = async () => {
    const res = await api(`/api/v1/jobs/${id}/checkpoints`);
    const rows = res.checkpoints.sort((a, b) => b.step - a.step);
    fill(checkpointsBody, rows.length ? rows.map(checkpointRow)
      : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No checkpoint yet.')));
  };
  const loadLog = async () => {
    const text = await api(`/api/v1/jobs/${id}/logs?tail=${LOG_LINES}`);
    const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
    logPre.textContent = text || '(empty)';
    if (atBottom) logPre.scrollTop = logPre.scrollHeight;
  };
  const quietly = (p) => p.catch((e) => flashError(e.message));

  // --- events ---
  // A newer job object, from the stream or a fetch; finishing brings the final artifacts.
  const showJob = (data) => {
    const wasFinished = FINISHED.includes(job.state);
    job = received(data);
    renderHeader();
    if (FINISHED.includes(job.state) && !wasFinished) {
      quietly(Promise.all([loadCheckpoints(), loadLog(), loadPreviews(), loadMetrics(metrics.lastStep() - 1)]));
    }
  };
  const onTrainerEvent = (name) => (ev) => {
    applyEvent(job, name, ev);
    if (name === 'start') metrics.setStepsPerEpoch(ev.steps_per_epoch);
    if (name === 'progress' || name === 'eval') {
      metrics.add(ev);
      queueDraw();
    }
    if (name === 'error') {
      job.error = ev.message;
      renderHeader();
    } else {
      renderProgress();
    }
  };
  const onState = (data) => {
    fresh.event(id);
    showJob(data);
  };
  const loadJob = async () => {
    const started = fresh.start();
    const data = await api(`/api/v1/jobs/${id}`);
    if (!fresh.stale(id, started)) showJob(data);
  };
  // On every (re)connection of the stream: what changed before it or during a break.
  const resync = () => quietly(Promise.all([loadJob(), loadMetrics(metrics.lastStep() - 1), loadPreviews(), loadCheckpoints()]));

  let gone = false; // the view was left while it was still loading
  const start = async () => {
    try {
      job = received(await api(`/api/v1/jobs/${id}`));
      if (gone) return;
    } catch (e) {
      fill(root, h('h1', {}, `Job #${id}`), h('p', { class: 'error' }, e.message), h('a', { href: '#/jobs' }, 'Back to the jobs'));
      return;
    }
    specPre.textContent = JSON.stringify(job.spec, null, 2);
    fill(root, header, progressBox,
      h('section', { class: 'panel', 'aria-label': 'Curves' }, h('h2', {}, 'Curves'),
        h('div', { class: 'charts' }, Object.values(chartBoxes))),
      h('section', { class: 'panel preview', 'aria-label': 'Reconstruction preview' },
        h('h2', {}, 'Reconstruction preview'),
        h('p', { class: 'muted', id: 'preview-caption' }, 'One test image per row. Columns: the original, the masked input, the prediction, and the prediction pasted into the visible patches.',
          previewNote(job.spec) ? [' ', h('span', { id: 'preview-note' }, previewNote(job.spec))] : null),
        h('div', { class: 'field' }, h('label', { for: 'preview-slider' }, 'Preview step'), slider, previewLabel),
        h('figure', { class: 'preview-grid' }, previewColumns, previewImg)),
      h('section', { class: 'panel', 'aria-label': 'Checkpoints' }, h('h2', {}, 'Checkpoints'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'checkpoints' },
          h('thead', {}, h('tr', {}, ['Step', 'Arch', 'Size', 'SHA-256', 'Written', ''].map((t) => h('th', { scope: 'col' }, t)))),
          checkpointsBody))),
      h('section', { class: 'panel', 'aria-label': 'Log' },
        h('div', { class: 'title-row' }, h('h2', {}, `Log (last ${LOG_LINES} lines)`),
          h('button', { type: 'button', class: 'small secondary', onclick: () => quietly(loadLog()) }, 'Refresh')),
        logPre),
      h('details', { class: 'panel' }, h('summary', {}, 'Spec'), specPre));
    if (job.kind !== 'pretrain') previewImg.closest('section').hidden = true;
    makeCharts();
    renderHeader();
    cleanups.push(subscribe(`/api/v1/jobs/${id}/events`, {
      state: onState,
      ...Object.fromEntries(['start', 'progress', 'eval', 'done', 'stopped', 'error'].map((n) => [n, onTrainerEvent(n)])),
      checkpoint: () => quietly(loadCheckpoints()),
      checkpoint_deleted: () => quietly(loadCheckpoints()),
      preview: (ev) => addPreview(ev.step),
    }, resync));
    quietly(loadLog());
    // Between events: the log has no stream of its own, and a running job's duration ticks.
    const poll = setInterval(() => {
      if (job.state === 'running') quietly(loadLog());
    }, LOG_POLL_MS);
    const ticker = setInterval(() => {
      if (job.state === 'running') header.querySelector('#duration').textContent = fmtDuration(liveDuration(job));
    }, 1000);
    // The daemon announces the end of a wait for a scan when the job starts or fails; a scan
    // done while every job slot is busy ends the wait without an event. (Redrawn only when
    // the wait changed: the note is a live region.)
    const waitPoll = setInterval(() => {
      if (!isWaiting(job)) return;
      const started = fresh.start();
      quietly(api(`/api/v1/jobs/${id}`).then((data) => {
        if (fresh.stale(id, started) || (data.state === job.state && data.waiting_for === job.waiting_for)) return;
        showJob(data);
      }));
    }, WAIT_POLL_MS);
    cleanups.push(() => clearInterval(poll), () => clearInterval(ticker), () => clearInterval(waitPoll));
  };

  start();
  return () => {
    gone = true;
    for (const c of cleanups) c();
    for (const [, chart] of charts) chart.destroy();
  };
}
