// Study jobs without the database (studies.h): the request into a plan (body, presets, axes,
// cells, runs, each run's spec checked and its errors blamed on an axis), the study's answer
// shaped from its runs, the row arithmetic, and the tables.
#include "studies.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "spec/spec.h"

#define SEED_MAX (1LL << 53)

// ================================================================== the plan

typedef struct {
    json_t *body, *pretrain, *finetune, *axes, *seeds;
    json_t *linprobe;    // the study's linear-probe spec; NULL: no probes
    int baseline;
    JobSpec *base;       // the study's pretraining spec for the first seed, checked
    JobSpec *scratch;    // a spec being expanded
    char **keys;         // per run: a pretraining's effective spec (name left out); else NULL
    ModelConfig *models; // per run: a pretraining's model once checked
    StudyCheck check;
    void *ctx;
} Planner;

static int axis_error(ApiError *e, size_t i, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// The presets' words, as STUDY_PRESETS lists them.
static const char *const PRESETS[] = {"mask-ratio", "mask-type", "mask-patch", "decoder",
                                      "resolution", "loss", "scope"};
static const char *const BODY_KEYS[] = {"name", "preset", "pretrain", "finetune", "linprobe",
                                        "axes", "seeds", "baseline"};

// The kind an axis's field varies and, in *rest, the field within that kind's spec ("" for a
// variant axis: the field is the whole spec, each value an object merged into it).
static int kind_of_path(const char *field, const char **rest)
{
    if (strncmp(field, "pretrain", 8) == 0 && (field[8] == '.' || !field[8]))
        return *rest = field + 8 + !!field[8], JOB_PRETRAIN;
    if (strncmp(field, "finetune", 8) == 0 && (field[8] == '.' || !field[8]))
        return *rest = field + 8 + !!field[8], JOB_FINETUNE;
    return -1;
}

static const char *kind_word(JobKind kind) { return spec_kind_name(kind); }

static int has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

// Merges the members of from into into, recursively where both hold an object (so
// {"train": {"batch_size": 64}} keeps the spec's other train fields).
static int merge_into(json_t *into, const json_t *from)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)from, key, value) {
        json_t *old = json_object_get(into, key);
        int rc = json_is_object(old) && json_is_object(value)
                     ? merge_into(old, value)
                     : json_object_set_new(into, key, json_deep_copy(value));
        if (rc) return -1;
    }
    return 0;
}

// Sets the dotted path of obj to value (stolen): missing or null objects on the way are made;
// an object value is merged into an object already there (path "": into obj itself). -1 when
// something on the way is not an object.
static int set_path(json_t *obj, const char *path, json_t *value)
{
    char key[256];
    const char *dot = strchr(path, '.');
    if (!*path) {
        int rc = json_is_object(value) ? merge_into(obj, value) : -1;
        json_decref(value);
        return rc;
    }
    if (!dot) {
        json_t *old = json_object_get(obj, path);
        if (json_is_object(old) && json_is_object(value)) {
            int rc = merge_into(old, value);
            json_decref(value);
            return rc;
        }
        return json_object_set_new(obj, path, value) ? -1 : 0;
    }
    size_t n = (size_t)(dot - path);
    if (n >= sizeof key) return json_decref(value), -1;
    memcpy(key, path, n);
    key[n] = 0;
    json_t *next = json_object_get(obj, key);
    if (!next || json_is_null(next)) {
        next = json_object();
        if (json_object_set_new(obj, key, next)) return json_decref(value), -1;
    }
    if (!json_is_object(next)) return json_decref(value), -1;
    return set_path(next, dot + 1, value);
}

// ------------------------------------------------------------------ the body

static int read_name(const json_t *body, StudyPlan *plan, const char *preset, ApiError *e)
{
    const json_t *v = json_object_get(body, "name");
    const char *name = v ? json_string_value(v) : preset ? preset : "study";
    if (!name || !*name || strlen(name) > STUDY_NAME_MAX || has_control_chars(name)) {
        api_error_set(e, 400, "name", "name: a string of 1 to %d bytes without control "
                      "characters", STUDY_NAME_MAX);
        return -1;
    }
    snprintf(plan->name, sizeof plan->name, "%s", name);
    return 0;
}

// The study's spec for one kind: an object (default {}; a linear probe's may be true, for {}),
// kind set, the study's to fill left out.
static json_t *read_spec(const json_t *body, JobKind kind, ApiError *e)
{
    const char *word = kind_word(kind);
    char field[48];
    const json_t *given = json_object_get(body, word);
    if (kind == JOB_LINPROBE && json_is_true(given)) given = NULL;
    if (given && !json_is_object(given)) {
        api_error_set(e, 400, word, "%s: a job spec (an object)%s", word,
                      kind == JOB_LINPROBE ? ", true or false" : "");
        return NULL;
    }
    const json_t *k = json_object_get(given, "kind");
    snprintf(field, sizeof field, "%s.kind", word);
    if (k && !(json_is_string(k) && strcmp(json_string_value(k), word) == 0)) {
        api_error_set(e, 400, field, "%s: must be \"%s\" (or left out)", field, word);
        return NULL;
    }
    // A fine-tuning and a probe start from their pretraining (a pretraining may continue one).
    const json_t *init = json_object_get(json_object_get(given, word), "init_from");
    snprintf(field, sizeof field, "%s.%s.init_from", word, word);
    if (kind != JOB_PRETRAIN && init && !json_is_null(init)) {
        api_error_set(e, 400, field, "%s: the study starts each %s from its cell's pretraining "
                      "(leave it out)", field, kind == JOB_FINETUNE ? "fine-tuning" : "linear probe");
        return NULL;
    }
    json_t *spec = given ? json_deep_copy(given) : json_object();
    if (spec) json_object_set_new(spec, "kind", json_string(word));
    if (!spec) api_error_set(e, 500, NULL, "out of memory");
    return spec;
}

static int read_seeds(const json_t *body, Planner *p, ApiError *e)
{
    const json_t *v = json_object_get(body, "seeds");
    if (!v) return (p->seeds = json_pack("[i]", 0)) ? 0 : -1;
    size_t n = json_array_size(v), i, k;
    if (!json_is_array(v) || n < 1 || n > STUDY_MAX_SEEDS) {
        api_error_set(e, 400, "seeds", "seeds: a list of 1 to %d distinct integers (each sets "
                      "train.seed of both jobs of every cell)", STUDY_MAX_SEEDS);
        return -1;
    }
    for (i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        char field[32];
        snprintf(field, sizeof field, "seeds[%zu]", i);
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > SEED_MAX) {
            api_error_set(e, 400, field, "%s: an integer from 0 to 2^53", field);
            return -1;
        }
        for (k = 0; k < i; k++)
            if (json_equal(s, json_array_get(v, k))) {
                api_error_set(e, 400, field, "%s: repeats seeds[%zu]", field, k);
                return -1;
            }
    }
    p->seeds = json_deep_copy(v);
    return 0;
}

static int read_body(const char *text, size_t len, Planner *p, StudyPlan *plan, ApiError *e)
{
    json_error_t je;
    p->body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(p->body)) {
        api_error_set(e, 400, NULL, p->body ? "the body must be a JSON object" :
                      "invalid JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(p->body, key, v) {
        size_t i = 0;
        while (i < sizeof BODY_KEYS / sizeof *BODY_KEYS && strcmp(key, BODY_KEYS[i])) i++;
        if (i == sizeof BODY_KEYS / sizeof *BODY_KEYS) {
            json_t *shown = json_text(key);
            api_error_set(e, 400, json_string_value(shown), "%s: unknown field (a study takes "
                          "name, preset, pretrain, finetune, linprobe, axes, seeds and baseline)",
                          json_string_value(shown));
            json_decref(shown);
            return -1;
        }
    }
    const json_t *preset = json_object_get(p->body, "preset"), *baseline;
    if (preset && !json_is_string(preset)) {
        api_error_set(e, 400, "preset", "preset: one of " STUDY_PRESETS);
        return -1;
    }
    baseline = json_object_get(p->body, "baseline");
    if (baseline && !json_is_boolean(baseline)) {
        api_error_set(e, 400, "baseline", "baseline: true or false");
        return -1;
    }
    p->baseline = json_is_true(baseline);
    const json_t *probe = json_object_get(p->body, "linprobe"); // null or false: no probes
    return read_name(p->body, plan, json_string_value(preset), e) ||
                   !(p->pretrain = read_spec(p->body, JOB_PRETRAIN, e)) ||
                   !(p->finetune = read_spec(p->body, JOB_FINETUNE, e)) ||
                   (probe && !json_is_null(probe) && !json_is_false(probe) &&
                    !(p->linprobe = read_spec(p->body, JOB_LINPROBE, e))) ||
                   read_seeds(p->body, p, e)
               ? -1
               : 0;
}

// The study's own spec of a kind (NULL: a study without probes).
static const json_t *own_spec(const Planner *p, JobKind kind)
{
    return kind == JOB_PRETRAIN ? p->pretrain : kind == JOB_FINETUNE ? p->finetune : p->linprobe;
}

// ------------------------------------------------------------------ expanding one spec

// The study's spec of a kind with the cell's values of that kind's axes, the seed's train.seed
// and a layer_decay of 1.0 for a baseline (cell NULL: none of the axes). NULL: an axis's field
// runs into something that is not an object (*bad_axis says which; -1: out of memory).
static json_t *expand(Planner *p, JobKind kind, const json_t *cell, int seed, int baseline,
                      int *bad_axis)
{
    json_t *obj = json_deep_copy(own_spec(p, kind)), *axis;
    size_t i;
    *bad_axis = -1;
    json_array_foreach(cell ? p->axes : NULL, i, axis) {
        const char *field = json_string_value(json_object_get(axis, "field")), *rest;
        if (kind_of_path(field, &rest) != (int)kind) continue;
        if (set_path(obj, rest, json_deep_copy(json_object_get(cell, field)))) {
            *bad_axis = (int)i;
            json_decref(obj);
            return NULL;
        }
    }
    json_t *seed_value = json_deep_copy(json_array_get(p->seeds, (size_t)seed));
    if (!obj || set_path(obj, "train.seed", seed_value) ||
        (baseline && set_path(obj, "finetune.layer_decay", json_real(1.0)))) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

// Expands a run's spec and parses it into p->scratch: 0, or -1 with *se (or *bad_axis ≥ 0 for
// an axis that runs into a value).
static int parse_run(Planner *p, JobKind kind, const json_t *cell, int seed, int baseline,
                     SpecError *se, int *bad_axis)
{
    size_t len;
    json_t *obj = expand(p, kind, cell, seed, baseline, bad_axis);
    char *text = obj ? json_out(obj, &len) : NULL;
    json_decref(obj);
    snprintf(se->field, sizeof se->field, "%s", "");
    snprintf(se->message, sizeof se->message, "out of memory");
    int rc = text ? spec_parse(text, len, p->scratch, se) : -1;
    free(text);
    return rc;
}

// The index of the cell's value of axis a.
static size_t value_index(const json_t *axis, const json_t *cell)
{
    const char *field = json_string_value(json_object_get(axis, "field"));
    const json_t *values = json_object_get(axis, "values"), *v = json_object_get(cell, field);
    size_t j;
    for (j = 0; j < json_array_size(values); j++)
        if (json_equal(json_array_get(values, j), v)) break;
    return j;
}

// The 400 for a spec of a cell that failed with (status, field, message): the axis whose field
// it is ("axes[i].field" when that field is unknown or runs into a value, else
// "axes[i].values[j]"); otherwise the first axis of the cell of that kind (else the first axis):
// the combination of the cell's values is at fault.
static void blame_axis(const Planner *p, JobKind kind, const json_t *cell, unsigned status,
                       const char *field, const char *message, ApiError *e)
{
    size_t count = json_array_size(p->axes), blamed = count, first = count, i, n = strlen(field);
    const json_t *axis;
    int on_field = 0;
    json_array_foreach(p->axes, i, axis) {
        const char *path = json_string_value(json_object_get(axis, "field")), *rest;
        if (kind_of_path(path, &rest) != (int)kind) continue;
        if (first == count) first = i;
        if (n && strncmp(rest, field, n) == 0 && (rest[n] == 0 || rest[n] == '.')) {
            blamed = i;
            on_field = rest[n] == '.' || strstr(message, ": unknown field") != NULL;
            break;
        }
    }
    if (blamed == count) blamed = first < count ? first : 0;
    axis = json_array_get(p->axes, blamed);
    size_t len;
    char where[64], *cell_text = json_out(cell, &len);
    if (on_field) snprintf(where, sizeof where, "axes[%zu].field", blamed);
    else snprintf(where, sizeof where, "axes[%zu].values[%zu]", blamed, value_index(axis, cell));
    api_error_set(e, status, where, "%s (%s, in the cell %s): %s", where,
                  json_string_value(json_object_get(axis, "field")), cell_text ? cell_text : "?",
                  message);
    free(cell_text);
}

// The error of the study's own spec of a kind: its field prefixed with the kind.
static void blame_spec(JobKind kind, unsigned status, const char *field, const char *message,
                       ApiError *e)
{
    char where[80];
    snprintf(where, sizeof where, "%s%s%s", kind_word(kind), *field ? "." : "", field);
    api_error_set(e, status, where, "%s: %s", kind_word(kind), message);
}

// Expands, parses and checks one run's spec in p->scratch (a fine-tuning with `model`, its
// pretraining's, adopted; NULL: none). Errors are blamed on the cell's axes (cell NULL: on the
// study's own spec).
static int build_spec(Planner *p, JobKind kind, const json_t *cell, int seed, int baseline,
                      const ModelConfig *model, ApiError *e)
{
    int bad_axis;
    SpecError se;
    ApiError ce;
    int rc = parse_run(p, kind, cell, seed, baseline, &se, &bad_axis);
    if (rc && bad_axis >= 0) {
        const char *path = json_string_value(json_object_get(json_array_get(p->axes, (size_t)bad_axis), "field"));
        return axis_error(e, (size_t)bad_axis, ".field", "%s runs into a value of the study's %s "
                          "spec that is not an object", path, kind_word(kind));
    }
    if (rc == 0 && model) rc = spec_adopt_model(p->scratch, model, &se);
    if (rc == 0 && p->check && p->check(p->ctx, p->scratch, &ce)) {
        if (cell) blame_axis(p, kind, cell, ce.status, ce.field, ce.message, e);
        else blame_spec(kind, ce.status, ce.field, ce.message, e);
        return -1;
    }
    if (rc == 0) return 0;
    if (cell) blame_axis(p, kind, cell, 400, se.field, se.message, e);
    else blame_spec(kind, 400, se.field, se.message, e);
    return -1;
}

// ------------------------------------------------------------------ axes

static int axis_error(ApiError *e, size_t i, const char *what, const char *fmt, ...)
{
    char where[64], msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "axes[%zu]%s", i, what);
    api_error_set(e, 400, where, "%s: %s", where, msg);
    return -1;
}

// What an axis may not vary: what the study sets itself.
static const char *forbidden_field(JobKind kind, const char *rest)
{
    if (strcmp(rest, "train.seed") == 0) return "train.seed is set by the study's seeds";
    if (strcmp(rest, "kind") == 0) return "a study's kinds are fixed";
    if (strcmp(rest, "name") == 0) return "the study names its jobs";
    if (kind == JOB_FINETUNE && strncmp(rest, "finetune.init_from", 18) == 0)
        return "the study starts each fine-tuning from its cell's pretraining";
    return NULL;
}

// A variant axis's value: an object of spec fields, none of them what the study sets.
static int check_variant(JobKind kind, const json_t *value, size_t i, size_t j, ApiError *e)
{
    char what[48];
    snprintf(what, sizeof what, ".values[%zu]", j);
    if (!json_is_object(value))
        return axis_error(e, i, what, "a variant axis's values are objects of %s spec fields",
                          kind_word(kind));
    static const struct { const char *path, *section, *key; } set_by_study[] = {
        {"kind", NULL, "kind"}, {"name", NULL, "name"},
        {"train.seed", "train", "seed"}, {"finetune.init_from", "finetune", "init_from"},
    };
    for (size_t f = 0; f < sizeof set_by_study / sizeof *set_by_study; f++) {
        const json_t *v = set_by_study[f].section
            ? json_object_get(value, set_by_study[f].section) : value;
        const char *why = forbidden_field(kind, set_by_study[f].path);
        if (why && json_object_get(v, set_by_study[f].key)) return axis_error(e, i, what, "%s", why);
    }
    return 0;
}

static int check_axis(const json_t *axis, size_t i, const json_t *axes, int max_cells,
                      ApiError *e)
{
    const char *field = json_string_value(json_object_get(axis, "field")), *rest, *why;
    const json_t *values = json_object_get(axis, "values");
    if (!json_is_object(axis) || json_object_size(axis) != 2 || !field || !values)
        return axis_error(e, i, "", "an object {\"field\": \"pretrain.<field>\" or "
                          "\"finetune.<field>\", \"values\": [...]}");
    int kind = kind_of_path(field, &rest);
    size_t n = json_array_size(values), j, k;
    if (kind < 0 || strstr(rest, "..") || (*rest && rest[strlen(rest) - 1] == '.'))
        return axis_error(e, i, ".field", "must start with pretrain. or finetune. and name a "
                          "field of that job's spec, or be pretrain or finetune alone (a "
                          "variant axis) (got \"%.100s\")", field);
    if ((why = forbidden_field((JobKind)kind, rest))) return axis_error(e, i, ".field", "%s", why);
    for (k = 0; k < i; k++)
        if (strcmp(field, json_string_value(json_object_get(json_array_get(axes, k), "field"))) == 0)
            return axis_error(e, i, ".field", "repeats axes[%zu].field (%s)", k, field);
    if (!json_is_array(values) || n == 0)
        return axis_error(e, i, ".values", "a list of at least one value");
    for (j = 0; !*rest && j < n; j++)
        if (check_variant((JobKind)kind, json_array_get(values, j), i, j, e)) return -1;
    if (n > (size_t)max_cells)
        return axis_error(e, i, ".values", "%zu values, more than max_cells (%d)", n, max_cells);
    for (j = 0; j < n; j++)
        for (k = 0; k < j; k++)
            if (json_equal(json_array_get(values, j), json_array_get(values, k))) {
                char what[48];
                snprintf(what, sizeof what, ".values[%zu]", j);
                return axis_error(e, i, what, "repeats values[%zu]", k);
            }
    return 0;
}

// The axes (the preset's, or the body's, checked) and the number of cells.
static int read_axes(Planner *p, StudyPlan *plan, int max_cells, size_t *cells, ApiError *e)
{
    const json_t *preset = json_object_get(p->body, "preset"), *axes = json_object_get(p->body, "axes");
    if (preset && axes) {
        api_error_set(e, 400, "preset", "preset: give a preset or axes, not both");
        return -1;
    }
    if (preset) {
        p->axes = study_preset_axes(json_string_value(preset), &p->base->model);
        if (!p->axes) {
            api_error_set(e, 400, "preset", "preset: one of " STUDY_PRESETS " (got \"%.40s\")",
                          json_string_value(preset));
            return -1;
        }
        for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
            if (strcmp(PRESETS[i], json_string_value(preset)) == 0) plan->preset = PRESETS[i];
    } else if (json_is_array(axes) && json_array_size(axes) > 0) {
        p->axes = json_deep_copy(axes);
    } else {
        api_error_set(e, 400, "axes", "axes: %s", axes && !json_is_array(axes) ?
                      "a list of {\"field\", \"values\"}" :
                      "the grid is empty: give at least one axis, or a preset");
        return -1;
    }
    size_t n = json_array_size(p->axes), i;
    if (n > STUDY_MAX_AXES) {
        api_error_set(e, 400, "axes", "axes: at most %d axes (got %zu)", STUDY_MAX_AXES, n);
        return -1;
    }
    *cells = 1;
    for (i = 0; i < n; i++) {
        if (check_axis(json_array_get(p->axes, i), i, p->axes, max_cells, e)) return -1;
        *cells *= json_array_size(json_object_get(json_array_get(p->axes, i), "values"));
        if (*cells > (size_t)max_cells) {
            api_error_set(e, 400, "axes", "axes: the grid has more than max_cells (%d, a daemon "
                          "setting) cells: the axes' lengths multiply to %zu by axes[%zu]",
                          max_cells, *cells, i);
            return -1;
        }
    }
    if (*cells == 0) { // a preset with no value (a model of one output token)
        api_error_set(e, 400, "preset", "preset: no value of it suits a model of %d pixels at an "
                      "encoder stride of %d", p->base->model.img_size, model_stride(&p->base->model));
        return -1;
    }
    return 0;
}

// The cells, first axis slowest.
static json_t *make_cells(const json_t *axes, size_t count)
{
    json_t *cells = json_array();
    for (size_t c = 0; cells && c < count; c++) {
        json_t *cell = json_object();
        size_t rest = c, i = json_array_size(axes);
        while (cell && i-- > 0) {
            const json_t *axis = json_array_get(axes, i), *values = json_object_get(axis, "values");
            size_t n = json_array_size(values);
            json_object_set(cell, json_string_value(json_object_get(axis, "field")),
                            json_array_get(values, rest % n));
            rest /= n;
        }
        json_t *ordered = json_object(); // keys in the axes' order
        json_t *axis;
        json_array_foreach(axes, i, axis) {
            const char *field = json_string_value(json_object_get(axis, "field"));
            json_object_set(ordered, field, json_object_get(cell, field));
        }
        json_decref(cell);
        if (json_array_append_new(cells, ordered)) {
            json_decref(cells);
            return NULL;
        }
    }
    return cells;
}

// ------------------------------------------------------------------ runs

// The kind of job a run is.
static JobKind role_kind(StudyRole role)
{
    return role == STUDY_PRETRAIN ? JOB_PRETRAIN : role == STUDY_LINPROBE ? JOB_LINPROBE : JOB_FINETUNE;
}

// The spec of the run just built and checked in p->scratch (a fine-tuning's or a probe's with
// its pretraining's model, which its submission adopts again), named after the run: its text,
// NULL when out of memory.
static char *run_text(Planner *p, const StudyPlan *plan, StudyRun run)
{
    long long seed = json_integer_value(json_array_get(p->seeds, (size_t)run.seed));
    if (run.role == STUDY_BASELINE)
        snprintf(p->scratch->name, sizeof p->scratch->name, "%s/baseline-seed%lld", plan->name, seed);
    else
        snprintf(p->scratch->name, sizeof p->scratch->name, "%s/%s-%d-seed%lld", plan->name,
                 kind_word(role_kind(run.role)), run.cell + 1, seed);
    p->scratch->given |= NAME_GIVEN;
    return spec_to_json(p->scratch);
}

// A pretraining's effective spec: its text as parsed, before any check and without a name;
// NULL when it does not parse (build_spec says why).
static char *effective_spec(Planner *p, const StudyPlan *plan, int c, int seed)
{
    int bad_axis;
    SpecError se;
    return parse_run(p, JOB_PRETRAIN, json_array_get(plan->cells, (size_t)c), seed, 0, &se, &bad_axis)
               ? NULL
               : spec_to_json(p->scratch);
}

// Appends a run (its spec text stolen; key: a pretraining's effective spec, stolen; model: its
// checked model); 0, or -1 (a 500 in *e) with both freed.
static int add_run(Planner *p, StudyPlan *plan, StudyRun run, char *key, ApiError *e)
{
    StudyRun *runs = realloc(plan->runs, (size_t)(plan->run_count + 1) * sizeof *runs);
    char **keys = runs ? realloc(p->keys, (size_t)(plan->run_count + 1) * sizeof *keys) : NULL;
    ModelConfig *models = keys ? realloc(p->models, (size_t)(plan->run_count + 1) * sizeof *models) : NULL;
    if (runs) plan->runs = runs;
    if (keys) p->keys = keys;
    if (models) p->models = models;
    if (!models || !run.spec) {
        free(key);
        free(run.spec);
        api_error_set(e, 500, NULL, "out of memory");
        return -1;
    }
    p->keys[plan->run_count] = key;
    p->models[plan->run_count] = p->scratch->model;
    plan->runs[plan->run_count++] = run;
    return 0;
}

// A fine-tuning or a linear probe (from the pretraining whose model is `model`) or a baseline
// (from random initialisation, with `model` the study's pretraining's): its spec checked, the
// run appended.
static int started_run(Planner *p, StudyPlan *plan, StudyRun run, const ModelConfig *model,
                       ApiError *e)
{
    int baseline = run.role == STUDY_BASELINE;
    const json_t *cell = baseline ? NULL : json_array_get(plan->cells, (size_t)run.cell);
    if (build_spec(p, role_kind(run.role), cell, run.seed, baseline, model, e)) return -1;
    run.spec = run_text(p, plan, run);
    return add_run(p, plan, run, NULL, e);
}

// The pretraining of a cell and seed: a run already planned with the same effective spec, or a
// new one (and its linear probe when the study probes). Its index, or -1.
static int pretraining(Planner *p, StudyPlan *plan, int c, int seed, ApiError *e)
{
    char *key = effective_spec(p, plan, c, seed);
    StudyRun run = {STUDY_PRETRAIN, c, seed, -1, NULL};
    for (int r = 0; key && r < plan->run_count; r++)
        if (p->keys[r] && plan->runs[r].seed == seed && strcmp(p->keys[r], key) == 0) {
            free(key);
            return r;
        }
    if (build_spec(p, JOB_PRETRAIN, json_array_get(plan->cells, (size_t)c), seed, 0, NULL, e)) {
        free(key);
        return -1;
    }
    run.spec = run_text(p, plan, run);
    if (add_run(p, plan, run, key, e)) return -1;
    int pre = plan->run_count - 1;
    ModelConfig model = p->models[pre];
    StudyRun probe = {STUDY_LINPROBE, c, seed, pre, NULL};
    return p->linprobe && started_run(p, plan, probe, &model, e) ? -1 : pre;
}

static int plan_runs(Planner *p, StudyPlan *plan, ApiError *e)
{
    int seeds = (int)json_array_size(p->seeds);
    for (size_t c = 0; c < json_array_size(plan->cells); c++)
        for (int s = 0; s < seeds; s++) {
            int pre = pretraining(p, plan, (int)c, s, e);
            if (pre < 0) return -1;
            ModelConfig model = p->models[pre];
            if (started_run(p, plan, (StudyRun){STUDY_FINETUNE, (int)c, s, pre, NULL}, &model, e))
                return -1;
        }
    for (int s = 0; p->baseline && s < seeds; s++)
        if (started_run(p, plan, (StudyRun){STUDY_BASELINE, -1, s, -1, NULL}, &p->base->model, e))
            return -1;
    return 0;
}

void study_plan_free(StudyPlan *plan)
{
    for (int i = 0; i < plan->run_count; i++) free(plan->runs[i].spec);
    free(plan->runs);
    json_decref(plan->axes);
    json_decref(plan->seeds);
    json_decref(plan->cells);
    json_decref(plan->pretrain);
    json_decref(plan->finetune);
    json_decref(plan->linprobe);
    memset(plan, 0, sizeof *plan);
}

// The study's own specs, each a valid job on its own for the first seed: the pretraining's
// (kept in p->base), the fine-tuning's, the linear probe's and the baseline's with its model
// (the baseline is the same encoder — a Swin's for a Swin — trained from scratch).
static int check_own_specs(Planner *p, ApiError *e)
{
    if (build_spec(p, JOB_PRETRAIN, NULL, 0, 0, NULL, e)) return -1;
    *p->base = *p->scratch;
    return build_spec(p, JOB_FINETUNE, NULL, 0, 0, &p->base->model, e) ||
                   (p->linprobe && build_spec(p, JOB_LINPROBE, NULL, 0, 0, &p->base->model, e)) ||
                   (p->baseline && build_spec(p, JOB_FINETUNE, NULL, 0, 1, &p->base->model, e))
               ? -1
               : 0;
}

int study_plan(const char *body, size_t len, int max_cells, StudyCheck check, void *ctx,
               StudyPlan *plan, ApiError *e)
{
    Planner p = {.check = check, .ctx = ctx};
    memset(plan, 0, sizeof *plan);
    p.base = malloc(sizeof *p.base);
    p.scratch = malloc(sizeof *p.scratch);
    size_t cells = 0;
    int rc = -1;
    if (!p.base || !p.scratch)
        api_error_set(e, 500, NULL, "out of memory");
    else if (read_body(body, len, &p, plan, e) == 0 && check_own_specs(&p, e) == 0 &&
             read_axes(&p, plan, max_cells, &cells, e) == 0) {
        const json_t *pre = json_object_get(p.body, "pretrain"), *ft = json_object_get(p.body, "finetune");
        plan->cells = make_cells(p.axes, cells);
        plan->axes = json_incref(p.axes);
        plan->seeds = json_incref(p.seeds);
        plan->pretrain = pre ? json_incref((json_t *)pre) : json_object();
        plan->finetune = ft ? json_incref((json_t *)ft) : json_object();
        const json_t *lp = json_object_get(p.body, "linprobe"); // true reads {}
        plan->linprobe = !p.linprobe ? NULL : json_is_object(lp) ? json_incref((json_t *)lp) : json_object();
        plan->baseline = p.baseline;
        if (!plan->cells || !plan->pretrain || !plan->finetune || (p.linprobe && !plan->linprobe))
            api_error_set(e, 500, NULL, "out of memory");
        else
            rc = plan_runs(&p, plan, e);
    }
    for (int i = 0; i < plan->run_count; i++) free(p.keys[i]);
    free(p.keys);
    free(p.models);
    free(p.base);
    free(p.scratch);
    json_decref(p.body);
    json_decref(p.pretrain);
    json_decref(p.finetune);
    json_decref(p.linprobe);
    json_decref(p.axes);
    json_decref(p.seeds);
    if (rc) study_plan_free(plan);
    return rc;
}

// ================================================================== presets

static json_t *axis(const char *field, json_t *values)
{
    return values ? json_pack("{s:s, s:o}", "field", field, "values", values) : NULL;
}

// The multiples of `step` that divide `whole` and are at most `most`, ascending.
static json_t *divisors(int step, int whole, int most)
{
    json_t *values = json_array();
    for (int v = step; values && step > 0 && v <= most; v += step)
        if (whole % v == 0) json_array_append_new(values, json_integer(v));
    return values;
}

json_t *study_preset_axes(const char *preset, const ModelConfig *model)
{
    int img_size = model->img_size, stride = model_stride(model);
    json_t *values = NULL;
    const char *field = NULL;
    if (!preset) return NULL;
    if (strcmp(preset, "mask-ratio") == 0) {
        field = "pretrain.mask.ratio";
        values = json_array();
        for (int k = 1; values && k <= 9; k++) json_array_append_new(values, json_real(k / 10.0));
    } else if (strcmp(preset, "mask-type") == 0) {
        field = "pretrain.mask.type";
        values = json_pack("[s, s, s]", "random", "square", "block");
    } else if (strcmp(preset, "mask-patch") == 0) {
        // A grid of one cell would mask the whole image whatever the ratio: at least two a side.
        // A cell of whole output tokens (a Swin's stride, not its patch).
        field = "pretrain.mask.mask_patch_size";
        values = divisors(stride, img_size, img_size / 2);
    } else if (strcmp(preset, "decoder") == 0) {
        field = "pretrain.decoder.type";
        values = json_pack("[s, s, s]", "linear", "mlp", "transformer");
    } else if (strcmp(preset, "resolution") == 0) {
        field = "pretrain.target.resolution";
        values = divisors(model_out_grid(model), img_size, img_size); // T … img
    } else if (strcmp(preset, "loss") == 0) {
        field = "pretrain.loss";
        values = json_pack("[{s:s}, {s:s}, {s:s}, {s:s, s:i}]", "type", "l1", "type", "l2", "type",
                           "smooth_l1", "type", "bins", "bins", 8);
    } else if (strcmp(preset, "scope") == 0) {
        field = "pretrain.loss.scope";
        values = json_pack("[s, s]", "masked", "full");
    }
    return field ? json_pack("[o]", axis(field, values)) : NULL;
}

// ================================================================== the study's answer

void study_stats(const double *top1, const double *baseline, int n, StudyStats *out)
{
    double sum = 0, gain_sum = 0, sq = 0, gain_sq = 0;
    int have = 0, pairs = 0;
    for (int s = 0; s < n; s++) {
        if (isnan(top1[s])) continue;
        have++, sum += top1[s];
        if (baseline && !isnan(baseline[s])) pairs++, gain_sum += top1[s] - baseline[s];
    }
    out->mean = have ? sum / have : NAN;
    out->gain_mean = pairs ? gain_sum / pairs : NAN;
    for (int s = 0; s < n; s++) {
        if (isnan(top1[s])) continue;
        sq += (top1[s] - out->mean) * (top1[s] - out->mean);
        if (baseline && !isnan(baseline[s])) {
            double d = top1[s] - baseline[s] - out->gain_mean;
            gain_sq += d * d;
        }
    }
    out->sd = have > 1 ? sqrt(sq / (have - 1)) : NAN;
    out->gain_se = pairs > 1 ? sqrt(gain_sq / (pairs - 1)) / sqrt(pairs) : NAN;
}

static json_t *number_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

// One run as a seat of a row: its job, its state and why it did not (or cannot) run.
typedef struct {
    json_t *job_id;      // borrowed; NULL: none
    const char *state;   // a job state, "deleted", "pending" or "blocked"
    char error[512];
    double top1, knn_top1, wall_s, img_per_s; // NAN unless it succeeded
    const json_t *params;
} Seat;

static int seat_ended(const Seat *s)
{
    return strcmp(s->state, "succeeded") == 0 || strcmp(s->state, "failed") == 0 ||
           strcmp(s->state, "cancelled") == 0 || strcmp(s->state, "blocked") == 0 ||
           strcmp(s->state, "deleted") == 0;
}

static const json_t *run_by_id(const json_t *runs, json_int_t id)
{
    size_t i;
    const json_t *run;
    json_array_foreach(runs, i, run)
        if (json_integer_value(json_object_get(run, "id")) == id) return run;
    return NULL;
}

// A figure of a run's job, or of a row; NAN when it has none.
static double number_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void seat_of(const json_t *run, const json_t *runs, int cancelled, Seat *seat)
{
    memset(seat, 0, sizeof *seat);
    seat->top1 = seat->knn_top1 = seat->wall_s = seat->img_per_s = NAN;
    seat->state = "pending";
    if (!run) return;
    const char *job_state = json_string_value(json_object_get(run, "job_state"));
    const char *error = json_string_value(json_object_get(run, "error"));
    seat->job_id = json_object_get(run, "job_id");
    seat->params = json_object_get(run, "params");
    if (job_state) {
        seat->state = job_state;
        if (strcmp(job_state, "succeeded") == 0) {
            seat->top1 = number_at(run, "top1");
            seat->knn_top1 = number_at(run, "knn_top1");
            seat->wall_s = number_at(run, "duration_s");
            seat->img_per_s = number_at(run, "img_per_s");
        }
        return;
    }
    if (error) {
        seat->state = "failed";
        snprintf(seat->error, sizeof seat->error, "could not be submitted: %s", error);
        return;
    }
    if (cancelled) {
        seat->state = "cancelled";
        return;
    }
    const json_t *pre = run_by_id(runs, json_integer_value(json_object_get(run, "pretrain_run")));
    if (!pre) return;
    Seat p;
    seat_of(pre, runs, cancelled, &p);
    if (strcmp(p.state, "succeeded") == 0 || !seat_ended(&p)) return;
    seat->state = "blocked";
    if (p.job_id)
        snprintf(seat->error, sizeof seat->error, "its pretraining (job %lld) %s",
                 (long long)json_integer_value(p.job_id),
                 strcmp(p.state, "deleted") == 0 ? "was deleted" :
                 strcmp(p.state, "cancelled") == 0 ? "was cancelled" : "failed");
    else
        snprintf(seat->error, sizeof seat->error, "its pretraining %.480s", p.error);
}

// The mean of the values present; NAN when none.
static double mean_of(const double *v, int n)
{
    StudyStats st;
    study_stats(v, NULL, n, &st);
    return st.mean;
}

// A figure by seed as a list (null where missing).
static json_t *seed_list(const double *v, int n)
{
    json_t *list = json_array();
    for (int s = 0; list && s < n; s++) json_array_append_new(list, number_or_null(v[s]));
    return list;
}

// key (a figure by seed), key_mean and key_sd into the row: 0, or -1 when out of memory.
static int set_series(json_t *row, const char *key, const double *v, int n)
{
    StudyStats st;
    char name[64];
    study_stats(v, NULL, n, &st);
    int rc = json_object_set_new(row, key, seed_list(v, n));
    snprintf(name, sizeof name, "%s_mean", key);
    rc |= json_object_set_new(row, name, number_or_null(st.mean));
    snprintf(name, sizeof name, "%s_sd", key);
    return rc | json_object_set_new(row, name, number_or_null(st.sd)) ? -1 : 0;
}

// The job ids of a row's seats, by seed (null where none).
static json_t *job_ids(const Seat *seats, int n)
{
    json_t *list = json_array();
    for (int s = 0; list && s < n; s++)
        json_array_append_new(list, seats && seats[s].job_id ? json_incref(seats[s].job_id) : json_null());
    return list;
}

// A row: the seats of its seeds — fine-tunings, their pretrainings and those pretrainings'
// linear probes (pre, probe NULL: none).
static json_t *make_row(const json_t *values, const Seat *ft, const Seat *pre, const Seat *probe,
                        int n, const double *baseline)
{
    double top1[STUDY_MAX_SEEDS] = {0}, knn[STUDY_MAX_SEEDS] = {0}, lin[STUDY_MAX_SEEDS] = {0},
           wall[STUDY_MAX_SEEDS] = {0}, ips[STUDY_MAX_SEEDS] = {0};
    json_t *states = json_array(), *errors = json_array(), *params = json_null();
    for (int s = 0; s < n; s++) {
        top1[s] = ft[s].top1;
        knn[s] = pre ? pre[s].knn_top1 : NAN;
        lin[s] = probe ? probe[s].top1 : NAN;
        wall[s] = pre ? pre[s].wall_s : NAN;
        ips[s] = pre ? pre[s].img_per_s : NAN;
        if (pre && pre[s].params && json_is_null(params)) params = json_incref((json_t *)pre[s].params);
        json_array_append_new(states, json_string(ft[s].state));
        json_array_append_new(errors, ft[s].error[0] ? json_text(ft[s].error) : json_null());
    }
    StudyStats st;
    study_stats(top1, baseline, n, &st);
    json_t *row = json_pack("{s:O, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o}",
                            "values", values, "top1", seed_list(top1, n), "top1_mean",
                            number_or_null(st.mean), "top1_sd", number_or_null(st.sd), "gain_mean",
                            number_or_null(st.gain_mean), "gain_se", number_or_null(st.gain_se),
                            "pretrain_wall_s", number_or_null(mean_of(wall, n)), "img_per_s",
                            number_or_null(mean_of(ips, n)), "params", params, "job_ids",
                            "pretrain", job_ids(pre, n), "finetune", job_ids(ft, n), "linprobe",
                            job_ids(probe, n), "states", states, "errors", errors);
    if (row && set_series(row, "knn_top1", knn, n) == 0 && set_series(row, "linprobe_top1", lin, n) == 0)
        return row;
    json_decref(row);
    return NULL;
}

// The linear probe of the pretraining run pretrain_run; NULL: none.
static const json_t *probe_of(const json_t *runs, json_int_t pretrain_run)
{
    size_t i;
    const json_t *run;
    json_array_foreach(runs, i, run)
        if (strcmp(json_string_value(json_object_get(run, "role")), "linprobe") == 0 &&
            json_integer_value(json_object_get(run, "pretrain_run")) == pretrain_run)
            return run;
    return NULL;
}

// The seats, by seed, of the runs of a role and cell (a missing run: pending), and (unless
// NULL) those of their pretrainings and of those pretrainings' linear probes.
static void seats(const json_t *runs, const char *role, json_int_t cell, int cancelled, int n,
                  Seat *ft, Seat *pre, Seat *probe)
{
    const json_t *by_seed[STUDY_MAX_SEEDS] = {0}, *run;
    size_t i;
    json_array_foreach(runs, i, run) {
        json_int_t seed = json_integer_value(json_object_get(run, "seed"));
        if (strcmp(json_string_value(json_object_get(run, "role")), role) == 0 &&
            json_integer_value(json_object_get(run, "cell")) == cell && seed >= 0 && seed < n)
            by_seed[seed] = run;
    }
    for (int s = 0; s < n; s++) {
        // A missing run has no pretraining: id 0 is no run's.
        json_int_t pre_run = json_integer_value(json_object_get(by_seed[s], "pretrain_run"));
        seat_of(by_seed[s], runs, cancelled, &ft[s]);
        if (pre) seat_of(run_by_id(runs, pre_run), runs, cancelled, &pre[s]);
        if (probe) seat_of(probe_of(runs, pre_run), runs, cancelled, &probe[s]);
    }
}

// A member of the record, or null.
static json_t *field(const json_t *raw, const char *key)
{
    json_t *v = json_object_get(raw, key);
    return v ? v : json_null();
}

// Which mean a run's time is estimated by: a pretraining's, a fine-tuning's (a baseline is a
// fine-tuning of the same spec) or a linear probe's.
static int time_kind(const json_t *run)
{
    const char *role = json_string_value(json_object_get(run, "role"));
    return !role ? -1 : strcmp(role, "pretrain") == 0 ? 0
           : strcmp(role, "finetune") == 0 || strcmp(role, "baseline") == 0 ? 1
           : strcmp(role, "linprobe") == 0 ? 2 : -1;
}

// The run time the unfinished jobs still need: each the mean run time of the succeeded jobs
// of its kind, less what it has run already (a running or paused job); 0 once every job
// ended; NAN while a kind still to run has no succeeded job to go by.
static double work_left_s(const json_t *runs, int cancelled)
{
    double sum[3] = {0}, left = 0;
    int count[3] = {0};
    size_t i;
    const json_t *run;
    json_array_foreach(runs, i, run) {
        int kind = time_kind(run);
        double wall = number_at(run, "duration_s");
        const char *state = json_string_value(json_object_get(run, "job_state"));
        if (kind >= 0 && state && strcmp(state, "succeeded") == 0 && !isnan(wall))
            sum[kind] += wall, count[kind]++;
    }
    json_array_foreach(runs, i, run) {
        Seat seat;
        seat_of(run, runs, cancelled, &seat);
        if (seat_ended(&seat)) continue;
        int kind = time_kind(run);
        if (kind < 0 || count[kind] == 0) return NAN;
        double ran = number_at(run, "duration_s"), mean = sum[kind] / count[kind];
        left += isnan(ran) ? mean : fmax(0.0, mean - ran);
    }
    return left;
}

json_t *study_shape(json_t *raw, int with_rows)
{
    const json_t *runs = json_object_get(raw, "runs"), *cells = json_object_get(raw, "cells"), *run;
    const char *control = json_string_value(json_object_get(raw, "control"));
    int cancelled = control && strcmp(control, "cancelled") == 0;
    int n = (int)json_array_size(json_object_get(raw, "seeds"));
    if (!runs || n < 1 || n > STUDY_MAX_SEEDS) {
        json_decref(raw);
        return NULL;
    }
    Seat ft[STUDY_MAX_SEEDS], pre[STUDY_MAX_SEEDS], probe[STUDY_MAX_SEEDS], base[STUDY_MAX_SEEDS];
    double base_top1[STUDY_MAX_SEEDS];
    int baseline = json_is_true(json_object_get(raw, "baseline"));
    Seat *probes = json_is_object(json_object_get(raw, "linprobe")) ? probe : NULL;
    size_t done = 0, jobs_done = 0, i;
    int all_succeeded = 1;
    seats(runs, "baseline", -1, cancelled, n, base, NULL, NULL);
    for (int s = 0; s < n; s++) base_top1[s] = base[s].top1;
    json_t *rows = json_array();
    for (size_t c = 0; c < json_array_size(cells); c++) {
        seats(runs, "finetune", (json_int_t)c, cancelled, n, ft, pre, probes);
        int ended = 1;
        for (int s = 0; s < n; s++) ended &= seat_ended(&ft[s]) && (!probes || seat_ended(&probes[s]));
        done += (size_t)ended;
        if (with_rows)
            json_array_append_new(rows, make_row(json_array_get(cells, c), ft, pre, probes, n,
                                                 baseline ? base_top1 : NULL));
    }
    json_array_foreach(runs, i, run) {
        Seat seat;
        seat_of(run, runs, cancelled, &seat);
        jobs_done += (size_t)seat_ended(&seat);
        all_succeeded &= strcmp(seat.state, "succeeded") == 0;
    }
    int finished = jobs_done == json_array_size(runs);
    const char *state = cancelled ? "cancelled"
                        : finished ? (all_succeeded ? "succeeded" : "failed")
                        : control && strcmp(control, "paused") == 0 ? "paused"
                                                                    : "running";
    json_t *study = json_pack("{s:O, s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:I, s:I, s:I, s:I, s:O, s:O, s:O}",
                              "id", field(raw, "id"), "name", field(raw, "name"), "state", state,
                              "preset", field(raw, "preset"), "axes", field(raw, "axes"), "seeds",
                              field(raw, "seeds"), "baseline", field(raw, "baseline"), "created_at",
                              field(raw, "created_at"), "cells_done", (json_int_t)done, "cells_total",
                              (json_int_t)json_array_size(cells), "jobs_done", (json_int_t)jobs_done,
                              "jobs_total", (json_int_t)json_array_size(runs), "pretrain",
                              field(raw, "pretrain"), "finetune", field(raw, "finetune"), "linprobe",
                              field(raw, "linprobe"));
    if (study) json_object_set_new(study, "work_left_s", number_or_null(work_left_s(runs, cancelled)));
    if (study && with_rows) {
        json_object_set_new(study, "rows", rows);
        json_t *no_values = json_object();
        json_object_set_new(study, "baseline_row",
                            baseline ? make_row(no_values, base, NULL, NULL, n, NULL) : json_null());
        json_decref(no_values);
        rows = NULL;
    }
    json_decref(rows);
    json_decref(raw);
    return study;
}

// ================================================================== tables

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} Out;

static void put(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Out *o, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; !o->failed && tries < 2; tries++) {
        va_start(ap, fmt);
        int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) o->failed = 1;
        else if (o->buf && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        } else {
            size_t cap = o->cap ? o->cap : 1024;
            while (cap <= o->len + (size_t)n) cap *= 2;
            char *grown = realloc(o->buf, cap);
            if (!grown) o->failed = 1;
            else o->buf = grown, o->cap = cap;
        }
    }
}

static char *out_text(Out *o)
{
    if (!o->failed && !o->buf) put(o, "%s", "");
    if (!o->failed) return o->buf;
    free(o->buf);
    return NULL;
}

// An axis value for people: a string as it is, an object as "key: value, ...", the empty
// object (a variant axis's default cell) as STUDY_UNCHANGED, anything else as its JSON text.
static void put_value(Out *o, const json_t *v)
{
    if (json_is_string(v)) {
        put(o, "%s", json_string_value(v));
    } else if (json_is_object(v) && json_object_size(v) == 0) {
        put(o, "%s", STUDY_UNCHANGED);
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        int first = 1;
        json_object_foreach((json_t *)v, key, item) {
            put(o, "%s%s: ", first ? "" : ", ", key);
            put_value(o, item);
            first = 0;
        }
    } else {
        size_t len;
        char *text = json_out(v, &len);
        put(o, "%s", text ? text : "?");
        free(text);
    }
}

// A CSV field: quoted when it holds a comma, a quote or a line end (quotes doubled).
static void put_csv_field(Out *o, const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        put(o, "%s", text);
        return;
    }
    put(o, "\"");
    for (const char *s = text; *s; s++) put(o, *s == '"' ? "\"\"" : "%c", *s);
    put(o, "\"");
}

static void put_csv_number(Out *o, double v)
{
    char text[JSON_REAL_TEXT_MAX];
    if (!isnan(v)) {
        size_t n = json_out_real(v, text);
        if (n > 2 && strcmp(text + n - 2, ".0") == 0) text[n - 2] = 0; // 806160, not 806160.0
        put(o, "%s", text);
    }
}

// The axes' cells of a table line, each as text given to emit: the axes' fields (row NULL), or
// the row's values (a row without a value of the first axis, the baseline, shows label there).
static void put_axes(Out *o, const json_t *study, const json_t *row, const char *label,
                     void (*emit)(Out *o, const char *text))
{
    const json_t *axis, *values = json_object_get(row, "values");
    size_t i;
    json_array_foreach(json_object_get(study, "axes"), i, axis) {
        const char *name = json_string_value(json_object_get(axis, "field"));
        const json_t *v = json_object_get(values, name);
        Out cell = {0};
        if (!row) put(&cell, "%s", name);
        else if (v) put_value(&cell, v);
        else if (i == 0) put(&cell, "%s", label);
        char *text = out_text(&cell);
        emit(o, text ? text : "");
        free(text);
    }
}

static void csv_cell(Out *o, const char *text)
{
    put(o, ",");
    put_csv_field(o, text);
}

// A row's figures in the CSV, in this order after the axes (then its top-1 by seed).
static const char *const CSV_FIGURES[] = {"top1_mean",          "top1_sd",         "gain_mean",
                                          "gain_se",            "pretrain_wall_s", "img_per_s",
                                          "params",             "knn_top1_mean",   "knn_top1_sd",
                                          "linprobe_top1_mean", "linprobe_top1_sd"};

static void csv_row(Out *o, const json_t *study, const json_t *row, const char *label)
{
    const json_t *top1;
    size_t i;
    put(o, "%s", label);
    put_axes(o, study, row, "", csv_cell);
    for (size_t f = 0; f < sizeof CSV_FIGURES / sizeof *CSV_FIGURES; f++) {
        put(o, ",");
        put_csv_number(o, number_at(row, CSV_FIGURES[f]));
    }
    json_array_foreach(json_object_get(row, "top1"), i, top1) {
        put(o, ",");
        put_csv_number(o, json_is_number(top1) ? json_number_value(top1) : NAN);
    }
    put(o, "\r\n");
}

char *study_table_csv(const json_t *study)
{
    Out o = {0};
    const json_t *seed, *row, *baseline = json_object_get(study, "baseline_row");
    size_t i;
    put(&o, "row");
    put_axes(&o, study, NULL, "", csv_cell);
    for (size_t f = 0; f < sizeof CSV_FIGURES / sizeof *CSV_FIGURES; f++) put(&o, ",%s", CSV_FIGURES[f]);
    json_array_foreach(json_object_get(study, "seeds"), i, seed)
        put(&o, ",top1_seed%lld", (long long)json_integer_value(seed));
    put(&o, "\r\n");
    if (json_is_object(baseline)) csv_row(&o, study, baseline, "baseline");
    json_array_foreach(json_object_get(study, "rows"), i, row) {
        char label[32];
        snprintf(label, sizeof label, "%zu", i + 1);
        csv_row(&o, study, row, label);
    }
    return out_text(&o);
}

// A Markdown cell's text: '|' escaped.
static void put_md(Out *o, const char *text)
{
    for (const char *s = text; *s; s++) put(o, *s == '|' ? "\\|" : "%c", *s);
}

static void md_cell(Out *o, const char *text)
{
    put(o, " ");
    put_md(o, text);
    put(o, " |");
}

// "a ± b", "a" alone without b, "—" without a.
static void put_pm(Out *o, double a, double b, const char *sign)
{
    if (isnan(a)) put(o, " — |");
    else if (isnan(b)) put(o, " %s%.2f |", a > 0 ? sign : "", a);
    else put(o, " %s%.2f ± %.2f |", a > 0 ? sign : "", a, b);
}

// A number with `decimals` decimals, or "—".
static void put_figure(Out *o, double v, int decimals)
{
    if (isnan(v)) put(o, " — |");
    else put(o, " %.*f |", decimals, v);
}

// Whether the study probes its pretrainings (the tables' linear-probe column).
static int has_probes(const json_t *study) { return json_is_object(json_object_get(study, "linprobe")); }

// Whether its pretrainings report a k-NN top-1 (the Markdown table's k-NN column): not when the
// study's pretraining switches eval.knn off, unless a cell switched it on and has one.
static int has_knn(const json_t *study)
{
    const json_t *eval = json_object_get(json_object_get(study, "pretrain"), "eval"), *row;
    if (!json_is_false(json_object_get(json_object_get(eval, "knn"), "enabled"))) return 1;
    size_t i;
    json_array_foreach(json_object_get(study, "rows"), i, row)
        if (!isnan(number_at(row, "knn_top1_mean"))) return 1;
    return 0;
}

// The Markdown table's optional columns, decided once per table.
typedef struct {
    int knn, probes;
} MdColumns;

static void md_row(Out *o, const json_t *study, MdColumns cols, const json_t *row, const char *label)
{
    put(o, "|");
    put_axes(o, study, row, label, md_cell);
    put_pm(o, number_at(row, "top1_mean"), number_at(row, "top1_sd"), "");
    put_pm(o, number_at(row, "gain_mean"), number_at(row, "gain_se"), "+");
    if (cols.knn) put_pm(o, number_at(row, "knn_top1_mean"), number_at(row, "knn_top1_sd"), "");
    if (cols.probes)
        put_pm(o, number_at(row, "linprobe_top1_mean"), number_at(row, "linprobe_top1_sd"), "");
    put_figure(o, number_at(row, "pretrain_wall_s"), 1);
    put_figure(o, number_at(row, "img_per_s"), 1);
    put_figure(o, number_at(row, "params"), 0);
    put(o, "\n");
}

char *study_table_md(const json_t *study)
{
    Out o = {0};
    const json_t *seed, *row, *baseline = json_object_get(study, "baseline_row");
    size_t i, axes = json_array_size(json_object_get(study, "axes"));
    int probes = has_probes(study), knn = has_knn(study);
    MdColumns cols = {.knn = knn, .probes = probes};
    put(&o, "|");
    put_axes(&o, study, NULL, "", md_cell);
    put(&o, " top-1 (%%) | gain (pp) |%s%s pretraining (s) | img/s | params |\n|",
        knn ? " k-NN (%) |" : "", probes ? " linear probe (%) |" : "");
    for (i = 0; i < axes + 5 + (size_t)knn + (size_t)probes; i++) put(&o, "%s|", i < axes ? "---" : "---:");
    put(&o, "\n");
    if (json_is_object(baseline)) md_row(&o, study, cols, baseline, "baseline (from scratch)");
    json_array_foreach(json_object_get(study, "rows"), i, row) md_row(&o, study, cols, row, "");
    put(&o, "\nStudy %lld \"", (long long)json_integer_value(json_object_get(study, "id")));
    put_md(&o, json_string_value(json_object_get(study, "name")));
    put(&o, "\" (%s, %lld of %lld cells done): top-1 mean ± sd over seeds",
        json_string_value(json_object_get(study, "state")),
        (long long)json_integer_value(json_object_get(study, "cells_done")),
        (long long)json_integer_value(json_object_get(study, "cells_total")));
    json_array_foreach(json_object_get(study, "seeds"), i, seed)
        put(&o, "%s%lld", i ? ", " : " ", (long long)json_integer_value(seed));
    const char *probe_text = probes ? "the top-1 of a linear probe of its encoder" : NULL;
    put(&o, "; gain over the baseline (fine-tuned from random initialisation, layer_decay 1.0) "
        "paired by seed, mean ± standard error; ");
    if (knn || probes)
        put(&o, "%s%s%s, mean ± sd; ", knn ? "the pretraining's final k-NN top-1" : "",
            knn && probes ? " and " : "", probes ? probe_text : "");
    put(&o, "the pretraining's mean time, throughput and parameters.\n");
    return out_text(&o);
}
