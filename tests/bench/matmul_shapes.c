// The time of every linear layer's product of a Swin-T pretraining step (swin-t-192, batch
// 32: stage s has 73,728 / 4^s tokens of width 96 · 2^s), each shape timed alone through
// matmul_forward and matmul_backward (bias and its gradient included), best of 4, on the
// threads given (default 2): where the step's products lose their rate (docs/performance.md,
// "Swin"). Prints one line per shape and the totals weighted by the blocks of each stage.
//   build/matmul_shapes [THREADS]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/ops.h"

typedef struct {
    const char *name;
    int M, K, N, count; // count: how many such products one step runs
} Shape;

static const Shape SHAPES[] = {
    {"s0 qkv", 73728, 96, 288, 2},     {"s0 proj", 73728, 96, 96, 2},
    {"s0 fc1", 73728, 96, 384, 2},     {"s0 fc2", 73728, 384, 96, 2},
    {"s1 merge", 18432, 384, 192, 1},  {"s1 qkv", 18432, 192, 576, 2},
    {"s1 proj", 18432, 192, 192, 2},   {"s1 fc1", 18432, 192, 768, 2},
    {"s1 fc2", 18432, 768, 192, 2},    {"s2 merge", 4608, 768, 384, 1},
    {"s2 qkv", 4608, 384, 1152, 6},    {"s2 proj", 4608, 384, 384, 6},
    {"s2 fc1", 4608, 384, 1536, 6},    {"s2 fc2", 4608, 1536, 384, 6},
    {"s3 merge", 1152, 1536, 768, 1},  {"s3 qkv", 1152, 768, 2304, 2},
    {"s3 proj", 1152, 768, 768, 2},    {"s3 fc1", 1152, 768, 3072, 2},
    {"s3 fc2", 1152, 3072, 768, 2},
};
enum { ROWS_MAX = 73728, WIDTH_MAX = 384, WEIGHT_MAX = 3072 * 768, REPS = 4 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *filled(size_t n, int period)
{
    float *p = malloc(sizeof(float) * n);
    if (!p) {
        fprintf(stderr, "matmul_shapes: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % (size_t)period) * 0.01f;
    return p;
}

int main(int argc, char **argv)
{
    ops_set_threads(argc > 1 ? atoi(argv[1]) : 2);
    size_t activations = (size_t)ROWS_MAX * WIDTH_MAX;
    float *inp = filled(activations, 13), *out = filled(activations, 1);
    float *dout = filled(activations, 7), *dinp = filled(activations, 1);
    float *weight = filled(WEIGHT_MAX, 11), *dweight = filled(WEIGHT_MAX, 1);
    float *bias = filled(3072, 3), *dbias = filled(3072, 1);
    float *scratch = filled(8 * (size_t)WEIGHT_MAX, 1); // 8 parts of dweight at most (ops.c)
    double forward_s = 0, backward_s = 0, flops = 0;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        const Shape *s = &SHAPES[i];
        double f = 2.0 * s->M * s->K * s->N, best_forward = 1e9, best_backward = 1e9;
        for (int r = 0; r < REPS; r++) {
            double t0 = now();
            matmul_forward(out, inp, weight, bias, s->M, s->K, s->N);
            double t1 = now();
            matmul_backward(dinp, dweight, dbias, scratch, dout, inp, weight, s->M, s->K, s->N);
            double t2 = now();
            if (t1 - t0 < best_forward) best_forward = t1 - t0;
            if (t2 - t1 < best_backward) best_backward = t2 - t1;
        }
        forward_s += best_forward * s->count, backward_s += best_backward * s->count;
        flops += f * s->count;
        printf("%-9s M=%6d K=%5d N=%5d  forward %6.2f ms %6.1f GFLOP/s  backward %6.2f ms %6.1f "
               "GFLOP/s  (x%d: %6.1f ms)\n", s->name, s->M, s->K, s->N, best_forward * 1e3,
               f / best_forward * 1e-9, best_backward * 1e3, 2 * f / best_backward * 1e-9, s->count,
               (best_forward + best_backward) * s->count * 1e3);
    }
    printf("all: forward %.0f ms (%.1f GFLOP/s), backward %.0f ms (%.1f GFLOP/s)\n", forward_s * 1e3,
           flops / forward_s * 1e-9, backward_s * 1e3, 2 * flops / backward_s * 1e-9);
    return 0;
}
