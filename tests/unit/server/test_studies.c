// Study jobs without a daemon (server/studies.h): a body expanded into its runs (the Cartesian
// product of the axes, the seeds set in both jobs, the baseline, one pretraining per distinct
// effective pretraining spec and seed), the presets scaled to the model, bad input refused
// naming the axis and value at fault, the row arithmetic (mean, sample sd, gain paired by seed
// and its standard error, missing seeds), a study's answer shaped from its runs, and its tables;
// linear probes of the pretrainings planned, shaped into the rows and the tables.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studies.h"
#include "test.h"

static int plan_of(const char *body, int max_cells, StudyCheck check, StudyPlan *plan, ApiError *e)
{
    return study_plan(body, strlen(body), max_cells, check, NULL, plan, e);
}

// A run's spec parsed back.
static json_t *run_spec(const StudyPlan *plan, int i)
{
    return json_loads(plan->runs[i].spec, 0, NULL);
}

static double spec_number(const StudyPlan *plan, int i, const char *section, const char *key)
{
    json_t *spec = run_spec(plan, i);
    double v = json_number_value(json_object_get(json_object_get(spec, section), key));
    json_decref(spec);
    return v;
}

static int count_role(const StudyPlan *plan, StudyRole role)
{
    int n = 0;
    for (int i = 0; i < plan->run_count; i++) n += plan->runs[i].role == role;
    return n;
}

static void test_expansion(void)
{
    StudyPlan plan;
    ApiError e;
    const char *body =
        "{\"name\": \"grid\", \"pretrain\": {\"train\": {\"epochs\": 1}}, \"finetune\": {\"train\": "
        "{\"epochs\": 2}}, \"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6]}, "
        "{\"field\": \"finetune.finetune.layer_decay\", \"values\": [0.75, 1.0]}], \"seeds\": [0, 7], "
        "\"baseline\": true}";
    int rc = plan_of(body, 64, NULL, &plan, &e);
    test_report(rc == 0, "expansion: a 2x2 grid with 2 seeds and a baseline is planned", "%s",
                rc ? e.message : "");
    if (rc) return;
    test_report(json_array_size(plan.cells) == 4 && plan.run_count == 14 &&
                    count_role(&plan, STUDY_PRETRAIN) == 4 && count_role(&plan, STUDY_FINETUNE) == 8 &&
                    count_role(&plan, STUDY_BASELINE) == 2,
                "expansion: 4 cells, 4 pretrainings (2 ratios x 2 seeds), 8 fine-tunings, 2 baselines",
                "%d runs", plan.run_count);
    char *cells = json_dumps(plan.cells, JSON_COMPACT);
    test_report(strcmp(cells, "[{\"pretrain.mask.ratio\":0.29999999999999999,\"finetune.finetune.layer_decay\":0.75},"
                              "{\"pretrain.mask.ratio\":0.29999999999999999,\"finetune.finetune.layer_decay\":1.0},"
                              "{\"pretrain.mask.ratio\":0.59999999999999998,\"finetune.finetune.layer_decay\":0.75},"
                              "{\"pretrain.mask.ratio\":0.59999999999999998,\"finetune.finetune.layer_decay\":1.0}]") == 0,
                "expansion: cells are the Cartesian product, first axis slowest", "%s", cells);
    free(cells);
    // Cells 0 and 1 differ only in a fine-tuning field: one pretraining per seed serves both.
    int reuse = 1, seeds_ok = 1, values_ok = 1;
    for (int i = 0; i < plan.run_count; i++) {
        const StudyRun *r = &plan.runs[i];
        double seed = spec_number(&plan, i, "train", "seed"), want = r->seed ? 7 : 0;
        seeds_ok &= seed == want;
        if (r->role != STUDY_FINETUNE) continue;
        const StudyRun *pre = &plan.runs[r->pretrain];
        reuse &= pre->role == STUDY_PRETRAIN && pre->seed == r->seed && pre->cell == (r->cell / 2) * 2;
        values_ok &= spec_number(&plan, r->pretrain, "mask", "ratio") == (r->cell < 2 ? 0.3 : 0.6) &&
                     spec_number(&plan, i, "finetune", "layer_decay") == (r->cell % 2 ? 1.0 : 0.75) &&
                     spec_number(&plan, i, "train", "epochs") == 2;
    }
    test_report(reuse, "expansion: one pretraining serves the cells that differ only in fine-tuning fields", "");
    test_report(seeds_ok, "expansion: each seed sets train.seed of both jobs of a cell (and the baseline's)", "");
    test_report(values_ok, "expansion: each job has its cell's values and the study's own fields", "");
    int b = plan.run_count - 1;
    json_t *spec = run_spec(&plan, b), *ft = run_spec(&plan, 5);
    test_report(plan.runs[b].role == STUDY_BASELINE && spec_number(&plan, b, "finetune", "layer_decay") == 1.0 &&
                    json_is_null(json_object_get(json_object_get(spec, "finetune"), "init_from")) &&
                    strcmp(json_string_value(json_object_get(spec, "kind")), "finetune") == 0,
                "expansion: the baseline fine-tunes from random initialisation with layer_decay 1.0", "");
    test_report(strcmp(json_string_value(json_object_get(spec, "name")), "grid/baseline-seed7") == 0 &&
                    strncmp(json_string_value(json_object_get(ft, "name")), "grid/finetune-", 14) == 0 &&
                    json_is_null(json_object_get(json_object_get(ft, "finetune"), "init_from")),
                "expansion: jobs are named after the study, the fine-tunings' init_from left to fill",
                "%s, %s", json_string_value(json_object_get(spec, "name")),
                json_string_value(json_object_get(ft, "name")));
    json_decref(spec);
    json_decref(ft);
    study_plan_free(&plan);

    // Distinct values with the same effective spec share one pretraining.
    rc = plan_of("{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.6, 0.6000000000000000001]}]}",
                 64, NULL, &plan, &e);
    test_report(rc != 0 && strcmp(e.field, "axes[0].values[1]") == 0,
                "expansion: a value equal to another is refused", "%s", e.message);
    rc = plan_of("{\"axes\": [{\"field\": \"pretrain.decoder\", \"values\": [{\"type\": \"linear\"}, "
                 "{\"type\": \"linear\", \"hidden\": null}]}, {\"field\": \"finetune.train.lr\", "
                 "\"values\": [0.001, 0.002]}]}", 64, NULL, &plan, &e);
    test_report(rc == 0 && count_role(&plan, STUDY_PRETRAIN) == 1 && count_role(&plan, STUDY_FINETUNE) == 4,
                "expansion: pretrainings are deduplicated on the effective spec", "%d pretrainings",
                rc ? -1 : count_role(&plan, STUDY_PRETRAIN));
    if (rc == 0) study_plan_free(&plan);
    // An object value merges into the study's section.
    rc = plan_of("{\"pretrain\": {\"loss\": {\"scope\": \"full\"}}, \"preset\": \"loss\"}", 64, NULL, &plan, &e);
    json_t *bins = rc == 0 ? run_spec(&plan, 6) : NULL;
    json_t *loss = json_object_get(bins, "loss");
    test_report(rc == 0 && plan.preset && strcmp(plan.preset, "loss") == 0 && plan.run_count == 8 &&
                    strcmp(json_string_value(json_object_get(loss, "type")), "bins") == 0 &&
                    json_integer_value(json_object_get(loss, "bins")) == 8 &&
                    strcmp(json_string_value(json_object_get(loss, "scope")), "full") == 0 &&
                    strcmp(plan.name, "loss") == 0,
                "presets: loss is l1, l2, smooth_l1 and 8 bins, merged into the study's loss section",
                "%s", rc ? e.message : "");
    json_decref(bins);
    if (rc == 0) study_plan_free(&plan);
    // A variant axis: each value an object merged (deeply) into the whole pretraining spec, so
    // one study runs one-factor-at-a-time variants of a default cell.
    rc = plan_of("{\"pretrain\": {\"train\": {\"epochs\": 5}}, \"axes\": [{\"field\": \"pretrain\", "
                 "\"values\": [{}, {\"mask\": {\"ratio\": 0.1}}, {\"decoder\": {\"type\": \"mlp\"}}, "
                 "{\"train\": {\"batch_size\": 64}}]}], \"seeds\": [0, 1], \"baseline\": true}",
                 64, NULL, &plan, &e);
    int merged = rc == 0;
    for (int i = 0; merged && i < plan.run_count; i++) {
        if (plan.runs[i].role != STUDY_PRETRAIN) continue;
        int c = plan.runs[i].cell;
        merged &= spec_number(&plan, i, "train", "epochs") == 5 &&
                  spec_number(&plan, i, "train", "batch_size") == (c == 3 ? 64 : 256) &&
                  spec_number(&plan, i, "mask", "ratio") == (c == 1 ? 0.1 : 0.6);
    }
    test_report(merged && count_role(&plan, STUDY_PRETRAIN) == 8 && count_role(&plan, STUDY_BASELINE) == 2 &&
                    spec_number(&plan, 0, "train", "seed") == 0,
                "expansion: a variant axis (field \"pretrain\") merges each object into the whole spec, "
                "keeping the study's other fields", "%s", rc ? e.message : "");
    if (rc == 0) study_plan_free(&plan);
}

// A study that probes its pretrainings: each new pretraining followed by its linear probe, the
// probe's spec the study's with the seed set and init_from left to fill; true probes with the
// defaults, false not at all.
static void test_probe_runs(void)
{
    StudyPlan plan;
    ApiError e;
    int rc = plan_of("{\"name\": \"p\", \"linprobe\": {\"linprobe\": {\"max_iterations\": 50}}, \"axes\": "
                     "[{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6]}, {\"field\": "
                     "\"finetune.train.lr\", \"values\": [0.001, 0.002]}], \"seeds\": [0, 7], \"baseline\": true}",
                     64, NULL, &plan, &e);
    test_report(rc == 0 && plan.run_count == 18 && count_role(&plan, STUDY_LINPROBE) == 4 &&
                    count_role(&plan, STUDY_PRETRAIN) == 4,
                "probes: one linear probe per pretraining (4 of them serving 8 fine-tunings)", "%s",
                rc ? e.message : "");
    if (rc) return;
    int placed = 1, specs = 1;
    for (int i = 0; i < plan.run_count; i++) {
        const StudyRun *r = &plan.runs[i];
        if (r->role != STUDY_LINPROBE) continue;
        const StudyRun *pre = &plan.runs[i - 1];
        placed &= r->pretrain == i - 1 && pre->role == STUDY_PRETRAIN && pre->seed == r->seed &&
                  pre->cell == r->cell;
        json_t *spec = run_spec(&plan, i);
        const json_t *lp = json_object_get(spec, "linprobe");
        char name[64];
        snprintf(name, sizeof name, "p/linprobe-%d-seed%d", r->cell + 1, r->seed ? 7 : 0);
        specs &= strcmp(json_string_value(json_object_get(spec, "kind")), "linprobe") == 0 &&
                 strcmp(json_string_value(json_object_get(spec, "name")), name) == 0 &&
                 json_integer_value(json_object_get(lp, "max_iterations")) == 50 &&
                 json_is_null(json_object_get(lp, "init_from")) &&
                 spec_number(&plan, i, "train", "seed") == (r->seed ? 7 : 0);
        json_decref(spec);
    }
    test_report(placed, "probes: each right after its pretraining, naming it", "");
    test_report(specs && json_integer_value(json_object_get(json_object_get(plan.linprobe, "linprobe"),
                                                            "max_iterations")) == 50,
                "probes: the study's probe spec, the seed set, named after the cell, init_from left to fill", "");
    study_plan_free(&plan);
    // A fine-tuning and a probe carry their pretraining's model in their specs: submitted
    // from its checkpoint, they adopt it again without a difference.
    rc = plan_of("{\"pretrain\": {\"model\": {\"embed_dim\": 32, \"depth\": 1, \"num_heads\": 2}}, "
                 "\"linprobe\": {}, \"axes\": [{\"field\": \"finetune.train.lr\", \"values\": [0.001]}]}",
                 64, NULL, &plan, &e);
    test_report(rc == 0 && plan.run_count == 3 && spec_number(&plan, 1, "model", "embed_dim") == 32 &&
                    spec_number(&plan, 2, "model", "embed_dim") == 32 && spec_number(&plan, 2, "model", "depth") == 1,
                "probes: a probe's and a fine-tuning's specs carry their pretraining's model", "%s",
                rc ? e.message : "");
    if (rc == 0) study_plan_free(&plan);
    rc = plan_of("{\"preset\": \"scope\", \"linprobe\": true}", 64, NULL, &plan, &e);
    test_report(rc == 0 && count_role(&plan, STUDY_LINPROBE) == 2 && json_is_object(plan.linprobe) &&
                    json_object_size(plan.linprobe) == 0,
                "probes: true probes with the defaults ({} kept)", "%s", rc ? e.message : "");
    if (rc == 0) study_plan_free(&plan);
    rc = plan_of("{\"preset\": \"scope\", \"linprobe\": false}", 64, NULL, &plan, &e);
    test_report(rc == 0 && count_role(&plan, STUDY_LINPROBE) == 0 && plan.linprobe == NULL,
                "probes: false probes nothing", "%s", rc ? e.message : "");
    if (rc == 0) study_plan_free(&plan);
}

static char *values_of(json_t *axes)
{
    char *text = json_dumps(json_object_get(json_array_get(axes, 0), "values"), JSON_COMPACT);
    json_decref(axes);
    return text;
}

// A model: a preset's (NULL: fmnist-q), its image and patch changed where img is not 0.
static ModelConfig model_of(const char *preset, int img, int patch)
{
    ModelConfig m = model_config_default();
    if (preset && model_config_preset(preset, &m)) abort();
    if (img) m.img_size = img, m.patch_size = patch;
    return m;
}

static void test_presets(void)
{
    static const struct {
        const char *preset, *model;
        int img, patch;
        const char *values;
    } cases[] = {
        {"mask-patch", NULL, 32, 4, "[4,8,16]"},
        {"mask-patch", NULL, 224, 16, "[16,32,112]"},
        {"mask-patch", NULL, 192, 4, "[4,8,12,16,24,32,48,64,96]"},
        {"resolution", NULL, 32, 4, "[8,16,32]"},
        {"resolution", NULL, 224, 16, "[14,28,56,112,224]"},
        {"resolution", NULL, 192, 4, "[48,96,192]"},
        {"mask-type", NULL, 32, 4, "[\"random\",\"square\",\"block\"]"},
        {"decoder", NULL, 32, 4, "[\"linear\",\"mlp\",\"transformer\"]"},
        {"scope", NULL, 32, 4, "[\"masked\",\"full\"]"},
        // A Swin's in its terms: mask cells of whole output tokens (multiples of the stride,
        // 8 for swin-fmnist's 2-pixel patches over 3 stages, 32 for swin-t-192), resolutions
        // from its output grid T = img / stride (4, 6) to the image: the paper's 6² … 192².
        {"mask-patch", "swin-fmnist", 0, 0, "[8,16]"},
        {"resolution", "swin-fmnist", 0, 0, "[4,8,16,32]"},
        {"mask-patch", "swin-t-192", 0, 0, "[32,64,96]"},
        {"resolution", "swin-t-192", 0, 0, "[6,12,24,48,96,192]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ModelConfig m = model_of(cases[i].model, cases[i].img, cases[i].patch);
        char *got = values_of(study_preset_axes(cases[i].preset, &m));
        test_report(got && strcmp(got, cases[i].values) == 0, "presets: scaled to the model",
                    "%s for %s, img %d, patch %d: %s", cases[i].preset,
                    cases[i].model ? cases[i].model : "fmnist-q", m.img_size, m.patch_size,
                    got ? got : "NULL");
        free(got);
    }
    ModelConfig fmnist_q = model_config_default();
    json_t *ratio = study_preset_axes("mask-ratio", &fmnist_q);
    const json_t *values = json_object_get(json_array_get(ratio, 0), "values");
    test_report(json_array_size(values) == 9 && json_real_value(json_array_get(values, 0)) == 0.1 &&
                    json_real_value(json_array_get(values, 8)) == 0.9 &&
                    strcmp(json_string_value(json_object_get(json_array_get(ratio, 0), "field")),
                           "pretrain.mask.ratio") == 0,
                "presets: mask-ratio is 0.1 ... 0.9 on pretrain.mask.ratio", "");
    json_decref(ratio);
    test_report(study_preset_axes("nope", &fmnist_q) == NULL, "presets: an unknown name is NULL", "");
    StudyPlan plan;
    ApiError e;
    int rc = plan_of("{\"preset\": \"mask-patch\", \"seeds\": [1, 2], \"baseline\": true}", 64, NULL, &plan, &e);
    test_report(rc == 0 && json_array_size(plan.cells) == 3 && plan.run_count == 3 * 2 * 2 + 2,
                "presets: a preset study is planned from the study's model (fmnist-q: 4, 8, 16)", "%s",
                rc ? e.message : "");
    if (rc == 0) study_plan_free(&plan);
    rc = plan_of("{\"preset\": \"resolution\", \"pretrain\": {\"model\": {\"img_size\": 64, \"patch_size\": 8}}, "
                 "\"finetune\": {\"model\": {\"img_size\": 64, \"patch_size\": 8}}}", 64, NULL, &plan, &e);
    char *cells = rc == 0 ? json_dumps(plan.cells, JSON_COMPACT) : NULL;
    test_report(cells && strcmp(cells, "[{\"pretrain.target.resolution\":8},{\"pretrain.target.resolution\":16},"
                                       "{\"pretrain.target.resolution\":32},{\"pretrain.target.resolution\":64}]") == 0,
                "presets: resolution follows the study's own model (64 px in patches of 8)", "%s",
                cells ? cells : e.message);
    free(cells);
    if (rc == 0) study_plan_free(&plan);
}

// A Swin study (swin-fmnist, or swin-t-192 at batch 16): every preset plans with no run
// refused by the spec validator, in the Swin's terms; every job is a Swin — the baseline too,
// from scratch with layer_decay 1.0, whatever the fine-tuning spec leaves out.
static void test_swin_study(void)
{
    static const char *const presets[] = {"mask-ratio", "mask-type", "mask-patch", "decoder",
                                          "resolution", "loss", "scope"};
    static const char *const models[] = {
        "{\"arch\": \"swin\"}, \"train\": {\"batch_size\": 64}",
        "{\"preset\": \"swin-t-192\"}, \"train\": {\"batch_size\": 16}"};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++)
        for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
            char body[512];
            snprintf(body, sizeof body, "{\"preset\": \"%s\", \"pretrain\": {\"model\": %s}, "
                     "\"finetune\": {\"train\": {\"batch_size\": 16}}, \"baseline\": true}",
                     presets[i], models[m]);
            StudyPlan plan;
            ApiError e;
            int rc = plan_of(body, 64, NULL, &plan, &e), swin = rc == 0;
            for (int r = 0; swin && r < plan.run_count; r++) {
                json_t *spec = run_spec(&plan, r);
                swin &= strcmp(json_string_value(json_object_get(json_object_get(spec, "model"), "arch")),
                               "swin") == 0;
                json_decref(spec);
            }
            size_t cells = rc ? 0 : json_array_size(plan.cells);
            char what[160];
            snprintf(what, sizeof what, "swin: preset %s on %s plans every cell, each job a Swin",
                     presets[i], m ? "swin-t-192" : "swin-fmnist");
            test_report(swin && plan.run_count == (int)(2 * cells + 1), what, "%s%zu cells, %d runs",
                        rc ? e.message : "", cells, rc ? 0 : plan.run_count);
            if (rc == 0) study_plan_free(&plan);
        }
    // swin-fmnist's resolution study, exactly: T = 32 / 8 = 4 … 32, each a valid pretraining
    // (4 and 8 below the 16×16 patch grid), its fine-tuning the pretraining's Swin, the baseline
    // the same Swin from scratch.
    StudyPlan plan;
    ApiError e;
    int rc = plan_of("{\"preset\": \"resolution\", \"pretrain\": {\"model\": {\"arch\": \"swin\", "
                     "\"embed_dim\": 24}}, \"baseline\": true}", 64, NULL, &plan, &e);
    char *cells = rc == 0 ? json_dumps(plan.cells, JSON_COMPACT) : NULL;
    test_report(cells && strcmp(cells, "[{\"pretrain.target.resolution\":4},{\"pretrain.target.resolution\":8},"
                                       "{\"pretrain.target.resolution\":16},{\"pretrain.target.resolution\":32}]") == 0,
                "swin: the resolution preset is T = img / stride = 4 ... 32", "%s", cells ? cells : e.message);
    free(cells);
    if (rc) return;
    int b = plan.run_count - 1, ok = plan.runs[b].role == STUDY_BASELINE;
    for (int r = 0; ok && r < plan.run_count; r++) {
        json_t *spec = run_spec(&plan, r), *model = json_object_get(spec, "model");
        char *depths = json_dumps(json_object_get(model, "depths"), JSON_COMPACT);
        ok &= strcmp(depths, "[2,2,2]") == 0 && json_integer_value(json_object_get(model, "embed_dim")) == 24 &&
              (plan.runs[r].role != STUDY_PRETRAIN ||
               spec_number(&plan, r, "target", "resolution") == 4 << plan.runs[r].cell);
        free(depths);
        json_decref(spec);
    }
    json_t *base = run_spec(&plan, b);
    test_report(ok && spec_number(&plan, b, "finetune", "layer_decay") == 1.0 &&
                    spec_number(&plan, 1, "finetune", "layer_decay") == 0.75 &&
                    json_is_null(json_object_get(json_object_get(base, "finetune"), "init_from")),
                "swin: each pretraining has its resolution; fine-tunings and the baseline (layer_decay "
                "1.0, from scratch) are the study's Swin", "");
    json_decref(base);
    study_plan_free(&plan);
}

// A check as the jobs API's would answer: no dataset "nope" (404), and a ratio it refuses.
static int fake_check(void *ctx, JobSpec *spec, ApiError *e)
{
    (void)ctx;
    if (strcmp(spec->dataset_name, "nope") == 0) {
        api_error_set(e, 404, "dataset", "dataset: no dataset named \"nope\" is registered");
        return -1;
    }
    if (spec->kind == JOB_PRETRAIN && spec->mask.ratio > 0.85) {
        api_error_set(e, 400, "train.max_memory_mb", "train.max_memory_mb: too big (a test's check)");
        return -1;
    }
    return 0;
}

static void test_bad_input(void)
{
    static const struct {
        const char *name, *body;
        int max_cells;
        unsigned status;
        const char *field, *says;
    } cases[] = {
        {"an unknown field in an axis", "{\"axes\": [{\"field\": \"pretrain.mask.ratoi\", \"values\": [0.5]}]}",
         64, 400, "axes[0].field", "mask.ratoi: unknown field"},
        {"a field of a value", "{\"axes\": [{\"field\": \"pretrain.mask.ratio.x\", \"values\": [0.5]}]}",
         64, 400, "axes[0].field", "mask.ratio"},
        {"a value the spec refuses", "{\"axes\": [{\"field\": \"pretrain.train.lr\", \"values\": [0.1]}, "
         "{\"field\": \"pretrain.mask.ratio\", \"values\": [0.5, 1.5]}]}",
         64, 400, "axes[1].values[1]", "mask.ratio"},
        {"a value of the wrong type", "{\"axes\": [{\"field\": \"finetune.train.epochs\", \"values\": [2, \"ten\"]}]}",
         64, 400, "axes[0].values[1]", "train.epochs"},
        {"a combination the spec refuses", "{\"axes\": [{\"field\": \"pretrain.decoder.type\", \"values\": "
         "[\"mlp\", \"linear\"]}, {\"field\": \"pretrain.decoder.hidden\", \"values\": [64]}]}",
         64, 400, "axes[1].values[0]", "only used by decoder.type"},
        {"an empty grid", "{\"axes\": []}", 64, 400, "axes", "empty"},
        {"no axes at all", "{\"pretrain\": {}}", 64, 400, "axes", "empty"},
        {"an axis without values", "{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": []}]}",
         64, 400, "axes[0].values", "at least one"},
        {"too many cells", "{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6]}, "
         "{\"field\": \"finetune.train.lr\", \"values\": [0.001, 0.002, 0.003]}]}",
         5, 400, "axes", "max_cells"},
        {"more values than cells", "{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.4, 0.6]}]}",
         2, 400, "axes[0].values", "max_cells"},
        {"a field without its kind", "{\"axes\": [{\"field\": \"mask.ratio\", \"values\": [0.5]}]}",
         64, 400, "axes[0].field", "pretrain. or finetune."},
        {"an axis on the seed", "{\"axes\": [{\"field\": \"finetune.train.seed\", \"values\": [1]}]}",
         64, 400, "axes[0].field", "seeds"},
        {"a variant that is not an object", "{\"axes\": [{\"field\": \"pretrain\", \"values\": [{}, 0.5]}]}",
         64, 400, "axes[0].values[1]", "objects"},
        {"a variant that sets the seed", "{\"axes\": [{\"field\": \"finetune\", \"values\": [{\"train\": "
         "{\"seed\": 3}}]}]}", 64, 400, "axes[0].values[0]", "seeds"},
        {"a variant with a field the spec refuses", "{\"axes\": [{\"field\": \"pretrain\", \"values\": "
         "[{}, {\"mask\": {\"ratoi\": 0.5}}]}]}", 64, 400, "axes[0].values[1]", "unknown field"},
        {"a field that only starts like a kind", "{\"axes\": [{\"field\": \"pretrains.mask.ratio\", "
         "\"values\": [0.5]}]}", 64, 400, "axes[0].field", "pretrain. or finetune."},
        {"an axis on init_from", "{\"axes\": [{\"field\": \"finetune.finetune.init_from\", \"values\": [1]}]}",
         64, 400, "axes[0].field", "starts each fine-tuning"},
        {"a repeated field", "{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.5]}, "
         "{\"field\": \"pretrain.mask.ratio\", \"values\": [0.6]}]}", 64, 400, "axes[1].field", "repeats"},
        {"an axis that is not an object", "{\"axes\": [3]}", 64, 400, "axes[0]", "field"},
        {"an unknown key", "{\"axis\": []}", 64, 400, "axis", "unknown field"},
        {"a bad seed", "{\"preset\": \"scope\", \"seeds\": [0, -1]}", 64, 400, "seeds[1]", "integer"},
        {"a repeated seed", "{\"preset\": \"scope\", \"seeds\": [3, 3]}", 64, 400, "seeds[1]", "repeats"},
        {"no seeds", "{\"preset\": \"scope\", \"seeds\": []}", 64, 400, "seeds", "1 to"},
        {"an unknown preset", "{\"preset\": \"masks\"}", 64, 400, "preset", "mask-ratio"},
        {"a preset and axes", "{\"preset\": \"scope\", \"axes\": [{\"field\": \"pretrain.mask.ratio\", "
         "\"values\": [0.5]}]}", 64, 400, "preset", "not both"},
        {"the study's init_from", "{\"preset\": \"scope\", \"finetune\": {\"finetune\": {\"init_from\": 3}}}",
         64, 400, "finetune.finetune.init_from", "study starts"},
        {"a kind that is not its own", "{\"preset\": \"scope\", \"pretrain\": {\"kind\": \"finetune\"}}",
         64, 400, "pretrain.kind", "pretrain"},
        {"a bad field of the study's spec", "{\"preset\": \"scope\", \"finetune\": {\"train\": {\"lr\": -1}}}",
         64, 400, "finetune.train.lr", "train.lr"},
        {"invalid JSON", "{\"preset\": ", 64, 400, "", "invalid JSON"},
        {"a name too long", "{\"preset\": \"scope\", \"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         64, 400, "name", "1 to 64"},
        {"the check's error on a cell", "{\"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.5, 0.9]}]}",
         64, 400, "axes[0].values[1]", "a test's check"},
        {"the check's error on the study's spec", "{\"preset\": \"scope\", \"pretrain\": {\"dataset\": \"nope\"}}",
         64, 404, "pretrain.dataset", "no dataset named"},
        {"a probe that is not a spec", "{\"preset\": \"scope\", \"linprobe\": 3}", 64, 400, "linprobe",
         "true or false"},
        {"the probe's init_from", "{\"preset\": \"scope\", \"linprobe\": {\"linprobe\": {\"init_from\": 2}}}",
         64, 400, "linprobe.linprobe.init_from", "each linear probe"},
        {"a probe of another kind", "{\"preset\": \"scope\", \"linprobe\": {\"kind\": \"pretrain\"}}", 64, 400,
         "linprobe.kind", "\"linprobe\""},
        {"a bad field of the probe's spec", "{\"preset\": \"scope\", \"linprobe\": {\"linprobe\": "
         "{\"max_iterations\": 0}}}", 64, 400, "linprobe.linprobe.max_iterations", "linprobe.max_iterations"},
        {"the check's error on the probe's spec", "{\"preset\": \"scope\", \"linprobe\": {\"dataset\": \"nope\"}}",
         64, 404, "linprobe.dataset", "no dataset named"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        StudyPlan plan;
        ApiError e = {0};
        int rc = plan_of(cases[i].body, cases[i].max_cells, fake_check, &plan, &e);
        int ok = rc != 0 && e.status == cases[i].status && strcmp(e.field, cases[i].field) == 0 &&
                 strstr(e.message, cases[i].says) && plan.runs == NULL && plan.axes == NULL;
        test_report(ok, "bad input", "%s: %u %s: %s", cases[i].name, e.status, e.field, e.message);
        if (rc == 0) study_plan_free(&plan);
    }
}

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

static void test_stats(void)
{
    StudyStats st;
    double top1[] = {70, 72}, base[] = {68, 69};
    study_stats(top1, base, 2, &st);
    test_report(near(st.mean, 71) && near(st.sd, sqrt(2)) && near(st.gain_mean, 2.5) && near(st.gain_se, 0.5),
                "stats: mean, sample sd, paired gain and its standard error",
                "%g %g %g %g", st.mean, st.sd, st.gain_mean, st.gain_se);
    double some[] = {70, NAN, 74}, base_some[] = {68, 69, NAN};
    study_stats(some, base_some, 3, &st);
    test_report(near(st.mean, 72) && near(st.sd, sqrt(8)) && near(st.gain_mean, 2) && isnan(st.gain_se),
                "stats: missing seeds are left out; a gain needs both of a seed", "%g %g %g %g", st.mean,
                st.sd, st.gain_mean, st.gain_se);
    double three[] = {80, 81, 85}, base3[] = {78, 80, 81};
    study_stats(three, base3, 3, &st); // gains 2, 1, 4: mean 7/3, sd sqrt(7/3)
    test_report(near(st.gain_mean, 7.0 / 3) && near(st.gain_se, sqrt(7.0 / 3) / sqrt(3)),
                "stats: three pairs", "%g ± %g", st.gain_mean, st.gain_se);
    double none[] = {NAN, NAN};
    study_stats(none, NULL, 2, &st);
    test_report(isnan(st.mean) && isnan(st.sd) && isnan(st.gain_mean) && isnan(st.gain_se),
                "stats: nothing done yet is all undefined", "");
}

// A study's record as the store gives it: 2 cells (ratio 0.3, 0.6) x seeds 0, 1 and a baseline;
// cell 0 done (its pretrainings' k-NN top-1 60 and 62), cell 1's seed 1 pretraining failed.
static const char *const RAW =
    "{\"id\": 4, \"name\": \"ratio\", \"preset\": null, \"created_at\": 1.5, \"control\": \"active\","
    " \"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6]}], \"seeds\": [0, 1],"
    " \"baseline\": true, \"cells\": [{\"pretrain.mask.ratio\": 0.3}, {\"pretrain.mask.ratio\": 0.6}],"
    " \"pretrain\": {}, \"finetune\": {}, \"runs\": ["
    "{\"id\": 1, \"role\": \"pretrain\", \"cell\": 0, \"seed\": 0, \"job_id\": 1, \"job_state\": \"succeeded\", \"duration_s\": 10, \"img_per_s\": 100, \"params\": 806160, \"knn_top1\": 60},"
    "{\"id\": 2, \"role\": \"finetune\", \"cell\": 0, \"seed\": 0, \"pretrain_run\": 1, \"job_id\": 5, \"job_state\": \"succeeded\", \"top1\": 70},"
    "{\"id\": 3, \"role\": \"pretrain\", \"cell\": 0, \"seed\": 1, \"job_id\": 2, \"job_state\": \"succeeded\", \"duration_s\": 12, \"img_per_s\": 120, \"params\": 806160, \"knn_top1\": 62},"
    "{\"id\": 4, \"role\": \"finetune\", \"cell\": 0, \"seed\": 1, \"pretrain_run\": 3, \"job_id\": 6, \"job_state\": \"succeeded\", \"top1\": 72},"
    "{\"id\": 5, \"role\": \"pretrain\", \"cell\": 1, \"seed\": 0, \"job_id\": 3, \"job_state\": \"running\"},"
    "{\"id\": 6, \"role\": \"finetune\", \"cell\": 1, \"seed\": 0, \"pretrain_run\": 5},"
    "{\"id\": 7, \"role\": \"pretrain\", \"cell\": 1, \"seed\": 1, \"job_id\": 4, \"job_state\": \"failed\"},"
    "{\"id\": 8, \"role\": \"finetune\", \"cell\": 1, \"seed\": 1, \"pretrain_run\": 7},"
    "{\"id\": 9, \"role\": \"baseline\", \"cell\": -1, \"seed\": 0, \"job_id\": 7, \"job_state\": \"succeeded\", \"top1\": 68},"
    "{\"id\": 10, \"role\": \"baseline\", \"cell\": -1, \"seed\": 1, \"job_id\": 8, \"job_state\": \"succeeded\", \"top1\": 69}]}";

static double num(const json_t *obj, const char *key) { return json_number_value(json_object_get(obj, key)); }

static void test_shape_and_tables(void)
{
    json_t *study = study_shape(json_loads(RAW, 0, NULL), 1);
    const json_t *rows = json_object_get(study, "rows"), *r0 = json_array_get(rows, 0),
                 *r1 = json_array_get(rows, 1), *b = json_object_get(study, "baseline_row");
    test_report(study && strcmp(json_string_value(json_object_get(study, "state")), "running") == 0 &&
                    num(study, "cells_done") == 1 && num(study, "cells_total") == 2 &&
                    num(study, "jobs_done") == 8 && num(study, "jobs_total") == 10,
                "shape: a study with a pretraining still running is running; progress counted",
                "%s", json_string_value(json_object_get(study, "state")));
    char *top1 = json_dumps(json_object_get(r0, "top1"), JSON_COMPACT);
    test_report(near(num(r0, "top1_mean"), 71) && near(num(r0, "top1_sd"), sqrt(2)) &&
                    near(num(r0, "gain_mean"), 2.5) && near(num(r0, "gain_se"), 0.5) &&
                    strcmp(top1, "[70.0,72.0]") == 0 && near(num(r0, "pretrain_wall_s"), 11) &&
                    near(num(r0, "img_per_s"), 110) && num(r0, "params") == 806160 &&
                    near(num(r0, "knn_top1_mean"), 61) && near(num(r0, "knn_top1_sd"), sqrt(2)) &&
                    json_is_null(json_object_get(r0, "linprobe_top1_mean")),
                "shape: a row's top-1s by seed, mean ± sd, gain ± se, k-NN top-1, the pretraining's cost",
                "%s", top1);
    free(top1);
    char *states = json_dumps(json_object_get(r1, "states"), JSON_COMPACT),
         *errors = json_dumps(json_object_get(r1, "errors"), JSON_COMPACT),
         *ids = json_dumps(json_object_get(r1, "job_ids"), JSON_COMPACT);
    test_report(strcmp(states, "[\"pending\",\"blocked\"]") == 0 &&
                    strcmp(errors, "[null,\"its pretraining (job 4) failed\"]") == 0 &&
                    strcmp(ids, "{\"pretrain\":[3,4],\"finetune\":[null,null],\"linprobe\":[null,null]}") == 0 &&
                    json_is_null(json_object_get(r1, "top1_mean")) && json_is_null(json_object_get(r1, "params")),
                "shape: a cell waits for its pretraining, or says it failed", "%s %s %s", states, errors, ids);
    free(states);
    free(errors);
    free(ids);
    test_report(b && near(num(b, "top1_mean"), 68.5) && json_is_null(json_object_get(b, "gain_mean")) &&
                    json_object_size(json_object_get(b, "values")) == 0,
                "shape: the baseline row", "");
    char *csv = study_table_csv(study), *md = study_table_md(study);
    test_report(csv && strstr(csv, "row,pretrain.mask.ratio,top1_mean,top1_sd,gain_mean,gain_se,pretrain_wall_s,"
                                   "img_per_s,params,knn_top1_mean,knn_top1_sd,linprobe_top1_mean,"
                                   "linprobe_top1_sd,top1_seed0,top1_seed1\r\n") == csv &&
                    strstr(csv, "\r\nbaseline,,68.5,0.7071067811865476,,,,,,,,,,68,69\r\n") &&
                    strstr(csv, "\r\n1,0.3,71,1.4142135623730951,2.5,0.5,11,110,806160,61,1.4142135623730951,,,70,72\r\n") &&
                    strstr(csv, "\r\n2,0.6,,,,,,,,,,,,,\r\n"),
                "tables: CSV, one line per row, the baseline first", "%s", csv ? csv : "NULL");
    test_report(md && strstr(md, "| pretrain.mask.ratio | top-1 (%) | gain (pp) | k-NN (%) | pretraining (s) | img/s | params |\n"
                                 "|---|---:|---:|---:|---:|---:|---:|\n"
                                 "| baseline (from scratch) | 68.50 ± 0.71 | — | — | — | — | — |\n"
                                 "| 0.3 | 71.00 ± 1.41 | +2.50 ± 0.50 | 61.00 ± 1.41 | 11.0 | 110.0 | 806160 |\n"
                                 "| 0.6 | — | — | — | — | — | — |\n") == md &&
                    strstr(md, "Study 4 \"ratio\" (running, 1 of 2 cells done)"),
                "tables: Markdown in the paper's layout", "%s", md ? md : "NULL");
    free(csv);
    free(md);
    test_report(json_is_null(json_object_get(study, "work_left_s")),
                "work left: unknown while no fine-tuning has a run time to go by", "");
    json_decref(study);

    // Work left: the running pretraining's mean (11 s) less its 4 s, the waiting fine-tuning's
    // mean (36 s: its kind's and the baselines'); the fine-tuning behind the failed
    // pretraining will not run.
    json_t *timed = json_loads(RAW, 0, NULL);
    json_t *timed_runs = json_object_get(timed, "runs");
    const double durations[][2] = {{1, 30}, {3, 34}, {4, 4}, {8, 40}, {9, 40}}; // run index, s
    for (size_t i = 0; i < sizeof durations / sizeof *durations; i++)
        json_object_set_new(json_array_get(timed_runs, (size_t)durations[i][0]), "duration_s",
                            json_real(durations[i][1]));
    study = study_shape(timed, 0);
    test_report(study && near(num(study, "work_left_s"), 7 + 36),
                "work left: each unfinished job at its kind's mean run time, less what it ran",
                "%g", num(study, "work_left_s"));
    json_decref(study);

    // Everything ended: the pending seat's pretraining failed too; and a cancelled study.
    json_t *raw = json_loads(RAW, 0, NULL);
    json_object_set_new(json_array_get(json_object_get(raw, "runs"), 4), "job_state", json_string("cancelled"));
    study = study_shape(json_deep_copy(raw), 0);
    test_report(study && strcmp(json_string_value(json_object_get(study, "state")), "failed") == 0 &&
                    num(study, "cells_done") == 2 && !json_object_get(study, "rows"),
                "shape: a study whose every job ended, some not succeeded, failed", "%s",
                json_string_value(json_object_get(study, "state")));
    json_decref(study);
    json_object_set_new(raw, "control", json_string("cancelled"));
    study = study_shape(raw, 0);
    test_report(study && strcmp(json_string_value(json_object_get(study, "state")), "cancelled") == 0 &&
                    num(study, "work_left_s") == 0,
                "shape: a cancelled study, no work left", "");
    json_decref(study);
    // A value with a comma and an object value, in both tables.
    json_t *one = json_loads(
        "{\"id\": 1, \"name\": \"a|b\", \"control\": \"active\", \"axes\": [{\"field\": "
        "\"pretrain.loss\", \"values\": [{\"type\": \"bins\", \"bins\": 8}, \"a,b\"]}], \"seeds\": [0], "
        "\"baseline\": false, \"cells\": [{\"pretrain.loss\": {\"type\": \"bins\", \"bins\": 8}}], "
        "\"runs\": [{\"id\": 1, \"role\": \"finetune\", \"cell\": 0, \"seed\": 0, \"job_id\": 3, "
        "\"job_state\": \"queued\"}], \"pretrain\": {}, \"finetune\": {}, \"created_at\": 2.0}", 0, NULL);
    study = study_shape(one, 1);
    csv = study ? study_table_csv(study) : NULL;
    md = study ? study_table_md(study) : NULL;
    test_report(csv && strstr(csv, "\r\n1,\"type: bins, bins: 8\",") && md &&
                    strstr(md, "| type: bins, bins: 8 | — |") && strstr(md, "\"a\\|b\""),
                "tables: object values read as key: value; CSV quoting, Markdown escapes",
                "%s %s", csv ? csv : "NULL", md ? md : "NULL");
    free(csv);
    free(md);
    json_decref(study);
    // A variant axis: its default cell, {}, is named, not left blank.
    json_t *variant = json_loads(
        "{\"id\": 2, \"name\": \"v\", \"control\": \"active\", \"axes\": [{\"field\": "
        "\"pretrain\", \"values\": [{}, {\"mask\": {\"ratio\": 0.1}}]}], \"seeds\": [0], "
        "\"baseline\": false, \"cells\": [{\"pretrain\": {}}, {\"pretrain\": {\"mask\": {\"ratio\": 0.1}}}], "
        "\"runs\": [{\"id\": 1, \"role\": \"finetune\", \"cell\": 0, \"seed\": 0, \"job_id\": 3, "
        "\"job_state\": \"queued\"}, {\"id\": 2, \"role\": \"finetune\", \"cell\": 1, \"seed\": 0, "
        "\"job_id\": 4, \"job_state\": \"queued\"}], \"pretrain\": {\"eval\": {\"knn\": {\"enabled\": false}}}, "
        "\"finetune\": {}, \"created_at\": 2.0}",
        0, NULL);
    study = study_shape(variant, 1);
    csv = study ? study_table_csv(study) : NULL;
    md = study ? study_table_md(study) : NULL;
    test_report(csv && strstr(csv, "\r\n1," STUDY_UNCHANGED ",") && strstr(csv, "\r\n2,mask: ratio: 0.1,") &&
                    md && strstr(md, "| " STUDY_UNCHANGED " | — |") && strstr(md, "| mask: ratio: 0.1 | — |"),
                "tables: a variant axis's default cell reads " STUDY_UNCHANGED, "%s %s",
                csv ? csv : "NULL", md ? md : "NULL");
    test_report(md && strstr(md, "| pretrain | top-1 (%) | gain (pp) | pretraining (s) | img/s | params |\n"
                                 "|---|---:|---:|---:|---:|---:|\n") == md &&
                    !strstr(md, "k-NN") && csv && strstr(csv, "knn_top1_mean"),
                "tables: with eval.knn off, Markdown has no k-NN column (CSV keeps its columns)", "%s",
                md ? md : "NULL");
    free(csv);
    free(md);
    json_decref(study);
}

// RAW with probes: the seed-0 pretraining of cell 0 probed (55), its seed-1 probe running, cell
// 1's probes waiting for a pretraining that runs and blocked by one that failed.
static void test_probe_rows(void)
{
    json_t *raw = json_loads(RAW, 0, NULL), *probes = json_loads(
        "[{\"id\": 11, \"role\": \"linprobe\", \"cell\": 0, \"seed\": 0, \"pretrain_run\": 1, \"job_id\": 9, \"job_state\": \"succeeded\", \"top1\": 55},"
        " {\"id\": 12, \"role\": \"linprobe\", \"cell\": 0, \"seed\": 1, \"pretrain_run\": 3, \"job_id\": 10, \"job_state\": \"running\"},"
        " {\"id\": 13, \"role\": \"linprobe\", \"cell\": 1, \"seed\": 0, \"pretrain_run\": 5},"
        " {\"id\": 14, \"role\": \"linprobe\", \"cell\": 1, \"seed\": 1, \"pretrain_run\": 7}]", 0, NULL);
    json_object_set_new(raw, "linprobe", json_object());
    json_array_extend(json_object_get(raw, "runs"), probes);
    json_decref(probes);
    json_t *study = study_shape(raw, 1);
    const json_t *r0 = json_array_get(json_object_get(study, "rows"), 0);
    char *lin = json_dumps(json_object_get(r0, "linprobe_top1"), JSON_COMPACT),
         *ids = json_dumps(json_object_get(json_object_get(r0, "job_ids"), "linprobe"), JSON_COMPACT);
    test_report(study && strcmp(lin, "[55.0,null]") == 0 && near(num(r0, "linprobe_top1_mean"), 55) &&
                    json_is_null(json_object_get(r0, "linprobe_top1_sd")) && strcmp(ids, "[9,10]") == 0,
                "probe rows: the probes' top-1 by seed, mean, job ids", "%s %s", lin, ids);
    free(lin);
    free(ids);
    test_report(num(study, "cells_done") == 0 && num(study, "jobs_done") == 10 && num(study, "jobs_total") == 14 &&
                    json_is_object(json_object_get(study, "linprobe")),
                "probe rows: a cell is done once its probes ended too; blocked probes count as ended",
                "%g cells, %g of %g jobs", num(study, "cells_done"), num(study, "jobs_done"),
                num(study, "jobs_total"));
    char *csv = study_table_csv(study), *md = study_table_md(study);
    test_report(csv && strstr(csv, "\r\n1,0.3,71,1.4142135623730951,2.5,0.5,11,110,806160,61,1.4142135623730951,55,,70,72\r\n") &&
                    md && strstr(md, "| pretrain.mask.ratio | top-1 (%) | gain (pp) | k-NN (%) | linear probe (%) | "
                                     "pretraining (s) | img/s | params |\n|---|---:|---:|---:|---:|---:|---:|---:|\n") &&
                    strstr(md, "| 0.3 | 71.00 ± 1.41 | +2.50 ± 0.50 | 61.00 ± 1.41 | 55.00 | 11.0 | 110.0 | 806160 |\n") &&
                    strstr(md, "a linear probe of its encoder"),
                "probe rows: the tables' linear-probe figures", "%s%s", csv ? csv : "NULL", md ? md : "NULL");
    free(csv);
    free(md);
    json_decref(study);
}

int main(void)
{
    test_expansion();
    test_probe_runs();
    test_presets();
    test_swin_study();
    test_bad_input();
    test_stats();
    test_shape_and_tables();
    test_probe_rows();
    TEST_EXIT();
}
