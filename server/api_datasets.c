// The datasets resource of the API: the list, one dataset, registration from a JSON body
// {name, format, path[, train, test]} (the checks and the work are datasets.c's: 201 when the
// scan ends within REGISTER_WAIT_S, else 202 scanning), removal, and the sample PNG.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "store.h"

static const char *const REGISTER_KEYS[] = {"name", "format", "path", "train", "test"};
// A registration waits this long for its scan: a small dataset is answered ready (201), a
// large one at once as scanning (202).
static const double REGISTER_WAIT_S = 1.0;
enum { REGISTER_KEY_COUNT = sizeof REGISTER_KEYS / sizeof REGISTER_KEYS[0] };

void api_datasets_list(Request *r)
{
    reply_json(r, 200, store_datasets_json(r->app->db));
}

// The dataset of the path; -1 after answering 404 or 500.
static int path_dataset(Request *r, DatasetRow *row)
{
    int rc = store_dataset_get(r->app->db, r->name, row);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, 404, NULL, "no dataset named \"%s\"", r->name);
    else if (rc != STORE_OK)
        reply_error(r, 500, NULL, "cannot read dataset \"%s\"", r->name);
    return rc == STORE_OK ? 0 : -1;
}

void api_dataset_get(Request *r)
{
    DatasetRow row;
    if (path_dataset(r, &row) == 0) reply_json(r, 200, store_dataset_json(&row));
}

void api_dataset_sample(Request *r)
{
    DatasetRow row;
    if (path_dataset(r, &row) == 0)
        reply_file(r, &(FileReply){.path = row.sample_path, .content_type = "image/png"});
}

void api_dataset_delete(Request *r)
{
    char err[1024];
    int status = datasets_unregister(r->app, r->name, err, sizeof err);
    if (status == 204)
        reply(r, 204, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
    else
        reply_error(r, (unsigned)status, NULL, "%s", err);
}

// The registration body: an object of the three strings, nothing else. NULL after answering.
static json_t *parse_register_body(Request *r)
{
    json_error_t je;
    json_t *body = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        reply_error(r, 400, NULL, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                    je.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        reply_error(r, 400, NULL, "expected an object {\"name\", \"format\", \"path\"} (and "
                    "\"train\", \"test\" for shards)");
        json_decref(body);
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        int known = 0;
        for (int i = 0; i < REGISTER_KEY_COUNT; i++) known |= strcmp(key, REGISTER_KEYS[i]) == 0;
        // test may be null: no test shards (the held-out 2%).
        if (known && json_is_null(value) && strcmp(key, "test") == 0) continue;
        if (!known || !json_is_string(value)) {
            reply_error(r, 400, key, known ? "%.64s: must be a string" :
                        "unknown field \"%.64s\" (name, format and path are expected; train "
                        "and test for shards)", key);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

void api_datasets_create(Request *r)
{
    char err[4096];
    const char *field = NULL;
    json_t *body = parse_register_body(r);
    if (!body) return;
    const char *name = json_string_value(json_object_get(body, "name"));
    DatasetRequest req = {
        .name = name, .format = json_string_value(json_object_get(body, "format")),
        .path = json_string_value(json_object_get(body, "path")),
        .train = json_string_value(json_object_get(body, "train")),
        .test = json_string_value(json_object_get(body, "test")), .wait_s = REGISTER_WAIT_S};
    int status = datasets_register(r->app, &req, err, sizeof err, &field);
    DatasetRow *row = malloc(sizeof *row);
    if (status != 201 && status != 202)
        reply_error(r, (unsigned)status, field, "%s", err);
    else if (row && store_dataset_get(r->app->db, name, row) == STORE_OK)
        reply_json(r, (unsigned)status, store_dataset_json(row));
    else
        reply_error(r, 500, NULL, "dataset \"%s\" was registered but cannot be read", name);
    free(row);
    json_decref(body);
}
