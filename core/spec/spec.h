// The job spec (docs/job-spec.md, a contract): parsing JSON into a JobSpec with a
// default for every field, validation that names the offending field, and serialization of
// the resolved spec. Shared by simmim-train (which reads the file form) and simmimd (which
// accepts the API form and writes the file form for its child).
#ifndef SIMMIM_SPEC_H
#define SIMMIM_SPEC_H

#include <stdint.h>

#include "base/cpu.h"
#include "config/config.h"
#include "data/augment.h"
#include "data/data.h"

enum { SPEC_PATH_MAX = 4096, SPEC_NAME_MAX = 128 };

typedef enum { JOB_PRETRAIN, JOB_FINETUNE } JobKind;

// How a field reached the spec: the API names a registered dataset and an init_from by job
// or checkpoint id; the file form the daemon writes for simmim-train names paths.
typedef enum { REF_NONE, REF_NAME, REF_PATH, REF_JOB_ID, REF_CHECKPOINT_ID } RefForm;

// Bits of JobSpec.given: which fields the spec set explicitly (not null) — the model's, and
// the name (a job the daemon receives without one gets a name of its own).
enum {
    MODEL_GIVEN_IMG = 1 << 0, MODEL_GIVEN_PATCH = 1 << 1, MODEL_GIVEN_CHANS = 1 << 2,
    MODEL_GIVEN_DIM = 1 << 3, MODEL_GIVEN_DEPTH = 1 << 4, MODEL_GIVEN_HEADS = 1 << 5,
    MODEL_GIVEN_MLP = 1 << 6, MODEL_GIVEN_PRESET = 1 << 7,
    MODEL_GIVEN_SIZES = MODEL_GIVEN_PRESET - 1, // every size bit (not the preset)
    MODEL_GIVEN_ALL = MODEL_GIVEN_SIZES | MODEL_GIVEN_PRESET,
    NAME_GIVEN = 1 << 8,
};

typedef struct {
    JobKind kind;
    char name[SPEC_NAME_MAX];
    int priority;

    RefForm dataset_form;                 // REF_NAME (API) or REF_PATH (file form)
    char dataset_name[SPEC_NAME_MAX];     // registered name, or the optional "name"
    DataFormat dataset_format;            // file form
    char dataset_path[SPEC_PATH_MAX];     // file form

    char preset[32];                      // "" when null
    ModelConfig model;                    // preset, then explicit fields; num_classes 0
    unsigned given;                       // MODEL_GIVEN_* and NAME_GIVEN bits
    MaskConfig mask;
    int loss_full_image;                  // loss.scope: "masked" 0, "full" 1

    struct {
        int epochs, batch_size;
        double lr, min_lr, warmup_epochs, weight_decay, betas[2], clip_grad;
        uint64_t seed;
        int threads;
        long max_steps;   // 0: none; otherwise the run stops there, the schedule unchanged
        long total_steps; // 0: epochs × steps per epoch; else the schedule's length (epochs 0)
        Precision precision;
    } train;
    AugmentConfig augment;
    // Where the weights start: finetune.init_from (a fine-tuning's encoder) or
    // pretrain.init_from (continued pretraining), the kind says which; one place, one reader.
    struct {
        RefForm form;                     // REF_NONE, REF_PATH, REF_JOB_ID, REF_CHECKPOINT_ID
        char path[SPEC_PATH_MAX];
        char sha256[65];                  // file form: the path's expected SHA-256, "" if none
        long id;                          // job or checkpoint id
    } init_from;
    struct {
        double layer_decay, label_smoothing, drop_path;
        int labels_per_class;
    } finetune;
    struct {
        int progress_every_steps, checkpoint_every_steps, preview_every_steps, keep_checkpoints;
    } schedule;
    long job_id;                          // 0 when null
} JobSpec;

// Both strings are one line of valid UTF-8 (bad bytes in echoed keys become '?'), safe to put
// into a JSON response or a log line as they are.
typedef struct {
    char field[64];    // e.g. "train.epochs"; "" when the problem is the document itself
    char message[256]; // "field: what is wrong (got value)", or the document's problem alone
} SpecError;

// Parses and validates a spec document (len bytes, no NUL terminator needed). Unknown keys,
// wrong types and out-of-range values are errors naming the field; duplicate keys and
// non-objects are document errors. Kind-dependent defaults (min_lr, crop_scale) apply when
// absent. Null means the default for model.preset, finetune.init_from, job_id and the model
// sizes. A pretraining spec's model and mask are validated; a finetune spec's model too unless
// it starts from a checkpoint: then the explicit sizes are only kept in given for
// spec_adopt_model. Returns 0, or -1 with *err filled (err may be NULL) and *spec untouched.
int spec_parse(const char *json_text, size_t len, JobSpec *spec, SpecError *err);

// A fine-tuning job takes its model from the checkpoint. Every size the spec determines (given
// explicitly, or through its preset) must equal `from`'s: an explicit one that differs is an
// error naming it ("model.embed_dim: the starting checkpoint has 128, the spec says 192"), one
// from the preset names model.preset. On success spec->model = from with num_classes and
// drop_path kept, and every MODEL_GIVEN_SIZES bit is set (the spec now states the model).
int spec_adopt_model(JobSpec *spec, const ModelConfig *from, SpecError *err);

// The resolved spec as one line of JSON in the contract's shape and key order, every section
// and field present; numbers in their shortest exact form, so spec_parse reads back the same
// spec. dataset is a name (REF_NAME) or the file form's object; init_from null, a job id,
// {"checkpoint": id} or {"path": file} (with "sha256" when init_from.sha256 is set). A finetune spec from a checkpoint whose model has not
// been adopted writes null for the sizes it did not give (they are the checkpoint's, unknown
// yet), so the child that reads the file still takes them from the checkpoint. The caller frees
// the text. NULL on allocation failure or a spec no JSON can express (a string that is not
// UTF-8, an enum or RefForm out of range, a non-finite number).
char *spec_to_json(const JobSpec *spec);

// train.precision's words: "fp32" or "bf16" for a precision (NULL if out of range), and the
// precision a word names (0, or -1 for any other word), for the programs that take a
// precision outside a spec and report the one they ran.
const char *spec_precision_name(Precision precision);
int spec_precision_parse(const char *word, Precision *precision);

#endif
