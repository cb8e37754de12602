// The IDX loader (core/data/idx.c behind dataset_load) on a directory of four files made from
// the input:
//   byte 0     how each of the four files is written, two bits each (file i: bits 2i, 2i+1):
//              0 as it is under its name, 1 gzip-compressed by the harness as NAME.gz (the
//              .gz path on valid compressed data), 2 as it is under NAME.gz (corrupt or
//              truncated compressed data), 3 absent
//   byte 1     bit 0: channels 1 or 3; bits 1-3: the model's image size, one of IMG_SIZES
//   bytes 2-7  the lengths of files 0, 1 and 2 (16-bit little-endian, cut to what is left)
//   the rest   files 0, 1, 2, then file 3 (what remains)
// in the order train-images, train-labels, t10k-images, t10k-labels. Then the header-only
// dataset_idx_shape, dataset_load, on success a few-labels subset, and where the shape says
// the files can be read in place, dataset_map_idx: the same dataset, or a refusal.
#include <string.h>
#include <zlib.h>

#include "data/data.h"
#include "fuzz.h"

static const char *const NAMES[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
static const int IMG_SIZES[8] = {4, 8, 10, 12, 16, 28, 32, 64};

// dataset_map_idx on what dataset_load read (loaded) or refused: a refusal with a message
// (the files may differ from their headers' word in ways the mapping alone cannot see, such
// as labels), or the same images and labels.
static void check_mapped(const Dataset *read, int loaded, int img_size)
{
    Dataset mapped;
    char err[512] = "";
    if (dataset_map_idx(fuzz_dir(), img_size, NULL, &mapped, err, sizeof err)) {
        FUZZ_CHECK(err[0], "dataset_map_idx failed without a message");
        return;
    }
    FUZZ_CHECK(loaded, "dataset_map_idx accepted what dataset_load refused");
    const ImageSet *a[2] = {&read->train, &read->test}, *b[2] = {&mapped.train, &mapped.test};
    for (int s = 0; s < 2; s++) {
        size_t bytes = (size_t)a[s]->count * (size_t)a[s]->size * (size_t)a[s]->size;
        FUZZ_CHECK(a[s]->count == b[s]->count && a[s]->size == b[s]->size &&
                       b[s]->mapping && memcmp(a[s]->pixels, b[s]->pixels, bytes) == 0 &&
                       memcmp(a[s]->labels, b[s]->labels, sizeof(int) * (size_t)a[s]->count) == 0,
                   "split %d: mapped images differ from those read", s);
    }
    FUZZ_CHECK(memcmp(read->mean, mapped.mean, sizeof read->mean) == 0 && read->pad == mapped.pad,
               "mapped statistics differ");
    fuzz_note("read in place: the same %d + %d images", mapped.train.count, mapped.test.count);
    dataset_free(&mapped);
}

static void write_gzip(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    gzFile gz = gzopen(path, "wb1");
    if (!gz) fuzz_die("cannot create", path);
    if ((size && gzwrite(gz, data, (unsigned)size) != (int)size) || gzclose(gz) != Z_OK)
        fuzz_die("cannot write", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    unsigned modes = data[0], options = data[1];
    size_t lens[4], at = 8;
    for (int i = 0; i < 3; i++) {
        size_t want = (size_t)data[2 + 2 * i] | (size_t)data[3 + 2 * i] << 8;
        lens[i] = want < size - at ? want : size - at;
        at += lens[i];
    }
    lens[3] = size - at;
    at = 8;
    for (int i = 0; i < 4; i++) {
        char gz_name[64];
        snprintf(gz_name, sizeof gz_name, "%s.gz", NAMES[i]);
        unlink(fuzz_path(NAMES[i]));
        unlink(fuzz_path(gz_name));
        switch (modes >> (2 * i) & 3) {
        case 0: fuzz_write_file(NAMES[i], data + at, lens[i]); break;
        case 1: write_gzip(gz_name, data + at, lens[i]); break;
        case 2: fuzz_write_file(gz_name, data + at, lens[i]); break;
        default: break;
        }
        at += lens[i];
    }
    int channels = options & 1 ? 3 : 1, img_size = IMG_SIZES[options >> 1 & 7];

    char err[512] = "";
    IdxShape shape;
    int shaped = dataset_idx_shape(fuzz_dir(), NULL, &shape, err, sizeof err) == 0;
    if (shaped)
        FUZZ_CHECK(shape.rows >= 1 && shape.rows <= 4096 && shape.cols >= 1 &&
                       shape.cols <= 4096 && shape.train_count >= 0 && shape.test_count >= 0,
                   "shape %d×%d, %d + %d images", shape.rows, shape.cols, shape.train_count,
                   shape.test_count);
    else
        FUZZ_CHECK(err[0], "dataset_idx_shape failed without a message");

    Dataset ds;
    memset(&ds, 0, sizeof ds);
    err[0] = 0;
    int loaded = dataset_load(DATA_FORMAT_IDX, fuzz_dir(), img_size, channels, NULL, &ds, err,
                              sizeof err) == 0;
    if (!loaded) fuzz_note("refused: %s", err);
    FUZZ_CHECK(loaded || err[0], "dataset_load failed without a message");
    if (shaped && dataset_idx_mappable(&shape, img_size, channels, err, sizeof err))
        check_mapped(&ds, loaded, img_size);
    if (!loaded) {
        dataset_free(&ds);
        return 0;
    }
    fuzz_note("accepted: %d + %d images of %d×%d×%d, pad %d, %d classes", ds.train.count,
              ds.test.count, ds.channels, ds.stored_size, ds.stored_size, ds.pad, ds.num_classes);
    const ImageSet *sets[2] = {&ds.train, &ds.test};
    for (int s = 0; s < 2; s++) {
        const ImageSet *set = sets[s];
        FUZZ_CHECK(set->count >= 1 && set->channels == channels && set->size == ds.stored_size,
                   "split %d: %d images of %d channels, %d pixels", s, set->count,
                   set->channels, set->size);
        fuzz_touch_bytes(set->pixels,
                         (size_t)set->count * (size_t)set->channels * (size_t)set->size *
                             (size_t)set->size);
        for (int i = 0; i < set->count; i++)
            FUZZ_CHECK(set->labels[i] >= 0 && set->labels[i] < ds.num_classes,
                       "label %d of %d classes", set->labels[i], ds.num_classes);
    }
    FUZZ_CHECK(ds.stored_size + 2 * ds.pad == img_size || (ds.pad == 0 && ds.stored_size == img_size),
               "stored %d, pad %d, model %d", ds.stored_size, ds.pad, img_size);
    for (int c = 0; c < ds.num_classes; c++) FUZZ_CHECK(ds.class_names[c], "class %d unnamed", c);
    dataset_limit_per_class(&ds, 1, err, sizeof err);
    dataset_free(&ds);
    return 0;
}
