// The streamed folder of a run; see streamed.h.
#include "train/streamed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int streamed_open(Streamed *st, const char *folder, const DataRoots *roots, int channels,
                  int size, int threads, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (folder && samplelist_imagefolder(folder, roots, &st->list, err, errlen)) return -1;
    st->channels = channels, st->size = size, st->threads = threads;
    st->scratch = calloc((size_t)threads, sizeof *st->scratch);
    st->bytes = calloc((size_t)threads, sizeof *st->bytes);
    int ok = st->scratch && st->bytes;
    for (int i = 0; ok && i < threads; i++) ok = (st->scratch[i] = stream_scratch_new()) != NULL;
    if (!ok) {
        streamed_close(st);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void streamed_close(Streamed *st)
{
    for (int i = 0; st->scratch && i < st->threads; i++) stream_scratch_free(st->scratch[i]);
    for (int i = 0; st->bytes && i < st->threads; i++) sample_bytes_free(&st->bytes[i]);
    free(st->scratch);
    free(st->bytes);
    samplelist_free(&st->list);
    memset(st, 0, sizeof *st);
}

int streamed_decode(Streamed *st, StreamedCandidate candidate, void *ctx, int tries,
                    const StreamView *view, int thread, float *out, int *label,
                    StreamedError *error)
{
    char err[STREAMED_MESSAGE_MAX];
    error->failed[0] = error->replacement[0] = error->message[0] = 0;
    for (int k = 0; k < tries; k++) {
        const uint8_t *bytes;
        size_t len;
        const char *name;
        int sample_label, rc = candidate(ctx, k, &st->bytes[thread], &bytes, &len, &name,
                                         &sample_label, err, sizeof err);
        if (rc == 0)
            rc = stream_decode(bytes, len, name, view, st->scratch[thread], out, NULL, err,
                               sizeof err);
        if (rc == 0) {
            if (label) *label = sample_label;
            if (k) snprintf(error->replacement, sizeof error->replacement, "%s", name);
            return k;
        }
        if (k == 0) {
            snprintf(error->failed, sizeof error->failed, "%s", name);
            snprintf(error->message, sizeof error->message, "%s", err);
        }
    }
    return -1;
}

int folder_candidate(void *ctx, int k, SampleBytes *buffer, const uint8_t **bytes, size_t *len,
                     const char **name, int *label, char *err, size_t errlen)
{
    const FolderCandidates *c = ctx;
    long at = (c->position + k) % c->split->count;
    int index = c->order ? c->order[at] : (int)at;
    *name = c->split->paths[index];
    *label = c->split->labels[index];
    if (samplelist_read(&c->st->list, *name, buffer, err, errlen)) return -1;
    *bytes = buffer->data, *len = buffer->len;
    return 0;
}

int folder_tries(const SampleSplit *split)
{
    return split->count < STREAMED_MAX_REPLACEMENTS ? split->count : STREAMED_MAX_REPLACEMENTS;
}

int streamed_limit_per_class(Streamed *st, int k, char *err, size_t errlen)
{
    SampleSplit *split = &st->list.train;
    uint8_t *keep = malloc((size_t)split->count + 1);
    if (!keep) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int kept = labels_keep_per_class(split->labels, split->count, st->list.num_classes,
                                     st->list.class_names, k, keep, err, errlen);
    if (kept >= 0) {
        int at = 0;
        for (int i = 0; i < split->count; i++) {
            if (!keep[i]) {
                free(split->paths[i]);
                continue;
            }
            split->paths[at] = split->paths[i];
            split->labels[at] = split->labels[i];
            split->bytes[at++] = split->bytes[i];
        }
        split->count = at;
    }
    free(keep);
    return kept < 0 ? -1 : 0;
}

int streamed_sampler_open(StreamedSampler *s, Streamed *st, int n)
{
    size_t image = (size_t)st->channels * st->size * st->size;
    *s = (StreamedSampler){.st = st, .set = {.channels = st->channels, .size = st->size}};
    s->set.pixels = malloc((size_t)(n > 0 ? n : 1) * image);
    s->image = malloc(sizeof(float) * image);
    if (s->set.pixels && s->image) return 0;
    free(s->set.pixels), free(s->image);
    return -1;
}

void streamed_sampler_add(StreamedSampler *s, StreamedCandidate candidate, void *ctx)
{
    const Streamed *st = s->st;
    int C = st->channels, S = st->size;
    size_t plane = (size_t)S * S;
    StreamView view = {.channels = C, .size = S, .mean = st->mean, .std = st->std};
    StreamedError error;
    if (streamed_decode(s->st, candidate, ctx, 1, &view, 0, s->image, NULL, &error) < 0) return;
    uint8_t *px = s->set.pixels + (size_t)s->set.count++ * C * plane;
    for (size_t j = 0; j < C * plane; j++) { // back to the 8-bit pixels the view came from
        long v = lround((s->image[j] * st->std[j / plane] + st->mean[j / plane]) * 255.0);
        px[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

int streamed_sampler_close(StreamedSampler *s, ImageSet *set, char *err, size_t errlen)
{
    free(s->image);
    *set = s->set;
    if (set->count > 0) return 0;
    free(set->pixels);
    set->pixels = NULL;
    snprintf(err, errlen, "none of the training images sampled decodes");
    return -1;
}

int streamed_sample_images(Streamed *st, int n, ImageSet *set, char *err, size_t errlen)
{
    const SampleSplit *split = &st->list.train;
    StreamedSampler sampler;
    if (n > split->count) n = split->count;
    if (streamed_sampler_open(&sampler, st, n)) return snprintf(err, errlen, "out of memory"), -1;
    for (int i = 0; i < n; i++) {
        FolderCandidates c = {.st = st, .split = split, .position = (long)i * split->count / n};
        streamed_sampler_add(&sampler, folder_candidate, &c);
    }
    return streamed_sampler_close(&sampler, set, err, errlen);
}
