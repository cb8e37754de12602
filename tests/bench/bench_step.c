// Training-step benchmark: times a full step (masking, forward, backward, clipping, AdamW)
// on synthetic inputs for one preset and prints one JSON line, the same fields as
// tests/bench/torch_step.py so that tests/bench/bench.sh can put the two side by side.
// A pretraining step may choose the SimMIM head (docs/job-spec.md decoder, target, loss):
// --decoder linear|mlp|transformer [--decoder-depth N] [--decoder-hidden H],
// --loss l1|l2|smooth_l1|bins|palette [--loss-k K], --target-resolution r; the defaults are
// today's (linear, full resolution, l1). The bins and palette targets read the synthetic
// normal inputs as normalized with mean 0.5 and std 0.25 (so they cover [0, 1]); a palette is
// K random colours in [0, 1] (the trainer's k-means would set it).
// `--sgemm-peak` instead measures the machine's sgemm throughput on large square products.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/model.h"
#include "ops/ops.h"
#include "spec/spec.h"
#include "train/optim.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Matrix-product FLOPs of one transformer block over B sequences (images, or Swin's windows
// of all images) of T tokens of width D with an MLP of H: qkv, the two attention products,
// proj, fc1 and fc2.
static double block_flops(double B, double T, double D, double H)
{
    double BT = B * T;
    return 2 * BT * D * 3 * D + 2 * 2 * B * T * T * D + 2 * BT * D * D + 2 * 2 * BT * D * H;
}

// A Swin encoder's: patch embedding, each stage's blocks over its windows, patch merging.
static double swin_encoder_flops(const ModelConfig *c, double B)
{
    double G = model_grid(c), flops = 2 * B * G * G * model_patch_dim(c) * c->embed_dim;
    for (int i = 0; i < c->num_stages; i++) {
        double Gi = swin_stage_grid(c, i), W = swin_stage_window(c, i), D = swin_stage_dim(c, i);
        flops += c->depths[i] * block_flops(B * (Gi / W) * (Gi / W), W * W, D,
                                            swin_stage_hidden(c, i));
        if (i > 0) flops += 2 * B * Gi * Gi * 2 * D * D;
    }
    return flops;
}

// Matrix-product FLOPs of one forward pass (2·M·N·K each, attention included): the encoder,
// then the classifier or the SimMIM decoder's products (out = s²·C' values per token).
static double forward_flops(const ModelConfig *c, int B)
{
    double D = model_out_dim(c), T = model_num_tokens(c), N = model_out_tokens(c), BN = B * N;
    double encoder = c->arch == ARCH_SWIN
                         ? swin_encoder_flops(c, B)
                         : 2.0 * B * model_num_patches(c) * model_patch_dim(c) * D +
                               c->depth * block_flops(B, T, D, model_mlp_hidden(c));
    if (c->num_classes) return encoder + 2.0 * B * D * c->num_classes;
    double out = simmim_decoder_out(c), head = 0;
    switch (c->decoder.type) {
    case DECODER_LINEAR: head = 2 * BN * D * out; break;
    case DECODER_MLP: head = 2 * BN * D * decoder_hidden(c) + 2 * BN * decoder_hidden(c) * out; break;
    case DECODER_TRANSFORMER: {
        double E = decoder_embed_dim(c);
        head = 2 * BN * D * E + c->decoder.depth * block_flops(B, N, E, decoder_mlp_hidden(c)) +
               2 * BN * E * out;
        break;
    }
    }
    return encoder + head;
}

static double sgemm_peak_gflops(void)
{
    int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    matmul_forward(c, a, b, NULL, n, n, n); // warm up
    double best = 0.0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        matmul_forward(c, a, b, NULL, n, n, n);
        double gf = 2.0 * n * n * n / (now() - t0) / 1e9;
        best = gf > best ? gf : best;
    }
    free(a), free(b), free(c);
    return best;
}

static int bench_usage(void)
{
    fprintf(stderr, "usage: bench_step --preset NAME [--kind pretrain|finetune] [--batch B] "
                    "[--threads T] [--precision fp32|bf16] [--steps S] [--reps R] "
                    "[--decoder linear|mlp|transformer] [--decoder-depth N] [--decoder-hidden H] "
                    "[--loss l1|l2|smooth_l1|bins|palette] [--loss-k K] [--target-resolution R] "
                    "| --sgemm-peak [--threads T]\n");
    return 2;
}

static const char *const DECODER_NAMES[] = {"linear", "mlp", "transformer", NULL};
static const char *const LOSS_NAMES[] = {"l1", "l2", "smooth_l1", "bins", "palette", NULL};

// The index of word in names (a NULL-terminated list), or -1.
static int word_index(const char *const *names, const char *word)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], word) == 0) return i;
    return -1;
}

// The head of a pretraining cfg as bench.sh's config syntax names it ("" for linear/l1 at
// full resolution): decoder=mlp, decoder=transformer,depth=2, loss=bins256, target=16.
static void head_label(const ModelConfig *c, char *out, size_t n)
{
    out[0] = 0;
    size_t len = 0;
    if (c->decoder.type != DECODER_LINEAR)
        len += snprintf(out + len, n - len, "decoder=%s", DECODER_NAMES[c->decoder.type]);
    if (c->decoder.type == DECODER_TRANSFORMER)
        len += snprintf(out + len, n - len, ",depth=%d", c->decoder.depth);
    if (c->decoder.type == DECODER_MLP && c->decoder.hidden)
        len += snprintf(out + len, n - len, ",hidden=%d", c->decoder.hidden);
    if (c->loss.type != LOSS_L1) {
        int k = c->loss.type == LOSS_BINS ? c->loss.bins : c->loss.type == LOSS_PALETTE ? c->loss.palette : 0;
        len += snprintf(out + len, n - len, "%sloss=%s", len ? "," : "", LOSS_NAMES[c->loss.type]);
        if (k) len += snprintf(out + len, n - len, "%d", k);
    }
    if (c->target_resolution && c->target_resolution != c->img_size)
        snprintf(out + len, n - len, "%starget=%d", len ? "," : "", c->target_resolution);
}

int main(int argc, char **argv)
{
    const char *preset = NULL, *kind = "pretrain";
    int batch = 0, threads = 0, steps = 5, reps = 5, peak = 0;
    Precision precision = PRECISION_FP32;
    int decoder = DECODER_LINEAR, decoder_depth = 0, decoder_hidden_width = 0, loss = LOSS_L1;
    int loss_k = 0, target_resolution = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sgemm-peak") == 0) peak = 1;
        else if (!v)
            return bench_usage();
        else if (strcmp(a, "--preset") == 0) preset = v, i++;
        else if (strcmp(a, "--kind") == 0) kind = v, i++;
        else if (strcmp(a, "--batch") == 0) batch = atoi(v), i++;
        else if (strcmp(a, "--threads") == 0) threads = atoi(v), i++;
        else if (strcmp(a, "--precision") == 0 && spec_precision_parse(v, &precision) == 0) i++;
        else if (strcmp(a, "--steps") == 0) steps = atoi(v), i++;
        else if (strcmp(a, "--reps") == 0) reps = atoi(v), i++;
        else if (strcmp(a, "--decoder") == 0 && (decoder = word_index(DECODER_NAMES, v)) >= 0) i++;
        else if (strcmp(a, "--decoder-depth") == 0) decoder_depth = atoi(v), i++;
        else if (strcmp(a, "--decoder-hidden") == 0) decoder_hidden_width = atoi(v), i++;
        else if (strcmp(a, "--loss") == 0 && (loss = word_index(LOSS_NAMES, v)) >= 0) i++;
        else if (strcmp(a, "--loss-k") == 0) loss_k = atoi(v), i++;
        else if (strcmp(a, "--target-resolution") == 0) target_resolution = atoi(v), i++;
        else
            return bench_usage();
    }
    if (peak && precision != PRECISION_FP32) return bench_usage(); // the peak is sgemm's: fp32
    ops_set_threads(threads);
    // Before model_create, which sizes the bf16 packing buffers. bench.sh skips a config
    // whose precision this processor cannot run by this exit status.
    char err[256];
    if (ops_set_precision(precision, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    if (peak) {
        printf("{\"sgemm_gflops\": %.1f, \"threads\": %d}\n", sgemm_peak_gflops(), ops_threads());
        return 0;
    }
    ModelConfig cfg = model_config_default();
    if (!preset || model_config_preset(preset, &cfg) || steps < 1 || reps < 1) return bench_usage();
    int finetune = strcmp(kind, "finetune") == 0;
    if (finetune) cfg.num_classes = 10, cfg.drop_path = 0.1f;
    int head_given = decoder != DECODER_LINEAR || decoder_depth || decoder_hidden_width ||
                     loss != LOSS_L1 || loss_k || target_resolution;
    if (finetune && head_given) {
        fprintf(stderr, "bench_step: the decoder, loss and target options are pretraining's\n");
        return 2;
    }
    cfg.decoder.type = (DecoderType)decoder;
    if (decoder_depth) cfg.decoder.depth = decoder_depth;
    cfg.decoder.hidden = decoder_hidden_width;
    cfg.loss.type = (LossType)loss;
    if (loss_k && loss == LOSS_BINS) cfg.loss.bins = loss_k;
    else if (loss_k && loss == LOSS_PALETTE) cfg.loss.palette = loss_k;
    else if (loss_k)
        return bench_usage(); // --loss-k is the K of bins or palette
    cfg.target_resolution = target_resolution;
    if (batch <= 0) batch = cfg.img_size == 224 ? (cfg.embed_dim > 192 ? 16 : 32) : (cfg.embed_dim > 128 ? 128 : 256);

    Model m;
    if (model_create(&m, &cfg, batch, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    m.label_smoothing = 0.1f;
    Rng rng;
    rng_seed(&rng, 0);
    model_init_weights(&m, &rng);
    for (int c = 0; c < cfg.in_chans && c < MODEL_MAX_TARGET_CHANS; c++)
        m.pixel_mean[c] = 0.5f, m.pixel_std[c] = 0.25f;
    if (m.params.palette)
        for (int i = 0; i < cfg.loss.palette * cfg.in_chans; i++)
            m.params.palette[i] = (float)rng_uniform(&rng);
    OptimConfig oc = {.lr = 1e-3, .min_lr = 1e-5, .warmup_steps = 10, .total_steps = 1000,
                      .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                      .clip_grad = 5.0, .layer_decay = finetune ? 0.75 : 1.0};
    AdamW opt;
    size_t pixels = (size_t)batch * cfg.in_chans * cfg.img_size * cfg.img_size;
    float *images = malloc(pixels * sizeof(float));
    float *token_mask = malloc(sizeof(float) * batch * model_num_patches(&cfg));
    int blocks = model_total_blocks(&cfg);
    float *drop_keep = malloc(sizeof(float) * blocks * 2 * batch);
    int *labels = malloc(sizeof(int) * batch);
    if (adamw_create(&opt, &oc, m.num_params) || !images || !token_mask || !drop_keep || !labels) {
        fprintf(stderr, "bench_step: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < pixels; i++) images[i] = (float)rng_normal(&rng);
    for (int b = 0; b < batch; b++) labels[b] = (int)rng_below(&rng, 10);
    MaskConfig mask = {.mask_patch_size = cfg.img_size == 224 ? 32 : 8, .ratio = 0.6};
    Batch in = {.size = batch, .images = images, .token_mask = finetune ? NULL : token_mask,
                .labels = finetune ? labels : NULL, .drop_keep = finetune ? drop_keep : NULL};

    double *rates = malloc(sizeof(double) * reps);
    long t = 0;
    for (int r = -1; r < reps; r++) { // r = -1: warm-up
        double t0 = now();
        for (int s = 0; s < (r < 0 ? 2 : steps); s++, t++) {
            if (finetune)
                for (int i = 0; i < blocks * 2 * batch; i++) drop_keep[i] = rng_uniform(&rng) >= 0.05;
            else
                simmim_mask(token_mask, batch, &mask, &cfg, &rng);
            model_zero_grad(&m);
            model_forward(&m, &in);
            model_backward(&m);
            clip_grad_norm(m.grads_mem, m.num_params, oc.clip_grad);
            adamw_step(&opt, &m, lr_at(&oc, t));
        }
        if (r >= 0) rates[r] = steps * batch / (now() - t0);
    }
    double *sorted = malloc(sizeof(double) * reps);
    memcpy(sorted, rates, sizeof(double) * reps);
    qsort(sorted, reps, sizeof(double), compare_double);
    double median = sorted[reps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char head[128];
    head_label(&cfg, head, sizeof head);
    MemoryEstimate est = model_memory_estimate(&cfg, batch, ops_threads());
    printf("{\"impl\": \"simmimd\", \"preset\": \"%s\", \"kind\": \"%s\", \"batch\": %d, \"threads\": %d, "
           "\"precision\": \"%s\", \"head\": \"%s\", \"memory_estimate_mb\": %.1f, "
           "\"img_per_s\": %.2f, \"img_per_s_reps\": [", preset, kind, batch,
           ops_threads(), spec_precision_name(ops_precision()), head,
           memory_estimate_total(&est) / (1024.0 * 1024.0), median);
    for (int r = 0; r < reps; r++) printf("%s%.2f", r ? ", " : "", rates[r]);
    printf("], \"train_gflop_per_img\": %.4f, \"peak_rss_mb\": %.1f, \"loss\": %.5f}\n",
           3 * forward_flops(&cfg, batch) / batch / 1e9, ru.ru_maxrss / 1024.0, m.loss);
    free(rates), free(sorted), free(images), free(token_mask), free(drop_keep), free(labels);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
