// The datasets view: each registered dataset with its counts, the pixel sizes of its images
// on disk, channels, classes and its sample grid with each image's class; a form to register
// one (a path under one of the daemon's data roots); and deletion, which the daemon refuses
// while a job uses the dataset.
import { api, withToken } from './api.js';
import { clearFieldErrors, confirmAction, field, fill, flash, flashError, h, showFieldError } from './ui.js';

const SAMPLE_COLS = 8; // the daemon's grid width when a dataset does not say (before sample_cols)

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
  return ['Image size', Number.isFinite(d.image_size) ? `${d.image_size}×${d.image_size}` : '—'];
}

// The same in few characters, for a dataset picker: "28×28", "120×90–640×480".
export function imageSizeShort(d) {
  const s = d.image_sizes;
  if (s && isSize(s.min) && isSize(s.max)) {
    return s.min[0] === s.max[0] && s.min[1] === s.max[1] ? sizeText(s.min) : `${sizeText(s.min)}–${sizeText(s.max)}`;
  }
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

function datasetCard(d, onDelete) {
  const facts = [
    ['Format', d.format], ['Training images', d.train_count], ['Test images', d.test_count],
    imageSizeFact(d), ['Channels', d.channels], ['Classes', d.num_classes],
    ['Path', h('code', {}, d.path)],
  ];
  return h('article', { class: 'panel dataset', 'data-dataset': d.name },
    h('div', { class: 'title-row' }, h('h2', {}, d.name),
      h('button', { type: 'button', class: 'small danger', onclick: () => onDelete(d.name) }, 'Delete')),
    h('div', { class: 'dataset-body' },
      h('dl', { class: 'meta' }, facts.map(([k, v], i) => [h('dt', {}, k), h('dd', { 'data-fact': i === 3 ? 'image-size' : null }, v)])),
      sampleGrid(d)));
}

export function mountDatasets(root) {
  const list = h('div', { class: 'datasets' });
  const summary = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'panel', novalidate: true },
    h('h2', {}, 'Register a dataset'),
    h('div', { class: 'grid' },
      field('Name', h('input', { name: 'name', type: 'text', autocomplete: 'off', required: true }), 'Up to 64 letters, digits, ".", "_" and "-".'),
      field('Format', h('select', { name: 'format' }, h('option', { value: 'idx' }, 'idx'), h('option', { value: 'imagefolder' }, 'imagefolder'))),
      field('Path', h('input', { name: 'path', type: 'text', autocomplete: 'off', required: true }),
        'A directory under one of the daemon\'s data roots. idx: the four MNIST-style files; imagefolder: train/ and test/ with a folder per class, or one flat folder.')),
    summary,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Register')));

  const load = async () => {
    try {
      const res = await api('/api/v1/datasets');
      fill(list, res.datasets.length ? res.datasets.map((d) => datasetCard(d, remove)) : h('p', { class: 'muted' }, 'No dataset registered yet.'));
    } catch (e) {
      flashError(`Could not list the datasets: ${e.message}`);
    }
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
    const body = Object.fromEntries(new FormData(form));
    try {
      const d = await api('/api/v1/datasets', { method: 'POST', body });
      flash(`Dataset ${d.name} registered: ${d.train_count} training and ${d.test_count} test images.`);
      form.reset();
      load();
    } catch (err) {
      showFieldError(form, err, summary);
    }
  });

  fill(root, h('h1', {}, 'Datasets'), list, form);
  load();
}
