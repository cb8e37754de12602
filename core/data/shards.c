// Tar shards (see shards.h): globs, the list of a folder's shards, reading one shard's samples
// with libarchive (tar formats only — ustar, pax, GNU — plain or gzip-compressed; no other
// filter, so no external program is ever started on a hostile file), the held-out split by
// key hash, and the counting scan for registration.
#include "data/shards.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_load.h"

enum { READ_BLOCK = 64 << 10 };

// ---- globs -------------------------------------------------------------------------------

int shards_glob_check(const char *glob, char *err, size_t errlen)
{
    size_t n = glob ? strlen(glob) : 0;
    if (n == 0) {
        snprintf(err, errlen, "must not be empty");
        return -1;
    }
    if (n >= SHARDS_GLOB_MAX) {
        snprintf(err, errlen, "must be at most %d bytes (got %zu)", SHARDS_GLOB_MAX - 1, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)glob[i] < 0x20 || glob[i] == 0x7F) {
            snprintf(err, errlen, "must not contain control characters");
            return -1;
        }
    if (strchr(glob, '/') || strstr(glob, "..")) {
        snprintf(err, errlen, "a pattern of file names inside the dataset's folder: no '/' and "
                 "no '..' (got \"%.80s\")", glob);
        return -1;
    }
    if (glob[0] == '.') {
        snprintf(err, errlen, "must not start with '.' (got \"%.80s\")", glob);
        return -1;
    }
    return 0;
}

// ---- the list ----------------------------------------------------------------------------

void shards_list_free(ShardList *list)
{
    for (int i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->paths);
    free(list->bytes);
    memset(list, 0, sizeof *list);
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Appends path (taken; freed on failure); -1 when out of memory or over SHARDS_MAX_FILES.
static int list_push(ShardList *list, int *cap, char *path, double bytes)
{
    if (path && list->count == *cap && list->count < SHARDS_MAX_FILES) {
        int grown = *cap ? 2 * *cap : 16;
        char **paths = realloc(list->paths, (size_t)grown * sizeof *paths);
        if (paths) list->paths = paths;
        double *sizes = paths ? realloc(list->bytes, (size_t)grown * sizeof *sizes) : NULL;
        if (sizes) list->bytes = sizes, *cap = grown;
    }
    if (!path || list->count == *cap) {
        free(path);
        return -1;
    }
    list->paths[list->count] = path;
    list->bytes[list->count++] = bytes;
    return 0;
}

// Adds dir/name if it leads to a regular file inside the roots; 0, or -1 with a message.
static int list_entry(const Confine *c, const char *dir, const char *name, ShardList *list,
                      int *cap, char *err, size_t errlen)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (!path) {
        snprintf(err, errlen, "%s: out of memory listing the shards", dir);
        return -1;
    }
    snprintf(path, len, "%s/%s", dir, name);
    mode_t mode;
    ConfineWhere where = confine_lookup(c, path, &mode);
    if (where == CONFINE_OUTSIDE) {
        confine_skip(c, path, "shard", "it resolves outside the data roots");
        list->skipped++;
    }
    struct stat st;
    if (where != CONFINE_INSIDE || !S_ISREG(mode) || stat(path, &st) != 0) {
        free(path);
        return 0;
    }
    if (list_push(list, cap, path, (double)st.st_size) == 0) return 0;
    snprintf(err, errlen, "%s: more than %d shards match, or out of memory", dir,
             SHARDS_MAX_FILES);
    return -1;
}

static int list_confined(const Confine *c, const char *dir, const char *glob, ShardList *list,
                         char *err, size_t errlen)
{
    mode_t mode;
    ConfineWhere where = confine_lookup(c, dir, &mode);
    if (where == CONFINE_OUTSIDE) return confine_refuse(c, dir, err, errlen);
    if (where == CONFINE_MISSING || !S_ISDIR(mode)) {
        snprintf(err, errlen, "%s: cannot open folder: %s", dir,
                 where == CONFINE_MISSING ? strerror(errno) : "not a folder");
        return -1;
    }
    int outside, fd = confine_open(c, dir, O_RDONLY | O_DIRECTORY, &outside);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (outside) return confine_refuse(c, dir, err, errlen);
        snprintf(err, errlen, "%s: cannot open folder: %s", dir, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    int cap = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));)
        if (fnmatch(glob, e->d_name, FNM_PERIOD) == 0)
            rc = list_entry(c, dir, e->d_name, list, &cap, err, errlen);
    closedir(d);
    if (rc) return -1;
    if (list->count == 0) {
        snprintf(err, errlen, "%s: no shard matches \"%s\"%s", dir, glob,
                 list->skipped ? " inside the data roots" : "");
        return -1;
    }
    // Every path has the same "dir/" prefix: sorting paths sorts names, bytewise. Sizes go
    // with their paths.
    typedef struct {
        char *path;
        double bytes;
    } Entry;
    Entry *entries = malloc((size_t)list->count * sizeof *entries);
    if (!entries) {
        snprintf(err, errlen, "%s: out of memory listing the shards", dir);
        return -1;
    }
    for (int i = 0; i < list->count; i++) entries[i] = (Entry){list->paths[i], list->bytes[i]};
    qsort(entries, (size_t)list->count, sizeof *entries, compare_paths); // path is first
    for (int i = 0; i < list->count; i++)
        list->paths[i] = entries[i].path, list->bytes[i] = entries[i].bytes;
    free(entries);
    return 0;
}

int shards_list(const char *dir, const char *glob, const DataRoots *roots, ShardList *list,
                char *err, size_t errlen)
{
    memset(list, 0, sizeof *list);
    char why[256];
    if (shards_glob_check(glob, why, sizeof why)) {
        snprintf(err, errlen, "shard pattern: %s", why);
        return -1;
    }
    Confine c;
    int rc = confine_begin(&c, roots, NULL, err, errlen);
    if (rc == 0) rc = list_confined(&c, dir, glob, list, err, errlen);
    confine_end(&c);
    if (rc) shards_list_free(list);
    return rc;
}

// ---- reading one shard -------------------------------------------------------------------

struct ShardReader {
    struct archive *a;
    int fd;
    char *path;
    struct archive_entry *entry; // the header read but not consumed yet (pending)
    int pending;
    int done;                    // SHARD_END from now on
    long headers;                // headers read
    long samples;                // samples begun
};

// libarchive's message, one line.
static const char *archive_why(ShardReader *r)
{
    const char *why = archive_error_string(r->a);
    return why ? why : "unknown error";
}

void shard_sample_free(ShardSample *s)
{
    free(s->image);
    s->image = NULL;
    s->image_len = s->image_cap = 0;
}

int shard_open(const char *path, const DataRoots *roots, ShardReader **reader, char *err,
               size_t errlen)
{
    *reader = NULL;
    Confine c;
    if (confine_begin(&c, roots, NULL, err, errlen)) return -1;
    int outside, fd = confine_open(&c, path, O_RDONLY, &outside);
    if (fd < 0 && outside) confine_refuse(&c, path, err, errlen);
    else if (fd < 0) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    confine_end(&c);
    if (fd < 0) return -1;
    ShardReader *r = calloc(1, sizeof *r);
    if (r) r->path = strdup(path);
    if (r && r->path) r->a = archive_read_new();
    int setup = r && r->path && r->a && archive_read_support_format_tar(r->a) == ARCHIVE_OK &&
                archive_read_support_filter_gzip(r->a) == ARCHIVE_OK;
    // Opening reads the start of the file to recognize its format: a file that is not a tar
    // (or a gzip-compressed one) fails here.
    if (!setup || archive_read_open_fd(r->a, fd, READ_BLOCK) != ARCHIVE_OK) {
        if (setup)
            snprintf(err, errlen, "%s: not a tar archive: %s", path, archive_why(r));
        else
            snprintf(err, errlen, "%s: cannot read: out of memory", path);
        if (r && r->a) archive_read_free(r->a);
        if (r) free(r->path);
        free(r);
        close(fd);
        return -1;
    }
    r->fd = fd;
    *reader = r;
    return 0;
}

void shard_close(ShardReader *r)
{
    if (!r) return;
    archive_read_free(r->a);
    close(r->fd);
    free(r->path);
    free(r);
}

// What a member is to a sample.
typedef enum { MEMBER_SKIP, MEMBER_IMAGE, MEMBER_CLS, MEMBER_OTHER } MemberKind;

// Splits a member's path into its key and extension (WebDataset's rule: the key is the path up
// to the first dot of the base name). MEMBER_SKIP for what forms no sample: not a regular file,
// a hard link, no name, a base name without a dot or starting with one. *long_key: the key does
// not fit SHARD_KEY_MAX (key then holds its start).
static MemberKind classify(struct archive_entry *e, char *key, char *ext, size_t ext_cap,
                           int *long_key)
{
    const char *name = archive_entry_pathname(e);
    *long_key = 0;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || !name || !*name)
        return MEMBER_SKIP;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base) return MEMBER_SKIP;
    size_t key_len = (size_t)(dot - name);
    if (key_len >= SHARD_KEY_MAX) *long_key = 1, key_len = SHARD_KEY_MAX - 1;
    memcpy(key, name, key_len);
    key[key_len] = 0;
    size_t n = strlen(dot + 1);
    if (n >= ext_cap) return MEMBER_OTHER;
    for (size_t i = 0; i <= n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    if (!strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png")) return MEMBER_IMAGE;
    if (!strcmp(ext, "cls")) return MEMBER_CLS;
    return MEMBER_OTHER;
}

// Reads the current member's data into buf (growing it up to `limit` bytes). 0, 1 when the
// member is larger than limit (the rest is left unread), or -1 when libarchive fails.
static int read_member(ShardReader *r, uint8_t **buf, size_t *cap, size_t *len, size_t limit)
{
    *len = 0;
    for (;;) {
        if (*len == *cap) {
            if (*cap >= limit) {
                char probe;
                la_ssize_t more = archive_read_data(r->a, &probe, 1);
                return more < 0 ? -1 : more > 0 ? 1 : 0;
            }
            size_t grown = *cap ? 2 * *cap : 64 << 10;
            if (grown > limit) grown = limit;
            uint8_t *p = realloc(*buf, grown);
            if (!p) return -1;
            *buf = p, *cap = grown;
        }
        la_ssize_t n = archive_read_data(r->a, *buf + *len, *cap - *len);
        if (n < 0) return -1;
        if (n == 0) return 0;
        *len += (size_t)n;
    }
}

// "shard: KEY: why" into err (once per sample: the first problem is the one reported).
static void sample_problem(ShardReader *r, const ShardSample *s, int *bad, char *err,
                           size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void sample_problem(ShardReader *r, const ShardSample *s, int *bad, char *err,
                           size_t errlen, const char *fmt, ...)
{
    if ((*bad)++) return;
    int n = snprintf(err, errlen, "%s: sample %.200s%s: ", r->path, s->key,
                     strlen(s->key) > 200 ? "..." : "");
    if (n < 0 || (size_t)n >= errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

// A .cls member's text: optional white space, decimal digits, optional white space.
static int parse_label(const char *text, size_t len, int *label)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i])) i++;
    size_t start = i;
    long v = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9' && v < DATA_MAX_CLASSES)
        v = v * 10 + (text[i++] - '0');
    if (i == start || v >= DATA_MAX_CLASSES) return -1;
    while (i < len && isspace((unsigned char)text[i])) i++;
    if (i != len) return -1;
    *label = (int)v;
    return 0;
}

// The data of a member that is not kept; -1 when libarchive fails.
static int skip_member(ShardReader *r)
{
    int rc = archive_read_data_skip(r->a);
    return rc == ARCHIVE_OK || rc == ARCHIVE_WARN ? 0 : -1;
}

// The shard ends after a corrupt or truncated tar: the sample being read is lost.
static int corrupt(ShardReader *r, const ShardSample *s, int in_sample, char *err,
                   size_t errlen)
{
    r->done = 1;
    if (in_sample)
        snprintf(err, errlen, "%s: corrupt tar in sample %.200s%s (the rest of the shard is "
                 "lost): %s", r->path, s->key, strlen(s->key) > 200 ? "..." : "", archive_why(r));
    else
        snprintf(err, errlen, "%s: corrupt tar after %ld sample%s (the rest of the shard is "
                 "lost): %s", r->path, r->samples, r->samples == 1 ? "" : "s", archive_why(r));
    return SHARD_CORRUPT;
}

// Reads the next header into r->entry; SHARD_SAMPLE (got one), SHARD_END, or an error result.
static int next_header(ShardReader *r, const ShardSample *s, int in_sample, char *err,
                       size_t errlen)
{
    int rc = archive_read_next_header(r->a, &r->entry);
    if (rc == ARCHIVE_EOF) {
        r->done = 1;
        return SHARD_END;
    }
    // ARCHIVE_RETRY (a damaged header libarchive could skip) is corruption too: what follows a
    // damaged header cannot be trusted to be members.
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        if (r->headers == 0) {
            r->done = 1;
            snprintf(err, errlen, "%s: not a tar archive: %s", r->path, archive_why(r));
            return SHARD_ERROR;
        }
        return corrupt(r, s, in_sample, err, errlen);
    }
    r->headers++;
    r->pending = 1;
    return SHARD_SAMPLE;
}

int shard_next(ShardReader *r, ShardSample *s, unsigned flags, char *err, size_t errlen)
{
    int in_sample = 0, bad = 0, have_image = 0, have_cls = 0;
    char key[SHARD_KEY_MAX], ext[8];
    s->key[0] = 0;
    s->ext[0] = 0;
    s->image_len = 0;
    s->label = -1;
    for (;;) {
        if (r->done && !r->pending) {
            if (!in_sample) return SHARD_END;
            break;
        }
        if (!r->pending) {
            int rc = next_header(r, s, in_sample, err, errlen);
            if (rc == SHARD_END && in_sample) break;
            if (rc != SHARD_SAMPLE) return rc;
        }
        int long_key;
        MemberKind kind = classify(r->entry, key, ext, sizeof ext, &long_key);
        if (kind == MEMBER_SKIP) {
            r->pending = 0;
            if (skip_member(r)) return corrupt(r, s, in_sample, err, errlen);
            continue;
        }
        if (in_sample && strcmp(key, s->key) != 0) break; // the next sample's first member
        r->pending = 0;
        if (!in_sample) {
            in_sample = 1;
            memcpy(s->key, key, strlen(key) + 1);
            s->index = r->samples++;
        }
        if (long_key)
            sample_problem(r, s, &bad, err, errlen, "a key longer than %d bytes",
                           SHARD_KEY_MAX - 1);
        la_int64_t size = archive_entry_size_is_set(r->entry) ? archive_entry_size(r->entry) : -1;
        int rc = 0;
        if (kind == MEMBER_IMAGE && have_image) {
            sample_problem(r, s, &bad, err, errlen, "more than one image (.%s and .%s)", s->ext,
                           ext);
            rc = skip_member(r);
        } else if (kind == MEMBER_IMAGE) {
            have_image = 1;
            memcpy(s->ext, ext, sizeof s->ext);
            s->image_len = size > 0 ? (size_t)size : 0;
            if (size > SHARD_MAX_IMAGE_BYTES) {
                sample_problem(r, s, &bad, err, errlen, "image of %lld bytes, more than the "
                               "limit of %d", (long long)size, SHARD_MAX_IMAGE_BYTES);
                rc = skip_member(r);
            } else if (size == 0) {
                sample_problem(r, s, &bad, err, errlen, "empty image (.%s of 0 bytes)", ext);
                rc = skip_member(r);
            } else if (flags & SHARD_SKIP_IMAGE || bad) {
                rc = skip_member(r);
            } else {
                rc = read_member(r, &s->image, &s->image_cap, &s->image_len,
                                 SHARD_MAX_IMAGE_BYTES);
                if (rc == 1)
                    sample_problem(r, s, &bad, err, errlen, "image larger than the limit of "
                                   "%d bytes", SHARD_MAX_IMAGE_BYTES);
                if (rc == 1) rc = skip_member(r);
            }
        } else if (kind == MEMBER_CLS) {
            uint8_t text[SHARD_MAX_CLS_BYTES], *p = text;
            size_t cap = sizeof text, len = 0;
            if (have_cls++) {
                sample_problem(r, s, &bad, err, errlen, "more than one .cls");
                rc = skip_member(r);
            } else if (size > SHARD_MAX_CLS_BYTES) {
                sample_problem(r, s, &bad, err, errlen, ".cls of %lld bytes, more than the "
                               "limit of %d", (long long)size, SHARD_MAX_CLS_BYTES);
                rc = skip_member(r);
            } else if ((rc = read_member(r, &p, &cap, &len, sizeof text)) == 1) {
                sample_problem(r, s, &bad, err, errlen, ".cls larger than the limit of %d bytes",
                               SHARD_MAX_CLS_BYTES);
                rc = skip_member(r);
            } else if (rc == 0 && parse_label((const char *)text, len, &s->label)) {
                sample_problem(r, s, &bad, err, errlen, ".cls is not a class index from 0 to "
                               "%d (got \"%.*s\")", DATA_MAX_CLASSES - 1,
                               (int)(len < 24 ? len : 24), (const char *)text);
            }
        } else {
            rc = skip_member(r);
        }
        if (rc < 0) return corrupt(r, s, in_sample, err, errlen);
    }
    if (!bad && !have_image)
        sample_problem(r, s, &bad, err, errlen, "no image (.jpg, .jpeg or .png)");
    return bad ? SHARD_BAD_SAMPLE : SHARD_SAMPLE;
}

// ---- the held-out split ------------------------------------------------------------------

int shards_held_out(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h % SHARDS_HELD_OUT_MODULUS == 0;
}

// ---- the scan ----------------------------------------------------------------------------

static int scan_shard(const char *path, const DataRoots *roots, ShardCounts *counts,
                      ShardScanFn fn, void *ctx, ShardSample *s, char *err, size_t errlen)
{
    ShardReader *r;
    char message[1024 + SHARD_KEY_MAX];
    if (shard_open(path, roots, &r, err, errlen)) return -1;
    int rc;
    while ((rc = shard_next(r, s, SHARD_SKIP_IMAGE, message, sizeof message)) != SHARD_END) {
        if (rc == SHARD_ERROR || rc == SHARD_CORRUPT) {
            snprintf(err, errlen, "%s", message);
            shard_close(r);
            return -1;
        }
        if (rc == SHARD_BAD_SAMPLE) {
            counts->bad_samples++;
            if (fn) fn(ctx, counts, path, message);
            continue;
        }
        counts->samples++;
        counts->held_out += shards_held_out(s->key);
        if (s->label >= 0) {
            counts->labelled++;
            if (s->label + 1 > counts->num_classes) counts->num_classes = s->label + 1;
        }
        if (fn && counts->samples % SHARDS_PROGRESS_EVERY == 0) fn(ctx, counts, path, NULL);
    }
    shard_close(r);
    return 0;
}

int shards_scan(const ShardList *list, const DataRoots *roots, ShardCounts *counts,
                ShardScanFn fn, void *ctx, char *err, size_t errlen)
{
    ShardSample s = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < list->count; i++) {
        rc = scan_shard(list->paths[i], roots, counts, fn, ctx, &s, err, errlen);
        if (rc) break;
        counts->shards++;
        counts->bytes += list->bytes[i];
        if (fn) fn(ctx, counts, list->paths[i], NULL);
    }
    shard_sample_free(&s);
    return rc;
}
