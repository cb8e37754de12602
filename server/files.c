// Files over HTTP and on disk for the handlers (api.h): the one routine that serves a file
// (checkpoint downloads, preview and sample PNGs, the dashboard) with Content-Length, ETag,
// If-None-Match, If-Range and single byte ranges, streamed from its descriptor; the
// trailing-slash-safe containment test of two realpaths (base/fileio's file_path_inside);
// and removal of a directory tree that never follows a symbolic link out of it.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "base/fileio.h"

enum { NFTW_FDS = 16 };

typedef enum { RANGE_NONE, RANGE_PARTIAL, RANGE_UNSATISFIABLE } RangeKind;

// A decimal number of at most 19 digits at *s; advances *s. -1 if there is none.
static int parse_u64(const char **s, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++) {
        if (++digits > 19) return -1;
        v = v * 10 + (uint64_t)(**s - '0');
    }
    *out = v;
    return digits ? 0 : -1;
}

// Parses "bytes=a-b", "bytes=a-" or "bytes=-n" against a file of `size` bytes. Malformed
// headers and lists of ranges are ignored (RANGE_NONE: the whole file), as RFC 9110 allows.
static RangeKind parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
    uint64_t a = 0, b = UINT64_MAX;
    if (strncasecmp(h, "bytes=", 6) != 0) return RANGE_NONE;
    h += 6;
    int suffix = *h == '-';
    if (suffix) h++;
    if (parse_u64(&h, &a)) return RANGE_NONE;
    if (!suffix) {
        if (*h++ != '-') return RANGE_NONE;
        if (*h && parse_u64(&h, &b)) return RANGE_NONE;
    }
    if (*h || (!suffix && b < a)) return RANGE_NONE;
    if (suffix) { // the last a bytes
        if (a == 0 || size == 0) return RANGE_UNSATISFIABLE;
        *start = a >= size ? 0 : size - a;
        *len = size - *start;
        return RANGE_PARTIAL;
    }
    if (a >= size) return RANGE_UNSATISFIABLE;
    *start = a;
    *len = (b >= size ? size - 1 : b) - a + 1;
    return RANGE_PARTIAL;
}

// 1 if an If-None-Match list holds etag (weak comparison) or is "*".
static int etag_listed(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    while (list && *list) {
        list += strspn(list, " \t,");
        if (strncmp(list, "W/", 2) == 0) list += 2;
        size_t len = strcspn(list, " \t,");
        if ((len == 1 && *list == '*') || (len == n && strncmp(list, etag, n) == 0)) return 1;
        list += len;
    }
    return 0;
}

static const char *header(Request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void add_file_headers(struct MHD_Response *res, const FileReply *f, const char *etag)
{
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type);
    MHD_add_response_header(res, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(res, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (f->download_name) {
        char disposition[300];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"",
                 f->download_name);
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
    }
}

// Opens a regular file; -1 after answering 404 (missing) or 500.
static int open_regular(Request *r, const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, st) == 0 && S_ISREG(st->st_mode)) return fd;
    int missing = fd >= 0 || errno == ENOENT || errno == ENOTDIR; // fd open: not a file
    if (fd >= 0) close(fd);
    if (missing)
        reply_error(r, 404, NULL, "the file does not exist (any more)");
    else
        reply_error(r, 500, NULL, "cannot open %s: %s", path, strerror(errno));
    return -1;
}

// Answers 304 (not modified) or 416 (unsatisfiable range) without a body.
static void reply_empty(Request *r, unsigned status, const char *etag, uint64_t size)
{
    if (status == 416) {
        char range[48];
        snprintf(range, sizeof range, "bytes */%" PRIu64, size);
        reply_error_header(r, 416, NULL, "the range is outside the file", "Content-Range", range);
        return;
    }
    struct MHD_Response *res = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (res) MHD_add_response_header(res, MHD_HTTP_HEADER_ETAG, etag);
    reply(r, status, res);
}

void reply_file(Request *r, const FileReply *f)
{
    struct stat st;
    int fd = open_regular(r, f->path, &st);
    if (fd < 0) return;
    char etag[80];
    uint64_t size = (uint64_t)st.st_size, start = 0, len = size;
    if (f->etag)
        snprintf(etag, sizeof etag, "%s", f->etag);
    else
        snprintf(etag, sizeof etag, "\"%" PRIx64 "-%lx-%lx\"", size, (long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
    const char *range = header(r, MHD_HTTP_HEADER_RANGE);
    const char *if_range = header(r, MHD_HTTP_HEADER_IF_RANGE);
    RangeKind kind = range && (!if_range || strcmp(if_range, etag) == 0)
                         ? parse_range(range, size, &start, &len) : RANGE_NONE;
    if (etag_listed(header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag) ||
        kind == RANGE_UNSATISFIABLE) {
        close(fd);
        reply_empty(r, kind == RANGE_UNSATISFIABLE ? 416 : 304, etag, size);
        return;
    }
    struct MHD_Response *res = MHD_create_response_from_fd_at_offset64(len, fd, start);
    if (!res) {
        close(fd);
        reply(r, 500, NULL);
        return;
    }
    add_file_headers(res, f, etag);
    if (kind == RANGE_PARTIAL) {
        char content_range[80];
        snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                 start, start + len - 1, size);
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    }
    reply(r, kind == RANGE_PARTIAL ? 206 : 200, res);
}

int path_printf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int path_is_inside(const char *root, const char *path) { return file_path_inside(root, path); }

static int remove_tree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int remove_tree(const char *root, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (!path_is_inside(root, dir) || strlen(dir) <= strlen(root)) {
        snprintf(err, errlen, "%s: refusing to remove a path outside %s", dir, root);
        return -1;
    }
    if (lstat(dir, &st) != 0 && errno == ENOENT) return 0;
    // Depth first, never following a link: a link inside is removed, not its target.
    if (nftw(dir, remove_tree_entry, NFTW_FDS, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}
