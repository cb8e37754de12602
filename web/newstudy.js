// The new-study form (#/new?study): one of the paper's grids as a preset (its axis and values
// shown for the pretraining's model), the dataset every job trains on, the seeds, the baseline,
// a linear probe of every pretraining, a name, and the study's pretraining, fine-tuning and probe
// specs as JSON (the dataset filled in unless they name one). The daemon checks every job of the
// grid; its error appears beside the control it concerns (the preset for an axis, the JSON box
// of a spec's field), in the API's words. Started, it opens the study's page.
import { api } from './api.js';
import { datasetChoice, datasetState } from './datasets.js';
import { PAPER_RATIOS, maskPatchChoices, modelSizes, targetChoices } from './design.js';
import { field, fill, flash, h, newTabs, parseIntList, postForm, showFieldError } from './ui.js';

// The daemon's presets (docs/http-api.md#studies): the field each varies, and its values for a
// model of these sizes (the daemon scales them the same way: by the encoder's stride, a Swin's
// patch_size · 2^(stages − 1)).
export const STUDY_PRESETS = {
  'mask-ratio': ['pretrain.mask.ratio', () => PAPER_RATIOS],
  'mask-type': ['pretrain.mask.type', () => ['random', 'square', 'block']],
  'mask-patch': ['pretrain.mask.mask_patch_size', (m) => maskPatchChoices(m.img_size, m.stride).filter((v) => v <= m.img_size / 2)],
  decoder: ['pretrain.decoder.type', () => ['linear', 'mlp', 'transformer']],
  resolution: ['pretrain.target.resolution', (m) => targetChoices(m.img_size, m.stride)],
  loss: ['pretrain.loss', () => ['l1', 'l2', 'smooth_l1', 'bins (8)']],
  scope: ['pretrain.loss.scope', () => ['masked', 'full']],
};

// The form's control an API error's field concerns: the seeds box for "seeds[1]", the preset
// for an axis, the dataset for a spec's dataset, the JSON box of a study's spec for
// "pretrain.train.lr", else the field itself.
export function controlFor(field) {
  if (/^seeds\[/.test(field)) return 'seeds';
  if (/^(pretrain|finetune|linprobe)\.dataset$/.test(field)) return 'dataset';
  if (/^axes/.test(field)) return 'preset';
  const spec = /^(pretrain|finetune|linprobe)\./.exec(field);
  return spec ? spec[1] : field;
}

export function mountNewStudy(root) {
  const form = h('form', { class: 'study-form', novalidate: true });
  const summary = h('p', { class: 'form-error', role: 'alert', hidden: true, id: 'study-form-error' });
  const preset = h('select', { name: 'preset' }, Object.keys(STUDY_PRESETS).map((p) => h('option', { value: p }, p)));
  const presetHint = h('span', { id: 'preset-values' });
  const dataset = h('select', { name: 'dataset' });
  const seeds = h('input', { name: 'seeds', type: 'text', value: '0, 1', autocomplete: 'off', inputmode: 'numeric' });
  const baseline = h('input', { name: 'baseline', type: 'checkbox', checked: true });
  const linprobe = h('input', { name: 'linprobe-on', type: 'checkbox' });
  const name = h('input', { name: 'name', type: 'text', placeholder: 'the preset\'s name', autocomplete: 'off' });
  const specBox = (which) => h('textarea', { name: which, rows: 3, spellcheck: 'false', value: '{}' });
  const specs = { pretrain: specBox('pretrain'), finetune: specBox('finetune'), linprobe: specBox('linprobe') };

  // A spec box as an object; null after showing why it is not one.
  const readSpec = (which) => {
    try {
      const v = JSON.parse(specs[which].value || '{}');
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
      throw new Error('not an object');
    } catch (e) {
      showFieldError(form, { field: which, message: `Not a JSON object: ${e.message}` }, summary);
      return null;
    }
  };

  // The preset's axis and values for the pretraining's model (the JSON box's sizes, or fmnist-q's).
  const showPreset = () => {
    let model = {};
    try {
      model = JSON.parse(specs.pretrain.value || '{}').model || {};
    } catch {
      // The sizes of the default model until the box holds JSON.
    }
    const [axis, values] = STUDY_PRESETS[preset.value];
    presetHint.textContent = `${axis}: ${values(modelSizes(model)).join(', ')}`;
  };

  const loadDatasets = async () => {
    const res = await api('/api/v1/datasets');
    fill(dataset, res.datasets.map((d) => h('option', { value: d.name, disabled: datasetState(d) === 'failed' }, datasetChoice(d))));
    if (!res.datasets.length) fill(dataset, h('option', { value: '' }, 'no dataset registered'));
    const usable = [...dataset.options].find((o) => !o.disabled);
    if (usable) dataset.value = usable.value;
  };

  // The body POST /api/v1/studies takes; null when a box does not hold JSON.
  const buildBody = () => {
    const own = {};
    for (const which of ['pretrain', 'finetune', ...(linprobe.checked ? ['linprobe'] : [])]) {
      own[which] = readSpec(which);
      if (!own[which]) return null;
      if (dataset.value && own[which].dataset === undefined) own[which].dataset = dataset.value;
    }
    const body = { preset: preset.value, ...own, baseline: baseline.checked };
    const list = parseIntList(seeds.value);
    body.seeds = list ?? seeds.value; // not a list: the daemon's message says what it takes
    if (name.value.trim()) body.name = name.value.trim();
    return body;
  };

  const submit = postForm(form, summary, {
    path: '/api/v1/studies',
    build: buildBody,
    what: 'start the study',
    controlFor,
    done: (study) => {
      flash(`Study #${study.id} started: ${study.jobs_total} jobs.`);
      location.hash = `#/studies/${study.id}`;
    },
  });

  const probeBox = h('div', { id: 'linprobe-spec', hidden: true },
    field('Linear probe spec (JSON)', specs.linprobe, 'E.g. {"linprobe": {"labels_per_class": 600}}'));
  fill(form,
    h('fieldset', {}, h('legend', {}, 'Study'),
      h('div', { class: 'grid' },
        field('Preset', preset, presetHint),
        field('Dataset', dataset, [h('a', { href: '#/datasets' }, 'Register a dataset')]),
        field('Seeds', seeds, 'Each runs every cell: 0, 1'),
        field('Name', name))),
    h('fieldset', {}, h('legend', {}, 'Compare with'),
      h('div', { class: 'checks' },
        h('label', {}, baseline, ' a baseline per seed (fine-tuned from random initialisation, layer decay 1.0)'),
        h('label', {}, linprobe, ' a linear probe of every pretraining'))),
    h('details', { id: 'study-specs' }, h('summary', {}, 'The study\'s specs'),
      h('p', { class: 'muted' }, 'Job specs (docs/job-spec.md) for every pretraining and fine-tuning of the grid; the preset varies its field over them. The dataset above is filled in unless they name one.'),
      field('Pretraining spec (JSON)', specs.pretrain, 'E.g. {"train": {"epochs": 5}}'),
      field('Fine-tuning spec (JSON)', specs.finetune, 'E.g. {"train": {"epochs": 20}, "finetune": {"labels_per_class": 600}}'),
      probeBox),
    summary,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Start study')));

  preset.addEventListener('change', showPreset);
  specs.pretrain.addEventListener('input', showPreset);
  linprobe.addEventListener('change', () => { probeBox.hidden = !linprobe.checked; });
  form.addEventListener('submit', submit);
  fill(root, h('div', { class: 'title-row' }, h('h1', {}, 'New study'), newTabs('study')), form);
  showPreset();
  loadDatasets().catch((e) => {
    fill(summary, e.message);
    summary.hidden = false;
  });
}
