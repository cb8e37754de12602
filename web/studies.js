// The studies view (#/studies): every study (docs/http-api.md#studies) with its grid (the
// preset, or the axes and their lengths), seeds, state, cells and jobs done, and when it was
// created, kept current by the all-jobs event stream: a state event of a study's job fetches
// the studies again. Also what the study view shares: a study's grid in words, an axis value
// as text, its state actions.
import { api, subscribe } from './api.js';
import { stateBadge } from './jobs.js';
import { confirmAction, fill, flashError, fmtDuration, fmtTime, h } from './ui.js';

const REFETCH_MS = 300; // state events come in bursts (a study's jobs end together): fetch once

// An axis value as the tables write it (server/studies.c): a string as it is, an object as
// "key: value, …", the empty object (a variant axis's default cell) as "(unchanged)".
export function valueText(v) {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if (Object.keys(v).length === 0) return '(unchanged)';
    return Object.entries(v).map(([k, x]) => `${k}: ${valueText(x)}`).join(', ');
  }
  return JSON.stringify(v);
}

// The grid in words: "preset mask-ratio" or "pretrain.mask.ratio (3) × finetune.train.lr (2)".
export function gridText(study) {
  const axes = study.axes.map((a) => `${a.field} (${a.values.length})`).join(' × ');
  return study.preset ? `preset ${study.preset}: ${axes}` : axes;
}

// What each state allows, with its confirmation; delete once every job has ended.
export const STUDY_ACTIONS = [
  { name: 'pause', label: 'Pause', states: ['running'], ask: 'Pause study #{id}? Its running jobs checkpoint and stop, the queued ones wait.' },
  { name: 'resume', label: 'Resume', states: ['paused'], ask: 'Resume study #{id}? Its jobs are queued again.' },
  { name: 'cancel', label: 'Cancel', states: ['running', 'paused'], ask: 'Cancel study #{id} and every job of it not ended? This cannot be undone.' },
  { name: 'delete', label: 'Delete', states: ['succeeded', 'failed', 'cancelled'], ask: 'Delete study #{id} with all its jobs, their checkpoints and logs?' },
];

// Asks, then acts on the study: resolves with the study the daemon answers, null after a
// deletion, undefined when not confirmed or refused (the failure flashed).
export async function runStudyAction(id, action) {
  if (!(await confirmAction(action.ask.replace('{id}', id), `${action.label} study`))) return undefined;
  try {
    if (action.name === 'delete') {
      await api(`/api/v1/studies/${id}`, { method: 'DELETE' });
      return null;
    }
    return await api(`/api/v1/studies/${id}/${action.name}`, { method: 'POST' });
  } catch (e) {
    flashError(`${action.label} failed: ${e.message}`);
    return undefined;
  }
}

// Calls load shortly after the first of a burst of events, once for the burst.
export function refetcher(load) {
  let timer = null;
  const queue = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      load();
    }, REFETCH_MS);
  };
  return { queue, stop: () => clearTimeout(timer) };
}

// "3 / 9" with a bar.
export function doneBar(done, total, label) {
  return h('div', { class: 'progress' },
    h('progress', { max: total || 1, value: done, 'aria-label': label }),
    h('span', { class: 'progress-text' }, `${done} / ${total}`));
}

function studyRow(study) {
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('tr', { 'data-study-id': study.id },
    cell('Study', h('a', { href: `#/studies/${study.id}` }, `#${study.id} ${study.name}`)),
    cell('Grid', gridText(study)),
    cell('Seeds', study.seeds.join(', '), study.baseline ? ' + baseline' : ''),
    cell('State', stateBadge(study.state)),
    cell('Cells done', doneBar(study.cells_done, study.cells_total, `Study ${study.id} cells done`)),
    cell('Jobs done', `${study.jobs_done} / ${study.jobs_total}`),
    cell('Work left', study.work_left_s ? `≈ ${fmtDuration(study.work_left_s)}` : '—'),
    cell('Created', fmtTime(study.created_at)));
}

export function mountStudies(root) {
  const tbody = h('tbody');
  const summary = h('p', { class: 'muted', id: 'studies-summary' });
  const load = async () => {
    try {
      const list = await api('/api/v1/studies');
      fill(tbody, list.studies.map(studyRow));
      if (!list.studies.length) {
        fill(tbody, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No studies. ', h('a', { href: '#/new?study' }, 'Start one.'))));
      }
      summary.textContent = `${list.total} stud${list.total === 1 ? 'y' : 'ies'}`;
    } catch (e) {
      flashError(`Could not list the studies: ${e.message}`);
    }
  };
  const refetch = refetcher(load);

  fill(root,
    h('div', { class: 'title-row' }, h('h1', {}, 'Studies'), h('a', { href: '#/new?study', class: 'button' }, 'New study')),
    h('p', { class: 'muted' }, 'Grids of pretraining → fine-tuning jobs, and their tables as in the SimMIM paper.'),
    summary,
    h('div', { class: 'table-wrap' }, h('table', { class: 'studies cards' },
      h('thead', {}, h('tr', {}, ['Study', 'Grid', 'Seeds', 'State', 'Cells done', 'Jobs done', 'Work left', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));
  load(); // also before the stream opens: a 401 here asks for the token
  const close = subscribe('/api/v1/events', { state: (job) => { if (job.study) refetch.queue(); } }, load);
  return () => {
    close();
    refetch.stop();
  };
}
