// The study view (#/studies/<id>): its state, grid, seeds and progress, and its actions (pause,
// resume, cancel, delete, each confirmed); its table laid out as the paper's — the axes' values
// as rows, the baseline first, top-1 mean ± sd, gain ± se over the baseline, the pretraining's
// k-NN top-1 and, when the study probes, the linear probe's, the pretraining's cost — with links
// to each child job and to table.md / table.csv; a chart of those figures with error bars over
// the axis (charts.js); and the study's specs. Fetched again whenever one of its jobs changes
// state (the all-jobs event stream).
import { api, subscribe, withToken } from './api.js';
import { errorBarChart } from './charts.js';
import { stateBadge } from './jobs.js';
import { STUDY_ACTIONS, doneBar, gridText, refetcher, runStudyAction, valueText } from './studies.js';
import { fill, flash, fmtDuration, fmtTime, h } from './ui.js';

// "71.00 ± 1.41", "+2.50 ± 0.50", "71.00" without a spread, "—" without a figure.
export function plusMinus(mean, spread, sign = '') {
  if (mean === null || mean === undefined) return '—';
  const m = `${mean > 0 ? sign : ''}${mean.toFixed(2)}`;
  return spread === null || spread === undefined ? m : `${m} ± ${spread.toFixed(2)}`;
}

const fixed = (v, digits) => (v === null || v === undefined ? '—' : v.toFixed(digits));

// Whether the pretrainings report a k-NN top-1 (as table.md decides, server/studies.c): not
// when the study's pretraining switches eval.knn off, unless a cell has one.
function hasKnn(study) {
  return study.pretrain?.eval?.knn?.enabled !== false || study.rows.some((r) => r.knn_top1_mean !== null);
}

// The table's figure columns: header, and the row's text.
function columns(study) {
  const cols = [
    ['top-1 (%)', (r) => plusMinus(r.top1_mean, r.top1_sd)],
    ['gain (pp)', (r) => plusMinus(r.gain_mean, r.gain_se, '+')],
  ];
  if (hasKnn(study)) cols.push(['k-NN (%)', (r) => plusMinus(r.knn_top1_mean, r.knn_top1_sd)]);
  if (study.linprobe) cols.push(['linear probe (%)', (r) => plusMinus(r.linprobe_top1_mean, r.linprobe_top1_sd)]);
  cols.push(['pretraining (s)', (r) => fixed(r.pretrain_wall_s, 1)], ['img/s', (r) => fixed(r.img_per_s, 1)],
    ['params', (r) => fixed(r.params, 0)]);
  return cols;
}

// A row's child jobs, by seed: its pretraining, probe and fine-tuning as links, the
// fine-tuning's state when it has not succeeded, and why it did not run.
function jobLinks(study, row) {
  const link = (id, what) => (id === null ? null : h('a', { href: `#/jobs/${id}`, title: `${what}, job ${id}`, 'data-job-link': what }, `${what} #${id}`));
  return h('ul', { class: 'seed-jobs' }, study.seeds.map((seed, s) => {
    const state = row.states[s];
    return h('li', { 'data-seed': seed },
      h('span', { class: 'muted' }, `seed ${seed}: `),
      [link(row.job_ids.pretrain[s], 'pretrain'), link(row.job_ids.linprobe[s], 'probe'), link(row.job_ids.finetune[s], 'finetune')]
        .filter(Boolean).flatMap((a, i) => (i ? [' → ', a] : [a])),
      state === 'succeeded' ? null : [' ', stateBadge(state)],
      row.errors[s] ? h('div', { class: 'error' }, row.errors[s]) : null);
  }));
}

// The table: a header of the axes and the figures; the baseline, then a row per cell.
function studyTable(study) {
  const cols = columns(study);
  const axes = study.axes.map((a) => a.field);
  const tr = (row, first) => h('tr', { 'data-row': first ? 'baseline' : 'cell' },
    first ? h('th', { scope: 'row', colspan: axes.length }, first)
      : axes.map((f) => h('td', { 'data-label': f, class: 'axis-value' }, valueText(row.values[f]))),
    cols.map(([label, text]) => h('td', { 'data-label': label, class: 'num' }, text(row))),
    h('td', { 'data-label': 'jobs' }, jobLinks(study, row)));
  return h('table', { class: 'study-table cards', id: 'study-table' },
    h('thead', {}, h('tr', {}, [...axes, ...cols.map(([label]) => label), 'jobs'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {},
      study.baseline_row ? tr(study.baseline_row, 'baseline (from scratch)') : null,
      study.rows.map((row) => tr(row, null))));
}

function caption(study) {
  const probes = [hasKnn(study) ? 'the pretraining\'s final k-NN top-1' : null,
    study.linprobe ? 'the top-1 of a linear probe of its encoder' : null].filter(Boolean);
  return `Top-1 mean ± sd over seeds ${study.seeds.join(', ')}; gain over the baseline (fine-tuned from random `
    + 'initialisation, layer_decay 1.0) paired by seed, mean ± standard error; '
    + (probes.length ? `${probes.join(' and ')}, mean ± sd; ` : '')
    + 'the pretraining\'s mean time, throughput and parameters. — : no figure yet.';
}

// What the chart draws: on a single numeric axis its values (ascending); otherwise the cells'
// positions, labelled with their values. The series: top-1, and the k-NN top-1 and the probe's
// when there are any, each mean ± sd, and the baseline's mean as a dashed level.
export function chartData(study) {
  const numeric = study.axes.length === 1 && study.axes[0].values.every((v) => typeof v === 'number');
  const rows = study.rows.map((row, i) => ({ row, x: numeric ? row.values[study.axes[0].field] : i }));
  if (numeric) rows.sort((a, b) => a.x - b.x);
  const labels = numeric ? null : study.rows.map((row) => study.axes.map((a) => valueText(row.values[a.field])).join(' · '));
  // A line joins the points of a numeric axis only; the baseline's is a level.
  const series = [{ label: 'top-1 %', mean: 'top1_mean', err: 'top1_sd', line: numeric }];
  if (study.rows.some((r) => r.knn_top1_mean !== null)) series.push({ label: 'k-NN top-1 %', mean: 'knn_top1_mean', err: 'knn_top1_sd', line: numeric });
  if (study.linprobe) series.push({ label: 'linear probe %', mean: 'linprobe_top1_mean', err: 'linprobe_top1_sd', line: numeric });
  const base = study.baseline_row?.top1_mean ?? null;
  if (study.baseline_row) series.push({ label: 'baseline top-1 %', dash: [6, 4], line: true, base: true });
  return {
    labels,
    x: study.axes.map((a) => a.field).join(' · '),
    series,
    xs: rows.map((r) => r.x),
    data: series.map((s) => ({
      mean: rows.map((r) => (s.base ? base : r.row[s.mean])),
      err: rows.map((r) => (s.base ? null : r.row[s.err])),
    })),
  };
}

// The run time the unfinished jobs still need (the API's estimate from the jobs done), and
// while the study runs, when that would end.
function workLeftText(seconds, state) {
  if (seconds === null || seconds === undefined) return 'not known until a job of each kind still to run has finished';
  if (seconds === 0) return 'none';
  const end = state === 'running' ? `, ending about ${new Date(Date.now() + seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : '';
  return `about ${fmtDuration(seconds)} of training (one job at a time)${end}`;
}

export function mountStudy(root, id) {
  let study = null;
  let chart = null;
  let chartKey = null; // the chart's shape (axis and series): a new one is made when it changes
  let gone = false;
  const header = h('div');
  const tableBox = h('div', { class: 'table-wrap' });
  const captionBox = h('p', { class: 'muted', id: 'study-caption' });
  const chartBox = h('div', { class: 'chart', id: 'chart-study' });
  const specPre = h('pre', { class: 'spec', id: 'study-spec' });

  const act = async (action) => {
    const answer = await runStudyAction(id, action);
    if (answer === null) {
      flash(`Study #${id} deleted.`);
      location.hash = '#/studies';
    } else if (answer) {
      show(answer);
    }
  };

  const renderHeader = () => {
    const actions = STUDY_ACTIONS.filter((a) => a.states.includes(study.state)).map((a) =>
      h('button', { type: 'button', class: a.name === 'cancel' || a.name === 'delete' ? 'danger' : 'secondary', 'data-action': a.name, onclick: () => act(a) }, a.label));
    fill(header,
      h('div', { class: 'title-row' },
        h('h1', {}, `Study #${study.id} `, h('span', { class: 'muted' }, study.name)),
        h('span', { id: 'study-state' }, stateBadge(study.state))),
      h('div', { class: 'buttons', role: 'group', 'aria-label': 'Study actions' }, actions,
        h('a', { href: `#/jobs?study=${id}`, class: 'button secondary' }, 'Its jobs'),
        h('a', { href: withToken(`/api/v1/studies/${id}/table.md`), class: 'button secondary', download: `study-${id}.md` }, 'table.md'),
        h('a', { href: withToken(`/api/v1/studies/${id}/table.csv`), class: 'button secondary', download: `study-${id}.csv` }, 'table.csv')),
      h('dl', { class: 'meta' },
        h('dt', {}, 'Grid'), h('dd', {}, gridText(study)),
        h('dt', {}, 'Seeds'), h('dd', {}, study.seeds.join(', '), study.baseline ? ', with the baseline' : ''),
        h('dt', {}, 'Linear probes'), h('dd', {}, study.linprobe ? 'of every pretraining' : 'none'),
        h('dt', {}, 'Cells done'), h('dd', {}, doneBar(study.cells_done, study.cells_total, 'Cells done')),
        h('dt', {}, 'Jobs done'), h('dd', { id: 'study-jobs-done' }, `${study.jobs_done} / ${study.jobs_total}`),
        h('dt', {}, 'Work left'), h('dd', { id: 'study-work-left' }, workLeftText(study.work_left_s, study.state)),
        h('dt', {}, 'Created'), h('dd', {}, fmtTime(study.created_at))));
  };

  const renderChart = () => {
    const d = chartData(study);
    const key = JSON.stringify([d.labels, d.x, d.series.map((s) => s.label)]);
    if (key !== chartKey) {
      chart?.destroy();
      fill(chartBox);
      chart = errorBarChart(chartBox, { title: 'Top-1 over the grid (mean ± sd)', x: d.x, labels: d.labels, series: d.series });
      chartKey = key;
    }
    chart.setData({ xs: d.xs, series: d.data });
  };

  const show = (data) => {
    study = data;
    renderHeader();
    fill(tableBox, studyTable(study));
    captionBox.textContent = caption(study);
    specPre.textContent = JSON.stringify({ pretrain: study.pretrain, finetune: study.finetune, linprobe: study.linprobe }, null, 2);
    renderChart();
  };
  const load = async () => {
    try {
      const data = await api(`/api/v1/studies/${id}`);
      if (!gone) show(data);
    } catch (e) {
      if (!gone) fill(root, h('h1', {}, `Study #${id}`), h('p', { class: 'error' }, e.message), h('a', { href: '#/studies' }, 'Back to the studies'));
    }
  };
  const refetch = refetcher(load);

  fill(root, header,
    h('section', { class: 'panel', 'aria-label': 'Table' }, h('h2', {}, 'Table'), tableBox, captionBox),
    h('section', { class: 'panel', 'aria-label': 'Chart' }, h('h2', {}, 'Chart'), chartBox),
    h('details', { class: 'panel' }, h('summary', {}, 'Specs'), specPre));
  load();
  const close = subscribe('/api/v1/events', { state: (job) => { if (job.study === id) refetch.queue(); } }, load);
  return () => {
    gone = true;
    close();
    refetch.stop();
    chart?.destroy();
  };
}
