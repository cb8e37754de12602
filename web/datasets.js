// The datasets view: each registered dataset with its counts, image size, channels, classes
// and sample grid; a form to register one (a path under one of the daemon's data roots); and
// deletion, which the daemon refuses while a job uses the dataset.
import { api, withToken } from './api.js';
import { clearFieldErrors, confirmAction, field, fill, flash, flashError, h, showFieldError } from './ui.js';

function datasetCard(d, onDelete) {
  const facts = [
    ['Format', d.format], ['Training images', d.train_count], ['Test images', d.test_count],
    ['Image size', `${d.image_size}×${d.image_size}`], ['Channels', d.channels], ['Classes', d.num_classes],
    ['Path', h('code', {}, d.path)],
  ];
  return h('article', { class: 'panel dataset', 'data-dataset': d.name },
    h('div', { class: 'title-row' }, h('h2', {}, d.name),
      h('button', { type: 'button', class: 'small danger', onclick: () => onDelete(d.name) }, 'Delete')),
    h('div', { class: 'dataset-body' },
      h('dl', { class: 'meta' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('img', { src: withToken(d.sample), alt: `Sample images of ${d.name}`, class: 'sample', loading: 'lazy' })));
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
