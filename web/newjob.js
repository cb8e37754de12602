// The new-job form: kind (pretrain, finetune, or a linear probe of a pretraining's encoder),
// dataset, the model (its arch, ViT or Swin, a preset of either, and the sizes that arch has:
// a Swin's stage lists, window and flags), the main hyperparameters (the MPI ranks among them)
// filled with the kind's defaults (docs/job-spec.md), a pretraining's design choices (mask type,
// decoder, target resolution, loss: design.js, the paper's values as choices, each field
// shown only when its choice is made, defaults left out of the spec), a picker of pretraining
// jobs and their checkpoints to start from (fine-tuning, a linear probe, or continuing a pretraining), the
// data loading (decode threads, prefetch, cache budget, shuffle buffer, bad images tolerated),
// and a JSON box for the rest of the spec. The dataset picker says which datasets are still
// scanning (a job on one waits) and offers none whose scan failed. Cloning (#/new?from=ID)
// fills it from a job's spec. The daemon validates; its error appears beside the field it
// names (an element of a list, beside the list).
import { api } from './api.js';
import { datasetChoice, datasetState, scannedText } from './datasets.js';
import { ARCH_PRESET, DESIGN_FIELDS, MODEL_PRESETS, applies, designSpec, designValues, initialValue, modelSizes } from './design.js';
import { KINDS } from './jobs.js';
import { field, fill, flash, flashError, fmtTime, h, newTabs, parseIntList, postForm, showFieldError } from './ui.js';

const ARCHS = { vit: 'ViT', swin: 'Swin' };
// The model's sizes (docs/job-spec.md, model): spec key, label, the archs that have it (both
// when not said), and how it is typed when not as a number: 'list', integers separated by
// commas ("2, 2, 6, 2"), or 'flag', yes or no. The heads are one count for a ViT and one per
// stage for a Swin.
const SIZES = [
  { key: 'img_size', label: 'Image size' },
  { key: 'patch_size', label: 'Patch size' },
  { key: 'in_chans', label: 'Channels' },
  { key: 'embed_dim', label: 'Embedding dim' },
  { key: 'depth', label: 'Depth (blocks)', archs: ['vit'] },
  { key: 'depths', label: 'Blocks per stage', archs: ['swin'], type: 'list' },
  { key: 'num_heads', label: 'Heads', type: { vit: 'number', swin: 'list' } },
  { key: 'window_size', label: 'Window size', archs: ['swin'] },
  { key: 'mlp_ratio', label: 'MLP ratio' },
  { key: 'ape', label: 'Absolute position embedding', archs: ['swin'], type: 'flag' },
  { key: 'patch_norm', label: 'Patch norm', archs: ['swin'], type: 'flag' },
];
const sizesOf = (arch) => SIZES.filter((s) => !s.archs || s.archs.includes(arch));
const typeOf = (s, arch) => (typeof s.type === 'object' ? s.type[arch] : s.type ?? 'number');

// The kinds that train a network (a linear probe solves a classifier on frozen features: no
// schedule, optimizer or checkpoints).
const TRAINING = ['pretrain', 'finetune'];

// The form's fields: spec path, label, kinds it applies to, default per kind; a field with
// choices is a select of those words, the others are numbers.
const FORM_FIELDS = [
  { group: 'train', name: 'train.epochs', label: 'Epochs', kinds: TRAINING, def: 10 },
  { group: 'train', name: 'train.batch_size', label: 'Batch size', kinds: KINDS, def: 256 },
  // Data parallel under mpirun (a linear probe runs as one process).
  { group: 'train', name: 'train.ranks', label: 'Processes (MPI ranks)', kinds: TRAINING, def: 1,
    hint: 'They share each batch: it must divide by them.' },
  { group: 'train', name: 'train.lr', label: 'Learning rate', kinds: TRAINING, def: 1e-3 },
  { group: 'train', name: 'train.min_lr', label: 'Minimum learning rate', kinds: TRAINING, def: { pretrain: 1e-5, finetune: 1e-6 } },
  { group: 'train', name: 'train.warmup_epochs', label: 'Warm-up epochs', kinds: TRAINING, def: 1 },
  { group: 'train', name: 'train.weight_decay', label: 'Weight decay', kinds: TRAINING, def: 0.05 },
  { group: 'train', name: 'train.seed', label: 'Seed', kinds: KINDS, def: 0 },
  { group: 'finetune', name: 'finetune.layer_decay', label: 'Layer-wise lr decay', kinds: ['finetune'], def: 0.75 },
  { group: 'finetune', name: 'finetune.label_smoothing', label: 'Label smoothing', kinds: ['finetune'], def: 0.1 },
  { group: 'finetune', name: 'finetune.drop_path', label: 'Drop path rate', kinds: ['finetune'], def: 0.1 },
  { group: 'finetune', name: 'finetune.labels_per_class', label: 'Labels per class', kinds: ['finetune'], def: 0,
    hint: '0 uses every label; K > 0 the first K images of each class.' },
  // The linear probe (docs/job-spec.md, linprobe): L-BFGS on the frozen encoder's features.
  { group: 'linprobe', name: 'linprobe.weight_decay', label: 'L2 weight decay', kinds: ['linprobe'], def: 1e-4 },
  { group: 'linprobe', name: 'linprobe.max_iterations', label: 'Solver iterations (most)', kinds: ['linprobe'], def: 1000 },
  { group: 'linprobe', name: 'linprobe.labels_per_class', label: 'Labels per class', kinds: ['linprobe'], def: 0,
    hint: '0 uses every label; K > 0 the first K images of each class.' },
  // The k-NN probe at a pretraining's evaluations (docs/job-spec.md, eval.knn); on for a
  // labelled dataset ({"eval": {"knn": {"enabled": false}}} below turns it off).
  { group: 'more', name: 'eval.knn.bank', label: 'k-NN bank (training images)', kinds: ['pretrain'], def: 10000,
    hint: 'Each evaluation also measures the k-NN top-1 of the encoder on these.' },
  { group: 'more', name: 'eval.knn.k', label: 'k-NN neighbours', kinds: ['pretrain'], def: 20 },
  { group: 'more', name: 'eval.knn.temperature', label: 'k-NN temperature', kinds: ['pretrain'], def: 0.07 },
  { group: 'more', name: 'schedule.progress_every_steps', label: 'Progress every (steps)', kinds: KINDS, def: 10 },
  { group: 'more', name: 'schedule.checkpoint_every_steps', label: 'Checkpoint every (steps)', kinds: TRAINING, def: 500 },
  { group: 'more', name: 'schedule.preview_every_steps', label: 'Preview every (steps)', kinds: ['pretrain'], def: 200 },
  { group: 'more', name: 'schedule.keep_checkpoints', label: 'Checkpoints kept', kinds: TRAINING, def: 3 },
  { group: 'more', name: 'train.clip_grad', label: 'Gradient clipping (norm)', kinds: TRAINING, def: 5 },
  { group: 'more', name: 'train.threads', label: 'Threads', kinds: KINDS, def: 0, hint: '0: all cores.' },
  { group: 'more', name: 'train.precision', label: 'Precision', kinds: KINDS, def: 'fp32', choices: ['fp32', 'bf16'],
    hint: 'bf16: matrix products in bf16 on Intel AMX or AVX512-BF16 (AMD Zen 4); refused on processors with neither.' },
  { group: 'more', name: 'train.max_steps', label: 'Maximum steps', kinds: TRAINING, def: 0, hint: '0: no cap.' },
  // How the images reach the model (docs/job-spec.md's data section): decode threads and
  // the cache's budget, which decides whether a dataset is cached or streamed.
  { group: 'data', name: 'data.workers', label: 'Decode threads', kinds: KINDS, def: 0, hint: '0: one less than the cores.' },
  { group: 'data', name: 'data.prefetch', label: 'Steps decoded ahead', kinds: KINDS, def: 2 },
  { group: 'data', name: 'data.cache_mb', label: 'Cache budget (MB)', kinds: KINDS, def: null, placeholder: 'auto',
    hint: 'Empty: a quarter of memory. A dataset whose decoded images exceed it is streamed from disk; 0 always streams.' },
  { group: 'data', name: 'data.shuffle_buffer', label: 'Shuffle buffer (samples)', kinds: KINDS, def: 1000, hint: 'Shards only.' },
  { group: 'data', name: 'data.max_error_fraction', label: 'Bad images tolerated (fraction)', kinds: KINDS, def: 0.001,
    hint: 'Streamed images that fail to decode are skipped; beyond this fraction the job fails.' },
];

// Spec values the "other fields" box leaves out of a clone because they are the defaults.
const QUIET_DEFAULTS = {
  mask: { type: 'random' },
  loss: { type: 'l1', scope: 'masked' },
  train: { betas: [0.9, 0.999] },
  augment: { crop_ratio: [0.75, 1.3333], hflip: true },
  finetune: { init_from: null },
  pretrain: { init_from: null },
  linprobe: { init_from: null },
  eval: { knn: { enabled: null } },
  job_id: null,
};
const CROP_SCALE = { pretrain: [0.67, 1], finetune: [0.6, 1], linprobe: [0.67, 1] };

const defaultFor = (f, kind) => (f.def !== null && typeof f.def === 'object' ? f.def[kind] : f.def);
const str = (v) => (v === null || v === undefined ? '' : String(v));
// A size as its control holds it: a list as "2, 2, 6", a flag as "true" or "false".
const sizeText = (v) => (Array.isArray(v) ? v.join(', ') : str(v));

// A size's text as the spec takes it. What is not a number, or a list of integers, goes as
// typed: the daemon's error says what the field takes.
function sizeValue(s, text, arch) {
  const type = typeOf(s, arch);
  if (type === 'flag') return text === 'true';
  if (type === 'list') return parseIntList(text) ?? text;
  return Number.isFinite(Number(text)) ? Number(text) : text;
}

function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let o = obj;
  for (const k of keys) o = (o[k] = o[k] && typeof o[k] === 'object' ? o[k] : {});
  o[last] = value;
}

function deletePath(obj, path) {
  const keys = path.split('.');
  const last = keys.pop();
  const parent = keys.reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
  if (parent && typeof parent === 'object') delete parent[last];
}

// b's fields over a's, recursively for objects.
function merge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const both = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k]);
    out[k] = both ? merge(out[k], v) : v;
  }
  return out;
}

// Removes what equals `defaults` and the sections left empty.
function prune(obj, defaults) {
  for (const [k, v] of Object.entries(obj)) {
    const d = defaults?.[k];
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      prune(v, d);
      if (!Object.keys(v).length) delete obj[k];
    } else if (d !== undefined && JSON.stringify(v) === JSON.stringify(d)) {
      delete obj[k];
    }
  }
  return obj;
}

function numberInput(name, placeholder) {
  return h('input', { type: 'number', name, step: 'any', inputmode: 'decimal', placeholder });
}

// A size's control: a number box, a text box for a list (and for the heads, a list for a Swin),
// or a select for a flag, whose empty choice is the preset's value (labelled by showModel).
function sizeInput(s) {
  const name = `model.${s.key}`;
  if (s.type === 'flag') return h('select', { name }, h('option', { value: '' }), h('option', { value: 'true' }, 'yes'), h('option', { value: 'false' }, 'no'));
  return s.type ? h('input', { type: 'text', name, autocomplete: 'off', spellcheck: 'false' }) : numberInput(name);
}

const formInput = (f) => (f.choices
  ? h('select', { name: f.name }, f.choices.map((c) => h('option', { value: c }, c)))
  : numberInput(f.name, f.placeholder));
const formValue = (f, input) => (f.choices ? input.value : Number(input.value));

const OTHER = 'other';

// The control of a design field (design.js), as {el, field, value, refresh()}: a number box,
// or a select of the choices design.js offers for the form's current values and model
// (context() gives both), with the field's empty choice ("the default") first and, for a field
// that takes other values, "other…" last, which shows a number box beside the select. A value
// the choices lack (a cloned job's) is kept: in the box, or as one more choice.
function designControl(f, context) {
  const el = f.choices ? h('select', { name: f.name }) : numberInput(f.name);
  const other = f.other ? h('input', { type: 'number', step: 'any', inputmode: 'decimal', class: 'other-value', hidden: true,
    'aria-label': `${f.label}, another value` }) : null;
  const fieldEl = field(f.label, el, f.hint ? ' ' : undefined);
  if (other) el.after(other);
  const hintEl = fieldEl.querySelector('.hint');
  const read = () => (!f.choices ? el.value : el.value === OTHER ? other.value : el.value);
  const control = {
    el,
    field: fieldEl,
    get value() { return read(); },
    set value(v) { control.refresh(String(v ?? '')); },
    // Rebuilds the choices for the form as it is now, keeping the value (or setting want).
    refresh(want = read()) {
      const { values, model } = context();
      if (hintEl) hintEl.textContent = typeof f.hint === 'function' ? f.hint(values, model) : f.hint;
      if (!f.choices) {
        el.value = want;
        if (typeof f.def === 'function') el.placeholder = String(f.def(model));
        return;
      }
      const wasOther = el.value === OTHER;
      // A value equal to the default is the empty choice (a clone of a job whose spec says it).
      if (f.empty && want !== '' && typeof f.def === 'function' && String(f.def(model)) === want) want = '';
      const options = [...(f.empty ? [['', f.empty(values, model)]] : []), ...f.choices(values, model)]
        .map(([v, label]) => [String(v), label]);
      const listed = options.some(([v]) => v === want);
      if (!listed && want !== '' && !other) options.push([want, want]);
      if (other) options.push([OTHER, 'other…']);
      fill(el, options.map(([v, label]) => h('option', { value: v }, label)));
      if (other && ((!listed && want !== '') || (wasOther && want === other.value))) {
        el.value = OTHER;
        other.value = want;
      } else {
        el.value = listed || want !== '' ? want : options[0][0];
      }
      if (other) other.hidden = el.value !== OTHER;
    },
  };
  if (other) {
    el.addEventListener('change', () => {
      other.hidden = el.value !== OTHER;
      if (!other.hidden) other.focus();
    });
  }
  return control;
}

export function mountNewJob(root, query) {
  const form = h('form', { class: 'job-form', novalidate: true });
  const summary = h('p', { class: 'form-error', role: 'alert', hidden: true, id: 'form-error' });
  const kind = h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k }, k)));
  const name = h('input', { name: 'name', type: 'text', placeholder: 'fmnist-simmim', autocomplete: 'off' });
  const dataset = h('select', { name: 'dataset' });
  const priority = h('input', { name: 'priority', type: 'number', step: 1, value: '0' });
  const arch = h('select', { name: 'model.arch' }, Object.entries(ARCHS).map(([a, label]) => h('option', { value: a }, label)));
  // The presets by arch, and none: the arch's default sizes (labelled by showModel).
  const noPreset = h('option', { value: '' });
  const preset = h('select', { name: 'model.preset' },
    Object.entries(ARCHS).map(([a, label]) => h('optgroup', { label },
      Object.keys(MODEL_PRESETS).filter((p) => MODEL_PRESETS[p].arch === a).map((p) => h('option', { value: p }, p)))),
    noPreset);
  const sizeInputs = Object.fromEntries(SIZES.map((s) => [s.key, sizeInput(s)]));
  const inputs = Object.fromEntries(FORM_FIELDS.map((f) => [f.name, formInput(f)]));
  const initJob = h('select', { name: 'finetune.init_from' });
  const initCheckpoint = h('select', { name: 'init_checkpoint' });
  const extra = h('textarea', { name: 'extra', rows: 4, spellcheck: 'false', value: '{}' });
  const pretrainJobs = new Map(); // id → job, those the starting-point picker offers
  let currentKind = 'pretrain';

  // The preset whose sizes an empty size field means: the one chosen, or the arch's default.
  const basePreset = () => MODEL_PRESETS[preset.value || ARCH_PRESET[arch.value]];
  // The sizes typed in for the arch (the other arch's fields are not sent).
  const typedSizes = () => Object.fromEntries(sizesOf(arch.value).filter((s) => sizeInputs[s.key].value !== '')
    .map((s) => [s.key, sizeValue(s, sizeInputs[s.key].value, arch.value)]));
  // The model the design fields' choices and defaults are for: the starting job's when the
  // job starts from one (its model is the checkpoint's), else the preset and sizes typed in.
  const modelNow = () => {
    if (initJob.value) return modelSizes(pretrainJobs.get(Number(initJob.value))?.spec?.model);
    return modelSizes({ ...basePreset(), ...typedSizes() });
  };
  const designValuesNow = () => Object.fromEntries(DESIGN_FIELDS.map((f) => [f.name, design[f.name].value]));
  const design = {};
  for (const f of DESIGN_FIELDS) design[f.name] = designControl(f, () => ({ values: designValuesNow(), model: modelNow() }));
  const refreshDesign = () => {
    for (const f of DESIGN_FIELDS) design[f.name].refresh();
  };

  const fieldsOf = (group) => FORM_FIELDS.filter((f) => f.group === group)
    .map((f) => h('div', { 'data-kinds': f.kinds.join(' ') }, field(f.label, inputs[f.name], f.hint)));
  const designFieldsOf = (group) => DESIGN_FIELDS.filter((f) => f.group === group)
    .map((f) => h('div', { 'data-design': f.name }, design[f.name].field));

  // The arch's size fields, each showing what it means empty: the preset's value (a
  // placeholder, or a flag's empty choice); and the design fields' choices for the model.
  const showModel = () => {
    const base = basePreset();
    const shown = sizesOf(arch.value);
    for (const s of SIZES) {
      const input = sizeInputs[s.key];
      input.closest('.field').hidden = !shown.includes(s);
      if (s.type === 'flag') input.options[0].textContent = `${base[s.key] ? 'yes' : 'no'} (preset)`;
      else input.placeholder = sizeText(base[s.key]);
    }
    noPreset.textContent = `none (${ARCH_PRESET[arch.value]} sizes unless set below)`;
    refreshDesign();
  };
  // The heads typed for one arch do not carry over to the other: one count for a ViT, one per
  // stage for a Swin.
  const forgetHeads = () => {
    sizeInputs.num_heads.value = '';
  };

  // The starting-point picker is finetune.init_from or pretrain.init_from, by kind (the
  // name the API's errors give): fine-tune a pretraining, or continue it.
  const nameInitPicker = () => {
    const path = `${kind.value}.init_from`;
    initJob.name = path;
    form.querySelector(`[data-error-for="${initJob.dataset.errorName || 'finetune.init_from'}"]`)?.setAttribute('data-error-for', path);
    initJob.dataset.errorName = path;
    initJob.title = {
      pretrain: 'Continue pretraining from its checkpoint (its model and decoder).',
      finetune: 'Fine-tune its checkpoint (its model).',
      linprobe: 'Probe its checkpoint\'s frozen encoder with a linear classifier.',
    }[kind.value];
  };

  // Shows the sections that apply: kind-specific fields, the design fields of the choices
  // made, and the model unless the job starts from a checkpoint (then the model is the
  // checkpoint's).
  const showSections = () => {
    for (const el of form.querySelectorAll('[data-kinds]')) el.hidden = !el.dataset.kinds.split(' ').includes(kind.value);
    const values = designValuesNow();
    for (const el of form.querySelectorAll('[data-design]')) {
      el.hidden = !applies(DESIGN_FIELDS.find((f) => f.name === el.dataset.design), values);
    }
    form.querySelector('#model-section').hidden = initJob.value !== '';
    form.querySelector('#init-checkpoint').hidden = initJob.value === '';
  };

  // Switching kind replaces the defaults of the old kind, not what the user typed.
  const applyKindDefaults = () => {
    for (const f of FORM_FIELDS) {
      const input = inputs[f.name];
      if (input.value === str(defaultFor(f, currentKind)) || input.value === '') input.value = str(defaultFor(f, kind.value));
    }
    currentKind = kind.value;
  };

  // A dataset still scanning takes jobs (they wait in the queue until it is ready: said under
  // the picker); one whose scan failed takes none.
  const datasets = new Map();
  const datasetNote = h('span', { class: 'waiting', id: 'dataset-note', hidden: true });
  const showDatasetNote = () => {
    const d = datasets.get(dataset.value);
    const scanning = d && datasetState(d) === 'scanning';
    datasetNote.hidden = !scanning;
    datasetNote.textContent = scanning ? `Still scanning (${scannedText(d)}): the job will wait in the queue until it is ready.` : '';
  };
  const loadDatasets = async () => {
    const res = await api('/api/v1/datasets');
    datasets.clear();
    for (const d of res.datasets) datasets.set(d.name, d);
    fill(dataset, res.datasets.map((d) => h('option', { value: d.name, disabled: datasetState(d) === 'failed' }, datasetChoice(d))));
    if (!res.datasets.length) fill(dataset, h('option', { value: '' }, 'no dataset registered'));
    // The first dataset that takes jobs, rather than a failed one that happens to come first.
    if (dataset.selectedOptions[0]?.disabled) {
      const usable = [...dataset.options].find((o) => !o.disabled);
      if (usable) dataset.value = usable.value;
    }
    showDatasetNote();
  };

  const loadPretrainJobs = async () => {
    const res = await api('/api/v1/jobs?kind=pretrain&limit=200');
    for (const j of res.jobs) pretrainJobs.set(j.id, j);
    fill(initJob, h('option', { value: '' }, 'none: from scratch'),
      res.jobs.map((j) => h('option', { value: j.id }, `#${j.id} ${j.name} (${j.state}, step ${j.progress?.step ?? 0})`)));
  };

  // A corrupt checkpoint (its file no longer matches its sha256; the daemon refuses to start
  // from it) is not offered. When the job's newest one is corrupt, "its newest checkpoint"
  // would name it: the newest good one is selected instead.
  const loadCheckpoints = async () => {
    fill(initCheckpoint, h('option', { value: '' }, 'its newest checkpoint'));
    if (!initJob.value) return;
    const res = await api(`/api/v1/jobs/${initJob.value}/checkpoints`);
    const all = res.checkpoints.sort((a, b) => b.step - a.step);
    const good = all.filter((c) => !c.corrupt);
    if (all.length && all[0].corrupt) {
      fill(initCheckpoint, good.length ? [] : h('option', { value: '', disabled: true }, 'no usable checkpoint (all corrupt)'));
    }
    for (const c of good) {
      initCheckpoint.append(h('option', { value: c.id }, `step ${c.step} (${fmtTime(c.created_at)})`));
    }
    const skipped = all.length - good.length;
    initCheckpoint.title = skipped ? `${skipped} corrupt checkpoint${skipped > 1 ? 's' : ''} not offered` : '';
  };

  // The spec the form describes: its visible fields over the JSON box.
  const buildSpec = () => {
    let extraSpec;
    try {
      extraSpec = JSON.parse(extra.value || '{}');
      if (!extraSpec || typeof extraSpec !== 'object' || Array.isArray(extraSpec)) throw new Error('not an object');
    } catch (e) {
      showFieldError(form, { field: 'extra', message: `Not a JSON object: ${e.message}` }, summary);
      return null;
    }
    const spec = { kind: kind.value, dataset: dataset.value, priority: Number(priority.value || 0) };
    if (name.value.trim()) spec.name = name.value.trim();
    const visible = (input) => input.closest('[hidden]') === null;
    if (visible(preset)) spec.model = { arch: arch.value, preset: preset.value || null, ...typedSizes() };
    for (const f of FORM_FIELDS) {
      const input = inputs[f.name];
      if (visible(input) && input.value !== '') setPath(spec, f.name, formValue(f, input));
    }
    if (kind.value === 'pretrain') {
      for (const [section, fields] of Object.entries(designSpec(designValuesNow(), modelNow()))) {
        spec[section] = { ...spec[section], ...fields };
      }
    }
    if (initJob.value) {
      setPath(spec, `${kind.value}.init_from`, initCheckpoint.value ? { checkpoint: Number(initCheckpoint.value) } : Number(initJob.value));
    }
    return merge(extraSpec, spec);
  };

  const submit = postForm(form, summary, {
    path: '/api/v1/jobs',
    build: buildSpec,
    what: 'submit',
    done: (job) => {
      flash(`Job #${job.id} submitted.`);
      location.hash = '#/jobs';
    },
  });

  // Fills the form from a job's spec: what the form has fields for goes there, the rest (not
  // defaults) into the JSON box.
  const cloneFrom = async (id) => {
    const job = await api(`/api/v1/jobs/${id}`);
    const spec = structuredClone(job.spec);
    kind.value = spec.kind;
    applyKindDefaults();
    name.value = spec.name || '';
    dataset.value = spec.dataset;
    showDatasetNote();
    priority.value = str(spec.priority ?? 0);
    const m = spec.model || {};
    arch.value = m.arch || 'vit'; // a job from before the Swin has no arch: a ViT
    preset.value = m.preset || '';
    const base = MODEL_PRESETS[m.preset] || {};
    for (const s of SIZES) {
      const text = sizeText(m[s.key]);
      sizeInputs[s.key].value = text !== sizeText(base[s.key]) ? text : '';
    }
    // A job from before a field existed has none: the form shows the default it ran with.
    for (const f of FORM_FIELDS) inputs[f.name].value = str(getPath(spec, f.name) ?? defaultFor(f, kind.value));
    const from = spec[spec.kind]?.init_from;
    if (from !== null && from !== undefined) await selectInit(from);
    const values = designValues(spec);
    for (const f of DESIGN_FIELDS) design[f.name].value = values[f.name];
    for (const path of ['kind', 'name', 'dataset', 'priority', 'model.arch', 'model.preset', 'finetune.init_from', 'pretrain.init_from', 'linprobe.init_from',
      ...SIZES.map((s) => `model.${s.key}`), ...FORM_FIELDS.map((f) => f.name), ...DESIGN_FIELDS.map((f) => f.name)]) deletePath(spec, path);
    extra.value = JSON.stringify(prune(spec, merge(QUIET_DEFAULTS, { augment: { crop_scale: CROP_SCALE[kind.value] } })), null, 2);
    flash(`Form filled from job #${id}; change what you like and submit.`);
  };

  // init_from as the API takes it: a pretraining job id or {"checkpoint": id}.
  const selectInit = async (from) => {
    const checkpoint = typeof from === 'object' ? await api(`/api/v1/checkpoints/${from.checkpoint}`) : null;
    initJob.value = String(checkpoint ? checkpoint.job_id : from);
    await loadCheckpoints();
    // (a corrupt one is not offered: the picker's default stays)
    if (checkpoint && [...initCheckpoint.options].some((o) => o.value === String(checkpoint.id))) {
      initCheckpoint.value = String(checkpoint.id);
    }
  };

  fill(form,
    h('fieldset', {}, h('legend', {}, 'Job'),
      h('div', { class: 'grid' },
        field('Kind', kind), field('Name', name),
        field('Dataset', dataset, [h('a', { href: '#/datasets' }, 'Register a dataset'), datasetNote]),
        field('Priority', priority, 'Higher runs first.'))),
    // Where the model comes from: a pretraining's checkpoint (then its model; the sizes are
    // hidden) or the arch, preset and sizes.
    h('fieldset', {}, h('legend', {}, 'Model'),
      h('div', { class: 'grid' },
        field('Start from', initJob),
        h('div', { id: 'init-checkpoint' }, field('Checkpoint', initCheckpoint)),
        h('div', { id: 'model-section', class: 'contents' }, field('Architecture', arch), field('Preset', preset),
          SIZES.map((s) => field(s.label, sizeInputs[s.key]))))),
    h('fieldset', {}, h('legend', {}, 'Training'), h('div', { class: 'grid' }, fieldsOf('train'))),
    // The paper's design space: mask, decoder, prediction target, loss.
    h('fieldset', { 'data-kinds': 'pretrain', id: 'design' }, h('legend', {}, 'Mask, decoder, target and loss'),
      h('div', { class: 'grid' }, designFieldsOf('mask'), designFieldsOf('decoder'), designFieldsOf('target'))),
    h('fieldset', { 'data-kinds': 'finetune' }, h('legend', {}, 'Fine-tuning'), h('div', { class: 'grid' }, fieldsOf('finetune'))),
    h('fieldset', { 'data-kinds': 'linprobe', id: 'linprobe' }, h('legend', {}, 'Linear probe'), h('div', { class: 'grid' }, fieldsOf('linprobe'))),
    h('details', { id: 'more' }, h('summary', {}, 'Schedule and more'),
      h('div', { class: 'grid' }, fieldsOf('more')),
      h('fieldset', { id: 'data-loading' }, h('legend', {}, 'Data loading'), h('div', { class: 'grid' }, fieldsOf('data'))),
      field('Other spec fields (JSON, under the fields above)', extra, 'E.g. {"augment": {"hflip": false, "crop_scale": [0.5, 1]}}')),
    summary,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Submit job')));

  kind.addEventListener('change', () => {
    applyKindDefaults();
    nameInitPicker();
    showSections();
  });
  // Another arch keeps a preset of its own, or takes its default one; a preset of the other
  // arch takes that arch.
  arch.addEventListener('change', () => {
    forgetHeads();
    if (preset.value && MODEL_PRESETS[preset.value].arch !== arch.value) preset.value = ARCH_PRESET[arch.value];
    showModel();
  });
  preset.addEventListener('change', () => {
    const presetArch = MODEL_PRESETS[preset.value]?.arch;
    if (presetArch && presetArch !== arch.value) {
      arch.value = presetArch;
      forgetHeads();
    }
    showModel();
  });
  dataset.addEventListener('change', showDatasetNote);
  for (const key of ['img_size', 'patch_size', 'embed_dim', 'depths', 'num_heads']) sizeInputs[key].addEventListener('input', refreshDesign);
  // A choice shows the fields it takes; the mask type and cell size relabel the ratios.
  for (const f of DESIGN_FIELDS) {
    design[f.name].el.addEventListener('change', () => {
      if (f.name.startsWith('mask.')) refreshDesign();
      showSections();
    });
  }
  initJob.addEventListener('change', () => {
    refreshDesign();
    showSections();
    loadCheckpoints().catch((e) => flashError(e.message));
  });
  form.addEventListener('submit', submit);

  fill(root, h('div', { class: 'title-row' }, h('h1', {}, 'New job'), newTabs('job')), form);
  applyKindDefaults();
  nameInitPicker();
  for (const f of DESIGN_FIELDS) design[f.name].value = initialValue(f);
  showModel();
  showSections();
  const from = query.get('from');
  Promise.all([loadDatasets(), loadPretrainJobs(), loadCheckpoints()])
    .then(() => (from ? cloneFrom(Number(from)) : null))
    .then(nameInitPicker)
    .then(showModel)
    .then(showSections)
    .catch((e) => {
      fill(summary, e.message);
      summary.hidden = false;
    });
}
