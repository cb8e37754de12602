// The SimMIM design space of a pretraining job (issue 25; docs/job-spec.md): the mask type,
// the decoder, the prediction target and the loss. Here are the fields with the paper's
// values as choices, which fields apply to which choice, the spec a set of values makes
// (defaults and fields of other choices left out, so that a spec without them runs as
// before), and a job's settings in words; and the model presets and the sizes the design
// fields follow (a ViT's or a Swin's), a job's model and ranks in words. Plain functions of
// plain values, no DOM: the new-job form (newjob.js) and the job page (job.js) use them, and
// tests/browser/design.test.mjs runs them under node.

// The paper's mask ratios (its Table 3 sweeps 0.1 … 0.9; 0.6 is SimMIM's default), and its
// square masks: 2×2, 3×3 and 4×4 of a 6×6 grid.
export const PAPER_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
export const SQUARE_RATIOS = [0.11, 0.25, 0.44];
// Classification targets: the paper's 8 and 256 bins per channel; palettes of 16 colours
// (a quick run) and 512 (iGPT's colour clusters).
export const PAPER_BINS = [8, 256];
export const PAPER_PALETTES = [16, 512];

// The model presets of core/config.c (docs/job-spec.md, Presets): the arch and every size;
// explicit sizes override them.
export const MODEL_PRESETS = {
  'fmnist-q': { arch: 'vit', img_size: 32, patch_size: 4, in_chans: 1, embed_dim: 128, depth: 4, num_heads: 4, mlp_ratio: 4 },
  'fmnist-vit-t': { arch: 'vit', img_size: 32, patch_size: 4, in_chans: 1, embed_dim: 192, depth: 6, num_heads: 3, mlp_ratio: 4 },
  'vit-t16-224': { arch: 'vit', img_size: 224, patch_size: 16, in_chans: 3, embed_dim: 192, depth: 12, num_heads: 3, mlp_ratio: 4 },
  'vit-s16-224': { arch: 'vit', img_size: 224, patch_size: 16, in_chans: 3, embed_dim: 384, depth: 12, num_heads: 6, mlp_ratio: 4 },
  'swin-fmnist': { arch: 'swin', img_size: 32, patch_size: 2, in_chans: 1, embed_dim: 48, depths: [2, 2, 2], num_heads: [3, 6, 12],
    window_size: 4, mlp_ratio: 4, ape: false, patch_norm: true },
  'swin-t-192': { arch: 'swin', img_size: 192, patch_size: 4, in_chans: 3, embed_dim: 96, depths: [2, 2, 6, 2], num_heads: [3, 6, 12, 24],
    window_size: 6, mlp_ratio: 4, ape: false, patch_norm: true },
  'swin-b-192': { arch: 'swin', img_size: 192, patch_size: 4, in_chans: 3, embed_dim: 128, depths: [2, 2, 18, 2], num_heads: [4, 8, 16, 32],
    window_size: 6, mlp_ratio: 4, ape: false, patch_norm: true },
};
// The preset whose sizes a model of each arch has without one ("arch": "swin" alone is
// swin-fmnist's).
export const ARCH_PRESET = { vit: 'fmnist-q', swin: 'swin-fmnist' };

const isInt = (v) => Number.isInteger(v) && v > 0;
const isIntList = (v) => Array.isArray(v) && v.length > 0 && v.every(isInt);

// The model sizes the design fields depend on, each a positive integer (or list) or its arch's
// default preset's, and what follows from them (core/config.c): the encoder's stride (a Swin's
// patch_size · 2^(stages − 1)), and the width and heads of the tokens the decoder reads (a
// Swin's last stage: embed_dim · 2^(stages − 1) and its heads). Its own answer gives it back.
export function modelSizes(m = {}) {
  const swin = m?.arch === 'swin';
  const d = MODEL_PRESETS[ARCH_PRESET[swin ? 'swin' : 'vit']];
  const out = { arch: swin ? 'swin' : 'vit' };
  for (const k of ['img_size', 'patch_size', 'embed_dim']) out[k] = isInt(m?.[k]) ? m[k] : d[k];
  if (swin) {
    const depths = isIntList(m.depths) ? m.depths : d.depths;
    const heads = isIntList(m.num_heads) ? m.num_heads : d.num_heads;
    const halvings = depths.length - 1; // each stage after the first halves the grid, doubles the width
    return { ...out, depths, num_heads: heads, stride: out.patch_size * 2 ** halvings, out_dim: out.embed_dim * 2 ** halvings,
      out_heads: heads.at(-1) };
  }
  const heads = isInt(m?.num_heads) ? m.num_heads : d.num_heads;
  return { ...out, num_heads: heads, stride: out.patch_size, out_dim: out.embed_dim, out_heads: heads };
}

// The mask cell side the daemon picks when mask.mask_patch_size is not given, for modelSizes'
// sizes: a Swin's stride (one masked cell per output token, as SimMIM's), a ViT's 8, or two
// patches for patches larger than 8.
export const defaultMaskPatch = (model) => (model.arch === 'swin' ? model.stride : model.patch_size <= 8 ? 8 : 2 * model.patch_size);

// Mask cell sides that work: multiples of the model patch that divide the image (for a
// 192-pixel image with 4-pixel patches: 4, 8, 12, 16, …, 64, 96, 192 — the paper's 4…64
// among them).
export function maskPatchChoices(img, patch) {
  const out = [];
  if (!isInt(img) || !isInt(patch)) return out;
  for (let s = patch; s <= img; s += patch) if (img % s === 0) out.push(s);
  return out;
}

// Prediction resolutions that work: multiples of the output grid's side T = img / stride (a
// ViT's patch, a Swin's patch_size · 2^(stages − 1)) that divide the image (a 192-pixel image
// with a 6×6 token grid: 6, 12, 24, 48, 96, 192; 32-pixel fmnist-q with patch 4: 8, 16, 32).
export function targetChoices(img, stride) {
  const out = [];
  if (!isInt(img) || !isInt(stride) || img % stride) return out;
  const t = img / stride;
  for (let r = t; r <= img; r += t) if (img % r === 0) out.push(r);
  return out;
}

// The side k of a square mask on an M×M grid: max(1, round(√ratio · M)).
export const squareSide = (ratio, m) => Math.max(1, Math.round(Math.sqrt(ratio) * m));

// A few characters of a number: 0.6, 0.5625 → 0.56.
const short = (x) => String(Number(x.toFixed(2)));

// The grid side M of the mask for a spec's values (mask_patch_size given or the default).
function maskGrid(values, model) {
  const cell = Number(values['mask.mask_patch_size']) || defaultMaskPatch(model);
  return model.img_size % cell === 0 ? model.img_size / cell : null;
}

// The fields. name: spec path; type 'int', 'number' or 'text'; def: the default (a function
// of the model sizes where it depends on them; null: none known, always sent); when: the
// choice it belongs to; choices(values, model): [value, label] pairs offered in a select;
// other: a select that also takes any other value typed in; empty: the label of the select's
// empty choice ("the default", sent as nothing); hint: a line under the field.
export const DESIGN_FIELDS = [
  { group: 'mask', name: 'mask.type', label: 'Mask type', type: 'text', def: 'random',
    choices: () => [['random', 'random (SimMIM)'], ['square', 'square (one k×k square)'], ['block', 'block-wise (BEiT)']] },
  { group: 'mask', name: 'mask.ratio', label: 'Mask ratio', type: 'number', def: 0.6, other: true, sent: 'always',
    choices: (v, model) => {
      if (v['mask.type'] !== 'square') return PAPER_RATIOS.map((r) => [r, r === 0.6 ? '0.6 (default)' : String(r)]);
      const m = maskGrid(v, model);
      return SQUARE_RATIOS.map((r) => {
        const k = m ? squareSide(r, m) : null;
        return [r, k ? `${r}: ${k}×${k} of ${m}×${m} = ${short((k * k) / (m * m))}` : String(r)];
      });
    },
    hint: (v, model) => {
      const m = maskGrid(v, model);
      if (v['mask.type'] === 'square') return `One k×k square, k = round(√ratio · ${m ?? 'M'}); the paper's are 2², 3², 4² of 6×6.`;
      return 'The paper: 0.1 … 0.9.';
    } },
  { group: 'mask', name: 'mask.mask_patch_size', label: 'Mask patch size', type: 'int', def: null,
    empty: (v, model) => `default (${defaultMaskPatch(model)})`,
    choices: (v, model) => maskPatchChoices(model.img_size, model.patch_size).map((s) => {
      const m = model.img_size / s;
      return [s, `${s} px (${m}×${m} grid)`];
    }),
    hint: 'The paper: 4 … 64 px.' },
  { group: 'mask', name: 'mask.min_block', label: 'Smallest block (cells)', type: 'int', def: 4,
    when: (v) => v['mask.type'] === 'block', hint: "BEiT's min_num_patches (16 on its 14×14 grid)." },

  { group: 'decoder', name: 'decoder.type', label: 'Decoder', type: 'text', def: 'linear',
    choices: () => [['linear', 'linear (SimMIM)'], ['mlp', '2-layer MLP'], ['transformer', 'transformer']] },
  { group: 'decoder', name: 'decoder.hidden', label: 'MLP hidden width', type: 'int', def: (m) => m.out_dim,
    when: (v) => v['decoder.type'] === 'mlp', hint: "Empty: the encoder's output width." },
  { group: 'decoder', name: 'decoder.depth', label: 'Decoder blocks', type: 'int', def: 2,
    when: (v) => v['decoder.type'] === 'transformer' },
  { group: 'decoder', name: 'decoder.embed_dim', label: 'Decoder width', type: 'int', def: (m) => m.out_dim,
    when: (v) => v['decoder.type'] === 'transformer', hint: "Empty: the encoder's output width." },
  { group: 'decoder', name: 'decoder.num_heads', label: 'Decoder heads', type: 'int', def: (m) => m.out_heads,
    when: (v) => v['decoder.type'] === 'transformer', hint: "Empty: the encoder's heads (a Swin's last stage's)." },

  { group: 'target', name: 'target.resolution', label: 'Prediction resolution', type: 'int', def: (m) => m.img_size,
    empty: (v, model) => `${model.img_size}×${model.img_size} (default)`,
    choices: (v, model) => targetChoices(model.img_size, model.stride).filter((r) => r !== model.img_size)
      .map((r) => [r, `${r}×${r}${r === model.img_size / model.stride ? ' (one pixel per token)' : ''}`]),
    hint: 'The image pooled to r×r; default: the image.' },
  { group: 'target', name: 'loss.type', label: 'Loss', type: 'text', def: 'l1',
    choices: () => [['l1', 'ℓ1 (SimMIM)'], ['l2', 'ℓ2'], ['smooth_l1', 'smooth ℓ1'], ['bins', 'bins (per channel)'],
      ['palette', 'palette (colours)']] },
  { group: 'target', name: 'loss.scope', label: 'Loss over', type: 'text', def: 'masked',
    choices: () => [['masked', 'the masked pixels'], ['full', 'the whole image']] },
  { group: 'target', name: 'loss.beta', label: 'Smooth ℓ1 β', type: 'number', def: 1,
    when: (v) => v['loss.type'] === 'smooth_l1', hint: "As PyTorch's SmoothL1Loss." },
  { group: 'target', name: 'loss.bins', label: 'Bins per channel', type: 'int', def: null, other: true, initial: 8,
    when: (v) => v['loss.type'] === 'bins', choices: () => PAPER_BINS.map((k) => [k, String(k)]),
    hint: '2 … 256; the paper: 8 and 256.' },
  { group: 'target', name: 'loss.palette', label: 'Palette colours', type: 'int', def: null, other: true, initial: 16,
    when: (v) => v['loss.type'] === 'palette',
    choices: () => PAPER_PALETTES.map((k) => [k, k === 512 ? '512 (iGPT)' : k === 16 ? '16 (a quick run)' : String(k)]),
    hint: '2 … 1024 k-means colours of the training pixels.' },
];

export const designField = (name) => DESIGN_FIELDS.find((f) => f.name === name);

// Whether a field applies to these values (its choice is the one made).
export const applies = (f, values) => !f.when || f.when(values);

// The default of a field for this model (null: none).
export const defaultOf = (f, model) => (typeof f.def === 'function' ? f.def(modelSizes(model)) : f.def);

// What the form shows for a field before anything is chosen: the default, or an initial
// choice for a field without one (bins, palette), or empty ("the default").
export function initialValue(f) {
  if (f.initial !== undefined) return String(f.initial);
  return typeof f.def === 'function' || f.def === null ? '' : String(f.def);
}

// A form value as the spec takes it (NaN for a number that is not one).
export function parseValue(f, text) {
  return f.type === 'text' ? String(text) : Number(text);
}

// The spec fragment of a pretraining form's design fields. values: {spec path: text}, as
// the controls hold them; model: the model sizes (the form's, or the starting checkpoint's).
// Left out: an empty value, a field of another choice (the API refuses those), and a value
// equal to its default, except mask.ratio (always sent, as before these fields existed).
export function designSpec(values, model) {
  const sizes = modelSizes(model);
  const spec = {};
  for (const f of DESIGN_FIELDS) {
    const text = values[f.name];
    if (text === undefined || text === null || String(text).trim() === '' || !applies(f, values)) continue;
    const value = parseValue(f, String(text).trim());
    const def = defaultOf(f, sizes);
    if (f.sent !== 'always' && def !== null && value === def) continue;
    const [section, key] = f.name.split('.');
    (spec[section] ??= {})[key] = value;
  }
  return spec;
}

// The values a job's spec holds for the design fields, as text (what the form shows): the
// spec's, or for a field the spec lacks (a job from before it existed) the form's initial.
export function designValues(spec) {
  const out = {};
  for (const f of DESIGN_FIELDS) {
    const [section, key] = f.name.split('.');
    const v = spec?.[section]?.[key];
    out[f.name] = v === null || v === undefined ? initialValue(f) : String(v);
  }
  return out;
}

// A job's design settings in words, for its page: [key, label, text] rows for the mask, the
// decoder, the target and the loss. Fields the spec lacks take their defaults, those that
// are null the model's (an old job's spec has none of the new fields: it ran with them).
export function designRows(spec) {
  const model = modelSizes(spec?.model);
  const mask = spec?.mask || {};
  const dec = spec?.decoder || {};
  const loss = spec?.loss || {};
  const num = (v, d) => (Number.isFinite(v) ? v : d);

  const type = mask.type || 'random';
  const ratio = num(mask.ratio, 0.6);
  const cell = num(mask.mask_patch_size, defaultMaskPatch(model));
  const m = model.img_size % cell === 0 ? model.img_size / cell : null;
  const grid = m ? `, ${cell}-px cells (${m}×${m} grid)` : `, ${cell}-px cells`;
  let maskText;
  if (type === 'square') {
    const k = m ? squareSide(ratio, m) : null;
    maskText = `square, ratio ${ratio}${k ? `: one ${k}×${k} square of ${m}×${m} (${short((k * k) / (m * m))})` : ''}${m ? '' : grid}`;
  } else if (type === 'block') {
    maskText = `block-wise, ratio ${ratio}${grid}, blocks of at least ${num(mask.min_block, 4)} cells`;
  } else {
    maskText = `${type}, ratio ${ratio}${grid}`;
  }

  const dtype = dec.type || 'linear';
  let decText;
  if (dtype === 'mlp') decText = `2-layer MLP, hidden width ${num(dec.hidden, model.out_dim)}`;
  else if (dtype === 'transformer') {
    decText = `transformer, ${num(dec.depth, 2)} blocks, width ${num(dec.embed_dim, model.out_dim)}, ${num(dec.num_heads, model.out_heads)} heads`;
  } else decText = dtype === 'linear' ? 'linear' : dtype;

  const r = num(spec?.target?.resolution, model.img_size);
  const tokens = model.img_size % model.stride === 0 ? model.img_size / model.stride : null; // the decoder's grid
  let targetText = `${r}×${r}`;
  if (r === model.img_size) targetText += ' (the image)';
  else targetText += ` (the ${model.img_size}×${model.img_size} image pooled ${model.img_size / r}×${model.img_size / r}${r === tokens ? '; one pixel per token' : ''})`;

  const ltype = loss.type || 'l1';
  const over = (loss.scope || 'masked') === 'full' ? 'over the whole image' : 'over the masked pixels';
  const lossText = {
    l1: 'ℓ1', l2: 'ℓ2', smooth_l1: `smooth ℓ1, β ${num(loss.beta, 1)}`,
    bins: `${loss.bins ?? '?'} bins per channel, cross-entropy`,
    palette: `a ${loss.palette ?? '?'}-colour palette, cross-entropy`,
  }[ltype] ?? ltype;

  return [
    ['mask', 'Mask', maskText],
    ['decoder', 'Decoder', decText],
    ['target', 'Target', targetText],
    ['loss', 'Loss', `${lossText} ${over}`],
  ];
}

// A spec's encoder in words (every job's page): "ViT, 32×32 images, 4-px patches, width 128,
// 4 blocks of 4 heads" or "Swin, 32×32 images, 2-px patches, width 48 doubling per stage,
// depths [2, 2, 2], heads [3, 6, 12], 4×4 windows", after its preset's name when it has one.
export function modelText(model) {
  const m = model || {};
  const list = (v) => `[${(Array.isArray(v) ? v : []).join(', ')}]`;
  const common = `${m.img_size}×${m.img_size} images, ${m.patch_size}-px patches, width ${m.embed_dim}`;
  const text = m.arch === 'swin'
    ? `Swin, ${common} doubling per stage, depths ${list(m.depths)}, heads ${list(m.num_heads)}, ` +
      `${m.window_size}×${m.window_size} windows${m.ape ? ', absolute position embedding' : ''}` +
      `${m.patch_norm === false ? ', no patch norm' : ''}`
    : `ViT, ${common}, ${m.depth} blocks of ${m.num_heads} heads`;
  return m.preset ? `${m.preset}: ${text}` : text;
}

// A job of several processes (train.ranks > 1) in words: "2 MPI ranks, 25 of each batch's 50
// images apiece"; null for one process.
export function ranksText(train) {
  const ranks = train?.ranks;
  if (!(ranks > 1)) return null;
  return `${ranks} MPI ranks, ${train.batch_size / ranks} of each batch's ${train.batch_size} images apiece`;
}

// pretrain.init_from (or finetune.init_from) in words: "job #3's newest checkpoint",
// "checkpoint 7"; null when there is none.
export function initFromText(from) {
  if (from === null || from === undefined) return null;
  if (typeof from === 'object' && Number.isInteger(from.checkpoint)) return `checkpoint ${from.checkpoint}`;
  if (Number.isInteger(from)) return `job #${from}'s newest checkpoint`;
  return null;
}

// What the preview's prediction columns show, when it is not the plain predicted pixels at
// the image's size: the target at a lower resolution (the trainer enlarges it) or the
// expected colour of a classification loss. null: nothing to add.
export function previewNote(spec) {
  const model = modelSizes(spec?.model);
  const r = spec?.target?.resolution;
  const notes = [];
  if (Number.isFinite(r) && r !== model.img_size) notes.push(`The prediction is at the target's ${r}×${r}, shown enlarged to ${model.img_size}×${model.img_size}.`);
  const t = spec?.loss?.type;
  if (t === 'bins' || t === 'palette') notes.push(`Each predicted pixel is the expected colour under its predicted ${t === 'bins' ? 'bin' : 'palette'} distribution.`);
  return notes.length ? notes.join(' ') : null;
}
