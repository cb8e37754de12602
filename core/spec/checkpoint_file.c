// Checkpoint files; see checkpoint_file.h. The metadata values are strings (safetensors
// allows no other); the config, mean and std are JSON inside them.
#include "spec/checkpoint_file.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/sha256.h"
#include "base/version.h"
#include "spec/spec.h"

enum { META_MAX = 16 };

typedef struct {
    const char *keys[META_MAX];
    char *values[META_MAX];
    int count;
} Meta;

static void meta_add(Meta *m, const char *key, char *owned_value)
{
    m->keys[m->count] = key;
    m->values[m->count++] = owned_value;
}

static char *string_of_long(long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    return strdup(buf);
}

static char *meta_json_text(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return s;
}

static json_t *ints_json(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static char *config_json(const ModelConfig *c)
{
    if (c->arch == ARCH_SWIN)
        return meta_json_text(json_pack(
            "{s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:i, s:b, s:b, s:f, s:i}", "arch", "swin",
            "img_size", c->img_size, "patch_size", c->patch_size, "in_chans", c->in_chans,
            "embed_dim", c->embed_dim, "depths", ints_json(c->depths, c->num_stages), "num_heads",
            ints_json(c->stage_heads, c->num_stage_heads), "window_size", c->window_size, "ape",
            c->ape, "patch_norm", c->patch_norm, "mlp_ratio", c->mlp_ratio, "num_classes",
            c->num_classes));
    return meta_json_text(json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i}", "arch", "vit",
                               "img_size", c->img_size, "patch_size", c->patch_size, "in_chans",
                               c->in_chans, "embed_dim", c->embed_dim, "depth", c->depth,
                               "num_heads", c->num_heads, "mlp_ratio", c->mlp_ratio,
                               "num_classes", c->num_classes));
}

static char *doubles_json(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return meta_json_text(a);
}

static void meta_free(Meta *m)
{
    for (int i = 0; i < m->count; i++) free(m->values[i]);
}

static int meta_complete(const Meta *m)
{
    for (int i = 0; i < m->count; i++)
        if (!m->values[i]) return 0;
    return 1;
}

int checkpoint_file_write(const char *path, const StTensor *tensors, int count,
                          const ModelConfig *cfg, const CheckpointMeta *meta, char *err,
                          size_t errlen)
{
    Meta md = {0};
    meta_add(&md, "format", strdup("simmimd-1"));
    meta_add(&md, "version", strdup(SIMMIMD_VERSION));
    meta_add(&md, "config", config_json(cfg));
    meta_add(&md, "kind", strdup(meta->kind));
    meta_add(&md, "step", string_of_long(meta->step));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)meta->seed);
    meta_add(&md, "seed", strdup(seed));
    meta_add(&md, "mean", doubles_json(meta->mean, meta->channels));
    meta_add(&md, "std", doubles_json(meta->std, meta->channels));
    meta_add(&md, "pad", string_of_long(meta->pad));
    if (meta->job_id) meta_add(&md, "job_id", string_of_long(meta->job_id));
    if (meta->dataset) meta_add(&md, "dataset", strdup(meta->dataset));
    if (meta->mask_json) meta_add(&md, "mask", strdup(meta->mask_json));
    if (meta->decoder_json) meta_add(&md, "decoder", strdup(meta->decoder_json));
    if (meta->target_json) meta_add(&md, "target", strdup(meta->target_json));
    if (meta->loss_json) meta_add(&md, "loss", strdup(meta->loss_json));
    int rc = -1;
    if (!meta_complete(&md))
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = safetensors_write(path, tensors, count, md.keys, (const char *const *)md.values,
                               md.count, err, errlen);
    meta_free(&md);
    return rc;
}

// "28×28 images padded by 2 to 32×32" or "images of 32×32, not padded".
static void describe_padding(char *out, size_t cap, int img_size, int pad)
{
    int original = img_size - 2 * pad;
    if (pad)
        snprintf(out, cap, "%d×%d images padded by %d to %d×%d", original, original, pad,
                 img_size, img_size);
    else
        snprintf(out, cap, "images of %d×%d, not padded", img_size, img_size);
}

int checkpoint_suits_dataset(const ModelConfig *cfg, int checkpoint_pad, int dataset_pad,
                             char *err, size_t errlen)
{
    if (checkpoint_pad == dataset_pad) return 0;
    char trained[96], given[96];
    describe_padding(trained, sizeof trained, cfg->img_size, checkpoint_pad);
    describe_padding(given, sizeof given, cfg->img_size, dataset_pad);
    snprintf(err, errlen, "the checkpoint's encoder was pretrained on %s; this dataset would give "
             "it %s (start from a pretraining on images of this dataset's size)", trained, given);
    return -1;
}

// "mlp (hidden 128)": a decoder with its shape, defaults resolved.
static void describe_decoder(const ModelConfig *c, char *out, size_t cap)
{
    switch (c->decoder.type) {
    case DECODER_MLP: snprintf(out, cap, "mlp (hidden %d)", decoder_hidden(c)); break;
    case DECODER_TRANSFORMER:
        snprintf(out, cap, "transformer (depth %d, embed_dim %d, num_heads %d)", c->decoder.depth,
                 decoder_embed_dim(c), decoder_num_heads(c));
        break;
    default: snprintf(out, cap, "linear"); break;
    }
}

// What the decoder predicts: "a regression of the pixels", "bins 256", "palette 512".
static void describe_prediction(const ModelConfig *c, char *out, size_t cap)
{
    if (c->loss.type == LOSS_BINS) snprintf(out, cap, "bins %d", c->loss.bins);
    else if (c->loss.type == LOSS_PALETTE) snprintf(out, cap, "palette %d", c->loss.palette);
    else snprintf(out, cap, "a regression of the pixels (l1, l2 or smooth_l1)");
}

// "[2,2,6,2]"
static void describe_ints(const int *v, int n, char *out, size_t cap)
{
    size_t used = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%d", i ? "," : "", v[i]);
    if (used < cap) snprintf(out + used, cap - used, "]");
}

// "32×32 images, patch 4, 1 channel(s), embed_dim 128, depth 4, num_heads 4, mlp_ratio 4"; a
// Swin's with its stage lists, window, ape and patch_norm.
static void describe_encoder(const ModelConfig *c, char *out, size_t cap)
{
    if (c->arch == ARCH_SWIN) {
        char depths[64], heads[64];
        describe_ints(c->depths, c->num_stages, depths, sizeof depths);
        describe_ints(c->stage_heads, c->num_stage_heads, heads, sizeof heads);
        snprintf(out, cap, "swin: %d×%d images, patch_size %d, in_chans %d, embed_dim %d, depths "
                 "%s, num_heads %s, window_size %d, ape %s, patch_norm %s, mlp_ratio %g",
                 c->img_size, c->img_size, c->patch_size, c->in_chans, c->embed_dim, depths, heads,
                 c->window_size, c->ape ? "true" : "false", c->patch_norm ? "true" : "false",
                 c->mlp_ratio);
        return;
    }
    snprintf(out, cap, "%d×%d images, patch_size %d, in_chans %d, embed_dim %d, depth %d, "
             "num_heads %d, mlp_ratio %g", c->img_size, c->img_size, c->patch_size, c->in_chans,
             c->embed_dim, c->depth, c->num_heads, c->mlp_ratio);
}

static int same_encoder(const ModelConfig *a, const ModelConfig *b)
{
    if (a->arch != b->arch || a->img_size != b->img_size || a->patch_size != b->patch_size ||
        a->in_chans != b->in_chans || a->embed_dim != b->embed_dim || a->mlp_ratio != b->mlp_ratio)
        return 0;
    if (a->arch == ARCH_VIT) return a->depth == b->depth && a->num_heads == b->num_heads;
    int n = a->num_stages;
    return n == b->num_stages && a->num_stage_heads == b->num_stage_heads &&
           memcmp(a->depths, b->depths, sizeof(int) * n) == 0 &&
           memcmp(a->stage_heads, b->stage_heads, sizeof(int) * n) == 0 &&
           a->window_size == b->window_size && a->ape == b->ape && a->patch_norm == b->patch_norm;
}

int checkpoint_suits_pretraining(const ModelConfig *ckpt_cfg, const ModelConfig *spec_cfg,
                                 char *err, size_t errlen)
{
    char have[320], want[320];
    const char *what = NULL;
    if (ckpt_cfg->num_classes) {
        snprintf(err, errlen, "it is a fine-tuning checkpoint (a classifier of %d classes); "
                 "continue from a pretraining checkpoint", ckpt_cfg->num_classes);
        return -1;
    }
    if (!same_encoder(ckpt_cfg, spec_cfg)) {
        what = "encoder";
        describe_encoder(ckpt_cfg, have, sizeof have);
        describe_encoder(spec_cfg, want, sizeof want);
    } else {
        // the type and the sizes it uses, resolved: equal descriptions are equal decoders
        describe_decoder(ckpt_cfg, have, sizeof have);
        describe_decoder(spec_cfg, want, sizeof want);
        what = strcmp(have, want) ? "decoder" : NULL;
    }
    if (!what && simmim_target_resolution(ckpt_cfg) != simmim_target_resolution(spec_cfg)) {
        what = "target.resolution";
        snprintf(have, sizeof have, "%d", simmim_target_resolution(ckpt_cfg));
        snprintf(want, sizeof want, "%d", simmim_target_resolution(spec_cfg));
    }
    if (!what) {
        describe_prediction(ckpt_cfg, have, sizeof have);
        describe_prediction(spec_cfg, want, sizeof want);
        what = strcmp(have, want) ? "loss" : NULL;
    }
    if (!what) return 0;
    snprintf(err, errlen, "its %s is %s, the spec's is %s; a continued pretraining keeps the "
             "checkpoint's", what, have, want);
    return -1;
}

int checkpoint_state_write(const char *path, const float *m, const float *v, size_t n, long step,
                           long adamw_step, int ranks, char *err, size_t errlen)
{
    StTensor t[2] = {
        {.name = "adamw.m", .ndim = 1, .shape = {(int64_t)n}, .numel = n, .data = (float *)m},
        {.name = "adamw.v", .ndim = 1, .shape = {(int64_t)n}, .numel = n, .data = (float *)v},
    };
    Meta md = {0};
    meta_add(&md, "format", strdup("simmimd-state-1"));
    meta_add(&md, "step", string_of_long(step));
    meta_add(&md, "adamw_step", string_of_long(adamw_step));
    meta_add(&md, "num_params", string_of_long((long)n));
    meta_add(&md, "ranks", string_of_long(ranks));
    int rc = -1;
    if (!meta_complete(&md))
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = safetensors_write(path, t, 2, md.keys, (const char *const *)md.values, md.count, err,
                               errlen);
    meta_free(&md);
    return rc;
}

static int json_int_field(json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30) return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

// A JSON array of at most MAX_STAGES integers into out; its length in *n.
static int json_ints_field(json_t *obj, const char *key, int *out, int *n)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a) || json_array_size(a) > MAX_STAGES) return -1;
    *n = (int)json_array_size(a);
    for (int i = 0; i < *n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30)
            return -1;
        out[i] = (int)json_integer_value(v);
    }
    return 0;
}

static int json_bool_field(json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) return -1;
    *out = json_is_true(v);
    return 0;
}

// The encoder's fields of its arch ("arch" absent: a ViT, as every checkpoint before Swin).
static int parse_arch_fields(json_t *j, ModelConfig *cfg)
{
    json_t *arch = json_object_get(j, "arch");
    if (!arch || (json_is_string(arch) && strcmp(json_string_value(arch), "vit") == 0)) {
        cfg->arch = ARCH_VIT;
        return json_int_field(j, "depth", &cfg->depth) || json_int_field(j, "num_heads", &cfg->num_heads);
    }
    if (!json_is_string(arch) || strcmp(json_string_value(arch), "swin") != 0) return -1;
    cfg->arch = ARCH_SWIN, cfg->depth = cfg->num_heads = 0;
    return json_ints_field(j, "depths", cfg->depths, &cfg->num_stages) ||
           json_ints_field(j, "num_heads", cfg->stage_heads, &cfg->num_stage_heads) ||
           json_int_field(j, "window_size", &cfg->window_size) ||
           json_bool_field(j, "ape", &cfg->ape) || json_bool_field(j, "patch_norm", &cfg->patch_norm);
}

static int parse_config(const char *text, ModelConfig *cfg)
{
    json_t *j = json_loads(text, 0, NULL);
    json_t *mlp = json_object_get(j, "mlp_ratio");
    int rc = json_is_object(j) && json_is_number(mlp) &&
                     !json_int_field(j, "img_size", &cfg->img_size) &&
                     !json_int_field(j, "patch_size", &cfg->patch_size) &&
                     !json_int_field(j, "in_chans", &cfg->in_chans) &&
                     !json_int_field(j, "embed_dim", &cfg->embed_dim) &&
                     !parse_arch_fields(j, cfg) &&
                     !json_int_field(j, "num_classes", &cfg->num_classes)
                 ? 0
                 : -1;
    if (rc == 0) cfg->mlp_ratio = json_number_value(mlp);
    json_decref(j);
    return rc;
}

static int parse_doubles(const char *text, double *out, int n)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    int rc = json_is_array(j) && (int)json_array_size(j) == n ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_array_get(j, i);
        if (!json_is_number(v)) rc = -1;
        else out[i] = json_number_value(v);
    }
    json_decref(j);
    return rc;
}

int checkpoint_read(const char *path, SafeTensors *st, ModelConfig *cfg, CheckpointMeta *meta,
                    char *err, size_t errlen)
{
    if (safetensors_read(path, st, err, errlen)) return -1;
    const char *format = safetensors_meta(st, "format"), *config = safetensors_meta(st, "config");
    const char *kind = safetensors_meta(st, "kind"), *pad = safetensors_meta(st, "pad");
    char cerr[256];
    memset(meta, 0, sizeof *meta);
    *cfg = model_config_default();
    if (!format || strcmp(format, "simmimd-1") != 0 || !config || !kind || !pad) {
        snprintf(err, errlen, "%s: not a simmimd checkpoint (its __metadata__ lacks format "
                              "\"simmimd-1\", config, kind or pad)", path);
        goto fail;
    }
    if (parse_config(config, cfg) || model_config_validate(cfg, cerr, sizeof cerr)) {
        snprintf(err, errlen, "%s: invalid model config in __metadata__", path);
        goto fail;
    }
    SpecError head;
    if (spec_read_head(safetensors_meta(st, "decoder"), safetensors_meta(st, "target"),
                       safetensors_meta(st, "loss"), cfg, &head) ||
        head_config_validate(cfg, head.message, sizeof head.message)) {
        snprintf(err, errlen, "%s: invalid decoder, target or loss in __metadata__: %s", path,
                 head.message);
        goto fail;
    }
    meta->kind = strcmp(kind, "finetune") == 0 ? "finetune" : strcmp(kind, "pretrain") == 0 ? "pretrain" : NULL;
    meta->channels = cfg->in_chans;
    // The padding of each side is less than half the image (a hostile pad of 2^30 once
    // overflowed the sizes computed from it).
    char *pad_end;
    long pad_value = strtol(pad, &pad_end, 10);
    int pad_valid = *pad && !*pad_end && pad_value >= 0 && 2 * pad_value < cfg->img_size;
    meta->pad = pad_valid ? (int)pad_value : -1;
    const char *step = safetensors_meta(st, "step");
    meta->step = step ? atol(step) : 0;
    if (!meta->kind || cfg->in_chans > DATA_MAX_CHANS || !pad_valid ||
        parse_doubles(safetensors_meta(st, "mean"), meta->mean, cfg->in_chans) ||
        parse_doubles(safetensors_meta(st, "std"), meta->std, cfg->in_chans)) {
        snprintf(err, errlen, "%s: invalid kind, mean, std or pad in __metadata__", path);
        goto fail;
    }
    return 0;
fail:
    safetensors_free(st);
    return -1;
}

long checkpoint_state_read(const char *path, float *m, float *v, size_t n, long *adamw_step,
                           int *ranks, char *err, size_t errlen)
{
    SafeTensors st;
    if (safetensors_read(path, &st, err, errlen)) return -1;
    const StTensor *mo = safetensors_find(&st, "adamw.m"), *vo = safetensors_find(&st, "adamw.v");
    const char *format = safetensors_meta(&st, "format"), *step = safetensors_meta(&st, "step");
    const char *adamw = safetensors_meta(&st, "adamw_step"), *by = safetensors_meta(&st, "ranks");
    long result = -1;
    if (!format || strcmp(format, "simmimd-state-1") != 0 || !step || !adamw || !mo || !vo ||
        mo->numel != n || vo->numel != n) {
        snprintf(err, errlen, "%s: not a training state for this model", path);
    } else {
        memcpy(m, mo->data, n * sizeof(float));
        memcpy(v, vo->data, n * sizeof(float));
        *adamw_step = atol(adamw);
        *ranks = by && atoi(by) > 0 ? atoi(by) : 1;
        result = atol(step);
    }
    safetensors_free(&st);
    return result;
}

// Parses "step-<N>.<ext>"; -1 if the name is not of that form.
static long checkpoint_step_of(const char *name, const char *ext)
{
    long step;
    int end = 0;
    if (sscanf(name, "step-%ld%n", &step, &end) != 1 || step < 0) return -1;
    return strcmp(name + end, ext) == 0 ? step : -1;
}

static int compare_descending(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

int checkpoint_steps(const char *run_dir, long **steps)
{
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s/checkpoints", run_dir);
    *steps = NULL;
    DIR *dir = opendir(dir_path);
    if (!dir) return 0;
    int count = 0, capacity = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        long step = checkpoint_step_of(e->d_name, ".safetensors");
        if (step < 0) continue;
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            long *grown = realloc(*steps, sizeof(long) * capacity);
            if (!grown) break;
            *steps = grown;
        }
        (*steps)[count++] = step;
    }
    closedir(dir);
    if (count > 1) qsort(*steps, count, sizeof(long), compare_descending); // none: *steps is NULL
    return count;
}

long checkpoint_find_latest(const char *run_dir)
{
    long *steps, latest = -1;
    int count = checkpoint_steps(run_dir, &steps);
    char state_path[4200];
    for (int i = 0; i < count && latest < 0; i++) {
        snprintf(state_path, sizeof state_path, "%s/checkpoints/step-%ld.state", run_dir, steps[i]);
        if (access(state_path, R_OK) == 0) latest = steps[i];
    }
    free(steps);
    return latest;
}

int checkpoint_verify_sha256(const char *path, const char *expected, char actual[65])
{
    char hex[65];
    if (sha256_file(path, hex)) return -1;
    if (actual) memcpy(actual, hex, sizeof hex);
    return strlen(expected) == 64 && strncasecmp(hex, expected, 64) == 0 ? 0 : 1;
}

// The sha256 of a `checkpoint` event line of `step`; 0 with out filled, -1 if it is not one.
static int checkpoint_event_sha256(const char *line, long step, char out[65])
{
    if (!strstr(line, "\"checkpoint\"")) return -1; // most lines: progress and the like
    json_t *ev = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *sha = json_string_value(json_object_get(ev, "sha256"));
    json_t *at = json_object_get(ev, "step");
    int rc = -1;
    if (name && strcmp(name, "checkpoint") == 0 && json_is_integer(at) &&
        json_integer_value(at) == step && sha && strlen(sha) == 64) {
        for (int i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)sha[i]);
        out[64] = 0;
        rc = 0;
    }
    json_decref(ev);
    return rc;
}

int checkpoint_recorded_sha256(const char *run_dir, long step, char out[65])
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL, sha[65];
    size_t cap = 0;
    int found = -1;
    while (getline(&line, &cap, f) > 0)
        if (checkpoint_event_sha256(line, step, sha) == 0) {
            memcpy(out, sha, sizeof sha);
            found = 0; // the last one of the step wins: a resumed run may write it again
        }
    free(line);
    fclose(f);
    return found;
}

int checkpoint_recorded_sha256_of(const char *path, char out[65])
{
    const char *base = strrchr(path, '/');
    long step = base ? checkpoint_step_of(base + 1, ".safetensors") : -1;
    static const char dir_name[] = "/checkpoints";
    size_t dir_len = (size_t)(base - path);
    if (step < 0 || dir_len < sizeof dir_name - 1 ||
        strncmp(base - (sizeof dir_name - 1), dir_name, sizeof dir_name - 1) != 0)
        return -1;
    size_t run_len = dir_len - (sizeof dir_name - 1);
    char run_dir[4096];
    if (run_len >= sizeof run_dir) return -1;
    memcpy(run_dir, path, run_len);
    run_dir[run_len] = 0;
    return checkpoint_recorded_sha256(run_len ? run_dir : "/", step, out);
}

long checkpoint_find_resumable(const char *run_dir, CheckpointCorruptFn on_corrupt, void *ctx)
{
    long *steps, found = -1;
    int count = checkpoint_steps(run_dir, &steps);
    char state_path[4200], path[4200], expected[65], actual[65];
    for (int i = 0; i < count && found < 0; i++) {
        snprintf(state_path, sizeof state_path, "%s/checkpoints/step-%ld.state", run_dir, steps[i]);
        if (access(state_path, R_OK) != 0) continue; // incomplete
        snprintf(path, sizeof path, "%s/checkpoints/step-%ld.safetensors", run_dir, steps[i]);
        if (checkpoint_recorded_sha256(run_dir, steps[i], expected) != 0 ||
            checkpoint_verify_sha256(path, expected, actual) != 1)
            found = steps[i];
        else if (on_corrupt)
            on_corrupt(ctx, steps[i], path, expected, actual);
    }
    free(steps);
    return found;
}
