// Checkpoint files: weights and training state written and read back bit for bit, the
// metadata round trip, the contract's names for both kinds, finding the newest complete
// checkpoint, and clear errors for foreign or mismatched files.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    int rc = checkpoint_write_state(path, &opt, 100, err, sizeof err);
    long step = rc ? -1 : checkpoint_read_state(path, &m, &restored, err, sizeof err);
    test_report(step == 100 && restored.step == 99 &&
                    memcmp(opt.m, restored.m, m.num_params * sizeof(float)) == 0 &&
                    memcmp(opt.v, restored.v, m.num_params * sizeof(float)) == 0,
                "training state round trip", "step %ld", step);
    Model other = make_model(10, 3);
    test_report(checkpoint_read_state(path, &other, &restored, err, sizeof err) < 0,
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
