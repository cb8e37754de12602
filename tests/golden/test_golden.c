// Golden tests: the C model against fixtures written by tests/golden/make_fixtures.py from
// PyTorch (same weights, inputs, masks and drop decisions): the default SimMIM head, each of its
// other choices (mlp and transformer decoders, target resolutions r = T and img / 2, l2,
// smooth_l1, bins, palette, scope full; square and block masks given as masks) and the
// classifier; a Swin encoder (swin_torch.py) pretraining with the linear, mlp and transformer
// decoders, fine-tuning with drop path, and AdamW with its layer ids. The loss must agree within 1e-4
// relative; every other tensor t within ‖t − t_ref‖ ≤ 1e-3·‖t_ref‖ + 1e-7. Also checks that
// the parameter table has exactly the checkpoint contract's names and shapes.
// Where the processor runs bf16 (AMX or AVX512-BF16), the model fixtures run again with
// precision bf16 against PyTorch results of the same arithmetic (fixtures/bf16/, written by
// make_fixtures.py --bf16 through bf16_emulation.py: every linear layer's operands rounded to
// bf16, sums in float64). Against fp32 references bf16 could not be held tight: an l1 loss's
// gradient is the sign of each error, and bf16's 0.4% steps flip some, moving whole gradients
// by 5-13% in pretrain_r8, pretrain_block and swin_pretrain. Against the same arithmetic only
// the order of fp32 sums differs, which now and then moves an operand to the next bf16 value:
// measured, the loss within 1e-5 and tensors within 1.3e-7 (median) to 0.35% (the transformer
// decoder, the longest chain of products); the limits are 1e-4 and 1%, and a wrong kernel is
// off by order 1.
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/safetensors.h"
#include "model/model.h"
#include "ops/ops.h"
#include "test.h"
#include "train/optim.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/golden/fixtures"
#endif

static double json_num(json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

static json_t *meta_json(const SafeTensors *st, const char *key)
{
    const char *text = safetensors_meta(st, key);
    return text ? json_loads(text, 0, NULL) : NULL;
}

// The index of name in names, or exits: a fixture naming a choice the test does not know.
static int choice(const char *key, const char *name, const char *const *names, int count)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(name, names[i]) == 0) return i;
    fprintf(stderr, "fixture config: unknown %s \"%s\"\n", key, name ? name : "(none)");
    exit(2);
}

// The fixture's config; the head's keys (make_fixtures.py's head_json) are written only where
// they differ from the default head, which fills the rest.
static ModelConfig fixture_config(json_t *c)
{
    ModelConfig cfg = {
        .img_size = (int)json_num(c, "img_size"), .patch_size = (int)json_num(c, "patch_size"),
        .in_chans = (int)json_num(c, "in_chans"), .embed_dim = (int)json_num(c, "embed_dim"),
        .depth = (int)json_num(c, "depth"), .num_heads = (int)json_num(c, "num_heads"),
        .mlp_ratio = json_num(c, "mlp_ratio"), .num_classes = (int)json_num(c, "num_classes"),
        .drop_path = (float)json_num(c, "drop_path"), .decoder = decoder_config_default(),
        .target_resolution = (int)json_num(c, "target_resolution"),
        .loss = loss_config_default()};
    const char *arch = json_string_value(json_object_get(c, "arch"));
    if (arch && strcmp(arch, "swin") == 0) {
        json_t *depths = json_object_get(c, "depths"), *heads = json_object_get(c, "num_heads");
        cfg.arch = ARCH_SWIN, cfg.depth = cfg.num_heads = 0;
        cfg.num_stages = (int)json_array_size(depths);
        cfg.num_stage_heads = (int)json_array_size(heads);
        for (int i = 0; i < cfg.num_stages && i < MAX_STAGES; i++)
            cfg.depths[i] = (int)json_integer_value(json_array_get(depths, i));
        for (int i = 0; i < cfg.num_stage_heads && i < MAX_STAGES; i++)
            cfg.stage_heads[i] = (int)json_integer_value(json_array_get(heads, i));
        cfg.window_size = (int)json_num(c, "window_size");
        cfg.ape = json_is_true(json_object_get(c, "ape"));
        cfg.patch_norm = json_is_true(json_object_get(c, "patch_norm"));
    }
    const char *scope = json_string_value(json_object_get(c, "loss_scope"));
    cfg.loss.full_image = scope && strcmp(scope, "full") == 0;
    json_t *d = json_object_get(c, "decoder"), *l = json_object_get(c, "loss");
    if (d) {
        static const char *const types[] = {[DECODER_LINEAR] = "linear", [DECODER_MLP] = "mlp",
                                            [DECODER_TRANSFORMER] = "transformer"};
        cfg.decoder = (DecoderConfig){
            .type = choice("decoder.type", json_string_value(json_object_get(d, "type")), types, 3),
            .hidden = (int)json_num(d, "hidden"), .depth = (int)json_num(d, "depth"),
            .embed_dim = (int)json_num(d, "embed_dim"), .num_heads = (int)json_num(d, "num_heads")};
    }
    if (l) {
        static const char *const types[] = {[LOSS_L1] = "l1", [LOSS_L2] = "l2",
                                            [LOSS_SMOOTH_L1] = "smooth_l1", [LOSS_BINS] = "bins",
                                            [LOSS_PALETTE] = "palette"};
        cfg.loss.type = choice("loss.type", json_string_value(json_object_get(l, "type")), types, 5);
        cfg.loss.beta = json_num(l, "beta");
        cfg.loss.bins = (int)json_num(l, "bins");
        cfg.loss.palette = (int)json_num(l, "palette");
    }
    return cfg;
}

// The normalization of the fixture's images (pixel_mean, pixel_std: per channel; 0 and 1
// where the fixture has none), which the bins and palette targets undo.
static void fixture_normalization(Model *m, json_t *c)
{
    json_t *mean = json_object_get(c, "pixel_mean"), *std = json_object_get(c, "pixel_std");
    for (int ch = 0; ch < m->cfg.in_chans; ch++) {
        m->pixel_mean[ch] = mean ? (float)json_number_value(json_array_get(mean, ch)) : 0.0f;
        m->pixel_std[ch] = std ? (float)json_number_value(json_array_get(std, ch)) : 1.0f;
    }
}

static const float *tensor(const SafeTensors *st, const char *name, size_t numel)
{
    const StTensor *t = safetensors_find(st, name);
    if (!t || t->numel != numel) {
        fprintf(stderr, "fixture tensor %s missing or of the wrong size\n", name);
        exit(2);
    }
    return t->data;
}

// A precision's references and how close to them its results must be.
typedef struct {
    const char *name;        // "" for fp32
    const char *folder;      // the fixtures' subfolder of its results: "" or "bf16/"
    double loss, tensors;    // relative tolerances of the loss and of every tensor's norm
} Tolerance;

static const Tolerance FP32 = {"", "", 1e-4, 1e-3}, BF16 = {" (bf16)", "bf16/", 1e-4, 1e-2};

// ‖a − ref‖ ≤ tolerance·‖ref‖ + 1e-7; reports the relative error.
static void check_close(const char *what, const float *a, const float *ref, size_t n, double tolerance)
{
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        norm += (double)ref[i] * ref[i];
    }
    diff = sqrt(diff), norm = sqrt(norm);
    test_report(diff <= tolerance * norm + 1e-7, what, "|diff| %.3g vs |ref| %.3g (rel %.2g)", diff,
                norm, diff / (norm + 1e-30));
}

// Fixture tensors that are not model parameters carry one of these prefixes.
static int is_param_name(const char *name)
{
    const char *other[] = {"input.", "output.", "grad.", "grad_norm.", "param."};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (strncmp(name, other[i], strlen(other[i])) == 0) return 0;
    return 1;
}

// Every model parameter exists in the fixture with the same shape, and vice versa; loads them.
static void load_params(Model *m, const SafeTensors *st, const char *fixture, const char *prefix)
{
    int ok = 1, fixture_params = 0;
    char name[128];
    for (int i = 0; i < st->count; i++) fixture_params += is_param_name(st->tensors[i].name);
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *p = &m->info[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const StTensor *t = safetensors_find(st, name);
        int same = t && t->ndim == p->ndim && t->numel == p->numel;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            printf("# %s: parameter %s missing or shaped differently in the fixture\n", fixture, name);
            ok = 0;
            continue;
        }
        memcpy(m->params_mem + p->offset, t->data, p->numel * sizeof(float));
    }
    char what[160];
    snprintf(what, sizeof what, "%s: parameter names and shapes match the checkpoint contract", fixture);
    test_report(ok && fixture_params == m->num_tensors, what, "%d fixture parameters, %d in the model",
                fixture_params, m->num_tensors);
}

static void run_model_fixture(const char *fixture_name, Tolerance tol)
{
    char path[512], err[512], what[320];
    snprintf(path, sizeof path, "%s/%s%s.safetensors", FIXTURE_DIR, tol.folder, fixture_name);
    char fixture[128];
    snprintf(fixture, sizeof fixture, "%s%s", fixture_name, tol.name);
    SafeTensors st;
    if (safetensors_read(path, &st, err, sizeof err)) {
        test_report(0, fixture, "%s", err);
        return;
    }
    json_t *c = meta_json(&st, "config");
    ModelConfig cfg = fixture_config(c);
    int B = (int)json_num(c, "batch");
    Model m;
    if (model_create(&m, &cfg, B, err, sizeof err)) {
        test_report(0, fixture, "%s", err);
        exit(2);
    }
    m.label_smoothing = (float)json_num(c, "label_smoothing");
    fixture_normalization(&m, c);
    // decoder.palette too: a parameter (never trained) like any other.
    load_params(&m, &st, fixture, "");

    int C = cfg.in_chans, S = cfg.img_size, N = model_num_patches(&cfg), K = cfg.num_classes;
    size_t pixels = (size_t)B * C * S * S;
    // The prediction [B, C', r, r]: values, or logits of the bins or palette colours.
    int r = simmim_target_resolution(&cfg);
    size_t pred_floats = (size_t)B * simmim_pred_channels(&cfg) * r * r;
    Batch batch = {.size = B, .images = tensor(&st, "input.images", pixels)};
    int *labels = calloc(B, sizeof(int));
    if (K == 0) {
        batch.token_mask = tensor(&st, "input.mask", (size_t)B * N);
    } else {
        const float *lf = tensor(&st, "input.labels", B);
        for (int b = 0; b < B; b++) labels[b] = (int)lf[b];
        batch.labels = labels;
        batch.drop_keep = tensor(&st, "input.drop_keep", (size_t)model_total_blocks(&cfg) * 2 * B);
    }

    model_zero_grad(&m);
    float loss = model_forward(&m, &batch);
    float ref_loss = *tensor(&st, "output.loss", 1);
    snprintf(what, sizeof what, "%s: loss", fixture);
    test_report(fabsf(loss - ref_loss) <= tol.loss * fabsf(ref_loss), what, "%.7g vs PyTorch %.7g", loss,
                ref_loss);
    if (K == 0) {
        snprintf(what, sizeof what, "%s: reconstruction", fixture);
        check_close(what, m.acts.pred, tensor(&st, "output.pred", pred_floats), pred_floats,
                    tol.tensors);
    } else {
        snprintf(what, sizeof what, "%s: logits", fixture);
        check_close(what, m.acts.logits, tensor(&st, "output.logits", (size_t)B * K), (size_t)B * K,
                    tol.tensors);
    }
    model_backward(&m);
    for (int i = 0; i < m.num_tensors; i++) {
        const ParamInfo *p = &m.info[i];
        char name[128];
        snprintf(name, sizeof name, "grad.%s", p->name);
        snprintf(what, sizeof what, "%s: %s", fixture, name);
        check_close(what, m.grads_mem + p->offset, tensor(&st, name, p->numel), p->numel, tol.tensors);
    }
    free(labels);
    json_decref(c);
    model_free(&m);
    safetensors_free(&st);
}

// Three AdamW steps on PyTorch's gradients: clipping, warmup/cosine lr, weight-decay groups
// and layer decay (fixture "adamw" a ViT's, "swin_adamw" a Swin's layer ids).
static void run_adamw_fixture(const char *fixture)
{
    char path[512], err[512], what[256], name[160];
    snprintf(path, sizeof path, "%s/%s.safetensors", FIXTURE_DIR, fixture);
    SafeTensors st;
    if (safetensors_read(path, &st, err, sizeof err)) {
        test_report(0, fixture, "%s", err);
        return;
    }
    json_t *c = meta_json(&st, "config"), *o = meta_json(&st, "optim");
    ModelConfig cfg = fixture_config(c);
    Model m;
    if (model_create(&m, &cfg, 1, err, sizeof err)) {
        test_report(0, fixture, "%s", err);
        exit(2);
    }
    load_params(&m, &st, fixture, "");
    OptimConfig oc = {.lr = json_num(o, "lr"), .min_lr = json_num(o, "min_lr"),
                      .warmup_steps = (long)json_num(o, "warmup_steps"),
                      .total_steps = (long)json_num(o, "total_steps"),
                      .weight_decay = json_num(o, "weight_decay"), .beta1 = json_num(o, "beta1"),
                      .beta2 = json_num(o, "beta2"), .eps = json_num(o, "eps"),
                      .clip_grad = json_num(o, "clip_grad"), .layer_decay = json_num(o, "layer_decay")};
    long start = (long)json_num(o, "start_step");
    AdamW opt;
    adamw_create(&opt, &oc, m.num_params);
    // The update of each step is compared, not the parameters, whose norm would hide it.
    float *before = malloc(m.num_params * sizeof(float)), *delta = malloc(m.num_params * sizeof(float));
    float *ref_delta = malloc(m.num_params * sizeof(float));
    for (int k = 1; k <= 3; k++) {
        memcpy(before, m.params_mem, m.num_params * sizeof(float));
        for (int i = 0; i < m.num_tensors; i++) {
            const ParamInfo *p = &m.info[i];
            snprintf(name, sizeof name, "grad.step%d.%s", k, p->name);
            memcpy(m.grads_mem + p->offset, tensor(&st, name, p->numel), p->numel * sizeof(float));
        }
        double norm = clip_grad_norm(m.grads_mem, m.num_params, oc.clip_grad);
        snprintf(name, sizeof name, "grad_norm.step%d", k);
        float ref_norm = *tensor(&st, name, 1);
        snprintf(what, sizeof what, "%s step %d: gradient norm", fixture, k);
        test_report(fabs(norm - ref_norm) <= 1e-5 * ref_norm, what, "%.7g vs %.7g", norm, ref_norm);
        adamw_step(&opt, &m, lr_at(&oc, start + k - 1));
        for (int i = 0; i < m.num_tensors; i++) {
            const ParamInfo *p = &m.info[i];
            char prev[160];
            snprintf(name, sizeof name, "param.step%d.%s", k, p->name);
            snprintf(prev, sizeof prev, "param.step%d.%s", k - 1, p->name);
            const float *ref_after = tensor(&st, name, p->numel);
            const float *ref_before = k == 1 ? tensor(&st, p->name, p->numel) : tensor(&st, prev, p->numel);
            for (size_t j = 0; j < p->numel; j++) {
                delta[j] = m.params_mem[p->offset + j] - before[p->offset + j];
                ref_delta[j] = ref_after[j] - ref_before[j];
            }
            snprintf(what, sizeof what, "%s step %d: update of %s", fixture, k, p->name);
            check_close(what, delta, ref_delta, p->numel, FP32.tensors);
        }
    }
    free(before);
    free(delta);
    free(ref_delta);
    adamw_free(&opt);
    json_decref(c);
    json_decref(o);
    model_free(&m);
    safetensors_free(&st);
}

int main(void)
{
    ops_set_threads(2);
    const char *fixtures[] = {"pretrain_c1", "pretrain_c3", "pretrain_full", "finetune_c1",
                              // the head's choices (make_fixtures.py's make_head_fixtures)
                              "pretrain_mlp", "pretrain_transformer", "pretrain_r4", "pretrain_r8",
                              "pretrain_l2", "pretrain_smooth_l1", "pretrain_bins8",
                              "pretrain_palette16", "pretrain_bins8_full",
                              "pretrain_palette16_full", "pretrain_square", "pretrain_block",
                              // Swin (make_fixtures.py's make_swin_fixtures)
                              "swin_pretrain", "swin_pretrain_ape_mlp", "swin_pretrain_transformer",
                              "swin_finetune"};
    size_t count = sizeof fixtures / sizeof *fixtures;
    for (size_t i = 0; i < count; i++) run_model_fixture(fixtures[i], FP32);
    run_adamw_fixture("adamw");
    run_adamw_fixture("swin_adamw");
    char err[256];
    if (ops_set_precision(PRECISION_BF16, err, sizeof err)) {
        printf("# %s: the fixtures are not run in bf16 here\n", err);
        TEST_EXIT();
    }
    for (size_t i = 0; i < count; i++) run_model_fixture(fixtures[i], BF16);
    TEST_EXIT();
}
