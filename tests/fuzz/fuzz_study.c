// A study request (server/studies.h) on any bytes: study_plan must not crash or leak, and
// its refusal is a 4xx with one line of UTF-8 naming the field at fault. A plan it accepts
// must hold together: at most max_cells cells; every run's spec a job spec spec_parse
// accepts, of the kind its role says (a fine-tuning and a probe once their pretraining's
// checkpoint is filled in), its seed one of the study's; each fine-tuning and probe served by
// an earlier pretraining of the same seed; and every cell served by a fine-tuning per seed.
#include <string.h>

#include "fuzz.h"
#include "spec/spec.h"
#include "studies.h"

// Each cell is a pretraining and a fine-tuning per seed: few enough that an input runs in
// milliseconds, enough for the grid's arithmetic and its limit.
enum { MAX_CELLS = 12 };

static const char *role_name(StudyRole role)
{
    return role == STUDY_PRETRAIN ? "pretraining" : role == STUDY_FINETUNE ? "fine-tuning"
           : role == STUDY_BASELINE ? "baseline" : "linear probe";
}

// The run's spec as simmim-train would get it: a fine-tuning's and a probe's starting
// checkpoint filled in as the study fills it.
static void check_run_spec(const StudyRun *run, int index)
{
    json_t *spec = json_loads(run->spec, 0, NULL);
    FUZZ_CHECK(json_is_object(spec), "run %d (%s): its spec is not a JSON object: %s", index,
               role_name(run->role), run->spec);
    if (run->role == STUDY_FINETUNE || run->role == STUDY_LINPROBE) {
        const char *section_name = run->role == STUDY_LINPROBE ? "linprobe" : "finetune";
        json_t *section = json_object_get(spec, section_name);
        if (!section) json_object_set_new(spec, section_name, section = json_object());
        json_object_set_new(section, "init_from", json_pack("{s:i}", "checkpoint", 1));
    }
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    FUZZ_CHECK(text != NULL, "out of memory");
    JobSpec parsed;
    SpecError err;
    int rc = spec_parse(text, strlen(text), &parsed, &err);
    FUZZ_CHECK(rc == 0, "run %d (%s): its spec %s is refused: %s: %s", index,
               role_name(run->role), text, err.field, err.message);
    JobKind kind = run->role == STUDY_PRETRAIN ? JOB_PRETRAIN
                   : run->role == STUDY_LINPROBE ? JOB_LINPROBE : JOB_FINETUNE;
    FUZZ_CHECK(parsed.kind == kind, "run %d (%s): its spec is of another kind: %s", index,
               role_name(run->role), text);
    free(text);
}

static void check_plan(const StudyPlan *plan)
{
    size_t cells = json_array_size(plan->cells), seeds = json_array_size(plan->seeds);
    FUZZ_CHECK(cells >= 1 && cells <= MAX_CELLS, "%zu cells planned (at most %d)", cells,
               MAX_CELLS);
    FUZZ_CHECK(seeds >= 1 && seeds <= STUDY_MAX_SEEDS, "%zu seeds planned", seeds);
    int *served = calloc(cells * seeds, sizeof *served);
    FUZZ_CHECK(served != NULL, "out of memory");
    for (int i = 0; i < plan->run_count; i++) {
        const StudyRun *run = &plan->runs[i];
        FUZZ_CHECK(run->seed >= 0 && (size_t)run->seed < seeds, "run %d: seed index %d of %zu",
                   i, run->seed, seeds);
        FUZZ_CHECK(run->role == STUDY_BASELINE ? run->cell == -1
                                               : run->cell >= 0 && (size_t)run->cell < cells,
                   "run %d (%s): cell %d of %zu", i, role_name(run->role), run->cell, cells);
        int served_by_pretraining = run->role == STUDY_FINETUNE || run->role == STUDY_LINPROBE;
        FUZZ_CHECK(served_by_pretraining
                       ? run->pretrain >= 0 && run->pretrain < i &&
                             plan->runs[run->pretrain].role == STUDY_PRETRAIN &&
                             plan->runs[run->pretrain].seed == run->seed
                       : run->pretrain == -1,
                   "run %d (%s): pretraining %d", i, role_name(run->role), run->pretrain);
        if (run->role == STUDY_FINETUNE) served[(size_t)run->cell * seeds + (size_t)run->seed]++;
        check_run_spec(run, i);
    }
    for (size_t c = 0; c < cells * seeds; c++)
        FUZZ_CHECK(served[c] == 1, "cell %zu seed %zu has %d fine-tunings", c / seeds, c % seeds,
                   served[c]);
    free(served);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    StudyPlan plan;
    ApiError e;
    memset(&e, 0, sizeof e);
    if (study_plan((const char *)data, size, MAX_CELLS, NULL, NULL, &plan, &e)) {
        fuzz_note("refused: %u %s: %s", e.status, e.field, e.message);
        FUZZ_CHECK(e.status >= 400 && e.status < 500, "refused with status %u", e.status);
        FUZZ_CHECK(fuzz_one_line_utf8(e.message, sizeof e.message) && e.message[0],
                   "the error message is empty or not one line of UTF-8");
        FUZZ_CHECK(fuzz_one_line_utf8(e.field, sizeof e.field), "the error field is not UTF-8");
        return 0;
    }
    fuzz_note("accepted: %zu cells, %d runs", json_array_size(plan.cells), plan.run_count);
    check_plan(&plan);
    study_plan_free(&plan);
    return 0;
}
