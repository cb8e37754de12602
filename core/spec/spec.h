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

enum { SPEC_PATH_MAX = 4096, SPEC_NAME_MAX = 128, SPEC_GLOB_MAX = 256 };

// A linear probe (JOB_LINPROBE) trains no network: a linear classifier on the frozen
// features of a pretraining's encoder (docs/job-spec.md, linprobe).
typedef enum { JOB_PRETRAIN, JOB_FINETUNE, JOB_LINPROBE } JobKind;

// How a field reached the spec: the API names a registered dataset and an init_from by job
// or checkpoint id; the file form the daemon writes for simmim-train names paths.
typedef enum { REF_NONE, REF_NAME, REF_PATH, REF_JOB_ID, REF_CHECKPOINT_ID } RefForm;

// Bits of JobSpec.given: which fields the spec set explicitly (not null) — the model's (the
// arch and a Swin's fields count as sizes), and the name (a job the daemon receives without one
// gets a name of its own).
enum {
    MODEL_GIVEN_IMG = 1 << 0, MODEL_GIVEN_PATCH = 1 << 1, MODEL_GIVEN_CHANS = 1 << 2,
    MODEL_GIVEN_DIM = 1 << 3, MODEL_GIVEN_DEPTH = 1 << 4, MODEL_GIVEN_HEADS = 1 << 5,
    MODEL_GIVEN_MLP = 1 << 6, MODEL_GIVEN_ARCH = 1 << 7, MODEL_GIVEN_DEPTHS = 1 << 8,
    MODEL_GIVEN_WINDOW = 1 << 9, MODEL_GIVEN_APE = 1 << 10, MODEL_GIVEN_PATCH_NORM = 1 << 11,
    MODEL_GIVEN_PRESET = 1 << 12,
    MODEL_GIVEN_SIZES = MODEL_GIVEN_PRESET - 1, // every size bit (not the preset)
    MODEL_GIVEN_ALL = MODEL_GIVEN_SIZES | MODEL_GIVEN_PRESET,
    NAME_GIVEN = 1 << 13,
};

typedef struct {
    JobKind kind;
    char name[SPEC_NAME_MAX];
    int priority;

    RefForm dataset_form;                 // REF_NAME (API) or REF_PATH (file form)
    char dataset_name[SPEC_NAME_MAX];     // registered name, or the optional "name"
    DataFormat dataset_format;            // file form
    char dataset_path[SPEC_PATH_MAX];     // file form: the dataset's folder
    // File form, format "shards" only (data/shards.h): the globs of the training and test
    // shards inside dataset_path ("train-*.tar"); dataset_test "" = none: the training
    // shards' held-out 2% (shards_held_out) is the test split. "" for other formats.
    char dataset_train[SPEC_GLOB_MAX];
    char dataset_test[SPEC_GLOB_MAX];

    char preset[32];                      // "" when null
    // the arch's default sizes, the preset, then explicit fields; num_classes 0; the head
    // (sections decoder, target and loss: model.decoder, model.target_resolution, model.loss)
    // is the pretraining's
    ModelConfig model;
    unsigned given;                       // MODEL_GIVEN_* and NAME_GIVEN bits
    MaskConfig mask;                      // mask_patch_size 0: the model's default, not known
                                          // yet (a model still to come from a checkpoint)

    struct {
        int epochs, batch_size;
        double lr, min_lr, warmup_epochs, weight_decay, betas[2], clip_grad;
        uint64_t seed;
        int threads;      // per rank; 0: the host's cores divided by its ranks
        int ranks;        // processes training together (data parallel, under mpirun); each
                          // takes batch_size / ranks images of every batch
        long max_steps;   // 0: none; otherwise the run stops there, the schedule unchanged
        long total_steps; // 0: epochs × steps per epoch; else the schedule's length (epochs 0)
        Precision precision;
        int max_memory_mb; // 0: half of this machine's memory (spec_check_memory)
    } train;
    AugmentConfig augment;
    // How the data reaches the model (section "data"): decode threads, steps decoded ahead, the
    // in-memory cache's budget, the shards' shuffle buffer, the bad images tolerated.
    struct {
        int workers;        // decode threads; 0: one less than the cores, at least 1
                            // (spec_data_workers)
        int prefetch;       // steps decoded ahead of the one training
        int shuffle_buffer; // shards: samples in the seeded shuffle buffer
        long cache_mb;      // -1 (null): a quarter of physical memory (spec_data_cache_bytes);
                            // 0: always stream; else a dataset whose decoded cache fits stays
                            // in memory
        double max_error_fraction; // the job fails when more of the images seen are bad
    } data;
    // Where the weights start: finetune.init_from (a fine-tuning's encoder),
    // pretrain.init_from (continued pretraining) or linprobe.init_from (the probed encoder),
    // the kind says which; one place, one reader.
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
    // The linear probe's classifier: L2 weight decay on its weights, the solver's iteration
    // limit, and the few-label setting as finetune.labels_per_class.
    struct {
        double weight_decay;
        int max_iterations, labels_per_class;
    } linprobe;
    struct {
        int progress_every_steps, checkpoint_every_steps, preview_every_steps, keep_checkpoints;
    } schedule;
    // eval.knn: the k-nearest-neighbour probe at a pretraining's evaluations.
    struct {
        int enabled;        // -1 (null): on when the dataset is labelled; 0: off; 1: on (a
                            // dataset without labels fails the job)
        int bank, k;        // labelled training images in the bank; neighbours that vote
        double temperature; // a neighbour's vote is exp(cosine similarity / temperature)
    } knn;
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
// absent. Null means the default where docs/job-spec.md says so (model.arch, model.preset,
// the model sizes, mask.mask_patch_size, the decoder and target sections and their sizes, loss.beta,
// bins and palette, init_from, job_id). A field of the head that its type does not use
// (decoder.hidden with decoder.type "linear", loss.bins with loss.type "l1"), or of the model
// that its arch does not use (model.depths with model.arch "vit"), is an error naming both.
// model.arch "swin" takes integer arrays for model.depths and model.num_heads. A pretraining spec's model, mask, head and memory (spec_check_memory) are validated; a
// finetune spec's model and memory too. A job from a checkpoint (finetune.init_from,
// pretrain.init_from) waits for spec_adopt_model: its explicit sizes are only kept in given.
// Returns 0, or -1 with *err filled (err may be NULL) and *spec untouched.
int spec_parse(const char *json_text, size_t len, JobSpec *spec, SpecError *err);

// A job from a checkpoint takes its encoder from it. Every size the spec determines (given
// explicitly, or through its preset; the arch first) must equal `from`'s: an explicit one that
// differs is an error naming it ("model.embed_dim: the starting checkpoint has 128, the spec
// says 192"), one from the preset names model.preset. The model is then validated as spec_parse validates a
// model it knows (a pretraining's mask and head with it, and the memory). On success
// spec->model = from's sizes with num_classes, drop_path and the spec's head kept (whether the
// checkpoint's head suits it is checkpoint_suits_pretraining's question), mask_patch_size
// defaulted by the model if the spec left it, and every MODEL_GIVEN_SIZES bit set (the spec now
// states the model). On error *spec is untouched.
int spec_adopt_model(JobSpec *spec, const ModelConfig *from, SpecError *err);

// Whether the job fits train.max_memory_mb (0: half of this machine's memory, or of its
// cgroup's limit) on each host it runs on: config.h's model_memory_estimate of the spec's
// model, on train.threads (0: the host's cores over its ranks), for a fine-tuning with
// spec->model.num_classes classes (0: the dataset's are not known yet, counted as 2) — rank 0
// at train.batch_size (it evaluates whole batches), each other rank at its share — summed over
// the ranks of this host and, where spec_rank_hosts puts ranks elsewhere, of the busiest other
// host (taken to be a machine like this one). 0, or -1 with *err naming train.max_memory_mb,
// the estimate, the limit and the fields that drive it. spec_parse and spec_adopt_model call
// it; the daemon again once it knows a fine-tuning dataset's classes.
int spec_check_memory(const JobSpec *spec, SpecError *err);

// Where the ranks of a job run, seen from this host: how many run here, whether rank 0 is one
// of them, and the most that run on any one other host.
typedef struct {
    int here, rank0_here, elsewhere;
} RankHosts;
typedef struct {
    RankHosts (*place)(int ranks, const void *ctx); // for a job of `ranks` > 1 ranks
    const void *ctx;
} RankPlacement;
// How this process places a job's ranks for spec_check_memory (NULL, the default: every rank
// on this host); *placement must outlive its use (set NULL before it goes). The daemon sets it
// from its mpi hostfile (launch.h), simmim-train from where mpirun started its ranks; any
// thread may parse specs meanwhile. spec_rank_hosts answers as it says.
void spec_set_rank_placement(const RankPlacement *placement);
RankHosts spec_rank_hosts(int ranks);

// The head sections of a checkpoint's metadata (docs/checkpoints.md: the spec's decoder,
// target and loss as spec_to_json writes them; NULL: absent) into cfg's decoder,
// target_resolution and loss, each absent section today's default (linear, full resolution,
// l1 on the masked area). The spec's own reader, so the metadata means what the spec meant.
// 0, or -1 with *err naming the field (cfg untouched).
int spec_read_head(const char *decoder, const char *target, const char *loss, ModelConfig *cfg,
                   SpecError *err);

// "pretrain.init_from", "finetune.init_from" or "linprobe.init_from": where the spec's kind
// takes init_from from, for messages about the starting checkpoint.
const char *spec_init_from_field(const JobSpec *spec);

// The kind's word ("pretrain", "finetune", "linprobe"; NULL if out of range) and the kind a
// word names (0, or -1 for any other word): the daemon stores and filters jobs by it.
const char *spec_kind_name(JobKind kind);
// The kind for people, with its article: "a pretraining", "a fine-tuning", "a linear probe".
const char *spec_kind_noun(JobKind kind);
int spec_kind_parse(const char *word, JobKind *kind);

// The few-label setting of a kind that trains a classifier: finetune.labels_per_class or
// linprobe.labels_per_class (0: every label; always 0 for a pretraining).
int spec_labels_per_class(const JobSpec *spec);

// Whether a pretraining on a dataset of this format with num_classes classes runs the k-NN
// probe (1) or not (0): eval.knn enabled, or left null on a labelled dataset (at least two
// classes) that is not tar shards. -1 with *err naming eval.knn.enabled when it is true and the
// dataset has no labels or is tar shards.
int spec_knn_runs(const JobSpec *spec, int num_classes, DataFormat format, SpecError *err);

// The resolved spec as one line of JSON in the contract's shape and key order, every section
// and field present; numbers in their shortest exact form, so spec_parse reads back the same
// spec. dataset is a name (REF_NAME) or the file form's object; init_from null, a job id,
// {"checkpoint": id} or {"path": file} (with "sha256" when init_from.sha256 is set), in the
// kind's section (the other kind's is null). A spec from a checkpoint whose model has not been
// adopted writes null for the sizes it did not give and for a defaulted mask_patch_size (they
// are the checkpoint's, unknown yet), so the child that reads the file still takes them from
// the checkpoint. A head field its type does not use is written as null. The caller frees
// the text. NULL on allocation failure or a spec no JSON can express (a string that is not
// UTF-8, an enum or RefForm out of range, a non-finite number).
char *spec_to_json(const JobSpec *spec);

// data.workers resolved: the spec's, or for 0 one less than cpu_count(), at least 1.
int spec_data_workers(const JobSpec *spec);
// data.cache_mb resolved, in bytes: the spec's × 2^20, or for null (-1) a quarter of
// machine_memory_bytes() (physical memory, or a lower cgroup limit). 0: always stream.
double spec_data_cache_bytes(const JobSpec *spec);

// train.precision's words: "fp32" or "bf16" for a precision (NULL if out of range), and the
// precision a word names (0, or -1 for any other word), for the programs that take a
// precision outside a spec and report the one they ran.
const char *spec_precision_name(Precision precision);
int spec_precision_parse(const char *word, Precision *precision);

#endif
