// The datasets view: each registered dataset with its state — scanning (its running count,
// refreshed until the scan ends), ready or failed (with the reason) — its counts, the pixel
// sizes of its images on disk, channels, classes, size on disk, for tar shards their globs,
// shard counts and bad samples, and its sample grid with each image's class; a form to
// register one (a path under one of the daemon's data roots; tar shards with their globs),
// which shows a registration still scanning (202) as such; and deletion, which the daemon
// refuses while a job uses the dataset.
import { api, withToken } from './api.js';
import { clearFieldErrors, confirmAction, field, fill, flash, flashError, fmtBytes, h, showFieldError } from './ui.js';

const SAMPLE_COLS = 8; // the daemon's grid width when a dataset does not say (before sample_cols)
const POLL_MS = 1000; // how often the list is fetched again while a dataset is scanning
const FORMATS = ['idx', 'imagefolder', 'shards'];

// scanning, ready or failed; a daemon from before registrations were scanned sends no state:
// its datasets are ready.
export const datasetState = (d) => d.state || 'ready';
// What a split holds: tar shards hold samples, the others images.
const unitOf = (d) => (d.format === 'shards' ? 'samples' : 'images');
const count = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '0');

// The scan's running count in words: "12,345 images found so far".
export const scannedText = (d) => `${count(d.scanned)} ${unitOf(d)} found so far`;

// A dataset as the new-job form's picker offers it: its counts and sizes when ready, its
// running count while scanning (a job on it waits), and a failed one (it takes no job).
export function datasetChoice(d) {
  const state = datasetState(d);
  if (state === 'scanning') return `${d.name} (scanning: ${scannedText(d)})`;
  if (state === 'failed') return `${d.name} (scan failed)`;
  return `${d.name} (${d.train_count} train, ${imageSizeShort(d)}, ${d.channels} ch, ${d.num_classes} classes)`;
}

const isSize = (s) => Array.isArray(s) && s.length === 2 && s.every((v) => Number.isInteger(v) && v > 0);
const sizeText = ([w, h]) => `${w}×${h}`;

// The image sizes as [label, text]: from image_sizes ({min, max, most_common}, [w, h] each:
// "120×90 – 640×480, mostly 640×480", or one size when all are equal), or for a dataset
// registered before the daemon measured them, image_size (the side it was loaded at).
export function imageSizeFact(d) {
  const s = d.image_sizes;
  if (s && isSize(s.min) && isSize(s.max)) {
    if (s.min[0] === s.max[0] && s.min[1] === s.max[1]) return ['Image size', sizeText(s.min)];
    const most = isSize(s.most_common) ? `, mostly ${sizeText(s.most_common)}` : '';
    return ['Image sizes', `${sizeText(s.min)} – ${sizeText(s.max)}${most}`];
  }
  // Shards are registered without decoding their images: image_size is the sample's.
  if (d.format === 'shards') return ['Image sizes', 'not measured (shards are not decoded to register them)'];
  return ['Image size', Number.isFinite(d.image_size) ? `${d.image_size}×${d.image_size}` : '—'];
}

// The same in few characters, for a dataset picker: "28×28", "120×90–640×480".
export function imageSizeShort(d) {
  const s = d.image_sizes;
  if (s && isSize(s.min) && isSize(s.max)) {
    return s.min[0] === s.max[0] && s.min[1] === s.max[1] ? sizeText(s.min) : `${sizeText(s.min)}–${sizeText(s.max)}`;
  }
  if (d.format === 'shards') return 'shards';
  return Number.isFinite(d.image_size) ? `${d.image_size}×${d.image_size}` : '?';
}

// The sample grid: the PNG (sample_cols columns of equal square cells, row-major) and, when
// the dataset names the samples' classes (sample_labels), each class over the bottom of its
// cell. The labels' grid is sized from the image once it has loaded: cell = natural width /
// columns, rows = natural height / cell.
export function sampleGrid(d) {
  const labels = Array.isArray(d.sample_labels) ? d.sample_labels : null;
  const cols = Number.isInteger(d.sample_cols) && d.sample_cols > 0 ? d.sample_cols : SAMPLE_COLS;
  const alt = labels && labels.length
    ? `Sample images of ${d.name}, ${cols} per row; their classes, row by row: ${labels.map((l) => l ?? '?').join(', ')}`
    : `Sample images of ${d.name}`;
  const img = h('img', { src: withToken(d.sample), alt, class: 'sample', loading: 'lazy' });
  const figure = h('figure', { class: 'sample-grid' }, img);
  if (!labels || !labels.length) return figure;
  const list = h('ol', { class: 'sample-labels', 'aria-hidden': 'true', hidden: true },
    labels.map((l, i) => h('li', { title: l ?? '', 'data-cell': i }, l ?? '')));
  figure.append(list);
  const place = () => {
    if (!img.naturalWidth) return;
    const cell = img.naturalWidth / cols;
    const rows = Math.max(1, Math.round(img.naturalHeight / cell));
    list.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
    list.style.gridTemplateRows = `repeat(${rows}, 1fr)`;
    // Cells beyond the image (more labels than cells) are not drawn.
    for (const li of list.children) li.hidden = Number(li.dataset.cell) >= rows * cols;
    list.hidden = false;
  };
  img.addEventListener('load', place);
  if (img.complete) place();
  return figure;
}

// A shards glob with the files it matched once the scan has counted them: "train-*.tar (3 files)".
function globText(glob, n) {
  if (!Number.isInteger(n)) return h('code', {}, glob);
  return [h('code', {}, glob), ` (${n} file${n === 1 ? '' : 's'})`];
}

// The dataset's facts as [label, value, key]: what every dataset has, the counts once the scan
// has made them, and a shards dataset's globs, shard counts and bad samples.
function datasetFacts(d) {
  const state = datasetState(d);
  const unit = unitOf(d);
  const facts = [['Format', d.format, 'format']];
  if (d.format === 'shards') {
    facts.push(['Training shards', globText(d.train ?? '—', d.shards?.train), 'train-shards']);
    facts.push(['Test shards', d.test ? globText(d.test, d.shards?.test)
      : `none: the held-out 2% of the training ${unit}`, 'test-shards']);
  }
  if (state === 'ready') {
    const [sizeLabel, sizeValue] = imageSizeFact(d);
    facts.push(
      [`Training ${unit}`, d.train_count, 'train-count'], [`Test ${unit}`, d.test_count, 'test-count'],
      [sizeLabel, sizeValue, 'image-size'], ['Channels', d.channels, 'channels'], ['Classes', d.num_classes, 'classes'],
    );
    if (d.bytes !== null && d.bytes !== undefined) facts.push(['Size on disk', fmtBytes(d.bytes), 'bytes']);
    if (d.format === 'shards' && Number.isInteger(d.bad_samples)) {
      facts.push(['Bad samples', d.bad_samples ? `${count(d.bad_samples)} (skipped in training; the first ones are in the daemon's log)` : '0', 'bad-samples']);
    }
    if (d.skipped > 0) facts.push(['Left out', `${count(d.skipped)} outside the data roots (in the daemon's log)`, 'skipped']);
  }
  facts.push(['Path', h('code', {}, d.path), 'path']);
  return facts;
}

function datasetCard(d, onDelete) {
  const state = datasetState(d);
  let status = null;
  let side = null;
  if (state === 'scanning') {
    status = h('div', { class: 'scan-status', role: 'status' },
      h('progress', { 'aria-label': `Scanning ${d.name}` }),
      h('p', {}, h('strong', {}, 'Scanning: '), h('span', { 'data-scanned': d.scanned ?? 0 }, scannedText(d)), '.'),
      h('p', { class: 'muted' }, 'Jobs submitted on it wait in the queue until the scan ends.'));
    side = h('p', { class: 'muted sample-pending' }, 'The sample grid appears when the scan ends.');
  } else if (state === 'failed') {
    status = h('div', { class: 'scan-failed' },
      h('p', { class: 'error', 'data-scan-error': '' }, h('strong', {}, 'Scan failed: '), d.error || 'no reason given'),
      h('p', { class: 'muted' }, 'It takes no job. Delete it, fix the data, and register it again.'));
  } else if (d.sample) {
    side = sampleGrid(d);
  }
  return h('article', { class: `panel dataset dataset-${state}`, 'data-dataset': d.name },
    h('div', { class: 'title-row' },
      h('div', { class: 'dataset-title' }, h('h2', {}, d.name),
        h('span', { class: `badge state-${state}`, 'data-dataset-state': state }, state)),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete dataset ${d.name}`, onclick: () => onDelete(d.name) }, 'Delete')),
    status,
    h('div', { class: 'dataset-body' },
      h('dl', { class: 'meta' }, datasetFacts(d).map(([k, v, key]) => [h('dt', {}, k), h('dd', { 'data-fact': key }, v)])),
      side));
}

export function mountDatasets(root) {
  const list = h('div', { class: 'datasets' });
  const summary = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const nameInput = h('input', { name: 'name', type: 'text', autocomplete: 'off', required: true });
  const format = h('select', { name: 'format' }, FORMATS.map((f) => h('option', { value: f }, f)));
  const path = h('input', { name: 'path', type: 'text', autocomplete: 'off', required: true });
  const train = h('input', { name: 'train', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'train-*.tar' });
  const test = h('input', { name: 'test', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'test-*.tar' });
  // The shards' globs, shown only for that format.
  const globs = h('div', { class: 'contents', id: 'shard-globs', hidden: true },
    field('Training shards', train, 'A glob of the tar files\' names in that directory (*, ?, [0-9]), e.g. train-*.tar.'),
    field('Test shards', test, 'Optional. Empty: the held-out 2% of the training samples.'));
  const form = h('form', { class: 'panel', novalidate: true, id: 'register-dataset' },
    h('h2', {}, 'Register a dataset'),
    h('div', { class: 'grid' },
      field('Name', nameInput, 'Up to 64 letters, digits, ".", "_" and "-".'),
      field('Format', format),
      field('Path', path,
        'A directory under one of the daemon\'s data roots. idx: the four MNIST-style files; imagefolder: train/ and test/ with a folder per class, or one flat folder; shards: the folder of the .tar files (WebDataset layout).'),
      globs),
    summary,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Register')));
  const showGlobs = () => { globs.hidden = format.value !== 'shards'; };
  format.addEventListener('change', showGlobs);

  // The cards by dataset name, with the JSON each was drawn from: a poll redraws only the
  // cards whose dataset changed (the others keep their loaded sample, and the focus).
  const cards = new Map();
  let timer = null;
  let loads = 0;
  let gone = false;
  let scanning = false;
  let failing = false; // the last fetch failed: try again, less often

  // A scan this view saw running has ended: say how.
  const announce = (d) => {
    const state = datasetState(d);
    if (state === 'ready') flash(`Dataset ${d.name} is ready: ${d.train_count} training and ${d.test_count} test ${unitOf(d)}.`);
    if (state === 'failed') flashError(`The scan of dataset ${d.name} failed: ${d.error || 'no reason given'}`, false);
  };

  const render = (datasets) => {
    const names = new Set(datasets.map((d) => d.name));
    for (const name of cards.keys()) if (!names.has(name)) cards.delete(name);
    if (!datasets.length) {
      fill(list, h('p', { class: 'muted' }, 'No dataset registered yet.'));
      return;
    }
    const els = datasets.map((d) => {
      const json = JSON.stringify(d);
      const had = cards.get(d.name);
      if (had && had.json === json) return had.el;
      // Only the running count moved: changed in place (the status's progress bar runs on).
      if (had && had.state === 'scanning' && datasetState(d) === 'scanning'
        && JSON.stringify({ ...JSON.parse(had.json), scanned: d.scanned }) === json) {
        const count = had.el.querySelector('[data-scanned]');
        count.dataset.scanned = d.scanned ?? 0;
        count.textContent = scannedText(d);
        had.json = json;
        return had.el;
      }
      const el = datasetCard(d, remove);
      if (had) {
        if (had.state === 'scanning' && datasetState(d) !== 'scanning') announce(d);
        had.el.replaceWith(el);
      }
      cards.set(d.name, { json, el, state: datasetState(d) });
      return el;
    });
    const shown = [...list.children];
    if (shown.length !== els.length || shown.some((el, i) => el !== els[i])) fill(list, els);
  };

  // Fetches the list; while a dataset is scanning, again every POLL_MS (only the newest fetch
  // draws and schedules the next).
  const load = async () => {
    clearTimeout(timer);
    const mine = ++loads;
    try {
      const res = await api('/api/v1/datasets');
      if (gone || mine !== loads) return;
      render(res.datasets);
      scanning = res.datasets.some((d) => datasetState(d) === 'scanning');
      failing = false;
    } catch (e) {
      if (gone || mine !== loads) return;
      flashError(`Could not list the datasets: ${e.message}`);
      failing = true;
    }
    if (scanning) timer = setTimeout(load, failing ? 5 * POLL_MS : POLL_MS);
  };

  const remove = async (name) => {
    if (!(await confirmAction(`Delete the registration of dataset ${name}?`, 'Delete'))) return;
    try {
      await api(`/api/v1/datasets/${encodeURIComponent(name)}`, { method: 'DELETE' });
      flash(`Dataset ${name} deleted.`);
      load();
    } catch (e) {
      flashError(`Delete failed: ${e.message}`);
    }
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    summary.hidden = true;
    const body = { name: nameInput.value, format: format.value, path: path.value };
    if (format.value === 'shards') {
      body.train = train.value;
      if (test.value.trim()) body.test = test.value;
    }
    try {
      // 201: scanned within the daemon's second, ready; 202: still scanning (its card shows
      // the running count until the scan ends).
      const d = await api('/api/v1/datasets', { method: 'POST', body });
      if (datasetState(d) === 'scanning') {
        flash(`Dataset ${d.name} registered and being scanned; its card shows the count so far. Jobs on it wait until it is ready.`);
      } else {
        flash(`Dataset ${d.name} registered: ${d.train_count} training and ${d.test_count} test ${unitOf(d)}.`);
      }
      form.reset();
      showGlobs();
      load();
    } catch (err) {
      showFieldError(form, err, summary);
    }
  });

  fill(root, h('h1', {}, 'Datasets'), list, form);
  load();
  return () => {
    gone = true;
    clearTimeout(timer);
  };
}
