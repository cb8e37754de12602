// Training-step benchmark: times a full step (masking, forward, backward, clipping, AdamW)
// on synthetic inputs for one preset and prints one JSON line, the same fields as
// tests/bench/torch_step.py so that tests/bench/bench.sh can put the two side by side.
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

// Matrix-product FLOPs of one forward pass (2·M·N·K each, attention included).
static double forward_flops(const ModelConfig *c, int B)
{
    double D = c->embed_dim, T = model_num_tokens(c), N = model_num_patches(c);
    double H = model_mlp_hidden(c), BT = B * T;
    double block = 2 * BT * D * 3 * D + 2 * 2 * B * T * T * D + 2 * BT * D * D + 2 * 2 * BT * D * H;
    double head = c->num_classes ? 2.0 * B * D * c->num_classes : 2 * B * N * D * model_patch_dim(c);
    return 2 * B * N * model_patch_dim(c) * D + c->depth * block + head;
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
                    "| --sgemm-peak [--threads T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *preset = NULL, *kind = "pretrain";
    int batch = 0, threads = 0, steps = 5, reps = 5, peak = 0;
    Precision precision = PRECISION_FP32;
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
    OptimConfig oc = {.lr = 1e-3, .min_lr = 1e-5, .warmup_steps = 10, .total_steps = 1000,
                      .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                      .clip_grad = 5.0, .layer_decay = finetune ? 0.75 : 1.0};
    AdamW opt;
    size_t pixels = (size_t)batch * cfg.in_chans * cfg.img_size * cfg.img_size;
    float *images = malloc(pixels * sizeof(float));
    float *token_mask = malloc(sizeof(float) * batch * model_num_patches(&cfg));
    float *drop_keep = malloc(sizeof(float) * cfg.depth * 2 * batch);
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
                for (int i = 0; i < cfg.depth * 2 * batch; i++) drop_keep[i] = rng_uniform(&rng) >= 0.05;
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
    printf("{\"impl\": \"simmimd\", \"preset\": \"%s\", \"kind\": \"%s\", \"batch\": %d, \"threads\": %d, "
           "\"precision\": \"%s\", \"img_per_s\": %.2f, \"img_per_s_reps\": [", preset, kind, batch,
           ops_threads(), spec_precision_name(ops_precision()), median);
    for (int r = 0; r < reps; r++) printf("%s%.2f", r ? ", " : "", rates[r]);
    printf("], \"train_gflop_per_img\": %.4f, \"peak_rss_mb\": %.1f, \"loss\": %.5f}\n",
           3 * forward_flops(&cfg, batch) / batch / 1e9, ru.ru_maxrss / 1024.0, m.loss);
    free(rates), free(sorted), free(images), free(token_mask), free(drop_keep), free(labels);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
