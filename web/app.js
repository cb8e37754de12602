// The dashboard's entry point: hash routing (#/jobs, #/jobs/7, #/new, #/new?from=7,
// #/new?study, #/studies, #/studies/3, #/datasets) to views that each mount into <main> and
// return a function that tears down what they started (event streams, timers, charts); and the
// daemon's version and its machine (cores, memory, bf16) in the footer.
import { api } from './api.js';
import { fill, h } from './ui.js';
import { mountJobs } from './jobs.js';
import { mountJob } from './job.js';
import { mountNewJob } from './newjob.js';
import { mountNewStudy } from './newstudy.js';
import { mountStudies } from './studies.js';
import { mountStudy } from './study.js';
import { mountDatasets } from './datasets.js';

const ROUTES = [
  { pattern: /^\/jobs\/(\d+)$/, nav: 'jobs', mount: (root, m) => mountJob(root, Number(m[1])) },
  { pattern: /^\/jobs$/, nav: 'jobs', mount: (root, m, query) => mountJobs(root, query) },
  { pattern: /^\/new$/, nav: 'new', mount: (root, m, query) => (query.has('study') ? mountNewStudy(root) : mountNewJob(root, query)) },
  { pattern: /^\/studies\/(\d+)$/, nav: 'studies', mount: (root, m) => mountStudy(root, Number(m[1])) },
  { pattern: /^\/studies$/, nav: 'studies', mount: (root) => mountStudies(root) },
  { pattern: /^\/datasets$/, nav: 'datasets', mount: (root) => mountDatasets(root) },
];

let unmount = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/jobs';
  const [path, search = ''] = hash.split('?');
  const match = ROUTES.map((r) => [r, path.match(r.pattern)]).find(([, m]) => m);
  if (unmount) unmount();
  unmount = null;
  const root = document.getElementById('view');
  fill(root);
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (match && a.dataset.nav === match[0].nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!match) {
    fill(root, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/jobs' }, 'Back to the jobs')));
    return;
  }
  const [r, m] = match;
  unmount = r.mount(root, m, new URLSearchParams(search));
}

async function showVersion() {
  try {
    const health = await api('/api/v1/health');
    const m = health.machine;
    const machine = m ? ` · ${m.cores} cores · ${(m.memory_mb / 1024).toFixed(1)} GiB · bf16: ${m.bf16 ?? 'not on this processor'}` : '';
    fill(document.getElementById('footer'), `simmimd ${health.version ?? ''}${machine}`);
  } catch {
    // The footer is informational; the views report API failures themselves.
  }
}

window.addEventListener('hashchange', route);
route();
showVersion();
