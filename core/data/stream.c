// The streamed path's per-sample work (see stream.h): reading a sample's bytes confined to
// the data roots, decoding and augmenting one sample into normalized floats, and the
// statistics of a large set from a fixed sample. The listing itself is imagefolder.c's.
#include "data/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rng.h"
#include "data/data_load.h"
#include "data/image.h"

// ---- reading -----------------------------------------------------------------------------

void sample_bytes_free(SampleBytes *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int samplelist_read(const SampleList *list, const char *path, SampleBytes *b, char *err,
                    size_t errlen)
{
    b->len = 0;
    static const Confine none = {0};
    const Confine *c = list->roots_ ? &list->roots_->confine : &none;
    int outside, fd = confine_open(c, path, O_RDONLY, &outside);
    if (fd < 0) {
        if (outside) return confine_refuse(c, path, err, errlen);
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > STREAM_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: %lld bytes, more than the %zu MB an image file may have",
                 path, (long long)st.st_size, STREAM_MAX_FILE_BYTES >> 20);
    } else {
        // Room for one byte more than its size, to notice a file that grew since fstat.
        size_t want = (size_t)st.st_size + 1;
        if (want > b->cap) {
            uint8_t *data = realloc(b->data, want);
            if (data) b->data = data, b->cap = want;
        }
        if (b->cap < want) {
            snprintf(err, errlen, "%s: out of memory for %lld bytes", path,
                     (long long)st.st_size);
        } else {
            size_t got = 0;
            ssize_t n = 0;
            while (got < want && ((n = read(fd, b->data + got, want - got)) > 0 ||
                                  (n < 0 && errno == EINTR)))
                if (n > 0) got += (size_t)n;
            if (n < 0)
                snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            else if (got != (size_t)st.st_size)
                snprintf(err, errlen, "%s: changed while being read (%zu%s bytes, %lld listed by "
                         "fstat)", path, got, got == want ? " or more" : "",
                         (long long)st.st_size);
            else
                b->len = got, rc = 0;
        }
    }
    close(fd);
    return rc;
}

// ---- decoding ----------------------------------------------------------------------------

struct StreamScratch {
    ImageDecoder dec;
    ResizeScratch resize;
    ImageBuffer fitted; // channels × S × S bytes
    ImageBuffer padded; // a small original brought to S × S first (channels × S × S bytes)
};

StreamScratch *stream_scratch_new(void) { return calloc(1, sizeof(StreamScratch)); }

void stream_scratch_free(StreamScratch *s)
{
    if (!s) return;
    image_decoder_free(&s->dec);
    resize_scratch_free(&s->resize);
    image_buffer_free(&s->fitted);
    image_buffer_free(&s->padded);
    free(s);
}

// What the plan callback decides, once the image's size is known.
typedef struct {
    const StreamView *view;
    AugmentCrop crop;
    double box[4]; // the crop in pixels of the image as encoded (of the S × S fit if small)
    int small;     // shorter side ≤ S: fitted to S × S (padded) first, then cropped
} Planning;

// The smallest M of 1, 2, 4 (of 8) at which a crop of w × h pixels spans at least S each
// way; 8 if none does. libjpeg-turbo's other scales (3/8, 5/8, 6/8, 7/8) run its plain C
// inverse DCTs (and, for 4:2:0 chroma, 6×6 to 14×14 ones): they decode a 500×375 JPEG in
// about twice the time of the full-size decode (measured 1.35-1.43 ms against 0.68 ms), so
// they are never chosen; 1/8, 1/4 and 1/2 have SIMD versions.
static int dct_scale_for(double w, double h, int S)
{
    for (int m = 1; m < 8; m *= 2)
        if (w * m / 8.0 >= S && h * m / 8.0 >= S) return m;
    return 8;
}

static void plan_view(void *ctx, int width, int height, ImagePlan *plan)
{
    Planning *p = ctx;
    const StreamView *v = p->view;
    if (!v->aug) { // evaluation: the whole image, as the cached path
        plan->whole = 1;
        return;
    }
    // An original no longer than S on its shorter side is not resized by the fit, only padded
    // or centre-cropped to S × S; the crop is then drawn on that square, as the cached path
    // (and the evaluation view) sees it, so training and evaluation agree on the object's
    // scale. Cropping the small original itself would enlarge every object by S / side.
    p->small = (width < height ? width : height) <= v->size;
    if (p->small) {
        p->crop = augment_crop_wh(v->aug, v->size, v->size, v->seed, v->step, v->slot);
        width = height = v->size;
        plan->whole = 1;
    } else {
        p->crop = augment_crop_wh(v->aug, width, height, v->seed, v->step, v->slot);
    }
    p->box[0] = p->crop.left * width, p->box[1] = p->crop.top * height;
    p->box[2] = p->box[0] + p->crop.width * width;
    p->box[3] = p->box[1] + p->crop.height * height;
    if (p->small) return;
    plan->whole = v->full_decode;
    plan->scale_num = dct_scale_for(p->crop.width * width, p->crop.height * height, v->size);
    memcpy(plan->box, p->box, sizeof p->box);
}

// The training view: the crop's box mapped into the decoded region, read only within the
// crop's pixels (⌊x0⌋ to ⌈x1⌉ at the decoded scale), resized to S × S.
static int resize_crop(const ImageRegion *r, const Planning *p, int S, StreamScratch *s)
{
    double scale = r->scale_num / 8.0, box[4];
    int limits[4], origin[2] = {r->x, r->y}, extent[2] = {r->region.width, r->region.height};
    for (int a = 0; a < 2; a++) {
        double lo = p->box[a] * scale - origin[a], hi = p->box[a + 2] * scale - origin[a];
        int first = (int)floor(p->box[a] * scale) - origin[a];
        int end = (int)ceil(p->box[a + 2] * scale) - origin[a];
        first = first < 0 ? 0 : first > extent[a] - 1 ? extent[a] - 1 : first;
        end = end > extent[a] ? extent[a] : end <= first ? first + 1 : end;
        box[a] = lo, box[a + 2] = hi > lo ? hi : lo + 1e-9;
        limits[a] = first, limits[a + 2] = end;
    }
    return image_resize_box(&r->region, box, limits, S, p->crop.flip, s->fitted.data,
                            &s->resize);
}

// A small original: padded to S × S as the evaluation view, then that square cropped.
static int crop_view(const ImageRegion *r, const Planning *p, int S, int C, StreamScratch *s)
{
    if (!p->small) return resize_crop(r, p, S, s);
    if (image_buffer_reserve(&s->padded, (size_t)C * (size_t)S * (size_t)S) ||
        image_fit_scratch(&r->region, S, s->padded.data, &s->resize))
        return -1;
    ImageRegion square = {.width = S, .height = S, .scale_num = 8, .scaled_width = S,
                          .scaled_height = S,
                          .region = {.width = S, .height = S, .channels = C,
                                     .pixels = s->padded.data}};
    return resize_crop(&square, p, S, s);
}

int stream_decode(const uint8_t *bytes, size_t len, const char *name, const StreamView *view,
                  StreamScratch *scratch, float *out, StreamDecodeInfo *info, char *err,
                  size_t errlen)
{
    int C = view->channels, S = view->size;
    if (info) memset(info, 0, sizeof *info);
    if ((C != 1 && C != 3) || S < 1 || S > IMAGE_MAX_SIDE) {
        snprintf(err, errlen, "%s: cannot decode to %d channels of %d×%d", name, C, S, S);
        return -1;
    }
    size_t plane = (size_t)S * (size_t)S;
    if (image_buffer_reserve(&scratch->fitted, (size_t)C * plane)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    Planning p = {.view = view, .crop = {0.0, 0.0, 1.0, 1.0, 0}};
    ImageRegion r;
    int rc = image_decode_memory(&scratch->dec, bytes, len, name, C, plan_view, &p, &r, err,
                                 errlen);
    if (rc == 0) {
        rc = view->aug ? crop_view(&r, &p, S, C, scratch)
                       : image_fit_scratch(&r.region, S, scratch->fitted.data, &scratch->resize);
        if (rc) snprintf(err, errlen, "%s: out of memory while resizing", name);
    }
    if (rc == 0) {
        // (x/255 − mean)/std as augment_batch computes it, per byte value.
        float lut[256];
        for (int c = 0; c < C; c++) {
            for (int v = 0; v < 256; v++)
                lut[v] = (float)(((float)v / 255.0 - view->mean[c]) / view->std[c]);
            const uint8_t *src = scratch->fitted.data + (size_t)c * plane;
            float *dst = out + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) dst[i] = lut[src[i]];
        }
        if (info)
            *info = (StreamDecodeInfo){.width = r.width, .height = r.height,
                                       .scale_num = r.scale_num,
                                       .decoded_width = r.region.width,
                                       .decoded_height = r.region.height, .crop = p.crop};
    }
    image_decoder_trim(&scratch->dec, STREAM_SCRATCH_KEEP_BYTES);
    return rc;
}

// ---- statistics --------------------------------------------------------------------------

// Selection sampling (Knuth's algorithm S): k of 0..n−1, each subset equally likely, in
// increasing order, from the fixed seed.
static void sample_indices(int n, int k, int *out)
{
    Rng rng;
    rng_seed(&rng, STREAM_STATS_SEED);
    for (int i = 0, chosen = 0; i < n && chosen < k; i++)
        if ((double)(n - i) * rng_uniform(&rng) < (double)(k - chosen)) out[chosen++] = i;
}

static void whole_image(void *ctx, int width, int height, ImagePlan *plan)
{
    (void)ctx, (void)width, (void)height;
    plan->whole = 1;
}

int stream_pixel_sums_add(const uint8_t *bytes, size_t len, const char *name,
                          StreamScratch *scratch, StreamPixelSums *sums, int *width, int *height,
                          char *err, size_t errlen)
{
    ImageRegion r;
    int rc = image_decode_memory(&scratch->dec, bytes, len, name, sums->channels, whole_image,
                                 NULL, &r, err, errlen);
    if (rc == 0) {
        PixelSums mine = {.channels = sums->channels};
        size_t plane = (size_t)r.region.width * (size_t)r.region.height;
        pixel_sums_add(&mine, r.region.pixels, plane, plane);
        for (int c = 0; c < sums->channels; c++)
            sums->sum[c] += mine.sum[c], sums->sumsq[c] += mine.sumsq[c];
        sums->pixels += mine.pixels;
        if (width) *width = r.width;
        if (height) *height = r.height;
    }
    image_decoder_trim(&scratch->dec, STREAM_SCRATCH_KEEP_BYTES);
    return rc;
}

int stream_pixel_sums_finish(const StreamPixelSums *sums, double *mean, double *std, char *err,
                             size_t errlen)
{
    if ((sums->channels != 1 && sums->channels != 3) || sums->pixels == 0) {
        snprintf(err, errlen, "no pixels to compute statistics on");
        return -1;
    }
    PixelSums s = {.channels = sums->channels, .pixels = sums->pixels};
    memcpy(s.sum, sums->sum, sizeof s.sum);
    memcpy(s.sumsq, sums->sumsq, sizeof s.sumsq);
    Dataset ds = {.channels = sums->channels};
    if (pixel_sums_finish(&s, &ds, "statistics", err, errlen)) return -1;
    for (int c = 0; c < sums->channels; c++) mean[c] = ds.mean[c], std[c] = ds.std[c];
    return 0;
}

int samplelist_stats(const SampleList *list, int channels, int max_images, StreamStats *stats,
                     char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    const SampleSplit *train = &list->train;
    int n = train->count < max_images ? train->count : max_images;
    if (channels != 1 && channels != 3) {
        snprintf(err, errlen, "channels must be 1 or 3 (got %d)", channels);
        return -1;
    }
    if (n < 1) {
        snprintf(err, errlen, "no training images to compute statistics on");
        return -1;
    }
    int *index = malloc((size_t)n * sizeof *index);
    uint32_t *packed = malloc((size_t)n * sizeof *packed);
    char *ok = calloc((size_t)n, 1);
    if (!index || !packed || !ok) {
        free(index), free(packed), free(ok);
        snprintf(err, errlen, "out of memory for statistics on %d images", n);
        return -1;
    }
    sample_indices(train->count, n, index);
    StreamPixelSums sums = {.channels = channels};
    int first_bad = n, no_memory = 0;
#pragma omp parallel
    {
        StreamScratch *scratch = stream_scratch_new();
        SampleBytes bytes = {0};
        StreamPixelSums mine = {.channels = channels};
        char msg[sizeof stats->first_bad];
        if (!scratch) {
#pragma omp atomic write
            no_memory = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int k = 0; k < n; k++) {
            const char *path = train->paths[index[k]];
            int w = 0, h = 0;
            if (scratch && samplelist_read(list, path, &bytes, msg, sizeof msg) == 0 &&
                stream_pixel_sums_add(bytes.data, bytes.len, path, scratch, &mine, &w, &h, msg,
                                      sizeof msg) == 0) {
                packed[k] = (uint32_t)w << 16 | (uint32_t)h;
                ok[k] = 1;
            } else if (scratch) {
#pragma omp critical(stream_stats_bad)
                if (k < first_bad) {
                    first_bad = k;
                    snprintf(stats->first_bad, sizeof stats->first_bad, "%s", msg);
                }
            }
        }
#pragma omp critical(stream_stats_sums)
        {
            for (int c = 0; c < channels; c++)
                sums.sum[c] += mine.sum[c], sums.sumsq[c] += mine.sumsq[c];
            sums.pixels += mine.pixels;
        }
        stream_scratch_free(scratch);
        sample_bytes_free(&bytes);
    }
    if (no_memory) {
        free(index), free(packed), free(ok);
        snprintf(err, errlen, "out of memory for statistics on %d images", n);
        return -1;
    }
    int used = 0;
    for (int k = 0; k < n; k++)
        if (ok[k]) packed[used++] = packed[k];
    stats->used = used, stats->bad = n - used;
    stats->sizes = image_sizes_of(packed, used);
    int rc = 0;
    if (used == 0) {
        snprintf(err, errlen, "none of the %d images sampled for statistics decodes: %s", n,
                 stats->first_bad);
        rc = -1;
    } else {
        rc = stream_pixel_sums_finish(&sums, stats->mean, stats->std, err, errlen);
    }
    free(index);
    free(packed);
    free(ok);
    return rc;
}
