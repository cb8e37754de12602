// Study jobs (issue 27, docs/http-api.md#studies): one request runs a grid of pretraining →
// fine-tuning experiments and answers with the paper's tables. What needs no database: the
// request read into a plan — its axes (or the paper's grid as a preset, scaled to the model),
// the cells as their Cartesian product, and one job spec per run (a pretraining per distinct
// effective pretraining spec and seed, with its linear probe if the study asks for probes, a
// fine-tuning per cell and seed, a baseline per seed: the study's pretraining model from
// scratch), each checked as the jobs API checks it and refused naming the axis at fault — and
// the study as the API answers it, shaped from its runs (rows with top-1 mean and sd over the
// seeds, the gain over the baseline paired by seed with its standard error, the pretraining's
// k-NN top-1 and the probe's, the pretraining's cost; state and progress), and its tables in
// CSV and Markdown.
#ifndef SIMMIMD_STUDIES_H
#define SIMMIMD_STUDIES_H

#include <jansson.h>
#include <stddef.h>

#include "api.h"
#include "config/config.h"

enum { STUDY_MAX_AXES = 8, STUDY_MAX_SEEDS = 16, STUDY_NAME_MAX = 64, STUDY_DEFAULT_MAX_CELLS = 64 };

// Checks one expanded spec as a submission would (ctx is the caller's): 0, or -1 with *e. It
// may complete the spec (a starting checkpoint's model adopted).
typedef int (*StudyCheck)(void *ctx, JobSpec *spec, ApiError *e);

typedef struct {
    char name[STUDY_NAME_MAX + 1];
    const char *preset;   // static text; NULL: the request gave axes
    json_t *axes;         // [{"field": "pretrain.mask.ratio", "values": [...]}...]
    json_t *seeds;        // [0, 1]
    json_t *cells;        // one {field: value} object per cell, first axis slowest
    json_t *pretrain, *finetune; // the study's specs as given
    json_t *linprobe;     // the study's linear-probe spec as given (true: {}); NULL: no probes
    int baseline;
    StudyRun *runs;       // pretrainings, each before its linear probe and the fine-tunings
                          // it serves; baselines last
    int run_count;
} StudyPlan;

// Reads a POST /api/v1/studies body into a plan: at most max_cells cells. Every run's spec is
// parsed by spec_parse (a fine-tuning's and a probe's with its pretraining's model adopted, a
// baseline's with the study's own pretraining's) and given to check (NULL: none). 0, or -1
// with *e: a 400 naming the field at fault — a key of the body, "pretrain.<field>",
// "finetune.<field>" or "linprobe.<field>" for the study's own specs (each must be a valid job
// on its own), "axes[i].field" or "axes[i].values[j]" for an axis — or check's own error for a
// spec of the study's (its field prefixed). Nothing is kept on error.
int study_plan(const char *body, size_t len, int max_cells, StudyCheck check, void *ctx,
               StudyPlan *plan, ApiError *e);
void study_plan_free(StudyPlan *plan);

// The paper's grid named by preset (mask-ratio, mask-type, mask-patch, decoder, resolution,
// loss, scope) as axes, in the terms of the pretraining's model (validated): mask cells the
// multiples of its encoder's stride (a ViT's patch, a Swin's patch_size · 2^(stages − 1)) that
// divide the image, at most half of it; target resolutions the multiples of its output grid
// T = img_size / stride that divide the image. NULL for an unknown name. The words are listed
// in STUDY_PRESETS.
#define STUDY_PRESETS "mask-ratio, mask-type, mask-patch, decoder, resolution, loss or scope"
json_t *study_preset_axes(const char *preset, const ModelConfig *model);

// Statistics of a row over n seeds: top1[s] and baseline[s] NAN where missing (baseline NULL:
// none). mean and sd (the sample standard deviation) of the top-1s present; gain_mean and
// gain_se of top1[s] − baseline[s] over the seeds that have both (se = sd / √pairs). NAN where
// undefined: no value (mean), fewer than two (sd, se).
typedef struct {
    double mean, sd, gain_mean, gain_se;
} StudyStats;
void study_stats(const double *top1, const double *baseline, int n, StudyStats *out);

// The study as the API answers it (docs/http-api.md#study), from store_study_raw's record
// (stolen); rows and the baseline row only with with_rows. NULL when out of memory.
json_t *study_shape(json_t *raw, int with_rows);
// Its tables, from the answer study_shape gave: malloc'd NUL-terminated text, NULL when out of
// memory. CSV: one line per row (baseline first) with every figure; Markdown: the paper's
// layout, axis values as rows, top-1 mean ± sd, gain ± se, the pretraining's cost.
// A variant axis's empty value (the study's spec as given, the default cell) in the tables,
// the dashboard's too.
#define STUDY_UNCHANGED "(unchanged)"
char *study_table_csv(const json_t *study);
char *study_table_md(const json_t *study);

#endif
