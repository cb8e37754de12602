// Streamed datasets, the data layer's half: the samples of an image folder listed without
// decoding them, one sample's encoded bytes read from disk, and the decode-and-augment of ONE
// sample from its bytes into a normalized float image — what a streaming loader's decode
// threads call per image while a step runs — plus the normalization statistics of a large
// set (on a fixed, seeded sample of its images) and the size its decoded cache would take.
//
//   SampleList list;                                  listing: no pixel decoded
//   samplelist_imagefolder(path, roots, &list, err, n)
//   samplelist_cache_bytes(&list, C, S)               → the cache-or-stream choice
//   samplelist_stats(&list, C, STREAM_STATS_IMAGES, &stats, err, n)   mean, std
//   per decode thread:  StreamScratch *s = stream_scratch_new();  SampleBytes b = {0};
//   per image:          samplelist_read(&list, list.train.paths[i], &b, err, n)
//                       stream_decode(b.data, b.len, list.train.paths[i], &view, s, out,
//                                     NULL, err, n)           (-1: replace the sample)
//   at the end:         stream_scratch_free(s); sample_bytes_free(&b); samplelist_free(&list)
//
// The view (StreamView) decides the geometry:
//  - evaluation (aug NULL): exactly the cached path's (data.h's dataset_load then
//    augment_batch without augmentation): the whole image decoded at full resolution, its
//    shorter side resized to S if longer (image_fit: antialiased like PIL), centre-cropped or
//    zero-padded to S, normalized. Bit for bit what the cached path gives for the same file.
//  - training: RandomResizedCrop on the ORIGINAL image, as torchvision's on the decoded
//    file: augment_crop_wh's crop of the W × H source (drawn from (seed, step, slot), the
//    draws augment_batch makes for that batch slot), resized to S × S with the antialiased
//    triangle filter of image_fit (PIL's BILINEAR, the taps confined to the crop's pixels as
//    if it had been cropped first), mirrored by the same draw, rounded to 8 bits (as PIL's
//    uint8 output), normalized ((x/255 − mean)/std). An original whose shorter side is at
//    most S is first brought to S × S as the evaluation view does (padded, centre-cropped)
//    and that square cropped, as the cached path does: cropping it as it is would enlarge
//    every object by S / side, a scale evaluation never shows. A JPEG is decoded at the smallest of
//    libjpeg-turbo's DCT scales M/8 (M = 1…8) at which the crop still spans at least S
//    pixels each way (8/8 if it spans fewer at full size), and only the crop's rows and
//    columns (jpeg_skip_scanlines, jpeg_crop_scanline, widened to whole iMCUs); a PNG is
//    decoded whole (libpng cannot scale). Rows below the crop are never read, so a JPEG
//    truncated there decodes in a training view and fails in the evaluation view.
// Both views read JPEG or PNG (told apart by their first bytes, not by the name) and convert
// channels as the cached path does (image.h: gray ↔ RGB, alpha composited over white, 16-bit
// to 8); each is a pure function of (bytes, view): the same output whatever thread calls it
// and whatever it decoded before.
#ifndef SIMMIM_STREAM_H
#define SIMMIM_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "data/augment.h"
#include "data/data.h"

// ---- listing -----------------------------------------------------------------------------

// One split of a listing: count files in dataset order (class by class, names sorted
// bytewise), each with its label (-1: unlabelled) and its size in bytes when listed.
typedef struct {
    int count;
    char **paths;   // dataset folder + "/train/<class>/<name>" (or "/<name>" when flat)
    int *labels;
    int64_t *bytes;
} SampleSplit;

typedef struct SampleRoots SampleRoots; // private: the resolved data roots, for reading

typedef struct {
    SampleSplit train, test;  // a flat folder: test is the held-out split
    int num_classes;          // 0 when unlabelled
    char **class_names;       // num_classes folder names, label = position
    int skipped;              // class folders and images skipped: outside the data roots
    int64_t train_bytes, test_bytes; // sums of the splits' file sizes
    SampleRoots *roots_;      // private
} SampleList;

// Lists an image folder exactly as dataset_load(DATA_FORMAT_IMAGEFOLDER, ...) does — the
// same files, order, labels, class names, flat-folder held-out split (a fixed 2%, ⌊N/50⌋,
// at least 8, by a fixed-seed shuffle; at least 9 images), the same data-root confinement
// with the same warnings (data.h's DataRoots) and the same errors for a folder it cannot
// use — without decoding anything: the files' contents are not read (a bad image is only
// found when decoded). The roots (NULL: nothing confined) are resolved here and kept in the
// list for samplelist_read. -1 with a message; *list is then empty.
int samplelist_imagefolder(const char *path, const DataRoots *roots, SampleList *list,
                           char *err, size_t errlen);
void samplelist_free(SampleList *list);

// The bytes dataset_load's cache would take for the listed folder at channels × S × S per
// image: (train + test count) × channels × S² (both splits are cached). With
// STREAM_CACHE_OVERHEAD_BYTES per image for what the cache keeps beside its pixels (a label).
enum { STREAM_CACHE_OVERHEAD_BYTES = sizeof(int) };
uint64_t samplelist_cache_bytes(const SampleList *list, int channels, int img_size);

// ---- reading one sample ------------------------------------------------------------------

// A growable byte buffer the caller owns (zero-initialized is empty); reused across reads so
// that a steady state allocates nothing.
typedef struct {
    uint8_t *data;
    size_t len, cap;
} SampleBytes;
void sample_bytes_free(SampleBytes *b);

// Files larger than this are refused before being read (no image we decode is near it).
#define STREAM_MAX_FILE_BYTES ((size_t)256 << 20)

// Reads the file at `path` (normally one of the list's paths) into b (len = its size; the
// buffer grows when needed), opened as the cached loader opens its images: when the list
// confines, the file must resolve inside a data root and what was opened is checked again
// (its descriptor's path, /proc/self/fd), so a link swapped in after the listing is refused.
// -1 with a message naming the path (missing, outside the roots, not a regular file, larger
// than STREAM_MAX_FILE_BYTES, a read error); b->len is then 0. Thread-safe: any number of
// threads may read through one list, each with its own buffer.
int samplelist_read(const SampleList *list, const char *path, SampleBytes *b, char *err,
                    size_t errlen);

// ---- decoding one sample -----------------------------------------------------------------

typedef struct {
    int channels;             // 1 or 3
    int size;                 // S: the output is channels × S × S floats
    const double *mean, *std; // per channel, of pixel / 255 (Dataset.mean, .std)
    const AugmentConfig *aug; // NULL: the evaluation view; else the training view
    uint64_t seed;            // training view: the crop and flip of (seed, step, slot), as
    long step;                //   augment_batch's image `slot` of the batch of `step`
    int slot;
    int full_decode;          // 1: no DCT scaling and no skipped rows or columns (the
                              //   reference for tests and benchmarks); 0 normally
} StreamView;

// What one decode did (may be NULL): for tests, benchmarks and events.
typedef struct {
    int width, height;                  // the image as encoded
    int scale_num;                      // of 8: the DCT scale decoded at (8: full size; PNG 8)
    int decoded_width, decoded_height;  // the pixels decoded (the crop's region, whole iMCUs)
    AugmentCrop crop;                   // as fractions of width and height
} StreamDecodeInfo;

// Per-thread working memory: decode buffers and filter tables, grown when an image needs
// more and kept for the next, so that a thread decoding images of similar sizes allocates
// nothing of its own per image (libjpeg and libpng still allocate their per-image state: a
// decompressor reused across images would carry one image's tables into the next). A buffer that grew beyond STREAM_SCRATCH_KEEP_BYTES for one large
// image is released after it. One scratch per thread: never shared by two at once.
typedef struct StreamScratch StreamScratch;
#define STREAM_SCRATCH_KEEP_BYTES ((size_t)64 << 20)
StreamScratch *stream_scratch_new(void); // NULL if out of memory
void stream_scratch_free(StreamScratch *s);

// Decodes the JPEG or PNG in bytes[0..len) and writes the view's channels × S × S normalized
// floats to out (see the top of this file for the geometry). `name` names the sample in
// messages (a path, a tar member). -1 with a message naming it — not a JPEG or PNG, empty,
// truncated, corrupt, a CMYK JPEG, more than image.h's IMAGE_MAX_SIDE per side or
// IMAGE_MAX_PIXELS in all, a JPEG of more than 500 progressive scans, out of memory — and
// out is then unspecified; never a crash on any bytes.
int stream_decode(const uint8_t *bytes, size_t len, const char *name, const StreamView *view,
                  StreamScratch *scratch, float *out, StreamDecodeInfo *info, char *err,
                  size_t errlen);

// ---- statistics of a large set -----------------------------------------------------------

// The images samplelist_stats decodes by default: a fixed sample of a large set, so that
// starting a job costs seconds, not a pass over the data.
enum { STREAM_STATS_IMAGES = 1000 };

typedef struct {
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS]; // of pixel / 255 (Dataset.mean, .std)
    ImageSizes sizes;   // of the images used, on disk
    int used;           // images whose pixels were counted
    int bad;            // sampled images that failed to decode (left out)
    char first_bad[512];// the message of the first of them in sample order ("" if none)
} StreamStats;

// Mean and std per channel of the training split, as dataset_load computes them (every pixel
// of each image decoded whole at full resolution, converted to `channels`, before resizing;
// exact integer sums, so the thread count does not matter) — over every training image if
// there are at most max_images, else over a sample of max_images of them chosen by a
// selection with a fixed seed (STREAM_STATS_SEED, not the job's: every job on a dataset gets
// the same normalization) and taken in dataset order. So a set of at most max_images gets
// exactly the cached path's statistics. Images that fail to decode are left out and counted;
// -1 with a message if none decodes, a channel is constant, or out of memory. Decodes on
// OpenMP's threads.
#define STREAM_STATS_SEED 0x73696d6d696d5354ULL
int samplelist_stats(const SampleList *list, int channels, int max_images, StreamStats *stats,
                     char *err, size_t errlen);

// The same statistics one sample at a time, for samples that are not files of a list (tar
// members): exact integer sums of every pixel of each whole decoded image, in `channels`
// (zero-initialize, set channels). Adding is order-independent; sums of several threads
// merge by adding their fields.
typedef struct {
    int channels;
    uint64_t pixels; // per channel
    uint64_t sum[DATA_MAX_CHANS], sumsq[DATA_MAX_CHANS];
} StreamPixelSums;
// Decodes bytes whole (as the evaluation view does) and adds its pixels; *width, *height
// (may be NULL) get its size. -1 with a message naming `name` if it does not decode (nothing
// added).
int stream_pixel_sums_add(const uint8_t *bytes, size_t len, const char *name,
                          StreamScratch *scratch, StreamPixelSums *sums, int *width, int *height,
                          char *err, size_t errlen);
// Mean and std of pixel / 255 per channel, as samplelist_stats gives them; -1 with a message
// if there are no pixels or a channel is constant.
int stream_pixel_sums_finish(const StreamPixelSums *sums, double *mean, double *std, char *err,
                             size_t errlen);

#endif
