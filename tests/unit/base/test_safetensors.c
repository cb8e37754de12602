// safetensors: a round trip through safetensors_write and safetensors_read (names, shapes,
// bits, metadata, file layout, atomic replacement), then hostile files written by this test,
// each of which must be refused with a message and leave nothing allocated (ASan's leak
// checker sees to the latter in the sanitizer build).
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/safetensors.h"
#include "test.h"

static char dir[] = "/tmp/simmimd-test-st-XXXXXX";

typedef struct {
    char s[512];
} Path;

// The path of a file in the test's directory.
static Path in_dir(const char *name)
{
    Path p;
    snprintf(p.s, sizeof p.s, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "test_safetensors: cannot write %s\n", path);
        exit(2);
    }
}

// An 8-byte little-endian header length (`declared`, or the header's real length when 0),
// the header text, then data_len bytes of data.
static void write_safetensors(const char *path, const char *header, size_t data_len,
                              uint64_t declared)
{
    size_t hlen = strlen(header), total = 8 + hlen + data_len;
    unsigned char *buf = calloc(total, 1);
    if (!buf) exit(2);
    uint64_t len = declared ? declared : hlen;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) buf[8 + hlen + i] = (unsigned char)(i * 37);
    write_bytes(path, buf, total);
    free(buf);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) ? -1 : (long)sb.st_size;
}

static int count_dir_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            Path p = in_dir(e->d_name);
            if (unlink(p.s)) rmdir(p.s);
        }
    if (d) closedir(d);
    rmdir(dir);
}

// ---------------------------------------------------------------------------------------------
// Round trip

static float weight_data[16], cls_data[4], scalar_data[1] = {-7.25f}, big_data[1000];

static const char *meta_keys[] = {"format", "config", "kind", "mean", "note", "empty"};
static const char *meta_values[] = {"simmimd-1", "{\"img_size\": 32, \"patch_size\": 4}",
                                    "pretrain",
                                    "[0.2860]", "caf\xc3\xa9 \"quoted\"\nline two\ttab", ""};
enum { META_COUNT = 6 };

static int fill_tensors(StTensor *t)
{
    for (int i = 0; i < 16; i++) weight_data[i] = (float)i * 0.5f - 3.0f;
    // Values whose bits must survive: signed zero, a denormal, infinities, NaN, extremes.
    weight_data[1] = -0.0f, weight_data[2] = 1e-40f, weight_data[3] = INFINITY;
    weight_data[4] = -INFINITY, weight_data[5] = NAN, weight_data[6] = FLT_MAX;
    for (int i = 0; i < 4; i++) cls_data[i] = 1.0f / (float)(i + 3);
    for (int i = 0; i < 1000; i++) big_data[i] = sinf((float)i);
    t[0] = (StTensor){"patch_embed.proj.weight", 4, {4, 1, 2, 2}, 16, weight_data};
    t[1] = (StTensor){"cls_token", 3, {1, 1, 4}, 4, cls_data};
    t[2] = (StTensor){"scalar", 0, {0}, 1, scalar_data};
    t[3] = (StTensor){"blocks.0.mlp.fc1.weight", 2, {40, 25}, 1000, big_data};
    return 4;
}

static int same_tensor(const StTensor *a, const StTensor *b)
{
    if (strcmp(a->name, b->name) || a->ndim != b->ndim || a->numel != b->numel) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return memcmp(a->data, b->data, a->numel * sizeof(float)) == 0;
}

static uint64_t header_length(const char *path)
{
    unsigned char b[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(b, 1, 8, f) != 8) memset(b, 0, 8);
        fclose(f);
    }
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | b[i];
    return len;
}

static void check_round_trip(void)
{
    StTensor t[4];
    int count = fill_tensors(t);
    char err[512] = "";
    Path file = in_dir("model.safetensors");
    const char *path = file.s;
    int rc = safetensors_write(path, t, count, meta_keys, meta_values, META_COUNT, err, sizeof err);
    test_report(rc == 0, "write", "%s", err);

    size_t data = 0;
    for (int i = 0; i < count; i++) data += t[i].numel * sizeof(float);
    uint64_t hlen = header_length(path);
    long size = file_size(path);
    test_report(hlen % 8 == 0 && size == (long)(8 + hlen + data),
                "file is 8 + header + data bytes, header a multiple of 8",
                "size %ld, header %llu, data %zu", size, (unsigned long long)hlen, data);
    test_report(count_dir_entries() == 1, "no temporary file is left behind", "%d entries",
                count_dir_entries());

    SafeTensors st;
    rc = safetensors_read(path, &st, err, sizeof err);
    test_report(rc == 0, "read back", "%s", err);
    if (rc) return;
    int same = st.count == count;
    for (int i = 0; same && i < count; i++) same = same_tensor(&st.tensors[i], &t[i]);
    test_report(same, "names, order, shapes and bits are identical", "%d tensors", st.count);
    int meta_same = st.meta_count == META_COUNT;
    for (int i = 0; meta_same && i < META_COUNT; i++) {
        const char *v = safetensors_meta(&st, meta_keys[i]);
        meta_same = v && strcmp(v, meta_values[i]) == 0;
    }
    test_report(meta_same, "metadata is identical", "%d entries", st.meta_count);
    const StTensor *found = safetensors_find(&st, "cls_token");
    test_report(found && found->data[2] == cls_data[2] && !safetensors_find(&st, "cls") &&
                    !safetensors_meta(&st, "missing"),
                "find and meta look up by exact name", "");
    safetensors_free(&st);

    // Replacing the file: the new content, still no temporary file.
    float other[4] = {1, 2, 3, 4};
    StTensor one = {"cls_token", 3, {1, 1, 4}, 4, other};
    rc = safetensors_write(path, &one, 1, NULL, NULL, 0, err, sizeof err);
    int replaced = rc == 0 && safetensors_read(path, &st, err, sizeof err) == 0;
    replaced = replaced && st.count == 1 && st.meta_count == 0 && same_tensor(&st.tensors[0], &one);
    if (rc == 0) safetensors_free(&st);
    test_report(replaced && count_dir_entries() == 1, "rewriting replaces the file", "%s", err);

    err[0] = 0;
    rc = safetensors_write(in_dir("no/such/dir/x.safetensors").s, &one, 1, NULL, NULL, 0, err,
                           sizeof err);
    test_report(rc == -1 && err[0], "writing into a missing directory fails", "%s", err);
}

// Every strict prefix of a valid file is refused.
static void check_truncations(void)
{
    Path file = in_dir("model.safetensors"), cut_file = in_dir("cut.safetensors");
    const char *path = file.s, *cut = cut_file.s;
    long size = file_size(path);
    unsigned char *buf = malloc(size > 0 ? size : 1);
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, size, f) != (size_t)size) exit(2);
    fclose(f);
    int accepted = 0;
    for (long len = 0; len < size; len++) {
        SafeTensors st;
        char err[512] = "";
        write_bytes(cut, buf, len);
        if (safetensors_read(cut, &st, err, sizeof err) == 0 || !err[0]) {
            accepted++;
            safetensors_free(&st);
        }
    }
    test_report(accepted == 0, "every truncation of a valid file is refused",
                "%ld lengths, %d accepted", size, accepted);
    // Changing any header byte to any of a few values must not crash; what is accepted
    // must still be consistent (its tensors cover exactly the data section).
    long hlen = (long)header_length(path), consistent = 1, tried = 0;
    const unsigned char values[] = {'0', '9', '-', '"', '{', ']', 0, 0xff};
    for (long i = 8; i < 8 + hlen; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char saved = buf[i];
            buf[i] = values[v];
            write_bytes(cut, buf, size);
            buf[i] = saved;
            SafeTensors st;
            char err[512];
            tried++;
            if (safetensors_read(cut, &st, err, sizeof err) == 0) {
                size_t covered = 0;
                for (int k = 0; k < st.count; k++) covered += st.tensors[k].numel * sizeof(float);
                consistent &= (long)covered == size - 8 - hlen;
                safetensors_free(&st);
            }
        }
    test_report(consistent, "altered header bytes are refused or read consistently", "%ld files",
                tried);
    unlink(cut);
    free(buf);
}

// Valid files the reference implementation reads: zero-size tensors, header order unlike
// data order. (It sorts spans by (begin, end) and allows any dimension when another is 0.)
static void check_valid_unusual(void)
{
    static const struct {
        const char *what, *header;
        size_t data_len;
        int count;
    } files[] = {
        {"header order differs from data order",
         "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, 2},
        {"a zero-size tensor listed after the one at its offset",
         "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, 3},
        {"a zero-size tensor with a large other dimension",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[0,100000],\"data_offsets\":[8,8]}}", 8, 2},
        {"a zero-size tensor with a large dimension before the 0",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[100000,0],\"data_offsets\":[8,8]}}", 8, 2},
        {"no tensors at all", "{\"__metadata__\":{\"k\":\"v\"}}", 0, 0},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        Path file = in_dir("valid.safetensors");
        const char *path = file.s;
        write_safetensors(path, files[i].header, files[i].data_len, 0);
        SafeTensors st;
        char err[512] = "", what[160];
        int rc = safetensors_read(path, &st, err, sizeof err);
        snprintf(what, sizeof what, "reads a valid file: %s", files[i].what);
        test_report(rc == 0 && st.count == files[i].count, what, "%s", rc ? err : "");
        if (rc == 0) safetensors_free(&st);
        unlink(path);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile files

typedef struct {
    const char *what;
    const char *header;  // JSON text
    size_t data_len;     // bytes after the header
    uint64_t declared;   // header length to declare instead of the real one (0: the real one)
} Hostile;

#define T32(name, shape, b, e) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const Hostile hostile[] = {
    {"a header length larger than the file", "{}", 0, 1000},
    {"a header length of 2^63", "{}", 0, 1ULL << 63},
    {"a header length of 2^64 - 1", "{}", 0, UINT64_MAX},
    {"a header that is not JSON", "this is not json", 0, 0},
    {"a header that is a JSON array", "[1, 2, 3]", 0, 0},
    {"a header with trailing garbage", "{}}", 0, 0},
    {"a tensor entry that is not an object", "{\"a\": 5}", 0, 0},
    {"a tensor entry missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
    {"a tensor entry missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0},
    {"dtype F16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, 0},
    {"dtype that is not a string",
     "{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
    {"a negative shape", "{" T32("a", "[-2]", 0, 8) "}", 8, 0},
    {"a fractional shape", "{" T32("a", "[2.5]", 0, 8) "}", 8, 0},
    {"nine dimensions", "{" T32("a", "[1,1,1,1,1,1,1,1,2]", 0, 8) "}", 8, 0},
    {"a shape product overflowing size_t",
     "{" T32("a", "[4294967296,4294967296,16]", 0, 16) "}", 16, 0},
    {"a shape larger than the file", "{" T32("a", "[1000000]", 0, 16) "}", 16, 0},
    {"data_offsets out of range", "{" T32("a", "[2]", 0, 64) "}", 8, 0},
    {"data_offsets end before begin", "{" T32("a", "[2]", 8, 0) "}", 8, 0},
    {"negative data_offsets", "{" T32("a", "[2]", -8, 0) "}", 8, 0},
    {"fractional data_offsets",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8.0]}}", 8, 0},
    {"three data_offsets",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8, 0},
    {"a span size unlike the shape size", "{" T32("a", "[3]", 0, 8) "}", 8, 0},
    {"overlapping tensors", "{" T32("a", "[2]", 0, 8) "," T32("b", "[2]", 4, 12) "}", 12, 0},
    {"a gap between tensors", "{" T32("a", "[2]", 0, 8) "," T32("b", "[2]", 12, 20) "}", 20, 0},
    {"data after the last tensor", "{" T32("a", "[2]", 0, 8) "}", 12, 0},
    {"duplicate tensor names", "{" T32("a", "[2]", 0, 8) "," T32("a", "[2]", 8, 16) "}", 16, 0},
    {"a metadata value that is not a string",
     "{\"__metadata__\":{\"step\":5}," T32("a", "[2]", 0, 8) "}", 8, 0},
    {"metadata that is not an object", "{\"__metadata__\":\"x\"," T32("a", "[2]", 0, 8) "}", 8, 0},
    {"a truncated data section", "{" T32("a", "[4]", 0, 16) "}", 8, 0},
    {"a tensor name with an escaped NUL", "{" T32("a\\u0000b", "[2]", 0, 8) "}", 8, 0},
};

// safetensors_read refuses the file with a message and leaves st empty.
static void expect_file_refused(const char *what, const char *path)
{
    SafeTensors st;
    char err[512] = "", name[200];
    int rc = safetensors_read(path, &st, err, sizeof err);
    int empty = st.count == 0 && !st.tensors && !st.data && st.meta_count == 0 && !st.meta_keys;
    snprintf(name, sizeof name, "refuses %s", what);
    test_report(rc == -1 && err[0] && empty, name, "%s", err);
    if (rc == 0) safetensors_free(&st);
}

static void check_hostile_files(void)
{
    Path file = in_dir("hostile.safetensors");
    const char *path = file.s;
    write_bytes(path, "", 0);
    expect_file_refused("an empty file", path);
    write_bytes(path, "\x02\0\0\0\0\0\0", 7);
    expect_file_refused("a 7-byte file", path);
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        write_safetensors(path, hostile[i].header, hostile[i].data_len, hostile[i].declared);
        expect_file_refused(hostile[i].what, path);
    }
    unlink(path);
    expect_file_refused("a file that does not exist", in_dir("missing.safetensors").s);
    Path sub = in_dir("subdir");
    mkdir(sub.s, 0700);
    expect_file_refused("a directory", sub.s);
    rmdir(sub.s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    check_round_trip();
    check_truncations();
    check_valid_unusual();
    check_hostile_files();
    remove_dir();
    TEST_EXIT();
}
