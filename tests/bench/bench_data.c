// bench_data: simmimd's side of the data benchmark (issue 26, `make bench-data`): decoded-
// and-augmented images/s of the streamed path's decode (core/data/stream.h, its public
// header alone) on W threads over an image folder, beside tests/bench/torch_data.py's
// DataLoader.
//
// Usage: bench_data --data DIR --workers W [--images N] [--batch B] [--img-size 224]
//                   [--seed 0] [--full-decode]
//
// The folder is listed as a job would list it (samplelist_imagefolder: DIR/train/<class>/...,
// or a flat folder). Image i of the run is training image order[i mod count] of a seeded
// permutation (a new one each pass), at batch step i / B and slot i mod B; each of W threads
// (pthreads, one StreamScratch and read buffer each) takes the next i, reads the file
// (samplelist_read, as the loader does: bytes from disk or the page cache) and decodes it with
// the training view of SimMIM's pretraining: RandomResizedCrop on the original (scale
// [0.67, 1], ratio [3/4, 4/3]) to S × S, a flip, normalization to floats (into the
// thread's own image buffer). --full-decode decodes every JPEG whole at full
// size (the view's reference mode, what PIL does) instead of DCT-scaled and cropped.
//
// Timing: every thread decodes 4 images untimed first (scratch growth, code and page cache
// warm), then all wait at a barrier; the time from there to the last image of N, and the CPU
// time the threads spent meanwhile (CLOCK_THREAD_CPUTIME_ID, summed): images per CPU-second
// is a decode thread's speed whatever else the machine runs, where images/s per worker falls
// when other programs take the cores. Prints one JSON line: {"impl": "simmimd-stream", "data",
// "workers", "images", "seconds", "img_per_s", "img_per_s_per_worker", "cpu_s",
// "img_per_cpu_s", "img_size", "full_decode", "mean_dct_scale" (of 8, JPEGs),
// "decoded_pixels_per_image", "source_pixels_per_image", "errors", "first_error"}.
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/stream.h"

typedef struct {
    const SampleList *list;
    const int *order; // a permutation per pass, passes × count entries
    int count, images, batch, size, full_decode;
    uint64_t seed;
    AugmentConfig aug;
    double mean[3], std[3];
    atomic_int next, warm;
    pthread_barrier_t ready;
    // results, under lock
    pthread_mutex_t lock;
    int errors;
    char first_error[512];
    double scale_sum, decoded_pixels, source_pixels, cpu_s;
    int jpegs, counted;
} Bench;

static double bench_clock(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void decode_one(Bench *b, int i, StreamScratch *scratch, SampleBytes *bytes, float *out, int timed)
{
    const char *path = b->list->train.paths[b->order[i]];
    int slot = i % b->batch;
    StreamView view = {3, b->size, b->mean, b->std, &b->aug, b->seed, i / b->batch, slot, b->full_decode};
    StreamDecodeInfo info;
    char err[512];
    int rc = samplelist_read(b->list, path, bytes, err, sizeof err);
    if (!rc) rc = stream_decode(bytes->data, bytes->len, path, &view, scratch, out, &info, err, sizeof err);
    if (!timed) return;
    pthread_mutex_lock(&b->lock);
    if (rc) {
        if (!b->errors++) snprintf(b->first_error, sizeof b->first_error, "%s", err);
    } else {
        b->counted++;
        b->decoded_pixels += (double)info.decoded_width * info.decoded_height;
        b->source_pixels += (double)info.width * info.height;
        if (bytes->len > 2 && bytes->data[0] == 0xff && bytes->data[1] == 0xd8) {
            b->jpegs++;
            b->scale_sum += info.scale_num;
        }
    }
    pthread_mutex_unlock(&b->lock);
}

static void *bench_worker(void *arg)
{
    Bench *b = arg;
    StreamScratch *scratch = stream_scratch_new();
    SampleBytes bytes = {0};
    float *out = malloc(sizeof(float) * 3 * (size_t)b->size * b->size);
    if (!scratch || !out) {
        fprintf(stderr, "bench_data: out of memory\n");
        exit(1);
    }
    // Warm-up on images past the timed ones (the order holds them), so none is seen twice.
    for (int k = 0; k < 4; k++) decode_one(b, b->images + atomic_fetch_add(&b->warm, 1), scratch, &bytes, out, 0);
    pthread_barrier_wait(&b->ready);
    double cpu = bench_clock(CLOCK_THREAD_CPUTIME_ID);
    for (int i; (i = atomic_fetch_add(&b->next, 1)) < b->images;) decode_one(b, i, scratch, &bytes, out, 1);
    cpu = bench_clock(CLOCK_THREAD_CPUTIME_ID) - cpu;
    pthread_mutex_lock(&b->lock);
    b->cpu_s += cpu;
    pthread_mutex_unlock(&b->lock);
    stream_scratch_free(scratch);
    sample_bytes_free(&bytes);
    free(out);
    return NULL;
}

static uint64_t bench_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    int workers = 2, images = 1024, batch = 32, size = 224, full = 0;
    long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--full-decode")) {
            full = 1;
            continue;
        }
        i++;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--workers")) workers = atoi(v);
        else if (!strcmp(a, "--images")) images = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--img-size")) size = atoi(v);
        else if (!strcmp(a, "--seed")) seed = atoll(v);
        else {
            fprintf(stderr, "usage: bench_data --data DIR --workers W [--images N] [--batch B] "
                            "[--img-size 224] [--seed 0] [--full-decode]\n");
            return 2;
        }
    }
    if (!data || workers < 1 || workers > 256 || images < 1 || batch < 1 || size < 8 || size > 4096) {
        fprintf(stderr, "bench_data: --data DIR is required; --workers 1-256, --images, --batch and "
                        "--img-size (8-4096) positive\n");
        return 2;
    }
    SampleList list;
    char err[1024];
    if (samplelist_imagefolder(data, NULL, &list, err, sizeof err)) {
        fprintf(stderr, "bench_data: %s\n", err);
        return 1;
    }
    if (list.train.count < 1) {
        fprintf(stderr, "bench_data: %s: no training images\n", data);
        return 1;
    }
    Bench b = {.list = &list, .count = list.train.count, .images = images, .batch = batch, .size = size,
               .full_decode = full, .seed = (uint64_t)seed,
               .aug = {{0.67, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, 1},
               .mean = {0.485, 0.456, 0.406}, .std = {0.229, 0.224, 0.225}};
    // The order: seeded permutations of the training images, pass after pass (Fisher-Yates),
    // long enough for the timed images and every thread's warm-up.
    int total = images + 4 * workers, passes = (total + b.count - 1) / b.count;
    int *order = malloc(sizeof(int) * (size_t)passes * b.count);
    pthread_t *threads = malloc(sizeof(pthread_t) * (size_t)workers);
    if (!order || !threads) {
        fprintf(stderr, "bench_data: out of memory\n");
        return 1;
    }
    uint64_t state = (uint64_t)seed;
    for (int p = 0; p < passes; p++) {
        int *perm = order + (size_t)p * b.count;
        for (int k = 0; k < b.count; k++) perm[k] = k;
        for (int k = b.count - 1; k > 0; k--) {
            int j = (int)((state = bench_mix(state)) % (uint64_t)(k + 1)), t = perm[k];
            perm[k] = perm[j], perm[j] = t;
        }
    }
    b.order = order;
    atomic_init(&b.next, 0);
    atomic_init(&b.warm, 0);
    pthread_mutex_init(&b.lock, NULL);
    pthread_barrier_init(&b.ready, NULL, (unsigned)workers + 1);
    for (int t = 0; t < workers; t++) pthread_create(&threads[t], NULL, bench_worker, &b);
    pthread_barrier_wait(&b.ready);
    double start = bench_clock(CLOCK_MONOTONIC);
    for (int t = 0; t < workers; t++) pthread_join(threads[t], NULL);
    double seconds = bench_clock(CLOCK_MONOTONIC) - start, rate = images / seconds;
    char first[600] = "null";
    if (b.errors) {
        char *q = first;
        *q++ = '"';
        for (const char *p = b.first_error; *p && q < first + sizeof first - 3; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) *q++ = *p;
        *q++ = '"', *q = 0;
    }
    printf("{\"impl\": \"simmimd-stream\", \"data\": \"%s\", \"workers\": %d, \"batch\": %d, \"img_size\": %d, "
           "\"images\": %d, \"seconds\": %.3f, \"img_per_s\": %.1f, \"img_per_s_per_worker\": %.1f, "
           "\"cpu_s\": %.3f, \"img_per_cpu_s\": %.1f, "
           "\"full_decode\": %s, \"mean_dct_scale\": %.2f, \"decoded_pixels_per_image\": %.0f, "
           "\"source_pixels_per_image\": %.0f, \"errors\": %d, \"first_error\": %s}\n",
           data, workers, batch, size, images, seconds, rate, rate / workers, b.cpu_s, images / b.cpu_s,
           full ? "true" : "false",
           b.jpegs ? b.scale_sum / b.jpegs : 0, b.counted ? b.decoded_pixels / b.counted : 0,
           b.counted ? b.source_pixels / b.counted : 0, b.errors, first);
    samplelist_free(&list);
    free(order);
    free(threads);
    return b.errors == images;
}
