// The checkpoints resource of the API: a checkpoint's metadata (with sha256 and bytes) and the
// download of its .safetensors file, whose ETag is its sha256 (so If-None-Match and If-Range
// work across restarts) and which supports byte ranges for resumed downloads.
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "spec/spec.h"
#include "store.h"

void api_checkpoint_get(Request *r)
{
    json_t *checkpoint = store_checkpoint_json(r->app->db, r->id);
    if (checkpoint)
        reply_json(r, 200, checkpoint);
    else
        reply_error(r, 404, NULL, "no checkpoint %ld", r->id);
}

// "job-<job>-step-<N>.safetensors" from the file's name, if it is a plain one.
static void download_name(const char *path, long job_id, long checkpoint_id, char *out,
                          size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    int plain = len > 0 && len < 128 &&
                strspn(base, SAFE_NAME_CHARS) == len;
    if (plain)
        snprintf(out, cap, "job-%ld-%s", job_id, base);
    else
        snprintf(out, cap, "checkpoint-%ld.safetensors", checkpoint_id);
}

void api_checkpoint_download(Request *r)
{
    char path[SPEC_PATH_MAX], sha256[65], etag[68], name[160];
    long bytes, job_id;
    int rc = store_checkpoint_file(r->app->db, r->id, path, sizeof path, &bytes, sha256, &job_id);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, 404, NULL, "no checkpoint %ld", r->id);
        return;
    }
    if (rc != STORE_OK) {
        reply_error(r, 500, NULL, "cannot read checkpoint %ld", r->id);
        return;
    }
    snprintf(etag, sizeof etag, "\"%s\"", sha256);
    download_name(path, job_id, r->id, name, sizeof name);
    reply_file(r, &(FileReply){.path = path, .content_type = "application/octet-stream",
                               .etag = etag, .download_name = name});
}
