// The dashboard's design-space module (web/design.js) under node, no browser or daemon: the
// choices the new-job form offers (the paper's mask patch sizes, prediction resolutions,
// square masks), the spec fragment its values make (defaults and the fields of other
// choices left out, the defaults that follow a ViT's or a Swin's sizes), a cloned job's values
// back into the form, and a job's settings, model and ranks in words as its page shows them;
// the new-study form's preset values (web/newstudy.js). Prints "ok - ..." / "not ok - ..." lines; run by
// tests/integration/test_browser.sh, or alone: node tests/browser/design.test.mjs
import {
  DESIGN_FIELDS, MODEL_PRESETS, designField, designRows, designSpec, designValues, initFromText, initialValue, maskPatchChoices,
  modelSizes, modelText, previewNote, ranksText, squareSide, targetChoices,
} from '../../web/design.js';
import { STUDY_PRESETS } from '../../web/newstudy.js';

let failed = 0;

function check(name, fn) {
  try {
    const detail = fn();
    console.log(`ok - design: ${name}${detail ? `: ${detail}` : ''}`);
  } catch (e) {
    console.log(`not ok - design: ${name}: ${e.message}`);
    failed++;
  }
}

const show = (v) => JSON.stringify(v);
function same(got, want, what = '') {
  if (show(got) !== show(want)) throw new Error(`${what}${what ? ' ' : ''}got ${show(got)}, want ${show(want)}`);
}

// The form's values before anything is chosen (what mountNewJob shows), with changes.
const initial = Object.fromEntries(DESIGN_FIELDS.map((f) => [f.name, initialValue(f)]));
const form = (changes) => ({ ...initial, ...changes });
const FMNIST_Q = { img_size: 32, patch_size: 4, embed_dim: 128, num_heads: 4 };

check('mask patch sizes: multiples of the patch that divide the image (the paper\'s 4 … 64 for 192 px)', () => {
  same(maskPatchChoices(32, 4), [4, 8, 16, 32], '32/4');
  same(maskPatchChoices(224, 16), [16, 32, 112, 224], '224/16');
  const paper = maskPatchChoices(192, 4);
  for (const s of [4, 8, 16, 32, 64]) if (!paper.includes(s)) throw new Error(`192/4 lacks ${s}: ${paper}`);
  same(maskPatchChoices(30, 4), [], '30/4 (no patch grid)');
  return `32/4: ${maskPatchChoices(32, 4)}; 192/4: ${paper}`;
});

check('prediction resolutions: multiples of the token grid that divide the image', () => {
  same(targetChoices(192, 32), [6, 12, 24, 48, 96, 192], '192 px, 6×6 tokens');
  same(targetChoices(32, 4), [8, 16, 32], 'fmnist-q');
  same(targetChoices(224, 16), [14, 28, 56, 112, 224], '224/16');
  return 'the paper\'s 6² … 192²; fmnist-q 8, 16, 32';
});

check("square masks: the paper's 0.11, 0.25, 0.44 of a 6×6 grid are 2×2, 3×3, 4×4", () => {
  same([0.11, 0.25, 0.44].map((r) => squareSide(r, 6)), [2, 3, 4]);
  same(squareSide(0.01, 4), 1, 'at least one cell');
  const labels = DESIGN_FIELDS.find((f) => f.name === 'mask.ratio').choices({ 'mask.type': 'square' }, FMNIST_Q).map(([, l]) => l);
  same(labels, ['0.11: 1×1 of 4×4 = 0.06', '0.25: 2×2 of 4×4 = 0.25', '0.44: 3×3 of 4×4 = 0.56'], 'labels on fmnist-q\'s 4×4 grid');
  return labels.join('; ');
});

check('the defaults make no design fields but the mask ratio (sent as before)', () => {
  same(designSpec(initial, FMNIST_Q), { mask: { ratio: 0.6 } });
  // The same values spelled as the spec's defaults, for this model.
  same(designSpec(form({ 'mask.type': 'random', 'target.resolution': '32', 'decoder.hidden': '128', 'loss.scope': 'masked' }), FMNIST_Q),
    { mask: { ratio: 0.6 } });
});

check('block mask + MLP decoder + 8 bins: only what differs from the defaults', () => {
  const values = form({ 'mask.type': 'block', 'decoder.type': 'mlp', 'loss.type': 'bins', 'loss.bins': '8' });
  const spec = designSpec(values, FMNIST_Q);
  same(spec, { mask: { type: 'block', ratio: 0.6 }, decoder: { type: 'mlp' }, loss: { type: 'bins', bins: 8 } });
  return show(spec);
});

check('fields of other choices are never sent (the API refuses them)', () => {
  // Every field filled; only those of the chosen types may appear.
  const all = form({
    'mask.type': 'square', 'mask.ratio': '0.25', 'mask.min_block': '9', 'decoder.type': 'transformer', 'decoder.hidden': '512',
    'decoder.depth': '4', 'decoder.embed_dim': '96', 'decoder.num_heads': '3', 'loss.type': 'smooth_l1', 'loss.beta': '0.5',
    'loss.bins': '256', 'loss.palette': '512',
  });
  same(designSpec(all, FMNIST_Q), {
    mask: { type: 'square', ratio: 0.25 },
    decoder: { type: 'transformer', depth: 4, embed_dim: 96, num_heads: 3 },
    loss: { type: 'smooth_l1', beta: 0.5 },
  });
  same(designSpec({ ...all, 'mask.type': 'block', 'decoder.type': 'mlp', 'loss.type': 'palette' }, FMNIST_Q), {
    mask: { type: 'block', ratio: 0.25, min_block: 9 }, decoder: { type: 'mlp', hidden: 512 }, loss: { type: 'palette', palette: 512 },
  });
});

check("defaults that follow the model: the encoder's width and heads, the image size", () => {
  const values = form({ 'decoder.type': 'transformer', 'decoder.embed_dim': '128', 'decoder.num_heads': '4', 'target.resolution': '32' });
  same(designSpec(values, FMNIST_Q), { mask: { ratio: 0.6 }, decoder: { type: 'transformer' } }, 'fmnist-q');
  const vit = { img_size: 224, patch_size: 16, embed_dim: 192, num_heads: 3 };
  same(designSpec(values, vit), { mask: { ratio: 0.6 }, decoder: { type: 'transformer', embed_dim: 128, num_heads: 4 }, target: { resolution: 32 } },
    'vit-t16-224');
  same(designSpec(form({ 'target.resolution': '8', 'loss.scope': 'full', 'mask.mask_patch_size': '16' }), FMNIST_Q),
    { mask: { ratio: 0.6, mask_patch_size: 16 }, target: { resolution: 8 }, loss: { scope: 'full' } }, 'r = T, scope full');
});

check("a Swin's defaults follow its stride and its last stage (docs/job-spec.md's presets)", () => {
  const fmnist = modelSizes(MODEL_PRESETS['swin-fmnist']);
  same([fmnist.stride, fmnist.out_dim, fmnist.out_heads], [8, 192, 12], 'swin-fmnist: stride, last width and heads');
  const t = modelSizes(MODEL_PRESETS['swin-t-192']);
  same([t.stride, t.img_size / t.stride, t.out_dim, t.out_heads], [32, 6, 768, 24], 'swin-t-192: stride, output grid, last width and heads');
  same(modelSizes(fmnist), fmnist, 'sizes given back as they are');
  // "arch": "swin" alone is swin-fmnist's sizes; given sizes change what follows.
  same(modelSizes({ arch: 'swin' }), fmnist, 'no sizes');
  const tiny = modelSizes({ arch: 'swin', patch_size: 4, embed_dim: 16, depths: [1, 1], num_heads: [1, 2] });
  same([tiny.stride, tiny.out_dim, tiny.out_heads], [8, 32, 2], 'a tiny Swin');
  same(designField('mask.mask_patch_size').empty({}, t), 'default (32)', 'the mask cell: the stride');
  // The MLP's hidden width defaults to the last stage's 192, not embed_dim's 48: 48 is sent.
  const mlp = (hidden) => designSpec(form({ 'decoder.type': 'mlp', 'decoder.hidden': hidden }), MODEL_PRESETS['swin-fmnist']).decoder;
  same([mlp('192'), mlp('48')], [{ type: 'mlp' }, { type: 'mlp', hidden: 48 }], 'decoder.hidden 192, 48');
  const targets = designField('target.resolution').choices({}, t).map(([, label]) => label);
  same(targets, ['6×6 (one pixel per token)', '12×12', '24×24', '48×48', '96×96'], 'swin-t-192 targets: multiples of its 6×6 output grid');
  const rows = Object.fromEntries(designRows({ model: { ...MODEL_PRESETS['swin-fmnist'] }, mask: { ratio: 0.6, mask_patch_size: null },
    decoder: { type: 'transformer', depth: 2, embed_dim: null, num_heads: null } }).map(([k, , text]) => [k, text]));
  same([rows.mask, rows.decoder], ['random, ratio 0.6, 8-px cells (4×4 grid)', 'transformer, 2 blocks, width 192, 12 heads'], 'swin-fmnist in words');
  return `swin-fmnist: stride 8, last stage 192 wide with 12 heads; swin-t-192: stride 32 (a 6×6 output grid)`;
});

check("a job's spec back into the form's values, and again into the same spec", () => {
  // An echo as the daemon may write it: every field present, the unused ones null.
  const echo = {
    model: { img_size: 32, patch_size: 4, embed_dim: 64, num_heads: 2 },
    mask: { type: 'block', mask_patch_size: 8, ratio: 0.5, min_block: 6 },
    decoder: { type: 'mlp', hidden: null, depth: 2, embed_dim: null, num_heads: null },
    target: { resolution: 16 },
    loss: { type: 'bins', scope: 'masked', beta: 1.0, bins: 8, palette: null },
  };
  const values = designValues(echo);
  same([values['mask.type'], values['decoder.hidden'], values['loss.bins'], values['loss.palette']], ['block', '', '8', '16'], 'values');
  same(designSpec(values, echo.model), {
    mask: { type: 'block', ratio: 0.5, mask_patch_size: 8, min_block: 6 }, decoder: { type: 'mlp' },
    target: { resolution: 16 }, loss: { type: 'bins', bins: 8 },
  });
  // A job from before the fields existed: the form's initial values, the spec of then.
  same(designSpec(designValues({ mask: { ratio: 0.6, mask_patch_size: 8 }, loss: { scope: 'masked' } }), FMNIST_Q),
    { mask: { ratio: 0.6, mask_patch_size: 8 } }, 'old job');
});

check("a job's settings in words, defaults for an old spec", () => {
  const rows = (spec) => Object.fromEntries(designRows(spec).map(([k, , text]) => [k, text]));
  same(rows({ model: { img_size: 32, patch_size: 4, embed_dim: 128, num_heads: 4 }, mask: { ratio: 0.6, mask_patch_size: 8 }, loss: { scope: 'masked' } }), {
    mask: 'random, ratio 0.6, 8-px cells (4×4 grid)', decoder: 'linear', target: '32×32 (the image)', loss: 'ℓ1 over the masked pixels',
  }, 'old job');
  const got = rows({
    model: { img_size: 32, patch_size: 4, embed_dim: 64, num_heads: 2 },
    mask: { type: 'block', mask_patch_size: 8, ratio: 0.5, min_block: 6 },
    decoder: { type: 'transformer', hidden: null, depth: 3, embed_dim: null, num_heads: null },
    target: { resolution: 16 }, loss: { type: 'palette', scope: 'full', palette: 16 },
  });
  same(got, {
    mask: 'block-wise, ratio 0.5, 8-px cells (4×4 grid), blocks of at least 6 cells', decoder: 'transformer, 3 blocks, width 64, 2 heads',
    target: '16×16 (the 32×32 image pooled 2×2)', loss: 'a 16-colour palette, cross-entropy over the whole image',
  });
  same(rows({ model: { img_size: 192, patch_size: 32 }, mask: { type: 'square', ratio: 0.44, mask_patch_size: 32 }, target: { resolution: 6 }, loss: { type: 'bins', bins: 256 }, decoder: { type: 'mlp', hidden: 512 } }), {
    mask: 'square, ratio 0.44: one 4×4 square of 6×6 (0.44)', decoder: '2-layer MLP, hidden width 512',
    target: '6×6 (the 192×192 image pooled 32×32; one pixel per token)', loss: '256 bins per channel, cross-entropy over the masked pixels',
  }, 'the paper\'s square and 6² target');
  return Object.values(got).join(' | ');
});

check('the preview note and the starting point in words', () => {
  same(previewNote({ model: { img_size: 32 }, target: { resolution: 32 }, loss: { type: 'l1' } }), null, 'nothing to say');
  const note = previewNote({ model: { img_size: 32, patch_size: 4 }, target: { resolution: 8 }, loss: { type: 'bins' } });
  if (!/8×8/.test(note) || !/enlarged to 32×32/.test(note) || !/expected colour/.test(note)) throw new Error(note);
  same([initFromText(3), initFromText({ checkpoint: 7 }), initFromText(null)], ["job #3's newest checkpoint", 'checkpoint 7', null]);
  return note;
});

check('the model in words: a ViT, a Swin (its stage lists and windows), a preset named', () => {
  const vit = { arch: 'vit', preset: null, img_size: 32, patch_size: 4, in_chans: 1, embed_dim: 128, depth: 4,
    num_heads: 4, mlp_ratio: 4, depths: null, window_size: null, ape: null, patch_norm: null };
  const swin = { arch: 'swin', preset: 'swin-fmnist', img_size: 32, patch_size: 2, in_chans: 1, embed_dim: 48,
    depth: null, num_heads: [3, 6, 12], mlp_ratio: 4, depths: [2, 2, 2], window_size: 4, ape: false, patch_norm: true };
  same(modelText(vit), 'ViT, 32×32 images, 4-px patches, width 128, 4 blocks of 4 heads', 'vit');
  same(modelText(swin), 'swin-fmnist: Swin, 32×32 images, 2-px patches, width 48 doubling per stage, depths [2, 2, 2], '
    + 'heads [3, 6, 12], 4×4 windows', 'swin-fmnist');
  same(modelText({ ...swin, preset: null, ape: true, patch_norm: false }), 'Swin, 32×32 images, 2-px patches, width 48 '
    + 'doubling per stage, depths [2, 2, 2], heads [3, 6, 12], 4×4 windows, absolute position embedding, no patch norm',
  'ape, no patch norm');
  return modelText(swin);
});

check('the ranks in words: several, or none for one process', () => {
  same(ranksText({ ranks: 2, batch_size: 50 }), "2 MPI ranks, 25 of each batch's 50 images apiece");
  same([ranksText({ ranks: 1, batch_size: 50 }), ranksText({ batch_size: 50 }), ranksText(undefined)], [null, null, null], 'one process');
  return ranksText({ ranks: 2, batch_size: 50 });
});

check("the new-study form's preset values follow the encoder's stride, as the daemon's (docs/http-api.md)", () => {
  const values = (preset, model) => STUDY_PRESETS[preset][1](modelSizes(model));
  same([values('mask-patch', {}), values('resolution', {})], [[4, 8, 16], [8, 16, 32]], 'fmnist-q');
  same([values('mask-patch', { arch: 'swin' }), values('resolution', { arch: 'swin' })], [[8, 16], [4, 8, 16, 32]], 'swin-fmnist');
  const t = MODEL_PRESETS['swin-t-192'];
  same([values('mask-patch', t), values('resolution', t)], [[32, 64, 96], [6, 12, 24, 48, 96, 192]], 'swin-t-192');
  return 'swin-fmnist: cells 8, 16, resolutions 4 … 32; swin-t-192: 32, 64, 96 and 6 … 192';
});

process.exitCode = failed ? 1 : 0;
