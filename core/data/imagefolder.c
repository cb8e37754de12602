// The image-folder loader: train/ and test/ with one subfolder per class, or a flat folder
// of unlabelled images with a held-out split. Directory entries are sorted bytewise so that
// labels and order never depend on the file system or the locale; dotfiles, subfolders of
// class folders and files other than .png/.jpg/.jpeg are skipped, and so, with a warning, are
// class folders and images that resolve outside the data roots (data.h's DataRoots). The
// listing (files, labels, class names, the flat folder's split) is one piece: the cached
// loader decodes what it lists, in parallel, each image straight into its slot of the cache;
// the streamed path (stream.h's samplelist_imagefolder) keeps the list itself.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rng.h"
#include "data/data_load.h"
#include "data/image.h"
#include "data/stream.h"

// A flat folder's held-out split must be the same for every job on that folder, whatever
// the job's seed: 2% of the images, at least 8.
static const uint64_t FLAT_SPLIT_SEED = 0x53494d4d494dULL;
enum { FLAT_MIN_HELD_OUT = 8, FLAT_HELD_OUT_DIVISOR = 50 };

typedef struct {
    char **items; // owned
    int count, cap;
} Names;

typedef struct {
    char **paths; // owned
    int *labels;
    int64_t *bytes; // the file's size when listed
    int count, cap;
} FileList;

static void names_free(Names *n)
{
    for (int i = 0; i < n->count; i++) free(n->items[i]);
    free(n->items);
    memset(n, 0, sizeof *n);
}

static void file_list_free(FileList *f)
{
    for (int i = 0; i < f->count; i++) free(f->paths[i]);
    free(f->paths);
    free(f->labels);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}

// Appends `name` (taking ownership; freed on failure). -1 if out of memory or over the limit.
static int names_push(Names *n, char *name)
{
    if (name && n->count == n->cap && n->count < DATA_MAX_IMAGES) {
        int cap = n->cap ? 2 * n->cap : 64;
        char **items = realloc(n->items, (size_t)cap * sizeof *items);
        if (items) n->items = items, n->cap = cap;
    }
    if (!name || n->count == n->cap || n->count >= DATA_MAX_IMAGES) {
        free(name);
        return -1;
    }
    n->items[n->count++] = name;
    return 0;
}

static int file_list_push(FileList *f, char *path, int label, int64_t bytes)
{
    if (path && f->count == f->cap && f->count < DATA_MAX_IMAGES) {
        int cap = f->cap ? 2 * f->cap : 256;
        char **paths = realloc(f->paths, (size_t)cap * sizeof *paths);
        if (paths) f->paths = paths;
        int *labels = realloc(f->labels, (size_t)cap * sizeof *labels);
        if (labels) f->labels = labels;
        int64_t *sizes = realloc(f->bytes, (size_t)cap * sizeof *sizes);
        if (sizes) f->bytes = sizes;
        if (paths && labels && sizes) f->cap = cap;
    }
    if (!path || f->count == f->cap || f->count >= DATA_MAX_IMAGES) {
        free(path);
        return -1;
    }
    f->paths[f->count] = path;
    f->bytes[f->count] = bytes;
    f->labels[f->count++] = label;
    return 0;
}

static char *path_join(const char *dir, const char *name)
{
    char *path;
    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The entries of dir that do not start with a dot, sorted bytewise.
static int list_dir(const char *dir, const Confine *c, Names *out, char *err, size_t errlen)
{
    int outside, fd = confine_open(c, dir, O_RDONLY | O_DIRECTORY, &outside);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        if (outside) return confine_refuse(c, dir, err, errlen);
        snprintf(err, errlen, "%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));)
        if (e->d_name[0] != '.' && names_push(out, strdup(e->d_name))) {
            snprintf(err, errlen, "%s: out of memory or more than %d entries", dir,
                     DATA_MAX_IMAGES);
            rc = -1;
        }
    closedir(d);
    if (rc == 0 && out->count > 1) // (items is NULL when the folder is empty)
        qsort(out->items, (size_t)out->count, sizeof *out->items, compare_names);
    return rc;
}

static const char OUTSIDE_THE_ROOTS[] = "it resolves outside the data roots";

// The subfolders of dir, sorted; those that resolve outside the data roots are skipped with a
// warning, and their names go to *outside (sorted too) unless it is NULL.
static int list_subfolders(const char *dir, const Confine *c, Names *out, Names *outside,
                           char *err, size_t errlen)
{
    Names all = {0};
    int rc = list_dir(dir, c, &all, err, errlen);
    for (int i = 0; rc == 0 && i < all.count; i++) {
        char *path = path_join(dir, all.items[i]);
        mode_t mode = 0;
        ConfineWhere where = path ? confine_lookup(c, path, &mode) : CONFINE_MISSING;
        if (path && S_ISDIR(mode) && where == CONFINE_OUTSIDE)
            confine_skip(c, path, "class folder", OUTSIDE_THE_ROOTS);
        free(path);
        Names *to = !path || !S_ISDIR(mode) ? NULL : where == CONFINE_INSIDE ? out : outside;
        if (!path || (to && names_push(to, all.items[i]))) {
            snprintf(err, errlen, "%s: out of memory", dir);
            rc = -1;
        }
        if (to) all.items[i] = NULL; // now owned by *to (or freed)
    }
    names_free(&all);
    return rc;
}

// Appends dir's image files with `label`, skipping with a warning those that resolve outside
// the data roots; -1 with a message naming dir if it has none.
static int add_images(const char *dir, const Confine *c, int label, FileList *files, char *err,
                      size_t errlen)
{
    Names names = {0};
    int rc = list_dir(dir, c, &names, err, errlen), before = files->count;
    for (int i = 0; rc == 0 && i < names.count; i++) {
        if (!image_has_extension(names.items[i])) continue;
        char *path = path_join(dir, names.items[i]);
        struct stat st = {0};
        ConfineWhere where = path ? confine_stat(c, path, &st) : CONFINE_MISSING;
        mode_t mode = st.st_mode;
        if (path && (!S_ISREG(mode) || where != CONFINE_INSIDE)) {
            // a folder or a device named like an image, a dangling link, or outside the roots
            if (S_ISREG(mode) && where == CONFINE_OUTSIDE)
                confine_skip(c, path, "image", OUTSIDE_THE_ROOTS);
            free(path);
            continue;
        }
        if (file_list_push(files, path, label, (int64_t)st.st_size)) {
            snprintf(err, errlen, "%s: out of memory or more than %d images", dir,
                     DATA_MAX_IMAGES);
            rc = -1;
        }
    }
    names_free(&names);
    if (rc == 0 && files->count == before) {
        snprintf(err, errlen, "%s: no images (.png, .jpg or .jpeg files)", dir);
        rc = -1;
    }
    return rc;
}

// Appends the images of parent/name with `label`.
static int add_class_images(const char *parent, const char *name, const Confine *c, int label,
                            FileList *files, char *err, size_t errlen)
{
    char *dir = path_join(parent, name);
    int rc = dir ? add_images(dir, c, label, files, err, errlen) : -1;
    if (!dir) snprintf(err, errlen, "%s: out of memory", parent);
    free(dir);
    return rc;
}

// 1 if `name` is one of the sorted names.
static int names_find(const Names *names, const char *name, int *index)
{
    char **found = names->count ? bsearch(&name, names->items, (size_t)names->count,
                                          sizeof *names->items, compare_names)
                                : NULL;
    if (found && index) *index = (int)(found - names->items);
    return found != NULL;
}

// train/<class>/ gives the classes (sorted: label = position); test/<class>/ must use them.
// A test/ class whose train/ folder was skipped (outside the data roots) is skipped too.
static int collect_labelled(const char *train_dir, const char *test_dir, const Confine *c,
                            FileList *train, FileList *test, Names *class_names, char *err,
                            size_t errlen)
{
    Names classes = {0}, test_classes = {0}, skipped = {0};
    int rc = list_subfolders(train_dir, c, &classes, &skipped, err, errlen);
    if (rc == 0 && (classes.count < 1 || classes.count > DATA_MAX_CLASSES)) {
        snprintf(err, errlen, "%s: %d class subfolders (need 1 to %d)", train_dir, classes.count,
                 DATA_MAX_CLASSES);
        rc = -1;
    }
    for (int k = 0; rc == 0 && k < classes.count; k++)
        rc = add_class_images(train_dir, classes.items[k], c, k, train, err, errlen);
    if (rc == 0) rc = list_subfolders(test_dir, c, &test_classes, NULL, err, errlen);
    if (rc == 0 && test_classes.count == 0) {
        snprintf(err, errlen, "%s: no class subfolders", test_dir);
        rc = -1;
    }
    for (int i = 0, label; rc == 0 && i < test_classes.count; i++) {
        if (names_find(&classes, test_classes.items[i], &label)) {
            rc = add_class_images(test_dir, test_classes.items[i], c, label, test, err, errlen);
        } else if (names_find(&skipped, test_classes.items[i], NULL)) {
            char *path = path_join(test_dir, test_classes.items[i]), why[PATH_MAX + 64];
            snprintf(why, sizeof why, "its class's folder in %s resolves outside the data roots",
                     train_dir);
            if (path) confine_skip(c, path, "class folder", why);
            free(path);
        } else {
            snprintf(err, errlen, "%s/%s: class '%s' has no folder in %s", test_dir,
                     test_classes.items[i], test_classes.items[i], train_dir);
            rc = -1;
        }
    }
    if (rc == 0 && test->count == 0) {
        snprintf(err, errlen, "%s: no images: every class folder was skipped", test_dir);
        rc = -1;
    }
    names_free(&test_classes);
    names_free(&skipped);
    if (rc == 0) {
        *class_names = classes;
        classes = (Names){0};
    }
    names_free(&classes);
    return rc;
}

// A flat folder: unlabelled; a fixed seeded shuffle picks the held-out images, and both
// splits keep the folder's (sorted) order.
static int collect_flat(const char *dir, const Confine *c, FileList *train, FileList *test,
                        char *err, size_t errlen)
{
    FileList all = {0};
    if (add_images(dir, c, -1, &all, err, errlen)) {
        snprintf(err + strlen(err), errlen - strlen(err),
                 " (expected image files, or train/ and test/ with class subfolders)");
        return -1;
    }
    int rc = -1, held_out = all.count / FLAT_HELD_OUT_DIVISOR;
    held_out = held_out < FLAT_MIN_HELD_OUT ? FLAT_MIN_HELD_OUT : held_out;
    int *order = malloc((size_t)all.count * sizeof *order);
    char *is_test = calloc((size_t)all.count, 1);
    if (all.count <= FLAT_MIN_HELD_OUT) {
        snprintf(err, errlen, "%s: %d images; an unlabelled folder needs at least %d (%d are "
                 "held out for validation)", dir, all.count, FLAT_MIN_HELD_OUT + 1,
                 FLAT_MIN_HELD_OUT);
    } else if (!order || !is_test) {
        snprintf(err, errlen, "%s: out of memory", dir);
    } else {
        Rng rng;
        rng_seed(&rng, FLAT_SPLIT_SEED);
        rng_permutation(&rng, order, all.count);
        for (int i = 0; i < held_out; i++) is_test[order[i]] = 1;
        rc = 0;
        for (int i = 0; rc == 0 && i < all.count; i++) {
            rc = file_list_push(is_test[i] ? test : train, all.paths[i], -1, all.bytes[i]);
            all.paths[i] = NULL; // moved (or freed by the failed push)
        }
        if (rc) snprintf(err, errlen, "%s: out of memory", dir);
    }
    free(order);
    free(is_test);
    file_list_free(&all);
    return rc;
}

// Decodes one image into its cache slot, adding its pixels (before resizing) to *sums and
// recording its size as width << 16 | height in *size_on_disk.
static int decode_into(const char *path, const Confine *c, int channels, int size,
                       uint8_t *slot, PixelSums *sums, uint32_t *size_on_disk, char *err,
                       size_t errlen)
{
    Image img;
    int outside, fd = confine_open(c, path, O_RDONLY, &outside);
    FILE *file = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!file) {
        if (fd >= 0) close(fd);
        if (outside) return confine_refuse(c, path, err, errlen);
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int bad = image_decode_stream(file, path, channels, &img, err, errlen);
    fclose(file);
    if (bad) return -1;
    *size_on_disk = (uint32_t)img.width << 16 | (uint32_t)img.height;
    if (sums) {
        PixelSums mine = {.channels = channels};
        size_t plane = (size_t)img.width * (size_t)img.height;
        pixel_sums_add(&mine, img.pixels, plane, plane);
#pragma omp critical(imagefolder_sums)
        pixel_sums_merge(sums, &mine);
    }
    int rc = image_fit(&img, size, slot);
    if (rc) snprintf(err, errlen, "%s: out of memory while resizing", path);
    image_free(&img);
    return rc;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

ImageSizes image_sizes_of(uint32_t *packed, int count)
{
    qsort(packed, (size_t)count, sizeof *packed, compare_u32);
    ImageSizes s = {INT_MAX, INT_MAX, 0, 0, 0, 0};
    int best = 0;
    for (int i = 0, run = 0; i < count; i++) {
        int w = (int)(packed[i] >> 16), h = (int)(packed[i] & 0xFFFF);
        if (w < s.min_width) s.min_width = w;
        if (w > s.max_width) s.max_width = w;
        if (h < s.min_height) s.min_height = h;
        if (h > s.max_height) s.max_height = h;
        run = i > 0 && packed[i] == packed[i - 1] ? run + 1 : 1;
        if (run > best) best = run, s.common_width = w, s.common_height = h;
    }
    return count ? s : (ImageSizes){0};
}

// Decodes a split into *set; for the training split (sums given) also the statistics of the
// images' sizes into *sizes. On failure the message is that of the first bad file in order,
// whichever thread met it first: files after a known failure are skipped, files before it
// still run.
static int decode_split(const FileList *files, const Confine *c, int channels, int size,
                        ImageSet *set, PixelSums *sums, ImageSizes *sizes, const char *what,
                        char *err, size_t errlen)
{
    if (imageset_alloc(set, files->count, channels, size, what, err, errlen)) return -1;
    uint32_t *sizes_on_disk = malloc((size_t)files->count * sizeof *sizes_on_disk);
    if (!sizes_on_disk) {
        snprintf(err, errlen, "%s: out of memory", what);
        return -1;
    }
    memcpy(set->labels, files->labels, (size_t)files->count * sizeof *files->labels);
    size_t image = (size_t)channels * (size_t)size * (size_t)size;
    int first_bad = files->count;
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < files->count; i++) {
        int bad;
#pragma omp atomic read
        bad = first_bad;
        if (i > bad) continue;
        char msg[1024];
        if (decode_into(files->paths[i], c, channels, size, set->pixels + (size_t)i * image,
                        sums, &sizes_on_disk[i], msg, sizeof msg) == 0)
            continue;
#pragma omp critical(imagefolder_error)
        if (i < first_bad) {
#pragma omp atomic write
            first_bad = i;
            snprintf(err, errlen, "%s", msg);
        }
    }
    if (first_bad == files->count && sizes) *sizes = image_sizes_of(sizes_on_disk, files->count);
    free(sizes_on_disk);
    return first_bad < files->count ? -1 : 0;
}

// The listing of the folder at path: its splits and (labelled) its class names, sorted.
// On failure what was listed is freed.
static int imagefolder_list(const char *path, const Confine *c, FileList *train, FileList *test,
                            Names *classes, char *err, size_t errlen)
{
    char *train_dir = path_join(path, "train"), *test_dir = path_join(path, "test");
    mode_t train_mode = 0, test_mode = 0;
    ConfineWhere train_at = train_dir ? confine_lookup(c, train_dir, &train_mode)
                                      : CONFINE_MISSING;
    ConfineWhere test_at = test_dir ? confine_lookup(c, test_dir, &test_mode) : CONFINE_MISSING;
    int rc = -1;
    if (!train_dir || !test_dir)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (train_at == CONFINE_OUTSIDE)
        confine_refuse(c, train_dir, err, errlen);
    else if (!S_ISDIR(train_mode))
        rc = collect_flat(path, c, train, test, err, errlen);
    else if (test_at == CONFINE_OUTSIDE)
        confine_refuse(c, test_dir, err, errlen);
    else if (!S_ISDIR(test_mode))
        snprintf(err, errlen, "%s: has train/ but no test/ folder", path);
    else
        rc = collect_labelled(train_dir, test_dir, c, train, test, classes, err, errlen);
    free(train_dir);
    free(test_dir);
    if (rc) {
        file_list_free(train);
        file_list_free(test);
        names_free(classes);
    }
    return rc ? -1 : 0;
}

int imagefolder_load(const char *path, int img_size, Dataset *ds, const Confine *c, char *err,
                     size_t errlen)
{
    FileList train = {0}, test = {0};
    Names classes = {0};
    PixelSums sums = {.channels = ds->channels};
    int rc = imagefolder_list(path, c, &train, &test, &classes, err, errlen);
    ds->class_names = classes.items, ds->num_classes = classes.count;
    ds->stored_size = img_size;
    ds->pad = 0;
    if (rc == 0)
        rc = decode_split(&train, c, ds->channels, img_size, &ds->train, &sums, &ds->sizes,
                          path, err, errlen) ||
             pixel_sums_finish(&sums, ds, path, err, errlen) ||
             decode_split(&test, c, ds->channels, img_size, &ds->test, NULL, NULL, path, err,
                          errlen);
    file_list_free(&train);
    file_list_free(&test);
    return rc ? -1 : 0;
}

// ---- the streamed path's listing (stream.h) ----

static void sample_split_take(SampleSplit *split, FileList *files, int64_t *total)
{
    *split = (SampleSplit){.count = files->count, .paths = files->paths,
                           .labels = files->labels, .bytes = files->bytes};
    *total = 0;
    for (int i = 0; i < files->count; i++) *total += files->bytes[i];
    *files = (FileList){0};
}

static void sample_split_free(SampleSplit *split)
{
    FileList files = {.paths = split->paths, .labels = split->labels, .bytes = split->bytes,
                      .count = split->count};
    file_list_free(&files);
    memset(split, 0, sizeof *split);
}

void sample_roots_free(SampleRoots *r)
{
    if (!r) return;
    confine_end(&r->confine);
    for (int i = 0; i < r->given.root_count; i++) free((char *)r->given.roots[i]);
    free((void *)r->given.roots);
    free(r);
}

// A copy of roots (without the warning callback) for the reads after the listing.
static int sample_roots_copy(SampleRoots *r, const DataRoots *roots)
{
    r->given = (DataRoots){0};
    if (!roots || roots->root_count <= 0) return 0;
    char **copies = calloc((size_t)roots->root_count, sizeof *copies);
    if (!copies) return -1;
    r->given.roots = (const char *const *)copies;
    for (int i = 0; i < roots->root_count; i++, r->given.root_count++)
        if (!(copies[i] = strdup(roots->roots[i]))) return -1;
    return 0;
}

int samplelist_imagefolder(const char *path, const DataRoots *roots, SampleList *list,
                           char *err, size_t errlen)
{
    memset(list, 0, sizeof *list);
    Dataset counts = {0}; // what the confinement counts skips in
    SampleRoots *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = confine_begin(&r->confine, roots, &counts, err, errlen);
    if (rc == 0) rc = confine_check_folder(&r->confine, path, err, errlen);
    FileList train = {0}, test = {0};
    Names classes = {0};
    if (rc == 0) rc = imagefolder_list(path, &r->confine, &train, &test, &classes, err, errlen);
    if (rc == 0 && sample_roots_copy(r, roots)) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
    }
    if (rc) {
        file_list_free(&train);
        file_list_free(&test);
        names_free(&classes);
        sample_roots_free(r);
        return -1;
    }
    r->confine.roots = &r->given; // (the caller's may not outlive the listing)
    r->confine.ds = NULL;
    sample_split_take(&list->train, &train, &list->train_bytes);
    sample_split_take(&list->test, &test, &list->test_bytes);
    list->class_names = classes.items, list->num_classes = classes.count;
    list->skipped = counts.skipped;
    list->roots_ = r;
    return 0;
}

void samplelist_free(SampleList *list)
{
    sample_split_free(&list->train);
    sample_split_free(&list->test);
    for (int i = 0; list->class_names && i < list->num_classes; i++) free(list->class_names[i]);
    free(list->class_names);
    sample_roots_free(list->roots_);
    memset(list, 0, sizeof *list);
}

uint64_t samplelist_cache_bytes(const SampleList *list, int channels, int img_size)
{
    uint64_t image = (uint64_t)channels * (uint64_t)img_size * (uint64_t)img_size;
    return ((uint64_t)list->train.count + (uint64_t)list->test.count) *
           (image + STREAM_CACHE_OVERHEAD_BYTES);
}
