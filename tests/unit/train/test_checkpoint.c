// Checkpoint files: weights and training state written and read back bit for bit, the
// metadata round trip, the contract's names for both kinds, finding the newest complete
// checkpoint, the SHA-256 a run dir recorded for one and what --resume continues from when
// the newest does not match it, and clear errors for foreign or mismatched files.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "test.h"
#include "train/checkpoint.h"

static char dir[] = "/tmp/test_checkpoint.XXXXXX";

static Model make_model(int num_classes, uint64_t seed)
{
    ModelConfig cfg = model_config_default();
    cfg.embed_dim = 48, cfg.depth = 2, cfg.num_heads = 3, cfg.num_classes = num_classes;
    Model m;
    char err[256];
    if (model_create(&m, &cfg, 2, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    Rng rng;
    rng_seed(&rng, seed);
    model_init_weights(&m, &rng);
    return m;
}

static CheckpointMeta meta_for(const char *kind)
{
    return (CheckpointMeta){.kind = kind, .step = 1234, .seed = 7, .channels = 1,
                            .mean = {0.286}, .std = {0.353}, .pad = 2, .job_id = 42,
                            .dataset = "fashion-mnist", .mask_json = "{\"ratio\":0.6}",
                            .loss_json = "{\"type\":\"l1\"}"};
}

static void touch(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoints/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

// Writes `text` to dir/<name>.
static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

typedef struct {
    int count;
    long step;
    char path[512], expected[65], actual[65];
} Corrupt;

static void on_corrupt(void *ctx, long step, const char *path, const char *expected,
                       const char *actual)
{
    Corrupt *c = ctx;
    c->count++;
    c->step = step;
    snprintf(c->path, sizeof c->path, "%s", path);
    memcpy(c->expected, expected, 65);
    memcpy(c->actual, actual, 65);
}

// The SHA-256 a run dir recorded for a checkpoint (its events.jsonl), checking a file against
// it, and what --resume continues from when the newest checkpoint does not match.
static void test_integrity(void)
{
    char path[512], sha1[65], sha2[65], got[65], actual[65], events[2048];
    // Two complete checkpoints with contents of their own (step-50 and step-100 from above
    // are replaced).
    write_text("checkpoints/step-50.safetensors", "weights at 50");
    write_text("checkpoints/step-100.safetensors", "weights at 100");
    snprintf(path, sizeof path, "%s/checkpoints/step-50.safetensors", dir);
    sha256_file(path, sha1);
    snprintf(path, sizeof path, "%s/checkpoints/step-100.safetensors", dir);
    sha256_file(path, sha2);
    test_report(checkpoint_recorded_sha256(dir, 100, got) == -1, "no events.jsonl: nothing recorded", "");
    test_report(checkpoint_find_resumable(dir, NULL, NULL) == 100,
                "resumable: nothing recorded, the newest complete one", "");
    // An earlier write of step 100 with other contents, then the one that holds; uppercase
    // hex, other events and a line that is not JSON around them.
    char upper[65];
    for (int i = 0; i < 65; i++) upper[i] = (char)toupper((unsigned char)sha2[i]);
    snprintf(events, sizeof events,
             "{\"event\":\"start\",\"t\":1,\"resumed_from_step\":0}\n"
             "{\"event\":\"checkpoint\",\"t\":2,\"step\":50,\"path\":\"checkpoints/step-50.safetensors\","
             "\"bytes\":13,\"sha256\":\"%s\"}\n"
             "{\"event\":\"checkpoint\",\"t\":3,\"step\":100,\"path\":\"checkpoints/step-100.safetensors\","
             "\"bytes\":14,\"sha256\":\"%s\"}\n"
             "not json \"checkpoint\"\n"
             "{\"event\":\"checkpoint_corrupt\",\"t\":4,\"step\":100,\"expected_sha256\":\"%s\"}\n"
             "{\"event\":\"checkpoint\",\"t\":5,\"step\":100,\"path\":\"checkpoints/step-100.safetensors\","
             "\"bytes\":14,\"sha256\":\"%s\"}\n",
             sha1, sha1, sha1, upper);
    write_text("events.jsonl", events);
    test_report(checkpoint_recorded_sha256(dir, 100, got) == 0 && strcmp(got, sha2) == 0,
                "recorded sha256: the last checkpoint event of the step, lowercase", "%s", got);
    test_report(checkpoint_recorded_sha256(dir, 50, got) == 0 && strcmp(got, sha1) == 0,
                "recorded sha256 of another step", "%s", got);
    test_report(checkpoint_recorded_sha256(dir, 75, got) == -1, "recorded sha256: none for a step", "");
    test_report(checkpoint_recorded_sha256_of(path, got) == 0 && strcmp(got, sha2) == 0,
                "recorded sha256 of a file in a run dir's layout", "%s", path);
    test_report(checkpoint_recorded_sha256_of("/tmp/step-100.safetensors", got) == -1 &&
                    checkpoint_recorded_sha256_of("step-100.safetensors", got) == -1,
                "recorded sha256: none for a file outside a run dir's layout", "");
    test_report(checkpoint_verify_sha256(path, sha2, actual) == 0 && strcmp(actual, sha2) == 0 &&
                    checkpoint_verify_sha256(path, upper, NULL) == 0,
                "verify: a matching file", "");
    test_report(checkpoint_verify_sha256(path, sha1, actual) == 1 && strcmp(actual, sha2) == 0,
                "verify: a file that does not match, with its own hash", "%s", actual);
    test_report(checkpoint_verify_sha256("/nonexistent/x", sha1, actual) == -1, "verify: an unreadable file", "");
    Corrupt c = {0};
    test_report(checkpoint_find_resumable(dir, on_corrupt, &c) == 100 && c.count == 0,
                "resumable: the newest checkpoint matches", "");

    // A byte changed in step-100: --resume falls back to step-50, reporting step-100.
    write_text("checkpoints/step-100.safetensors", "weights at 10O");
    char now[65];
    sha256_file(path, now);
    long step = checkpoint_find_resumable(dir, on_corrupt, &c);
    test_report(step == 50 && c.count == 1 && c.step == 100 && strcmp(c.path, path) == 0 &&
                    strcmp(c.expected, sha2) == 0 && strcmp(c.actual, now) == 0,
                "resumable: a corrupt newest checkpoint is reported and skipped", "step %ld, %d reported",
                step, c.count);
    // Both corrupt: none left.
    write_text("checkpoints/step-50.safetensors", "weights at 5O");
    c.count = 0;
    step = checkpoint_find_resumable(dir, on_corrupt, &c);
    test_report(step == -1 && c.count == 2 && c.step == 50, "resumable: none left when every one is corrupt",
                "step %ld, %d reported", step, c.count);
    // A checkpoint without a recorded hash (its event lost) is taken as it is.
    write_text("checkpoints/step-200.safetensors", "weights at 200");
    write_text("checkpoints/step-200.state", "state at 200");
    c.count = 0;
    test_report(checkpoint_find_resumable(dir, on_corrupt, &c) == 200 && c.count == 0,
                "resumable: a newer checkpoint with no recorded hash", "");
}

int main(void)
{
    char path[512], err[512];
    if (!mkdtemp(dir)) return 2;
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    mkdir(path, 0755);

    for (int kind = 0; kind < 2; kind++) {
        const char *name = kind ? "finetune" : "pretrain";
        Model a = make_model(kind ? 10 : 0, 1), b = make_model(kind ? 10 : 0, 2);
        CheckpointMeta meta = meta_for(name);
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
        int rc = checkpoint_write_weights(path, &a, &meta, err, sizeof err);
        SafeTensors st;
        ModelConfig cfg;
        CheckpointMeta got;
        rc = rc || checkpoint_read(path, &st, &cfg, &got, err, sizeof err);
        char what[128];
        snprintf(what, sizeof what, "%s checkpoint writes and reads back", name);
        test_report(!rc, what, "%s", rc ? err : path);
        if (rc) continue;
        rc = checkpoint_load_params(&b, &st, 0, err, sizeof err);
        snprintf(what, sizeof what, "%s weights reload bit for bit", name);
        test_report(!rc && memcmp(a.params_mem, b.params_mem, a.num_params * sizeof(float)) == 0, what,
                    "%zu floats", a.num_params);
        snprintf(what, sizeof what, "%s metadata round trip", name);
        test_report(memcmp(&cfg, &a.cfg, sizeof cfg) == 0 && strcmp(got.kind, name) == 0 &&
                        got.step == 1234 && got.pad == 2 && got.mean[0] == 0.286 && got.std[0] == 0.353 &&
                        strcmp(safetensors_meta(&st, "format"), "simmimd-1") == 0 &&
                        strcmp(safetensors_meta(&st, "job_id"), "42") == 0,
                    what, "config, kind, step, pad, mean, std, format, job_id");
        snprintf(what, sizeof what, "%s checkpoint holds exactly the model's tensors", name);
        test_report(st.count == a.num_tensors &&
                        (kind ? !safetensors_find(&st, "norm.weight") && safetensors_find(&st, "head.weight")
                              : safetensors_find(&st, "decoder.0.weight") && !safetensors_find(&st, "head.weight")),
                    what, "%d tensors", st.count);
        safetensors_free(&st);
        model_free(&a);
        model_free(&b);
    }

    // Training state: moments and step survive; a state of another model is refused.
    Model m = make_model(0, 3);
    OptimConfig oc = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .layer_decay = 1};
    AdamW opt, restored;
    adamw_create(&opt, &oc, m.num_params);
    adamw_create(&restored, &oc, m.num_params);
    for (size_t i = 0; i < m.num_params; i++) opt.m[i] = (float)i * 1e-3f, opt.v[i] = (float)i * 1e-6f;
    opt.step = 99;
    snprintf(path, sizeof path, "%s/checkpoints/step-100.state", dir);
    int ranks = 0, rc = checkpoint_write_state(path, &opt, 100, 4, err, sizeof err);
    long step = rc ? -1 : checkpoint_read_state(path, &m, &restored, &ranks, err, sizeof err);
    test_report(step == 100 && restored.step == 99 && ranks == 4 &&
                    memcmp(opt.m, restored.m, m.num_params * sizeof(float)) == 0 &&
                    memcmp(opt.v, restored.v, m.num_params * sizeof(float)) == 0,
                "training state round trip (the ranks that wrote it too)", "step %ld ranks %d",
                step, ranks);
    Model other = make_model(10, 3);
    test_report(checkpoint_read_state(path, &other, &restored, &ranks, err, sizeof err) < 0,
                "a state of another model is refused", "%s", err);

    // The newest complete checkpoint: both files; a lone .safetensors or .state is skipped.
    touch("step-100.safetensors");
    touch("step-300.safetensors"); // no state: incomplete
    touch("step-200.state");       // no weights: incomplete
    touch("step-50.safetensors");
    touch("step-50.state");
    touch("step-x.safetensors");
    test_report(checkpoint_find_latest(dir) == 100, "newest complete checkpoint", "%ld",
                checkpoint_find_latest(dir));
    test_report(checkpoint_find_latest("/nonexistent") == -1, "no checkpoints dir", "-1");
    test_integrity();

    // A weights file without simmimd metadata is refused with a message.
    StTensor t = {.name = "x", .ndim = 1, .shape = {1}, .numel = 1, .data = (float[]){1.0f}};
    snprintf(path, sizeof path, "%s/foreign.safetensors", dir);
    safetensors_write(path, &t, 1, NULL, NULL, 0, err, sizeof err);
    SafeTensors st;
    ModelConfig cfg;
    CheckpointMeta meta;
    test_report(checkpoint_read(path, &st, &cfg, &meta, err, sizeof err) != 0 &&
                    strstr(err, "not a simmimd checkpoint"),
                "a foreign safetensors file is refused", "%s", err);

    adamw_free(&opt);
    adamw_free(&restored);
    model_free(&m);
    model_free(&other);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 2;
    TEST_EXIT();
}
