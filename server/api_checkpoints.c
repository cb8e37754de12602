// The checkpoints resource of the API: a checkpoint's metadata (with sha256 and bytes) and the
// download of its .safetensors file, whose ETag is its sha256 (so If-None-Match and If-Range
// work across restarts) and which supports byte ranges for resumed downloads. The file is
// checked against that sha256 before it is served (checkpoint_check.h): a file that no
// longer matches is refused with 409, never served under the old ETag.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "checkpoint_check.h"
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
    char etag[68], name[160], message[512];
    CheckpointCheck c;
    int rc = checkpoint_check(r->app->db, r->id, NULL, CHECK_CACHED, &c);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, 404, NULL, "no checkpoint %ld", r->id);
        return;
    }
    if (rc == STORE_CONFLICT) {
        checkpoint_check_message(r->id, &c, message, sizeof message);
        reply_error(r, 409, NULL, "%s", message);
        return;
    }
    if (rc != STORE_OK && c.file_errno && c.file_errno != ENOENT) {
        reply_error(r, 500, NULL, "cannot read the file of checkpoint %ld: %s", r->id,
                    strerror(c.file_errno));
        return;
    }
    if (rc != STORE_OK && !c.file_errno) {
        reply_error(r, 500, NULL, "cannot read checkpoint %ld", r->id);
        return;
    }
    // Checked, or gone (reply_file answers 404).
    snprintf(etag, sizeof etag, "\"%s\"", c.expected);
    download_name(c.path, c.job_id, r->id, name, sizeof name);
    reply_file(r, &(FileReply){.path = c.path, .content_type = "application/octet-stream",
                               .etag = etag, .download_name = name});
}
