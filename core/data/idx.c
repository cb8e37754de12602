// The IDX loader (MNIST, Fashion-MNIST): reads {train,t10k}-{images-idx3,labels-idx1}-ubyte,
// raw or gzip-compressed (zlib's gzread reads both), checks every header field before
// allocating, and caches the images as stored (to be padded per batch) or resized to the
// model's size — or, for a set larger than the cache may take, maps the images of
// uncompressed files as stored (dataset_map_idx). IDX is big-endian: magic 0x00000803 +
// count, rows, cols for images; 0x00000801 + count for labels; then one unsigned byte per
// value.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_load.h"
#include "data/image.h"

enum { IDX_MAX_SIDE = 4096, IDX_CHUNK = 64 << 20, IDX_IMAGES = 0x803, IDX_LABELS = 0x801 };

static const char IDX_TRAIN_IMAGES[] = "train-images-idx3-ubyte",
                  IDX_TEST_IMAGES[] = "t10k-images-idx3-ubyte";

typedef struct {
    char path[4096];
    gzFile gz;
    int fd;    // a second descriptor of the file, for mapping it
} IdxFile;

// Opens dir/name, or else dir/name.gz: a regular file inside the data roots.
static int idx_open(const char *dir, const char *name, const Confine *c, IdxFile *f, char *err,
                    size_t errlen)
{
    int n = snprintf(f->path, sizeof f->path, "%s/%s.gz", dir, name);
    if (n < 0 || (size_t)n >= sizeof f->path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    f->path[n - 3] = '\0'; // without .gz first
    mode_t mode;
    ConfineWhere where = confine_lookup(c, f->path, &mode);
    if (where == CONFINE_MISSING) {
        f->path[n - 3] = '.';
        where = confine_lookup(c, f->path, &mode);
    }
    if (where == CONFINE_MISSING) {
        snprintf(err, errlen, "%s: neither %s nor %s.gz found", dir, name, name);
        return -1;
    }
    if (where == CONFINE_OUTSIDE) return confine_refuse(c, f->path, err, errlen);
    int outside = 0, fd = S_ISREG(mode) ? confine_open(c, f->path, O_RDONLY, &outside) : -1;
    f->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    f->gz = f->fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!f->gz) {
        if (fd >= 0) close(fd);
        if (f->fd >= 0) close(f->fd);
        if (outside) return confine_refuse(c, f->path, err, errlen);
        snprintf(err, errlen, "%s: cannot open: %s", f->path,
                 S_ISREG(mode) ? strerror(errno) : "not a regular file");
        return -1;
    }
    return 0;
}

static void idx_close(IdxFile *f)
{
    gzclose(f->gz);
    close(f->fd);
}

// Reads up to len bytes; fewer only at the end of the data or on an error.
static size_t idx_read_some(IdxFile *f, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got < IDX_CHUNK ? len - got : IDX_CHUNK;
        int n = gzread(f->gz, buf + got, (unsigned)want);
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

// The message for a read that stopped at byte `got` of the `len` bytes of `what`: a file cut
// short or corrupt compressed data.
static int idx_short_read(IdxFile *f, const char *what, size_t got, size_t len, char *err,
                          size_t errlen)
{
    int zerr;
    const char *zmsg = gzerror(f->gz, &zerr);
    size_t prefix = strlen(f->path); // zlib's message repeats "path: "
    if (strncmp(zmsg, f->path, prefix) == 0 && strncmp(zmsg + prefix, ": ", 2) == 0)
        zmsg += prefix + 2;
    if (zerr != Z_OK && zerr != Z_BUF_ERROR) // Z_BUF_ERROR: a .gz cut short
        snprintf(err, errlen, "%s: corrupt compressed data (zlib: %s)", f->path, zmsg);
    else
        snprintf(err, errlen, "%s: truncated: the %s stop after %zu of %zu bytes", f->path, what,
                 got, len);
    return -1;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

// Reads the magic and `ndims` dimensions.
static int idx_read_header(IdxFile *f, uint32_t magic, int ndims, uint32_t *dims, char *err,
                           size_t errlen)
{
    uint8_t header[16];
    size_t len = 4 + 4 * (size_t)ndims, got = idx_read_some(f, header, len);
    if (got < len) return idx_short_read(f, "header bytes", got, len, err, errlen);
    if (be32(header) != magic) {
        snprintf(err, errlen, "%s: bad magic number 0x%08x (expected 0x%08x: an IDX file of "
                 "unsigned bytes with %d dimension%s)", f->path, be32(header), magic, ndims,
                 ndims > 1 ? "s" : "");
        return -1;
    }
    for (int i = 0; i < ndims; i++) dims[i] = be32(header + 4 + 4 * i);
    if (dims[0] > DATA_MAX_IMAGES) {
        snprintf(err, errlen, "%s: declares %u items, more than the limit of %d", f->path,
                 dims[0], DATA_MAX_IMAGES);
        return -1;
    }
    return 0;
}

// Reads len bytes into a buffer that grows as the data arrives, so that a small file
// declaring a huge size fails on its truncation rather than on a huge allocation.
static uint8_t *idx_read_payload(IdxFile *f, size_t len, const char *what, char *err,
                                 size_t errlen)
{
    size_t cap = len < IDX_CHUNK ? len : IDX_CHUNK, got = 0;
    uint8_t *buf = malloc(cap > 0 ? cap : 1);
    while (buf) {
        got += idx_read_some(f, buf + got, cap - got);
        if (got < cap) {
            free(buf);
            idx_short_read(f, what, got, len, err, errlen);
            return NULL;
        }
        if (got == len) return buf;
        cap = cap > len / 2 ? len : 2 * cap;
        uint8_t *grown = realloc(buf, cap);
        if (!grown) free(buf);
        buf = grown;
    }
    snprintf(err, errlen, "%s: out of memory reading %zu %s", f->path, len, what);
    return NULL;
}

typedef struct {
    char path[4096]; // of the images file, for messages
    int count, rows, cols;
    uint8_t *pixels; // [count][rows][cols]: read into memory, or in `mapping`
    void *mapping;
    size_t mapping_len;
    int *labels;
} IdxSplit;

static void idx_split_free(IdxSplit *s)
{
    if (s->mapping) munmap(s->mapping, s->mapping_len);
    else free(s->pixels);
    free(s->labels);
}

// Maps the images of an uncompressed file whose header has been read: `bytes` of pixels
// after it.
static int idx_map_pixels(IdxFile *f, IdxSplit *s, size_t bytes, char *err, size_t errlen)
{
    enum { HEADER = 16 };
    struct stat st;
    if (!gzdirect(f->gz)) {
        snprintf(err, errlen, "%s: gzip-compressed; only an uncompressed IDX file is read in "
                 "place (gunzip it)", f->path);
        return -1;
    }
    if (fstat(f->fd, &st) || (uint64_t)st.st_size < HEADER + (uint64_t)bytes) {
        snprintf(err, errlen, "%s: truncated: %lld bytes, its header declares %zu", f->path,
                 (long long)st.st_size, HEADER + bytes);
        return -1;
    }
    void *map = mmap(NULL, HEADER + bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", f->path, strerror(errno));
        return -1;
    }
    s->mapping = map, s->mapping_len = HEADER + bytes;
    s->pixels = (uint8_t *)map + HEADER;
    return 0;
}

// Reads an images file's header into dims (count, rows, cols) and checks the sides.
static int idx_read_images_header(IdxFile *f, uint32_t *dims, char *err, size_t errlen)
{
    if (idx_read_header(f, IDX_IMAGES, 3, dims, err, errlen)) return -1;
    if (dims[1] < 1 || dims[1] > IDX_MAX_SIDE || dims[2] < 1 || dims[2] > IDX_MAX_SIDE) {
        snprintf(err, errlen, "%s: images of %u×%u pixels (each side must be 1 to %d)", f->path,
                 dims[1], dims[2], IDX_MAX_SIDE);
        return -1;
    }
    return 0;
}

static int idx_read_images(const char *dir, const char *name, const Confine *c, int map,
                           IdxSplit *s, char *err, size_t errlen)
{
    IdxFile f;
    uint32_t dims[3] = {0};
    if (idx_open(dir, name, c, &f, err, errlen)) return -1;
    int rc = idx_read_images_header(&f, dims, err, errlen);
    size_t bytes = (size_t)dims[0] * dims[1] * dims[2]; // < 2^24 · 2^24: no overflow
    if (rc == 0 && !map && bytes > DATA_MAX_CACHE_BYTES) {
        snprintf(err, errlen, "%s: %zu bytes of pixels, more than the limit of %zu GiB", f.path,
                 bytes, DATA_MAX_CACHE_BYTES >> 30);
        rc = -1;
    }
    if (rc == 0 && dims[0] == 0) {
        snprintf(err, errlen, "%s: holds no images", f.path);
        rc = -1;
    }
    if (rc == 0) {
        s->count = (int)dims[0], s->rows = (int)dims[1], s->cols = (int)dims[2];
        memcpy(s->path, f.path, sizeof s->path);
        if (map) {
            rc = idx_map_pixels(&f, s, bytes, err, errlen);
        } else {
            s->pixels = idx_read_payload(&f, bytes, "pixel bytes", err, errlen);
            rc = s->pixels ? 0 : -1;
        }
    }
    idx_close(&f);
    return rc;
}

// Reads the labels of s (their count must match) and raises *max_label to their maximum.
static int idx_read_labels(const char *dir, const char *name, const Confine *c, IdxSplit *s,
                           int *max_label, char *err, size_t errlen)
{
    IdxFile f;
    uint32_t count = 0;
    if (idx_open(dir, name, c, &f, err, errlen)) return -1;
    int rc = idx_read_header(&f, IDX_LABELS, 1, &count, err, errlen);
    if (rc == 0 && count != (uint32_t)s->count) {
        snprintf(err, errlen, "%s: %u labels for %d images", f.path, count, s->count);
        rc = -1;
    }
    uint8_t *bytes = rc == 0 ? idx_read_payload(&f, count, "label bytes", err, errlen) : NULL;
    s->labels = bytes ? malloc((size_t)count * sizeof *s->labels) : NULL;
    if (bytes && !s->labels) snprintf(err, errlen, "%s: out of memory", f.path);
    if (s->labels)
        for (uint32_t i = 0; i < count; i++) {
            s->labels[i] = bytes[i];
            *max_label = bytes[i] > *max_label ? bytes[i] : *max_label;
        }
    free(bytes);
    idx_close(&f);
    return s->labels ? 0 : -1;
}

// Caches a split: gray images already size × size are taken over as they are; otherwise
// each image is converted to ds->channels and fitted to `size`.
static int idx_cache_split(IdxSplit *s, const Dataset *ds, int size, ImageSet *set, char *err,
                           size_t errlen)
{
    int as_stored = ds->channels == 1 && s->rows == size && s->cols == size;
    if (as_stored) {
        *set = (ImageSet){.count = s->count, .channels = 1, .size = size, .pixels = s->pixels,
                          .mapping = s->mapping, .mapping_len = s->mapping_len,
                          .labels = s->labels};
        s->pixels = NULL, s->mapping = NULL, s->labels = NULL;
        return 0;
    }
    if (imageset_alloc(set, s->count, ds->channels, size, s->path, err, errlen)) return -1;
    memcpy(set->labels, s->labels, (size_t)s->count * sizeof *s->labels);
    size_t plane = (size_t)s->rows * (size_t)s->cols;
    size_t image = (size_t)ds->channels * (size_t)size * (size_t)size;
    int failed = 0;
#pragma omp parallel for schedule(static) reduction(| : failed)
    for (int i = 0; i < s->count; i++) {
        Image img = {.width = s->cols, .height = s->rows, .channels = ds->channels,
                     .pixels = malloc(plane * (size_t)ds->channels)};
        if (img.pixels) {
            image_convert_channels(s->pixels + (size_t)i * plane, 1, s->cols, s->rows,
                                   ds->channels, img.pixels);
            failed |= image_fit(&img, size, set->pixels + (size_t)i * image) != 0;
        } else {
            failed = 1;
        }
        image_free(&img);
    }
    if (failed) snprintf(err, errlen, "%s: out of memory while resizing", s->path);
    return failed ? -1 : 0;
}

static int idx_class_names(Dataset *ds, int max_label, char *err, size_t errlen)
{
    ds->class_names = calloc((size_t)max_label + 1, sizeof *ds->class_names);
    for (int c = 0; ds->class_names && c <= max_label; c++) {
        char name[12];
        snprintf(name, sizeof name, "%d", c);
        ds->class_names[c] = strdup(name);
        if (!ds->class_names[c]) break;
        ds->num_classes = c + 1;
    }
    if (ds->num_classes == max_label + 1) return 0;
    snprintf(err, errlen, "out of memory for class names");
    return -1;
}

// Reads the header of dir/name's images into dims; *compressed set if it is gzip data.
static int idx_images_header(const char *dir, const char *name, const Confine *c,
                             uint32_t *dims, int *compressed, char *err, size_t errlen)
{
    IdxFile f;
    if (idx_open(dir, name, c, &f, err, errlen)) return -1;
    int rc = idx_read_images_header(&f, dims, err, errlen);
    if (rc == 0 && !gzdirect(f.gz)) *compressed = 1;
    idx_close(&f);
    return rc;
}

int dataset_idx_shape(const char *dir, const DataRoots *roots, IdxShape *shape, char *err,
                      size_t errlen)
{
    Confine c;
    uint32_t train[3] = {0}, test[3] = {0};
    *shape = (IdxShape){0};
    int rc = confine_begin(&c, roots, NULL, err, errlen);
    if (rc == 0)
        rc = idx_images_header(dir, IDX_TRAIN_IMAGES, &c, train, &shape->compressed, err,
                               errlen) ||
             idx_images_header(dir, IDX_TEST_IMAGES, &c, test, &shape->compressed, err, errlen);
    confine_end(&c);
    if (rc) return -1;
    if (test[1] != train[1] || test[2] != train[2]) {
        snprintf(err, errlen, "%s: test images are %u×%u but training images %u×%u", dir,
                 test[1], test[2], train[1], train[2]);
        return -1;
    }
    shape->train_count = (int)train[0], shape->test_count = (int)test[0];
    shape->rows = (int)train[1], shape->cols = (int)train[2];
    return 0;
}

// Gray square images no larger than the model are kept as stored (padded per batch).
static int idx_kept_as_stored(int rows, int cols, int img_size, int channels)
{
    return channels == 1 && rows == cols && rows <= img_size;
}

uint64_t dataset_idx_cache_bytes(const IdxShape *shape, int img_size, int channels)
{
    int kept = idx_kept_as_stored(shape->rows, shape->cols, img_size, channels);
    uint64_t image = kept ? (uint64_t)shape->rows * (uint64_t)shape->cols
                          : (uint64_t)channels * (uint64_t)img_size * (uint64_t)img_size;
    return ((uint64_t)shape->train_count + (uint64_t)shape->test_count) * (image + sizeof(int));
}

int dataset_idx_mappable(const IdxShape *shape, int img_size, int channels, char *err,
                         size_t errlen)
{
    if (shape->compressed)
        return snprintf(err, errlen, "its files are gzip-compressed (only uncompressed IDX "
                                     "files are read in place: gunzip them)"), 0;
    if (!idx_kept_as_stored(shape->rows, shape->cols, img_size, channels))
        return snprintf(err, errlen, "its %d×%d images are converted for a model of %d channel%s "
                        "of %d×%d (only gray, square images no larger than model.img_size are "
                        "read in place)", shape->rows, shape->cols, channels,
                        channels == 1 ? "" : "s", img_size, img_size), 0;
    return 1;
}

int idx_load(const char *dir, int img_size, int map, Dataset *ds, const Confine *c, char *err,
             size_t errlen)
{
    IdxSplit train = {0}, test = {0};
    int max_label = 0, rc = -1;
    if (idx_read_images(dir, IDX_TRAIN_IMAGES, c, map, &train, err, errlen) ||
        idx_read_labels(dir, "train-labels-idx1-ubyte", c, &train, &max_label, err, errlen) ||
        idx_read_images(dir, IDX_TEST_IMAGES, c, map, &test, err, errlen) ||
        idx_read_labels(dir, "t10k-labels-idx1-ubyte", c, &test, &max_label, err, errlen))
        goto done;
    if (test.rows != train.rows || test.cols != train.cols) {
        snprintf(err, errlen, "%s: test images are %d×%d but training images %d×%d", dir,
                 test.rows, test.cols, train.rows, train.cols);
        goto done;
    }
    // Square images no larger than the model stay as stored and are padded per batch.
    int keep = train.rows == train.cols && train.rows <= img_size;
    if (map && !idx_kept_as_stored(train.rows, train.cols, img_size, ds->channels)) {
        snprintf(err, errlen, "%s: its %d×%d images cannot be read in place for a model of %d×%d",
                 dir, train.rows, train.cols, img_size, img_size);
        goto done;
    }
    char why[160];
    if (keep && dataset_pad_for(DATA_FORMAT_IDX, train.rows, img_size, &ds->pad, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", dir, why);
        goto done;
    }
    ds->stored_size = keep ? train.rows : img_size;
    ds->sizes = (ImageSizes){train.cols, train.rows, train.cols, train.rows, train.cols, train.rows};
    // Statistics of the stored (gray) training pixels, before any conversion or resizing.
    PixelSums sums = {.channels = 1};
    pixel_sums_add(&sums, train.pixels, 0, (size_t)train.count * train.rows * train.cols);
    if (pixel_sums_finish(&sums, ds, dir, err, errlen) ||
        idx_class_names(ds, max_label, err, errlen) ||
        idx_cache_split(&train, ds, ds->stored_size, &ds->train, err, errlen) ||
        idx_cache_split(&test, ds, ds->stored_size, &ds->test, err, errlen))
        goto done;
    rc = 0;
done:
    idx_split_free(&train);
    idx_split_free(&test);
    return rc;
}
