// Tar shards (core/data/shards.c) on tar files this test writes with libarchive's writer:
// globs, the sorted and confined list, samples grouped by key with their images and labels,
// what is skipped, every per-sample problem (no image, two images, bad and duplicate .cls,
// an image over the limit, a key too long, an empty image), whole-shard problems (not a
// tar, empty, truncated, a corrupt header after some samples), gzip-compressed shards, the
// held-out split by key hash, and the counting scan.
#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/shards.h"
#include "test.h"

static char dir[512];

static const char *at(const char *name)
{
    static char buf[4][PATH_MAX + 256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

// One member of a tar being written: name, bytes (NULL: `size` zero bytes), type.
typedef struct {
    const char *name;
    const char *data;
    size_t size;
    int type; // 0: regular file; 'd' folder; 'l' symlink
} Member;

static void write_tar(const char *path, const Member *m, int n, int gzip)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip) archive_write_add_filter_gzip(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        fprintf(stderr, "cannot write %s: %s\n", path, archive_error_string(a));
        exit(1);
    }
    static char zeros[1 << 16];
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        size_t size = m[i].data && !m[i].size ? strlen(m[i].data) : m[i].size;
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        if (m[i].type == 'd') {
            archive_entry_set_filetype(e, AE_IFDIR);
        } else if (m[i].type == 'l') {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "elsewhere.jpg");
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)size);
        }
        archive_write_header(a, e);
        if (m[i].type == 0 && m[i].data) archive_write_data(a, m[i].data, size);
        for (size_t done = 0; m[i].type == 0 && !m[i].data && done < size;) {
            size_t chunk = size - done < sizeof zeros ? size - done : sizeof zeros;
            done += (size_t)archive_write_data(a, zeros, chunk);
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

// Every result of one shard, as "key:result[:label]" joined by spaces (result: S sample,
// B bad, C corrupt, E error), the messages of the bad ones into msgs (joined by " | ").
static void read_all(const char *path, unsigned flags, char *out, size_t cap, char *msgs,
                     size_t msgs_cap)
{
    ShardReader *r;
    ShardSample s = {0};
    char err[2048];
    out[0] = msgs[0] = 0;
    if (shard_open(path, NULL, &r, err, sizeof err)) { // a whole-shard error, as SHARD_ERROR
        snprintf(out, cap, "-:E");
        snprintf(msgs, msgs_cap, "%s", err);
        return;
    }
    for (int guard = 0; guard < 100; guard++) {
        int rc = shard_next(r, &s, flags, err, sizeof err);
        if (rc == SHARD_END) break;
        size_t n = strlen(out), m = strlen(msgs);
        char label[16] = "";
        if (rc == SHARD_SAMPLE && s.label >= 0) snprintf(label, sizeof label, ":%d", s.label);
        snprintf(out + n, cap - n, "%s%s:%c%s", n ? " " : "",
                 rc == SHARD_ERROR ? "-" : s.key,
                 rc == SHARD_SAMPLE ? 'S' : rc == SHARD_BAD_SAMPLE ? 'B'
                 : rc == SHARD_CORRUPT ? 'C' : 'E', label);
        if (rc != SHARD_SAMPLE) snprintf(msgs + m, msgs_cap - m, "%s%s", m ? " | " : "", err);
        if (rc == SHARD_ERROR) break;
    }
    shard_sample_free(&s);
    shard_close(r);
}

static void test_globs(void)
{
    char err[256];
    const char *good[] = {"train-*.tar", "shard-0000[0-4].tar", "*.tar.gz", "a?b", "x"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        test_report(shards_glob_check(good[i], err, sizeof err) == 0, "glob accepted", "%s",
                    good[i]);
    const struct {
        const char *glob, *says;
    } bad[] = {{"", "empty"}, {"sub/*.tar", "no '/'"}, {"../x*.tar", "no '..'"},
               {"..", "no '..'"}, {"a..b", "no '..'"}, {".hidden*", "start with '.'"},
               {"a\nb", "control"}, {"a\x7f", "control"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = shards_glob_check(bad[i].glob, err, sizeof err);
        test_report(rc == -1 && strstr(err, bad[i].says), "glob refused", "#%zu: %s", i, err);
    }
    char longer[SHARDS_GLOB_MAX + 1];
    memset(longer, 'a', SHARDS_GLOB_MAX);
    longer[SHARDS_GLOB_MAX] = 0;
    test_report(shards_glob_check(longer, err, sizeof err) == -1 && strstr(err, "at most 255"),
                "glob too long", "%s", err);
    test_report(shards_glob_check(NULL, err, sizeof err) == -1, "NULL glob refused", "%s", err);
}

typedef struct {
    int calls;
    char last[PATH_MAX + 128];
} Warns;

static void on_warn(void *ctx, const char *path, const char *message)
{
    (void)path;
    Warns *w = ctx;
    w->calls++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

static void test_list(void)
{
    char err[PATH_MAX + 256], shards[PATH_MAX], outside[PATH_MAX];
    snprintf(shards, sizeof shards, "%s/list", dir);
    snprintf(outside, sizeof outside, "%s/outside", dir);
    mkdir(shards, 0755);
    mkdir(outside, 0755);
    Member one = {"0.jpg", "x", 0, 0};
    const char *names[] = {"train-1.tar", "train-10.tar", "train-0.tar", "test-0.tar",
                           "train-notes.txt", ".train-hidden.tar"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(err, sizeof err, "%s/%s", shards, names[i]);
        write_tar(err, &one, 1, 0);
    }
    snprintf(err, sizeof err, "%s/train-dir.tar", shards);
    mkdir(err, 0755);
    snprintf(err, sizeof err, "%s/away.tar", outside);
    write_tar(err, &one, 1, 0);
    char link[PATH_MAX + 32];
    snprintf(link, sizeof link, "%s/train-9.tar", shards);
    if (symlink(err, link)) perror("symlink");
    snprintf(link, sizeof link, "%s/train-dangling.tar", shards);
    if (symlink("/nonexistent/x.tar", link)) perror("symlink");

    ShardList list;
    int rc = shards_list(shards, "train-*.tar", NULL, &list, err, sizeof err);
    int sorted = rc == 0 && list.count == 4 && strstr(list.paths[0], "/train-0.tar") &&
                 strstr(list.paths[1], "/train-1.tar") && strstr(list.paths[2], "/train-10.tar") &&
                 strstr(list.paths[3], "/train-9.tar");
    test_report(sorted, "list: matches sorted bytewise, folders and dotfiles left out, nothing "
                "confined without roots", "rc %d, %d shards", rc, list.count);
    test_report(rc == 0 && list.count > 0 && list.bytes[0] == (double)file_size(list.paths[0]),
                "list: sizes on disk", "%.0f", rc == 0 && list.count ? list.bytes[0] : -1.0);
    shards_list_free(&list);

    Warns w = {0};
    const char *root_list[] = {shards};
    DataRoots roots = {.roots = root_list, .root_count = 1, .warn = on_warn, .warn_ctx = &w};
    rc = shards_list(shards, "train-*.tar", &roots, &list, err, sizeof err);
    test_report(rc == 0 && list.count == 3 && list.skipped == 1 && w.calls == 1 &&
                    strstr(w.last, "train-9.tar: shard skipped: it resolves outside the data roots"),
                "list: a shard linking outside the roots is skipped and reported", "%d shards, "
                "%d skipped: %s", list.count, list.skipped, w.last);
    shards_list_free(&list);

    rc = shards_list(shards, "nothing-*.tar", NULL, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "no shard matches \"nothing-*.tar\"") && strstr(err, shards),
                "list: no match names the glob and the folder", "%s", err);
    const char *outside_roots[] = {outside};
    DataRoots elsewhere = {.roots = outside_roots, .root_count = 1};
    rc = shards_list(shards, "train-*.tar", &elsewhere, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "resolves outside the data roots"),
                "list: a folder outside the roots is refused", "%s", err);
    rc = shards_list(shards, "../*.tar", NULL, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "no '..'"), "list: a bad glob is refused", "%s", err);
    rc = shards_list(at("missing"), "*.tar", NULL, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "cannot open folder"), "list: a missing folder", "%s",
                err);
    rc = shards_list(shards, "train-9.tar", &roots, &list, err, sizeof err);
    test_report(rc == -1 && strstr(err, "inside the data roots"),
                "list: only matches outside the roots", "%s", err);

    ShardReader *r;
    snprintf(link, sizeof link, "%s/train-9.tar", shards);
    rc = shard_open(link, &roots, &r, err, sizeof err);
    test_report(rc == -1 && strstr(err, "resolves outside the data roots"),
                "open: a shard outside the roots is refused", "%s", err);
}

static void test_samples(void)
{
    char out[4096], msgs[8192];
    const Member m[] = {
        {"000.jpg", "JPEGBYTES0", 0, 0},   {"000.cls", "3\n", 0, 0},
        {"001.png", "PNG1", 0, 0},         {"001.json", "{}", 0, 0},
        {"sub", NULL, 0, 'd'},             {"sub/002.JPEG", "J2", 0, 0},
        {"sub/002.cls", " 12 ", 0, 0},     {"noext", "x", 0, 0},
        {".hidden.jpg", "h", 0, 0},        {"003.jpg", NULL, 0, 'l'},
        {"004.txt", "only text", 0, 0},    {"005.cls", "1", 0, 0},
        {"006.jpg", "a", 0, 0},            {"006.png", "b", 0, 0},
        {"007.jpg", "a", 0, 0},            {"007.cls", "x7", 0, 0},
        {"008.jpg", "a", 0, 0},            {"008.cls", "10000", 0, 0},
        {"009.jpg", "a", 0, 0},            {"009.cls", "1", 0, 0},
        {"009.cls", "2", 0, 0},            {"010.jpg", "a", 0, 0},
        {"010.cls", "-1", 0, 0},           {"011.seg.png", "s", 0, 0},
        {"012.jpg", "", 0, 0},             {"013.cls", "123456789012345678901234567890"
                                                        "123456789012345678901234567890"
                                                        "1234567890", 0, 0},
        {"013.png", "p", 0, 0},            {"014.jpg", "last", 0, 0},
        {"014.cls", "9999", 0, 0},
    };
    write_tar(at("samples.tar"), m, (int)(sizeof m / sizeof *m), 0);
    read_all(at("samples.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    const char *want = "000:S:3 001:S sub/002:S:12 004:B 005:B 006:B 007:B 008:B 009:B 010:B "
                       "011:B 012:B 013:B 014:S:9999";
    test_report(strcmp(out, want) == 0, "samples: grouped by key, labels read, other members "
                "skipped, bad samples reported", "%s", out);
    const char *says[] = {"sample 004: no image", "sample 005: no image",
                          "sample 006: more than one image (.jpg and .png)",
                          "sample 007: .cls is not a class index from 0 to 9999 (got \"x7\")",
                          "sample 008: .cls is not a class index", "sample 009: more than one .cls",
                          "sample 010: .cls is not a class index", "sample 011: no image",
                          "sample 012: empty image", "sample 013: .cls of 70 bytes"};
    for (size_t i = 0; i < sizeof says / sizeof *says; i++)
        test_report(strstr(msgs, says[i]) != NULL, "samples: message names shard and key", "%s",
                    says[i]);
    test_report(strstr(msgs, at("samples.tar")) == msgs, "samples: messages start with the shard",
                "%.80s", msgs);

    // The bytes, the extension and the index of each sample.
    ShardReader *r;
    ShardSample s = {0};
    char err[1024];
    shard_open(at("samples.tar"), NULL, &r, err, sizeof err);
    int rc = shard_next(r, &s, 0, err, sizeof err);
    int ok = rc == SHARD_SAMPLE && s.image_len == 10 && memcmp(s.image, "JPEGBYTES0", 10) == 0 &&
             strcmp(s.ext, "jpg") == 0 && s.index == 0;
    rc = shard_next(r, &s, 0, err, sizeof err);
    ok = ok && rc == SHARD_SAMPLE && s.image_len == 4 && memcmp(s.image, "PNG1", 4) == 0 &&
         strcmp(s.ext, "png") == 0 && s.label == -1 && s.index == 1;
    rc = shard_next(r, &s, SHARD_SKIP_IMAGE, err, sizeof err);
    ok = ok && rc == SHARD_SAMPLE && s.image_len == 2 && strcmp(s.ext, "jpeg") == 0 &&
         s.index == 2 && s.label == 12;
    test_report(ok, "samples: image bytes, extension (lower case), index; SHARD_SKIP_IMAGE "
                "gives the size only", "rc %d", rc);
    long last_index = -1;
    while ((rc = shard_next(r, &s, 0, err, sizeof err)) != SHARD_END) last_index = s.index;
    test_report(last_index == 13 && shard_next(r, &s, 0, err, sizeof err) == SHARD_END,
                "samples: bad samples take an index; SHARD_END stays", "last index %ld",
                last_index);
    shard_close(r);
    shard_sample_free(&s);

    // A key longer than the limit.
    char long_name[SHARD_KEY_MAX + 16];
    memset(long_name, 'k', SHARD_KEY_MAX + 4);
    strcpy(long_name + SHARD_KEY_MAX + 4, ".jpg");
    const Member longer[] = {{long_name, "x", 0, 0}, {"after.jpg", "y", 0, 0}};
    write_tar(at("long.tar"), longer, 2, 0);
    read_all(at("long.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strstr(out, ":B after:S") && strstr(msgs, "a key longer than 1023 bytes"),
                "samples: a key over the limit is a bad sample", "%.40s... | %.60s",
                out + strlen(out) - 12, msgs + strlen(msgs) - 40);

    // gzip-compressed.
    write_tar(at("samples.tar.gz"), m, 4, 1);
    read_all(at("samples.tar.gz"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "000:S:3 001:S") == 0, "gzip-compressed shard", "%s", out);

    // An empty (but valid) tar.
    write_tar(at("empty.tar"), NULL, 0, 0);
    read_all(at("empty.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "") == 0, "a tar without members has no samples", "%s %s", out, msgs);
}

static void test_limits(void)
{
    char out[4096], msgs[8192];
    const Member m[] = {{"big.jpg", NULL, (size_t)SHARD_MAX_IMAGE_BYTES + 1, 0},
                        {"big.cls", "1", 0, 0},
                        {"fits.png", NULL, 4096, 0}};
    write_tar(at("big.tar"), m, 3, 0);
    read_all(at("big.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "big:B fits:S") == 0 && strstr(msgs, "sample big: image of 67108865 "
                "bytes, more than the limit of 67108864"),
                "an image member over the limit is a bad sample, skipped unread", "%s | %s", out,
                msgs);
    unlink(at("big.tar"));
}

// A copy of src with its bytes [from, from + len) replaced by `fill` or cut at `cut`.
static void damage(const char *src, const char *dst, long from, long len, int fill, long cut)
{
    FILE *f = fopen(src, "rb");
    long size = file_size(src);
    unsigned char *buf = malloc((size_t)size);
    if (!f || !buf || fread(buf, 1, (size_t)size, f) != (size_t)size) exit(1);
    fclose(f);
    for (long i = from; i < from + len && i < size; i++) buf[i] = (unsigned char)fill;
    write_file(dst, buf, (size_t)(cut >= 0 && cut < size ? cut : size));
    free(buf);
}

static void test_hostile(void)
{
    char out[4096], msgs[8192];
    write_file(at("random.tar"), "this is not a tar archive at all, nor gzip", 42);
    read_all(at("random.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "-:E") == 0 && strstr(msgs, "random.tar: not a tar archive"),
                "not a tar: a whole-shard error naming it", "%s | %s", out, msgs);
    write_file(at("zero.tar"), "", 0);
    read_all(at("zero.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "-:E") == 0 && strstr(msgs, "zero.tar: not a tar archive"),
                "an empty file: a whole-shard error", "%s | %s", out, msgs);
    static char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
    write_file(at("junk.tar"), junk, sizeof junk);
    read_all(at("junk.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "-:E") == 0, "junk bytes: a whole-shard error", "%s | %.100s", out,
                msgs);

    // Three samples of 600-byte images: headers at 0, 1536 (0 + 512 + 1024), 3072 (pax adds no
    // extended headers for short names).
    static char image[600];
    memset(image, 'i', sizeof image);
    const Member m[] = {{"a.jpg", image, sizeof image, 0},
                        {"b.jpg", image, sizeof image, 0},
                        {"c.jpg", image, sizeof image, 0}};
    write_tar(at("three.tar"), m, 3, 0);
    read_all(at("three.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "a:S b:S c:S") == 0, "three samples", "%s", out);
    damage(at("three.tar"), at("cut.tar"), 0, 0, 0, 1536 + 512 + 300);
    read_all(at("cut.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "a:S b:C") == 0 && strstr(msgs, "cut.tar: corrupt tar in sample b"),
                "truncated in a member: the sample is lost, the shard ends", "%s | %s", out, msgs);
    damage(at("three.tar"), at("cut-header.tar"), 0, 0, 0, 1536 + 200);
    read_all(at("cut-header.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strncmp(out, "a:", 2) == 0 && strstr(out, ":C") && strstr(msgs, "corrupt tar"),
                "truncated in a header: corrupt after the first sample", "%s | %s", out, msgs);
    damage(at("three.tar"), at("bad-header.tar"), 3072, 100, 'Z', -1);
    read_all(at("bad-header.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strncmp(out, "a:S", 3) == 0 && strstr(out, ":C") && strstr(msgs, "corrupt tar"),
                "a corrupt third header: the samples before it, then corrupt", "%s | %s", out,
                msgs);
    damage(at("three.tar"), at("bad-first.tar"), 0, 100, 'Z', -1);
    read_all(at("bad-first.tar"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strcmp(out, "-:E") == 0, "a corrupt first header: not a tar", "%s | %s", out,
                msgs);
    // gzip data cut short.
    write_tar(at("three.tar.gz"), m, 3, 1);
    damage(at("three.tar.gz"), at("cut.tar.gz"), 0, 0, 0, file_size(at("three.tar.gz")) - 20);
    read_all(at("cut.tar.gz"), 0, out, sizeof out, msgs, sizeof msgs);
    test_report(strstr(out, ":C") || strstr(out, ":E") || strcmp(out, "a:S b:S c:S") == 0,
                "a cut gzip stream: corrupt or complete, never a crash", "%s | %.100s", out, msgs);
}

static void test_held_out(void)
{
    int held = 0, n = 100000;
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%08d", i);
        held += shards_held_out(key);
    }
    test_report(held > n * 0.018 && held < n * 0.022, "held out: about 2% of the keys",
                "%d of %d", held, n);
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "%08d", i);
        same &= shards_held_out(key) == shards_held_out(key);
    }
    // FNV-1a 64 of "" is 0xcbf29ce484222325: 14695981039346656037 % 50 = 37.
    test_report(same && shards_held_out("") == 0, "held out: fixed by the key", "");
}

typedef struct {
    int progress, bad;
    char bad_message[1024];
} ScanLog;

static void on_scan(void *ctx, const ShardCounts *so_far, const char *shard, const char *message)
{
    (void)so_far, (void)shard;
    ScanLog *log = ctx;
    if (message) {
        log->bad++;
        snprintf(log->bad_message, sizeof log->bad_message, "%s", message);
    } else {
        log->progress++;
    }
}

static void test_scan(void)
{
    char shards[PATH_MAX], err[2048];
    snprintf(shards, sizeof shards, "%s/scan", dir);
    mkdir(shards, 0755);
    // Shard 0: 2500 labelled samples (classes 0..4) and one without an image; shard 1: 500
    // unlabelled.
    int n0 = 2500, n1 = 500;
    Member *m = calloc((size_t)(2 * n0 + 1 + n1), sizeof *m);
    char (*names)[32] = calloc((size_t)(2 * n0 + 1 + n1), sizeof *names);
    static const char *labels[] = {"0", "1", "2", "3", "4"};
    int k = 0, held = 0;
    for (int i = 0; i < n0; i++) {
        snprintf(names[k], 32, "%06d.jpg", i);
        m[k] = (Member){names[k], "img", 0, 0};
        k++;
        snprintf(names[k], 32, "%06d.cls", i);
        m[k] = (Member){names[k], labels[i % 5], 0, 0};
        k++;
        char key[16];
        snprintf(key, sizeof key, "%06d", i);
        held += shards_held_out(key);
    }
    m[k++] = (Member){"lonely.cls", "1", 0, 0};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/s-0.tar", shards);
    write_tar(path, m, k, 0);
    k = 0;
    for (int i = 0; i < n1; i++) {
        snprintf(names[k], 32, "u%05d.png", i);
        m[k] = (Member){names[k], "png", 0, 0};
        k++;
        char key[16];
        snprintf(key, sizeof key, "u%05d", i);
        held += shards_held_out(key);
    }
    snprintf(path, sizeof path, "%s/s-1.tar", shards);
    write_tar(path, m, k, 0);

    ShardList list;
    ShardCounts counts = {0};
    ScanLog log = {0};
    int rc = shards_list(shards, "s-*.tar", NULL, &list, err, sizeof err);
    if (rc == 0) rc = shards_scan(&list, NULL, &counts, on_scan, &log, err, sizeof err);
    test_report(rc == 0 && counts.samples == n0 + n1 && counts.labelled == n0 &&
                    counts.num_classes == 5 && counts.bad_samples == 1 && counts.shards == 2 &&
                    counts.held_out == held,
                "scan: samples, labelled, classes, bad samples, shards, held out", "rc %d: %ld "
                "samples, %ld labelled, %d classes, %ld bad, %d shards, %ld held out (want %d) %s",
                rc, counts.samples, counts.labelled, counts.num_classes, counts.bad_samples,
                counts.shards, counts.held_out, held, rc ? err : "");
    test_report(counts.bytes == list.bytes[0] + list.bytes[1], "scan: bytes", "%.0f",
                counts.bytes);
    test_report(log.progress == 3 + 2 && log.bad == 1 && strstr(log.bad_message, "sample lonely: "
                "no image"), "scan: progress every 1000 samples and per shard, bad samples "
                "reported", "%d progress, %d bad: %s", log.progress, log.bad, log.bad_message);
    shards_list_free(&list);

    // A corrupt shard stops the scan, naming it.
    write_file(path, "garbage", 7);
    memset(&counts, 0, sizeof counts);
    rc = shards_list(shards, "s-*.tar", NULL, &list, err, sizeof err);
    if (rc == 0) rc = shards_scan(&list, NULL, &counts, NULL, NULL, err, sizeof err);
    test_report(rc == -1 && strstr(err, "s-1.tar: not a tar archive") && counts.shards == 1,
                "scan: a shard that is not a tar stops the scan, naming it", "%s", err);
    shards_list_free(&list);
    free(m);
    free(names);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_shards_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return 1;
    test_globs();
    test_list();
    test_samples();
    test_limits();
    test_hostile();
    test_held_out();
    test_scan();
    test_remove_tree(dir);
    TEST_EXIT();
}
