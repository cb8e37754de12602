// Configuration validation: model_config_validate, mask_config_validate and model_create
// refuse each bad value with a message that starts with the offending field; the presets
// validate. (config/ is tested here, beside the model: every refused config is also
// checked against model_create.)
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "model/model.h"
#include "test.h"

// One change to the default configuration: a ModelConfig or MaskConfig member, or "batch".
typedef struct {
    const char *key;
    double value;
} Setting;

// A configuration that must be refused, and the field its message must start with.
typedef struct {
    const char *what;
    const char *field;
    Setting set[3];
} BadCase;

enum { DEFAULT_BATCH = 8 };

static void apply(ModelConfig *c, MaskConfig *mask, int *batch, const Setting *s)
{
    const char *k = s->key;
    double v = s->value;
    if (!k) return;
    if (!strcmp(k, "img_size")) c->img_size = (int)v;
    else if (!strcmp(k, "patch_size")) c->patch_size = (int)v;
    else if (!strcmp(k, "in_chans")) c->in_chans = (int)v;
    else if (!strcmp(k, "embed_dim")) c->embed_dim = (int)v;
    else if (!strcmp(k, "depth")) c->depth = (int)v;
    else if (!strcmp(k, "num_heads")) c->num_heads = (int)v;
    else if (!strcmp(k, "mlp_ratio")) c->mlp_ratio = v;
    else if (!strcmp(k, "num_classes")) c->num_classes = (int)v;
    else if (!strcmp(k, "drop_path")) c->drop_path = (float)v;
    else if (!strcmp(k, "mask_patch_size")) mask->mask_patch_size = (int)v;
    else if (!strcmp(k, "ratio")) mask->ratio = v;
    else if (!strcmp(k, "batch")) *batch = (int)v;
    else {
        fprintf(stderr, "test_config: unknown setting %s\n", k);
        _exit(2);
    }
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

// The function that should refuse the field: model fields by model_config_validate (and
// model_create), mask fields by mask_config_validate, the batch by model_create.
static void check_refused(const BadCase *bc)
{
    ModelConfig cfg = model_config_default();
    MaskConfig mask = {.mask_patch_size = 8, .ratio = 0.6};
    int batch = DEFAULT_BATCH;
    for (int i = 0; i < 3; i++) apply(&cfg, &mask, &batch, &bc->set[i]);
    char err[256] = "", what[200];
    int rc;
    snprintf(what, sizeof what, "refuses %s", bc->what);
    if (starts_with(bc->field, "mask.")) {
        int model_ok = model_config_validate(&cfg, err, sizeof err) == 0;
        rc = model_ok ? mask_config_validate(&mask, &cfg, err, sizeof err) : 0;
        test_report(rc == -1 && starts_with(err, bc->field), what, "%s", err);
        return;
    }
    if (starts_with(bc->field, "model.") || starts_with(bc->field, "finetune.")) {
        rc = model_config_validate(&cfg, err, sizeof err);
        test_report(rc == -1 && starts_with(err, bc->field), what, "%s", err);
    }
    // model_create validates the config too, and allocates nothing when it refuses.
    Model m;
    err[0] = 0;
    rc = model_create(&m, &cfg, batch, err, sizeof err);
    snprintf(what, sizeof what, "model_create refuses %s", bc->what);
    test_report(rc == -1 && starts_with(err, bc->field) && !m.params_mem && !m.acts_mem, what,
                "%s", err);
    if (rc == 0) model_free(&m);
}

static const BadCase bad_cases[] = {
    // Divisibility.
    {"embed_dim 130 with 4 heads", "model.embed_dim", {{"embed_dim", 130}}},
    {"img_size 30 with patch 4", "model.img_size", {{"img_size", 30}}},
    {"img_size 36 with mask_patch 8", "mask.mask_patch_size", {{"img_size", 36}}},
    {"mask_patch 4 with patch 8", "mask.mask_patch_size",
     {{"patch_size", 8}, {"mask_patch_size", 4}}},
    {"mask_patch 12 with patch 8 (img 48)", "mask.mask_patch_size",
     {{"img_size", 48}, {"patch_size", 8}, {"mask_patch_size", 12}}},
    // Ratios.
    {"mask ratio 0", "mask.ratio", {{"ratio", 0}}},
    {"mask ratio -0.5", "mask.ratio", {{"ratio", -0.5}}},
    {"mask ratio 1", "mask.ratio", {{"ratio", 1}}},
    {"mask ratio 1.5", "mask.ratio", {{"ratio", 1.5}}},
    {"mask ratio NaN", "mask.ratio", {{"ratio", NAN}}},
    {"mlp_ratio 0", "model.mlp_ratio", {{"mlp_ratio", 0}}},
    {"mlp_ratio -1", "model.mlp_ratio", {{"mlp_ratio", -1}}},
    {"mlp_ratio NaN", "model.mlp_ratio", {{"mlp_ratio", NAN}}},
    {"mlp_ratio giving no hidden unit", "model.mlp_ratio", {{"mlp_ratio", 0.001}}},
    {"mlp_ratio 1e300", "model.mlp_ratio", {{"mlp_ratio", 1e300}}},
    {"mlp_ratio infinite", "model.mlp_ratio", {{"mlp_ratio", INFINITY}}},
    {"drop_path 1.0", "finetune.drop_path", {{"drop_path", 1.0}, {"num_classes", 10}}},
    {"drop_path -0.1", "finetune.drop_path", {{"drop_path", -0.1}, {"num_classes", 10}}},
    {"drop_path NaN", "finetune.drop_path", {{"drop_path", NAN}, {"num_classes", 10}}},
    // Zero and negative sizes.
    {"img_size 0", "model.img_size", {{"img_size", 0}}},
    {"img_size -32", "model.img_size", {{"img_size", -32}}},
    {"patch_size 0", "model.patch_size", {{"patch_size", 0}}},
    {"patch_size -4", "model.patch_size", {{"patch_size", -4}}},
    {"in_chans 0", "model.in_chans", {{"in_chans", 0}}},
    {"in_chans -1", "model.in_chans", {{"in_chans", -1}}},
    {"embed_dim 0", "model.embed_dim", {{"embed_dim", 0}}},
    {"embed_dim -128", "model.embed_dim", {{"embed_dim", -128}}},
    {"depth 0", "model.depth", {{"depth", 0}}},
    {"depth -4", "model.depth", {{"depth", -4}}},
    {"num_heads 0", "model.num_heads", {{"num_heads", 0}}},
    {"num_heads -4", "model.num_heads", {{"num_heads", -4}}},
    {"num_classes -1", "model.num_classes", {{"num_classes", -1}}},
    {"mask_patch_size 0", "mask.mask_patch_size", {{"mask_patch_size", 0}}},
    {"mask_patch_size -8", "mask.mask_patch_size", {{"mask_patch_size", -8}}},
    {"batch 0", "train.batch_size", {{"batch", 0}}},
    {"batch -8", "train.batch_size", {{"batch", -8}}},
    // Absurd sizes.
    {"img_size 100000", "model.img_size", {{"img_size", 100000}}},
    {"embed_dim 1e6", "model.embed_dim", {{"embed_dim", 1e6}}},
    {"depth 1e6", "model.depth", {{"depth", 1e6}}},
    {"in_chans 100000", "model.in_chans", {{"in_chans", 100000}}},
    {"num_heads larger than embed_dim", "model.num_heads", {{"num_heads", 256}}},
    {"num_classes 1e9", "model.num_classes", {{"num_classes", 1e9}}},
    {"mask_patch_size larger than the image", "mask.mask_patch_size", {{"mask_patch_size", 64}}},
    {"batch 2^30", "train.batch_size", {{"batch", 1 << 30}}},
    {"img 4096 with patch 1 (16M patches)", "model.patch_size",
     {{"img_size", 4096}, {"patch_size", 1}}},
};

// A valid model whose activations for the batch need more memory than the machine has must be
// refused before anything is allocated, naming the batch size.
static void check_batch_too_large(void)
{
    ModelConfig cfg = model_config_default();
    model_config_preset("vit-s16-224", &cfg);
    double machine = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    double per_image = (double)model_memory_bytes(&cfg, 2) - (double)model_memory_bytes(&cfg, 1);
    // 1.5× the machine: the pre-check must refuse it; a calloc of that size would fail too
    // (or, under ASan, abort), so the message also shows which path refused.
    int batch = (int)ceil(1.5 * machine / per_image);
    char err[256] = "";
    Model m;
    int rc = model_create(&m, &cfg, batch, err, sizeof err);
    test_report(rc == -1 && starts_with(err, "train.batch_size") && !strstr(err, "out of memory") &&
                    !m.params_mem && !m.acts_mem,
                "model_create refuses a batch larger than memory before allocating", "batch %d: %s",
                batch, err);
    if (rc == 0) model_free(&m);

    // The largest sizes validation allows overflow any byte count; that is reported as 0.
    ModelConfig huge = {.img_size = 4096, .patch_size = 16, .in_chans = 64, .embed_dim = 16384,
                        .depth = 256, .num_heads = 16384, .mlp_ratio = 64.0};
    err[0] = 0;
    rc = model_config_validate(&huge, err, sizeof err);
    size_t bytes = model_memory_bytes(&huge, 1 << 20);
    test_report(rc == 0 && bytes == 0, "model_memory_bytes reports an overflowing size as 0",
                "validate %d (%s), bytes %zu", rc, err, bytes);
    rc = model_create(&m, &huge, 1 << 20, err, sizeof err);
    test_report(rc == -1 && starts_with(err, "train.batch_size") && !m.params_mem,
                "model_create refuses an overflowing size", "%s", err);
    if (rc == 0) model_free(&m);
}

static void check_presets(void)
{
    static const struct {
        const char *name;
        int img, patch, chans, dim, depth, heads, mask_patch;
    } presets[] = {
        {"fmnist-q", 32, 4, 1, 128, 4, 4, 8},
        {"fmnist-vit-t", 32, 4, 1, 192, 6, 3, 8},
        {"vit-t16-224", 224, 16, 3, 192, 12, 3, 32},
        {"vit-s16-224", 224, 16, 3, 384, 12, 6, 32},
    };
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
        ModelConfig c = {.num_classes = 7, .drop_path = 0.1f};
        MaskConfig mask = {.mask_patch_size = presets[i].mask_patch, .ratio = 0.6};
        char err[256] = "", what[128];
        int rc = model_config_preset(presets[i].name, &c);
        int same = c.img_size == presets[i].img && c.patch_size == presets[i].patch &&
                   c.in_chans == presets[i].chans && c.embed_dim == presets[i].dim &&
                   c.depth == presets[i].depth && c.num_heads == presets[i].heads &&
                   c.mlp_ratio == 4.0 && c.num_classes == 7 && c.drop_path == 0.1f;
        int valid = rc == 0 && model_config_validate(&c, err, sizeof err) == 0 &&
                    mask_config_validate(&mask, &c, err, sizeof err) == 0;
        snprintf(what, sizeof what, "preset %s has its sizes and validates", presets[i].name);
        test_report(valid && same, what, "%dpx/%d, %d ch, D %d, depth %d, %d heads %s", c.img_size,
                    c.patch_size, c.in_chans, c.embed_dim, c.depth, c.num_heads, err);
    }
    ModelConfig d = model_config_default(), c = d;
    char err[256] = "";
    test_report(memcmp(&d, &(ModelConfig){0}, sizeof d) != 0 &&
                    model_config_validate(&d, err, sizeof err) == 0,
                "the default config validates", "%s", err);
    int rc = model_config_preset("vit-huge", &c);
    test_report(rc == -1 && memcmp(&c, &d, sizeof c) == 0,
                "an unknown preset returns -1 and leaves the config alone", "rc %d", rc);
}

// 1 if model_memory_estimate of (cfg, batch) is at least what model_create allocates and within
// 5% + 4 MB above it; otherwise 0, and worst says so, naming the case.
static int estimate_within(const ModelConfig *cfg, int batch, const char *what, char *worst,
                           size_t worst_len)
{
    char err[256];
    Model m;
    if (model_create(&m, cfg, batch, err, sizeof err)) {
        snprintf(worst, worst_len, "%s: model_create: %s", what, err);
        return 0;
    }
    MemoryEstimate e = model_memory_estimate(cfg, batch, m.attention_threads);
    double actual = (4.0 * m.num_params + m.acts_floats) * sizeof(float);
    double estimate = memory_estimate_total(&e);
    model_free(&m);
    if (estimate >= actual && estimate <= actual * 1.05 + 0x1p22) return 1;
    snprintf(worst, worst_len, "%s: estimate %.0f, allocated %.0f", what, estimate, actual);
    return 0;
}

// config.h's sizing function, which the daemon checks train.max_memory_mb with, against what
// model_create lays out (parameters, gradients, AdamW's two moments, activations) for every
// decoder, loss and target resolution: never below it, and within 5% + 4 MB above (the
// estimate bounds the products' partial-sum scratch, which small batches do not use).
static void check_memory_estimate(void)
{
    static const DecoderType decoders[] = {DECODER_LINEAR, DECODER_MLP, DECODER_TRANSFORMER};
    static const LossType losses[] = {LOSS_L1, LOSS_BINS, LOSS_PALETTE};
    static const int resolutions[] = {0, 8, 16}; // full, the token grid, half the image
    int cases = 0, within = 0;
    char worst[512] = "";
    for (int d = 0; d < 3; d++)
        for (int l = 0; l < 3; l++)
            for (int r = 0; r < 3; r++)
                for (int batch = 1; batch <= 64; batch *= 8) {
                    ModelConfig cfg = model_config_default();
                    cfg.decoder.type = decoders[d];
                    cfg.decoder.embed_dim = d == 2 ? 96 : 0;
                    cfg.decoder.num_heads = d == 2 ? 3 : 0;
                    cfg.loss.type = losses[l];
                    cfg.loss.bins = 8, cfg.loss.palette = 16;
                    cfg.target_resolution = resolutions[r];
                    char what[64];
                    snprintf(what, sizeof what, "decoder %d loss %d r %d batch %d", d, l,
                             resolutions[r], batch);
                    cases++;
                    within += estimate_within(&cfg, batch, what, worst, sizeof worst);
                }
    test_report(cases == 81 && within == cases,
                "model_memory_estimate is what model_create allocates (within 5% + 4 MB above)",
                "%d of %d within; %s", within, cases, worst);
}

// --- Swin (issue 28): presets, refusals naming the field, the sizing function.

// swin-fmnist (img 32, patch 2, window 4, embed 48, depths [2, 2, 2], heads [3, 6, 12]) with
// one change.
typedef struct {
    const char *what, *field;
    void (*change)(ModelConfig *c);
} SwinBadCase;

static void window_3(ModelConfig *c) { c->window_size = 3; }
static void window_0(ModelConfig *c) { c->window_size = 0; }
static void heads_list_short(ModelConfig *c) { c->num_stage_heads = 2; }
static void image_36(ModelConfig *c) { c->img_size = 36; }
static void heads_5(ModelConfig *c) { c->stage_heads[0] = 5; }
static void no_stages(ModelConfig *c) { c->num_stages = c->num_stage_heads = 0; }
static void nine_stages(ModelConfig *c) { c->num_stages = c->num_stage_heads = 9; }
static void depth_0(ModelConfig *c) { c->depths[1] = 0; }
static void ape_2(ModelConfig *c) { c->ape = 2; }
// grids 24, 12, 6 with window 8: stage 1's 12 is larger than the window and not a multiple
static void window_8_at_48(ModelConfig *c) { c->img_size = 48, c->window_size = 8; }
static void heads_above_dim(ModelConfig *c) { c->stage_heads[2] = 384; }

static const SwinBadCase swin_bad_cases[] = {
    {"a window that does not divide stage 0's resolution", "model.window_size", window_3},
    {"window 0", "model.window_size", window_0},
    {"a window that does not divide stage 1's (larger) resolution", "model.window_size",
     window_8_at_48},
    {"depths and num_heads of different lengths", "model.num_heads", heads_list_short},
    {"an image not divisible by the stride", "model.img_size", image_36},
    {"heads that do not divide stage 0's width", "model.num_heads[0]", heads_5},
    {"heads more than a stage's width", "model.num_heads[2]", heads_above_dim},
    {"no stages", "model.depths", no_stages},
    {"9 stages", "model.depths", nine_stages},
    {"a stage of 0 blocks", "model.depths[1]", depth_0},
    {"ape 2", "model.ape", ape_2},
};

static void check_swin(void)
{
    static const struct {
        const char *name;
        int img, patch, chans, window, dim, stages, total_blocks, out_grid, out_dim;
    } presets[] = {
        {"swin-fmnist", 32, 2, 1, 4, 48, 3, 6, 4, 192},
        {"swin-t-192", 192, 4, 3, 6, 96, 4, 12, 6, 768},
        {"swin-b-192", 192, 4, 3, 6, 128, 4, 24, 6, 1024},
    };
    char err[256], what[200];
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
        ModelConfig c = {.num_classes = 7, .drop_path = 0.1f};
        MaskConfig mask = {.mask_patch_size = 8 * presets[i].patch / 2, .ratio = 0.6};
        err[0] = 0;
        int rc = model_config_preset(presets[i].name, &c);
        int same = c.arch == ARCH_SWIN && c.img_size == presets[i].img &&
                   c.patch_size == presets[i].patch && c.in_chans == presets[i].chans &&
                   c.window_size == presets[i].window && c.embed_dim == presets[i].dim &&
                   c.num_stages == presets[i].stages && c.num_stage_heads == presets[i].stages &&
                   model_total_blocks(&c) == presets[i].total_blocks &&
                   model_out_grid(&c) == presets[i].out_grid &&
                   model_out_dim(&c) == presets[i].out_dim && c.patch_norm == 1 && c.ape == 0 &&
                   c.num_classes == 7 && c.drop_path == 0.1f;
        int valid = rc == 0 && model_config_validate(&c, err, sizeof err) == 0 &&
                    mask_config_validate(&mask, &c, err, sizeof err) == 0;
        snprintf(what, sizeof what, "preset %s has its sizes and validates", presets[i].name);
        test_report(valid && same, what, "%dpx/%d, window %d, D %d, %d stages, %d blocks, output "
                    "%d×%d×%d %s", c.img_size, c.patch_size, c.window_size, c.embed_dim,
                    c.num_stages, model_total_blocks(&c), model_out_grid(&c), model_out_grid(&c),
                    model_out_dim(&c), err);
    }
    for (size_t i = 0; i < sizeof swin_bad_cases / sizeof *swin_bad_cases; i++) {
        const SwinBadCase *bc = &swin_bad_cases[i];
        ModelConfig c = model_config_default();
        model_config_preset("swin-fmnist", &c);
        bc->change(&c);
        err[0] = 0;
        int rc = model_config_validate(&c, err, sizeof err);
        snprintf(what, sizeof what, "refuses a Swin with %s", bc->what);
        test_report(rc == -1 && starts_with(err, bc->field), what, "%s", err);
        Model m;
        err[0] = 0;
        rc = model_create(&m, &c, DEFAULT_BATCH, err, sizeof err);
        snprintf(what, sizeof what, "model_create refuses a Swin with %s", bc->what);
        test_report(rc == -1 && starts_with(err, bc->field) && !m.params_mem && !m.acts_mem, what,
                    "%s", err);
        if (rc == 0) model_free(&m);
    }
    // A stage whose resolution is the window's or smaller is one window: allowed.
    ModelConfig c = model_config_default();
    model_config_preset("swin-fmnist", &c);
    c.window_size = 8; // grids 16, 8, 4: one window from stage 1 on
    err[0] = 0;
    test_report(model_config_validate(&c, err, sizeof err) == 0,
                "a Swin whose later stages are smaller than the window validates", "%s", err);
    // Its target: a multiple of the output grid (img / stride = 32 / 8 = 4), even below the
    // 16×16 patch grid, where the loss's mask is the token mask pooled to r × r.
    model_config_preset("swin-fmnist", &c);
    int targets_ok = model_stride(&c) == 8;
    for (int r = 4; r <= 32; r *= 2) {
        c.target_resolution = r;
        targets_ok &= head_config_validate(&c, err, sizeof err) == 0 &&
                      simmim_loss_grid(&c) == (r < 16 ? r : 16) &&
                      simmim_target_per_loss_cell(&c) == (r < 16 ? 1 : r / 16) &&
                      simmim_target_per_token(&c) == r / 4;
    }
    test_report(targets_ok, "a Swin's target resolution: 4, 8, 16, 32 (stride 8, output grid 4), "
                "the loss's mask pooled below the 16×16 patch grid", "%s", err);
    // Below the patch grid a target pixel spans several patches: its mask cells must hold it
    // whole (the default cell, the stride, does), unless the loss covers the whole image.
    MaskConfig cells = {.mask_patch_size = 8, .ratio = 0.6};
    c.target_resolution = 4;
    int whole = mask_config_validate(&cells, &c, err, sizeof err) == 0;
    cells.mask_patch_size = 4;
    int refused = mask_config_validate(&cells, &c, err, sizeof err) == -1 &&
                  strcmp(err, "target.resolution: a target pixel (model.img_size / target.resolution "
                              "= 8 image pixels a side) must lie in one mask cell for a loss over the "
                              "masked area: mask.mask_patch_size must be a multiple of it (got 4)") == 0;
    c.loss.full_image = 1;
    test_report(whole && refused && mask_config_validate(&cells, &c, err, sizeof err) == 0,
                "a Swin's target below its patch grid needs mask cells that hold a target pixel whole "
                "(a loss over the masked area)", "%s", err);
    c.loss.full_image = 0;
    c.target_resolution = 2;
    test_report(head_config_validate(&c, err, sizeof err) == -1 &&
                    strcmp(err, "target.resolution: must be a multiple of the token grid "
                                "(model.img_size / the encoder's stride = 4; got 2)") == 0,
                "a Swin's target resolution below its output grid is refused, naming the stride",
                "%s", err);
}

// model_memory_estimate against what model_create allocates, as check_memory_estimate, for
// Swin: swin-fmnist pretraining with each decoder, a lower target, fine-tuning with drop path,
// a Swin with ape and no patch norm, and a target below the patch grid.
static void check_swin_memory_estimate(void)
{
    int cases = 0, within = 0;
    char worst[512] = "";
    for (int variant = 0; variant < 7; variant++)
        for (int batch = 1; batch <= 64; batch *= 8) {
            ModelConfig cfg = model_config_default();
            model_config_preset("swin-fmnist", &cfg);
            if (variant == 1) cfg.decoder.type = DECODER_MLP, cfg.decoder.hidden = 96;
            if (variant == 2)
                cfg.decoder = (DecoderConfig){.type = DECODER_TRANSFORMER, .depth = 2,
                                              .embed_dim = 96, .num_heads = 3};
            if (variant == 3) cfg.target_resolution = 16, cfg.loss.type = LOSS_BINS, cfg.loss.bins = 8;
            if (variant == 4) cfg.num_classes = 10, cfg.drop_path = 0.1f;
            if (variant == 5) cfg.ape = 1, cfg.patch_norm = 0, cfg.window_size = 8;
            if (variant == 6) cfg.target_resolution = 4; // below the patch grid: a pooled mask
            char what[64];
            snprintf(what, sizeof what, "variant %d batch %d", variant, batch);
            cases++;
            within += estimate_within(&cfg, batch, what, worst, sizeof worst);
        }
    test_report(cases == 21 && within == cases,
                "model_memory_estimate is what model_create allocates for Swin (within 5% + 4 MB "
                "above)", "%d of %d within; %s", within, cases, worst);
}

int main(void)
{
    check_memory_estimate();
    check_swin_memory_estimate();
    check_swin();
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) check_refused(&bad_cases[i]);
    check_batch_too_large();
    check_presets();
    TEST_EXIT();
}
