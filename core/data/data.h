// Datasets: IDX files (MNIST, Fashion-MNIST; raw or .gz) and image folders (PNG, JPEG; class
// subfolders give labels, a flat folder is unlabelled), decoded once into a compact uint8
// cache at one image size, with per-channel mean and std of the training images as stored.
// Every decoder treats its input as hostile: sizes are checked before allocation and a bad
// file is an error naming the file and the problem, never a crash.
#ifndef SIMMIM_DATA_H
#define SIMMIM_DATA_H

#include <stddef.h>
#include <stdint.h>

enum { DATA_MAX_CHANS = 3, DATA_MAX_CLASSES = 10000 };

// DATA_FORMAT_SHARDS: WebDataset-style tar shards (data/shards.h), always streamed: never
// loaded by dataset_load.
typedef enum { DATA_FORMAT_IDX, DATA_FORMAT_IMAGEFOLDER, DATA_FORMAT_SHARDS } DataFormat;

// One split: `count` images of channels × size × size uint8 pixels, row-major per channel
// ([count][channels][size][size]); labels[i] in [0, num_classes) or -1 when unlabelled.
typedef struct {
    int count;
    int channels, size;
    uint8_t *pixels;
    void *mapping;     // non-NULL: pixels lie in this mapping of a file (dataset_map_idx)
    size_t mapping_len;
    int *labels;
} ImageSet;

// The sizes of the training images as they are on disk (before any resizing): the smallest
// and largest width and height (each on its own) and the most common width × height (the
// smallest such size on a tie).
typedef struct {
    int min_width, min_height, max_width, max_height;
    int common_width, common_height;
} ImageSizes;

// The data roots a dataset is confined to, and who hears of what is skipped. Every file and
// folder dataset_load opens — the dataset's folder, the four IDX files, an image folder's
// train/ and test/, its class folders and image files, a flat folder's image files — is
// resolved with realpath (links followed) and must lie inside a root (base/fileio's
// file_path_inside):
//  - a class folder or an image file that resolves outside every root is skipped: it is
//    counted in Dataset.skipped and reported to `warn`; a test/ class whose train/ folder
//    was skipped so is skipped too (reported the same way). A dangling link is ignored, as
//    a missing file is.
//  - the dataset's folder, an IDX file, train/ or test/ that resolves outside is an error
//    naming it (and the roots).
// A file is checked again once it is open (the path of its descriptor, /proc/self/fd), so a
// link swapped in after the folder was listed is an error rather than read. With no roots
// (a NULL DataRoots or root_count 0) nothing is confined and nothing is resolved: paths are
// used as given.
typedef void (*DataWarnFn)(void *ctx, const char *path, const char *message);

typedef struct {
    const char *const *roots; // folders, resolved here with realpath; one that does not
                              // resolve holds nothing (and is reported to warn)
    int root_count;
    // Called on the loading thread, in folder order, once per skipped file or folder (and
    // per root that does not resolve): path as found (the link, not its target) and one line
    // that names it and says why ("<path>: class folder skipped: it resolves outside the data
    // roots"). NULL: skips are only counted.
    DataWarnFn warn;
    void *warn_ctx;
} DataRoots;

typedef struct {
    DataFormat format;
    ImageSet train, test;     // a flat folder: test is the held-out validation split
    int num_classes;          // 0 when unlabelled
    char **class_names;       // num_classes names (folder names; "0".."9" for IDX)
    int channels;             // = the requested channels
    int stored_size;          // side of the cached images (28 for Fashion-MNIST)
    int pad;                  // zero pixels added on each side to reach the model's size
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS]; // of the training pixels / 255, as stored
    ImageSizes sizes;         // of the training images on disk
    int skipped;              // class folders and image files skipped: outside the data roots
} Dataset;

// Loads a dataset for a model of img_size × img_size × channels (1 or 3).
//  - idx: path is a directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
//    Square images no larger than img_size are cached as stored and padded (centred, zeros)
//    when a batch is built: pad = (img_size − stored) / 2; the difference must be even.
//    Larger or non-square IDX images are resized like folder images. Gray IDX images are
//    replicated when channels is 3.
//  - imagefolder: path holds train/ and test/, each with one subfolder per class (sorted by
//    name → label; a test/ class must exist in train/; every class folder needs an image),
//    or is a flat folder of images (unlabelled; a fixed 2% (⌊N/50⌋), at least 8 images,
//    chosen by a seeded shuffle with a fixed seed, is held out as the test split, so at least
//    9 are needed). Splits are in folder order: class by class, files sorted bytewise by
//    name; dotfiles and files other than .png/.jpg/.jpeg are skipped. Every image is
//    converted to `channels` (gray → RGB by replication, RGB → gray by ITU-R 601 luma;
//    alpha composited over white (image.h's IMAGE_BACKGROUND); 16-bit scaled to 8), then
//    brought to img_size: if its shorter side is longer than img_size it is resized to
//    img_size (bilinear, antialiased like PIL), then each side is centre-cropped or
//    zero-padded (centred) to img_size. stored_size = img_size, pad = 0.
// mean and std are computed on the training images before padding or resizing (for a
// folder: every decoded pixel of every training image). A constant channel is an error.
// roots: the data roots to confine the dataset to (see DataRoots); NULL confines nothing.
int dataset_load(DataFormat format, const char *path, int img_size, int channels,
                 const DataRoots *roots, Dataset *ds, char *err, size_t errlen);
void dataset_free(Dataset *ds);

// The zero padding on each side that dataset_load gives a dataset's images for a model of
// img_size: IDX images of stored_side pixels no larger than img_size are padded by
// (img_size − stored_side) / 2, larger ones resized (0); image folders are always brought to
// img_size by resizing (0). -1 with a message if the difference is odd (no even padding).
int dataset_pad_for(DataFormat format, int stored_side, int img_size, int *pad, char *err,
                    size_t errlen);

// What the headers of an IDX dataset say, read from dir's train-images-idx3-ubyte and
// t10k-images-idx3-ubyte (raw or .gz) alone: the image counts and sides (the test images'
// sides must be the training images') and whether either file is gzip-compressed. -1 with
// a message naming the file if it is missing, not an IDX file of images, or outside the
// roots (NULL: any place).
typedef struct {
    int train_count, test_count;
    int rows, cols;
    int compressed;
} IdxShape;
int dataset_idx_shape(const char *dir, const DataRoots *roots, IdxShape *shape, char *err,
                      size_t errlen);

// The bytes dataset_load's cache of an IDX dataset of that shape takes for a model of
// img_size and `channels` (both splits; labels included).
uint64_t dataset_idx_cache_bytes(const IdxShape *shape, int img_size, int channels);

// Whether dataset_map_idx can serve an IDX dataset of that shape to a model of img_size and
// `channels`: uncompressed files of gray, square images no larger than img_size (what the
// cache keeps as stored). 0 with the reason in err otherwise.
int dataset_idx_mappable(const IdxShape *shape, int img_size, int channels, char *err,
                         size_t errlen);

// dataset_load(DATA_FORMAT_IDX, dir, img_size, 1, roots, ds, ...) with the images mapped
// from the uncompressed files instead of read into memory (MAP_PRIVATE: the page cache
// holds what fits, and dataset_limit_per_class's compaction copies only the pages it
// writes): the same Dataset, bit for bit, labels and statistics (one pass over the pixels)
// included. -1 with a message if the files are compressed or need converting
// (dataset_idx_mappable), or as dataset_load.
int dataset_map_idx(const char *dir, int img_size, const DataRoots *roots, Dataset *ds,
                    char *err, size_t errlen);

// Keeps only the first k images of each class of the training split, in dataset order
// (the few-labels setting); mean and std stay those of the full split. -1 with a message if
// the split is unlabelled or a class has fewer than k images.
int dataset_limit_per_class(Dataset *ds, int k, char *err, size_t errlen);
// The same choice on labels alone (a streamed split): keep[i] = 1 for the first k images of
// each class in order. Returns how many are kept, or -1 with dataset_limit_per_class's
// messages (class_names name a class short of k; NULL: its index names it).
int labels_keep_per_class(const int *labels, int count, int num_classes,
                          char *const *class_names, int k, uint8_t *keep, char *err,
                          size_t errlen);

#endif
