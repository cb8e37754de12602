// Job specs (docs/job-spec.md, a contract). One table per section describes every field:
// its key, type, range and place in JobSpec. One routine reads a section by its table (unknown
// keys, types, ranges) and one builds its Jansson object, printed by json_out, so parsing,
// validation and serialization cannot drift apart, and the output's key order is the
// contract's because the tables are in it.
// Cross-field rules (min_lr ≤ lr, the model's divisibility, the memory a job needs) run
// after the tables; model, mask and head sizes are judged by config.c, the authority on them.
#include "spec/spec.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/json_out.h"
#include "data/shards.h"

// Enumerations are stored through int pointers by the one enum reader.
_Static_assert(sizeof(JobKind) == sizeof(int), "JobKind is stored as an int");
_Static_assert(sizeof(DataFormat) == sizeof(int), "DataFormat is stored as an int");
_Static_assert(sizeof(Precision) == sizeof(int), "Precision is stored as an int");
_Static_assert(sizeof(MaskType) == sizeof(int), "MaskType is stored as an int");
_Static_assert(sizeof(DecoderType) == sizeof(int), "DecoderType is stored as an int");
_Static_assert(sizeof(LossType) == sizeof(int), "LossType is stored as an int");
_Static_assert(sizeof(Arch) == sizeof(int), "Arch is stored as an int");
_Static_assert((int)SPEC_GLOB_MAX == (int)SHARDS_GLOB_MAX, "a spec holds any glob shards accept");

// ---- Errors ------------------------------------------------------------------------------

// Fills *err: the field ("" for the document itself) and "field: <text>". Returns -1.
__attribute__((format(printf, 3, 4))) static int spec_refuse(SpecError *err, const char *field,
                                                             const char *fmt, ...)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    size_t n = field[0] ? (size_t)snprintf(err->message, sizeof err->message, "%s: ", field) : 0;
    if (n >= sizeof err->message) n = sizeof err->message - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - n, fmt, ap);
    va_end(ap);
    text_one_line(err->field);
    text_one_line(err->message);
    return -1;
}

// A message from config.c ("model.embed_dim: ..."): the field is the text before ": ".
static int fail_config(SpecError *err, const char *message)
{
    const char *colon = strstr(message, ": ");
    size_t n = colon ? (size_t)(colon - message) : 0;
    if (n >= sizeof err->field) n = sizeof err->field - 1;
    memcpy(err->field, message, n);
    err->field[n] = 0;
    snprintf(err->message, sizeof err->message, "%s", message);
    text_one_line(err->field);
    text_one_line(err->message);
    return -1;
}

// The shortest text that reads back as exactly v, for messages ("got 0.1", "[0, 1)"; not
// 0.10000000000000001); integral values without an exponent or a fraction.
static void format_double(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

// "a string", "an object", "3.5": what a value is, for "expected X (got Y)".
static const char *describe(json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY:
        snprintf(buf, size, "an array of %zu value%s", json_array_size(v),
                 json_array_size(v) == 1 ? "" : "s");
        return buf;
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL: format_double(json_real_value(v), buf, size); return buf;
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

static int expected(SpecError *err, const char *path, const char *what, json_t *v)
{
    char buf[64];
    return spec_refuse(err, path, "expected %s (got %s)", what, describe(v, buf, sizeof buf));
}

// ---- Field tables ------------------------------------------------------------------------

typedef enum {
    F_INT,     // int
    F_LONG,    // long
    F_U64,     // uint64_t
    F_DOUBLE,  // double
    F_PAIR,    // double[2]
    F_BOOL,    // int, 0 or 1
    F_STRING,  // char[cap]
    F_INTS,    // int[cap], its length an int at count_offset
    F_ENUM,    // int: index into choices
    F_SECTION, // a nested object with its own table
    F_CUSTOM,  // a value with several forms: its own reader and writer
} FieldType;

enum {
    LO_OPEN = 1 << 0,      // numbers: (lo, … instead of [lo, …
    HI_OPEN = 1 << 1,      // numbers: …, hi) instead of …, hi]
    ORDERED = 1 << 2,      // F_PAIR: first ≤ second
    NULLABLE = 1 << 3,     // null means "the default" (or, for model sizes, "the checkpoint's")
    NULL_IS_ZERO = 1 << 4, // F_INT, F_LONG: null is stored as 0, and 0 written as null
    REQUIRED = 1 << 5,     // must be present (inside the dataset and init_from objects)
    NONEMPTY = 1 << 6,     // strings
    NO_CONTROL = 1 << 7,   // strings shown to people: no control characters
    // Used by one value (used_by) of its table's "type" (the dataset object's "format") only:
    // given (not null) with another type it is an error naming both, and it is written as null
    // there.
    TYPE_ONLY = 1 << 8,
    NULL_IS_MINUS_ONE = 1 << 9, // F_LONG, F_BOOL: null is stored as -1, and -1 written as null
};

typedef struct Field Field;
typedef int (*ReadFn)(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err);
typedef json_t *(*WriteFn)(const Field *f, const JobSpec *s);

struct Field {
    const char *key;
    FieldType type;
    size_t offset;              // of the value in JobSpec
    size_t count_offset;        // F_INTS: of its length in JobSpec
    unsigned flags;
    long long imin, imax;       // integer types
    double dmin, dmax;          // F_DOUBLE, F_PAIR (open ends in flags)
    size_t cap;                 // F_STRING: buffer size including the NUL; F_INTS: values
    const char *const *choices; // F_ENUM: NULL-terminated
    const Field *section;       // F_SECTION
    ReadFn read;                // F_CUSTOM
    WriteFn write;              // F_CUSTOM
    unsigned given;             // JobSpec.given bit set when present and not null
    int used_by;                // TYPE_ONLY: the type that uses it; init_from: the JobKind
};

#define AT(member) offsetof(JobSpec, member)
#define CAP(member) sizeof(((JobSpec *)0)->member)
#define INT_F(k, m, lo, hi) {.key = k, .type = F_INT, .offset = AT(m), .imin = lo, .imax = hi}
#define LONG_F(k, m, lo, hi, fl) \
    {.key = k, .type = F_LONG, .offset = AT(m), .imin = lo, .imax = hi, .flags = fl}
#define U64_F(k, m, lo, hi) {.key = k, .type = F_U64, .offset = AT(m), .imin = lo, .imax = hi}
#define DOUBLE_F(k, m, lo, hi, fl) \
    {.key = k, .type = F_DOUBLE, .offset = AT(m), .dmin = lo, .dmax = hi, .flags = fl}
#define PAIR_F(k, m, lo, hi, fl) \
    {.key = k, .type = F_PAIR, .offset = AT(m), .dmin = lo, .dmax = hi, .flags = fl}
#define BOOL_F(k, m) {.key = k, .type = F_BOOL, .offset = AT(m)}
#define STRING_F(k, m, fl) {.key = k, .type = F_STRING, .offset = AT(m), .cap = CAP(m), .flags = fl}
#define ENUM_F(k, m, ch, fl) {.key = k, .type = F_ENUM, .offset = AT(m), .choices = ch, .flags = fl}
#define SECTION_F(k, table) {.key = k, .type = F_SECTION, .section = table}
#define CUSTOM_F(k, rd, wr) {.key = k, .type = F_CUSTOM, .read = rd, .write = wr}
// Model sizes: wide ranges only keep the value representable; config.c judges the sizes (for
// a finetune job from a checkpoint, spec_adopt_model compares them instead). Null: not given.
#define SIZE_F(k, m, bit) \
    {.key = k, .type = F_INT, .offset = AT(model.m), .imin = 1, .imax = INT_MAX, \
     .flags = NULLABLE, .given = bit}
// A size of one arch only (model.arch is the model section's type).
#define ARCH_SIZE_F(k, m, bit, arch) \
    {.key = k, .type = F_INT, .offset = AT(model.m), .imin = 1, .imax = INT_MAX, \
     .flags = NULLABLE | TYPE_ONLY, .given = bit, .used_by = arch}
// A Swin's per-stage list: at most MAX_STAGES integers, its length in model.count.
#define STAGES_F(k, m, count, bit) \
    {.key = k, .type = F_INTS, .offset = AT(model.m), .count_offset = AT(model.count), \
     .imin = 1, .imax = INT_MAX, .cap = MAX_STAGES, .flags = NULLABLE | TYPE_ONLY, .given = bit, \
     .used_by = ARCH_SWIN}
// The head's sizes, the same way: config.c's head_config_validate judges them (pretraining
// only). Null: the default (0 with NULL_IS_ZERO: "the encoder's", "the image size").
#define HEAD_F(k, m, fl, type_value) \
    {.key = k, .type = F_INT, .offset = AT(model.m), .imin = 1, .imax = INT_MAX, \
     .flags = NULLABLE | TYPE_ONLY | (fl), .used_by = type_value}
// finetune.init_from and pretrain.init_from: one place in JobSpec, set by the kind's section.
#define INIT_FROM_F(kind) \
    {.key = "init_from", .type = F_CUSTOM, .read = read_init_from, .write = write_init_from, \
     .used_by = kind}

static const char *const KINDS[] = {"pretrain", "finetune", "linprobe", NULL}; // JobKind order
static const char *const FORMATS[] = {"idx", "imagefolder", "shards", NULL}; // DataFormat order
static const char *const ARCHS[] = {"vit", "swin", NULL};               // Arch order
static const char *const MASK_TYPES[] = {"random", "square", "block", NULL}; // MaskType order
// In the order of DecoderType and LossType.
static const char *const DECODER_TYPES[] = {"linear", "mlp", "transformer", NULL};
static const char *const LOSS_TYPES[] = {"l1", "l2", "smooth_l1", "bins", "palette", NULL};
static const char *const LOSS_SCOPES[] = {"masked", "full", NULL};  // loss.full_image 0, 1
static const char *const PRECISIONS[] = {"fp32", "bf16", NULL};     // Precision order

static int read_arch(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err);
static int read_preset(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err);
static int read_num_heads(const Field *f, json_t *v, JobSpec *s, const char *path,
                          SpecError *err);
static int spec_read_dataset(const Field *f, json_t *v, JobSpec *s, const char *path,
                             SpecError *err);
static int read_init_from(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err);
static json_t *write_enum(const Field *f, const JobSpec *s);
static json_t *write_value(const Field *f, const JobSpec *s);
static json_t *write_preset(const Field *f, const JobSpec *s);
static json_t *write_num_heads(const Field *f, const JobSpec *s);
static json_t *write_dataset(const Field *f, const JobSpec *s);
static json_t *write_init_from(const Field *f, const JobSpec *s);

// The arch, then the preset, come before the sizes: the table's order is the reading order,
// so the preset overrides the arch's default sizes and explicit sizes override the preset,
// wherever they appear in the document. The arch is the section's type: a field of the other
// arch is refused (TYPE_ONLY), and num_heads is an integer or a list by it.
static const Field MODEL_FIELDS[] = {
    {.key = "arch", .type = F_CUSTOM, .offset = AT(model.arch), .choices = ARCHS,
     .read = read_arch, .write = write_enum, .flags = NULLABLE, .given = MODEL_GIVEN_ARCH},
    {.key = "preset", .type = F_CUSTOM, .read = read_preset, .write = write_preset,
     .given = MODEL_GIVEN_PRESET},
    SIZE_F("img_size", img_size, MODEL_GIVEN_IMG),
    SIZE_F("patch_size", patch_size, MODEL_GIVEN_PATCH),
    SIZE_F("in_chans", in_chans, MODEL_GIVEN_CHANS),
    SIZE_F("embed_dim", embed_dim, MODEL_GIVEN_DIM),
    ARCH_SIZE_F("depth", depth, MODEL_GIVEN_DEPTH, ARCH_VIT),
    {.key = "num_heads", .type = F_CUSTOM, .read = read_num_heads, .write = write_num_heads,
     .given = MODEL_GIVEN_HEADS},
    {.key = "mlp_ratio", .type = F_DOUBLE, .offset = AT(model.mlp_ratio), .dmin = 0, .dmax = 64,
     .flags = LO_OPEN | NULLABLE, .given = MODEL_GIVEN_MLP},
    STAGES_F("depths", depths, num_stages, MODEL_GIVEN_DEPTHS),
    ARCH_SIZE_F("window_size", window_size, MODEL_GIVEN_WINDOW, ARCH_SWIN),
    {.key = "ape", .type = F_BOOL, .offset = AT(model.ape), .flags = NULLABLE | TYPE_ONLY,
     .given = MODEL_GIVEN_APE, .used_by = ARCH_SWIN},
    {.key = "patch_norm", .type = F_BOOL, .offset = AT(model.patch_norm),
     .flags = NULLABLE | TYPE_ONLY, .given = MODEL_GIVEN_PATCH_NORM, .used_by = ARCH_SWIN},
    {0},
};
// model.num_heads by the arch: a ViT's one count, a Swin's list of one per stage.
static const Field VIT_HEADS = SIZE_F("num_heads", num_heads, MODEL_GIVEN_HEADS);
static const Field SWIN_HEADS = {.key = "num_heads", .type = F_INTS, .offset = AT(model.stage_heads),
                                 .count_offset = AT(model.num_stage_heads), .imin = 1,
                                 .imax = INT_MAX, .cap = MAX_STAGES, .given = MODEL_GIVEN_HEADS};

static const Field MASK_FIELDS[] = {
    ENUM_F("type", mask.type, MASK_TYPES, 0),
    // Null (0): the default by model.patch_size, set once the model is known (parse_document).
    {.key = "mask_patch_size", .type = F_INT, .offset = AT(mask.mask_patch_size), .imin = 1,
     .imax = INT_MAX, .flags = NULLABLE | NULL_IS_ZERO},
    DOUBLE_F("ratio", mask.ratio, 0, 1, LO_OPEN | HI_OPEN),
    INT_F("min_block", mask.min_block, 1, INT_MAX), // and at most the grid's cells (config.c)
    {0},
};

static const Field DECODER_FIELDS[] = {
    ENUM_F("type", model.decoder.type, DECODER_TYPES, 0),
    HEAD_F("hidden", decoder.hidden, NULL_IS_ZERO, DECODER_MLP),
    HEAD_F("depth", decoder.depth, 0, DECODER_TRANSFORMER),
    HEAD_F("embed_dim", decoder.embed_dim, NULL_IS_ZERO, DECODER_TRANSFORMER),
    HEAD_F("num_heads", decoder.num_heads, NULL_IS_ZERO, DECODER_TRANSFORMER),
    {0},
};

static const Field TARGET_FIELDS[] = {
    {.key = "resolution", .type = F_INT, .offset = AT(model.target_resolution), .imin = 1,
     .imax = INT_MAX, .flags = NULLABLE | NULL_IS_ZERO},
    {0},
};

static const Field LOSS_FIELDS[] = {
    ENUM_F("type", model.loss.type, LOSS_TYPES, 0),
    ENUM_F("scope", model.loss.full_image, LOSS_SCOPES, 0),
    {.key = "beta", .type = F_DOUBLE, .offset = AT(model.loss.beta), .dmin = -INFINITY,
     .dmax = INFINITY, .flags = NULLABLE | TYPE_ONLY, .used_by = LOSS_SMOOTH_L1},
    HEAD_F("bins", loss.bins, 0, LOSS_BINS),
    HEAD_F("palette", loss.palette, 0, LOSS_PALETTE),
    {0},
};

static const Field TRAIN_FIELDS[] = {
    // 0 (null): the schedule's length is train.total_steps (parse_document).
    {.key = "epochs", .type = F_INT, .offset = AT(train.epochs), .imin = 1, .imax = 100000,
     .flags = NULLABLE | NULL_IS_ZERO},
    INT_F("batch_size", train.batch_size, 1, 65536),
    DOUBLE_F("lr", train.lr, 0, 10, LO_OPEN),
    DOUBLE_F("min_lr", train.min_lr, 0, 10, 0),              // and ≤ lr (check_spec)
    DOUBLE_F("warmup_epochs", train.warmup_epochs, 0, 100000, 0), // and ≤ epochs
    DOUBLE_F("weight_decay", train.weight_decay, 0, 10, 0),
    PAIR_F("betas", train.betas, 0, 1, HI_OPEN),
    DOUBLE_F("clip_grad", train.clip_grad, 0, 1e6, 0),
    U64_F("seed", train.seed, 0, 1LL << 53), // 2^53: exact in any JSON reader's double
    INT_F("threads", train.threads, 0, 1024),
    INT_F("ranks", train.ranks, 1, 1024), // and dividing batch_size (check_spec)
    LONG_F("max_steps", train.max_steps, 0, LONG_MAX, 0),
    LONG_F("total_steps", train.total_steps, 0, 1000000000000, 0),
    ENUM_F("precision", train.precision, PRECISIONS, 0),
    INT_F("max_memory_mb", train.max_memory_mb, 0, 1 << 30), // 0: half the machine's
    {0},
};

static const Field AUGMENT_FIELDS[] = {
    PAIR_F("crop_scale", augment.crop_scale, 0, 1, LO_OPEN | ORDERED),
    PAIR_F("crop_ratio", augment.crop_ratio, 0, 100, LO_OPEN | ORDERED),
    BOOL_F("hflip", augment.hflip),
    {0},
};

// Defaults that depend on the machine (workers, cache_mb) are resolved where the data is read
// (spec_data_workers, spec_data_cache_bytes): the spec keeps 0 and null.
static const Field DATA_FIELDS[] = {
    INT_F("workers", data.workers, 0, 64),
    INT_F("prefetch", data.prefetch, 1, 16),
    {.key = "cache_mb", .type = F_LONG, .offset = AT(data.cache_mb), .imin = 0,
     .imax = 1LL << 30, .flags = NULLABLE | NULL_IS_MINUS_ONE},
    INT_F("shuffle_buffer", data.shuffle_buffer, 1, 1000000),
    DOUBLE_F("max_error_fraction", data.max_error_fraction, 0, 1, HI_OPEN),
    {0},
};

static const Field PRETRAIN_FIELDS[] = {
    INIT_FROM_F(JOB_PRETRAIN),
    {0},
};

static const Field FINETUNE_FIELDS[] = {
    INIT_FROM_F(JOB_FINETUNE),
    DOUBLE_F("layer_decay", finetune.layer_decay, 0, 1, LO_OPEN),
    DOUBLE_F("label_smoothing", finetune.label_smoothing, 0, 1, HI_OPEN),
    DOUBLE_F("drop_path", finetune.drop_path, 0, 1, HI_OPEN),
    INT_F("labels_per_class", finetune.labels_per_class, 0, 1000000),
    {0},
};

static const Field LINPROBE_FIELDS[] = {
    INIT_FROM_F(JOB_LINPROBE),
    DOUBLE_F("weight_decay", linprobe.weight_decay, 0, 10, 0),
    INT_F("max_iterations", linprobe.max_iterations, 1, 100000),
    INT_F("labels_per_class", linprobe.labels_per_class, 0, 1000000),
    {0},
};

static const Field SCHEDULE_FIELDS[] = {
    INT_F("progress_every_steps", schedule.progress_every_steps, 1, 1000000000),
    INT_F("checkpoint_every_steps", schedule.checkpoint_every_steps, 1, 1000000000),
    INT_F("preview_every_steps", schedule.preview_every_steps, 1, 1000000000),
    INT_F("keep_checkpoints", schedule.keep_checkpoints, 1, 1000),
    {0},
};

// enabled null (-1): on for a labelled dataset, known only where the data is (spec_knn_runs).
static const Field KNN_FIELDS[] = {
    {.key = "enabled", .type = F_BOOL, .offset = AT(knn.enabled), .flags = NULLABLE | NULL_IS_MINUS_ONE},
    INT_F("bank", knn.bank, 1, 1000000),
    INT_F("k", knn.k, 1, 1000), // and ≤ bank (check_spec)
    DOUBLE_F("temperature", knn.temperature, 0, 10, LO_OPEN),
    {0},
};

static const Field EVAL_FIELDS[] = {
    SECTION_F("knn", KNN_FIELDS),
    {0},
};

// kind must stay first: spec_parse reads it before the rest (kind-dependent defaults).
static const Field TOP_FIELDS[] = {
    ENUM_F("kind", kind, KINDS, 0),
    {.key = "name", .type = F_STRING, .offset = AT(name), .cap = CAP(name), .flags = NO_CONTROL,
     .given = NAME_GIVEN},
    CUSTOM_F("dataset", spec_read_dataset, write_dataset),
    INT_F("priority", priority, -1000, 1000),
    SECTION_F("model", MODEL_FIELDS),
    SECTION_F("mask", MASK_FIELDS),
    {.key = "decoder", .type = F_SECTION, .section = DECODER_FIELDS, .flags = NULLABLE},
    {.key = "target", .type = F_SECTION, .section = TARGET_FIELDS, .flags = NULLABLE},
    SECTION_F("loss", LOSS_FIELDS),
    SECTION_F("train", TRAIN_FIELDS),
    SECTION_F("augment", AUGMENT_FIELDS),
    SECTION_F("data", DATA_FIELDS),
    SECTION_F("pretrain", PRETRAIN_FIELDS),
    SECTION_F("finetune", FINETUNE_FIELDS),
    SECTION_F("linprobe", LINPROBE_FIELDS),
    SECTION_F("schedule", SCHEDULE_FIELDS),
    SECTION_F("eval", EVAL_FIELDS),
    LONG_F("job_id", job_id, 1, LONG_MAX, NULLABLE | NULL_IS_ZERO),
    {0},
};

// The object forms of dataset and init_from, and the alternative descriptors their readers
// use for the scalar forms (same keys, so errors name the same field).
// train and test: format "shards" only (null elsewhere); spec_read_dataset checks the globs.
#define SHARDS_GLOB_F(k, m) \
    {.key = k, .type = F_STRING, .offset = AT(m), .cap = CAP(m), \
     .flags = NULLABLE | TYPE_ONLY, .used_by = DATA_FORMAT_SHARDS}
static const Field DATASET_FIELDS[] = {
    ENUM_F("format", dataset_format, FORMATS, REQUIRED),
    STRING_F("path", dataset_path, REQUIRED | NONEMPTY),
    STRING_F("name", dataset_name, NO_CONTROL),
    SHARDS_GLOB_F("train", dataset_train),
    SHARDS_GLOB_F("test", dataset_test),
    {0},
};
static const Field DATASET_NAME = STRING_F("dataset", dataset_name, NONEMPTY | NO_CONTROL);
static const Field INIT_FROM_FIELDS[] = {
    LONG_F("checkpoint", init_from.id, 1, LONG_MAX, 0),
    STRING_F("path", init_from.path, NONEMPTY),
    STRING_F("sha256", init_from.sha256, NONEMPTY), // with "path" only; hex (read_init_from)
    {0},
};
static const Field INIT_FROM_JOB = LONG_F("init_from", init_from.id, 1, LONG_MAX, 0);

static void *field_at(JobSpec *s, const Field *f) { return (char *)s + f->offset; }
static const void *field_in(const JobSpec *s, const Field *f)
{
    return (const char *)s + f->offset;
}

static const Field *find_field(const Field *table, const char *key)
{
    for (const Field *f = table; f->key; f++)
        if (strcmp(f->key, key) == 0) return f;
    return NULL;
}

// "train" + "epochs" → "train.epochs"; the top level has the empty path.
static void join_path(char *buf, size_t size, const char *parent, const char *key)
{
    snprintf(buf, size, "%s%s%s", parent, parent[0] ? "." : "", key);
}

// A job from a checkpoint whose model has not been adopted yet: its sizes are the
// checkpoint's, so the ones the spec did not give are unknown (written as null). A spec that
// gives the arch and every size of it states its model.
static int model_from_checkpoint(const JobSpec *s)
{
    unsigned sizes = 0;
    for (const Field *f = MODEL_FIELDS; f->key; f++)
        if ((f->given & MODEL_GIVEN_SIZES) &&
            (!(f->flags & TYPE_ONLY) || f->used_by == (int)s->model.arch))
            sizes |= f->given;
    return s->init_from.form != REF_NONE && (s->given & sizes) != sizes;
}

// The field of a table that TYPE_ONLY fields depend on: "type", the dataset's "format" or the
// model's "arch".
static const Field *type_field(const Field *table)
{
    const Field *type = find_field(table, "type");
    if (!type) type = find_field(table, "format");
    return type ? type : find_field(table, "arch");
}

// Whether a TYPE_ONLY field of `table` is used: its table's type has the value it serves.
static int type_uses(const Field *table, const Field *f, const JobSpec *s)
{
    return *(const int *)field_in(s, type_field(table)) == f->used_by;
}

// ---- Reading -----------------------------------------------------------------------------

static int read_section(const Field *table, json_t *obj, JobSpec *s, const char *path,
                        SpecError *err);

// "[0, 1)" for a double field's range.
static const char *range_text(const Field *f, char *buf, size_t size)
{
    char lo[32], hi[32];
    format_double(f->dmin, lo, sizeof lo);
    format_double(f->dmax, hi, sizeof hi);
    snprintf(buf, size, "%c%s, %s%c", f->flags & LO_OPEN ? '(' : '[', lo, hi,
             f->flags & HI_OPEN ? ')' : ']');
    return buf;
}

static int in_range(const Field *f, double x)
{
    int lo_ok = f->flags & LO_OPEN ? x > f->dmin : x >= f->dmin;
    int hi_ok = f->flags & HI_OPEN ? x < f->dmax : x <= f->dmax;
    return isfinite(x) && lo_ok && hi_ok;
}

static int integer_range_error(const Field *f, json_t *v, const char *path, SpecError *err)
{
    char got[64];
    return spec_refuse(err, path, "must be between %lld and %lld (got %s)", f->imin, f->imax,
                       describe(v, got, sizeof got));
}

static int read_integer(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        // 3.0 is an integer; beyond ±2^63 it is outside every range (and cannot be converted).
        double r = json_real_value(v);
        if (!(r >= -0x1p63 && r < 0x1p63)) return integer_range_error(f, v, path, err);
        n = (long long)r;
    } else {
        return expected(err, path, "an integer", v);
    }
    if (n < f->imin || n > f->imax) return integer_range_error(f, v, path, err);
    void *p = field_at(s, f);
    if (f->type == F_INT) *(int *)p = (int)n;
    else if (f->type == F_LONG) *(long *)p = (long)n;
    else *(uint64_t *)p = (uint64_t)n;
    return 0;
}

// Adding 0.0 turns −0 into +0: a spec never holds −0 (which would be written as -0.0).
static int read_double(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    char range[80], got[64];
    if (!json_is_number(v)) return expected(err, path, "a number", v);
    double x = json_number_value(v) + 0.0;
    if (!in_range(f, x))
        return spec_refuse(err, path, "must be in %s (got %s)", range_text(f, range, sizeof range),
                           describe(v, got, sizeof got));
    *(double *)field_at(s, f) = x;
    return 0;
}

static int read_pair(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    char range[80], got[64], other[64];
    double x[2];
    if (!json_is_array(v) || json_array_size(v) != 2)
        return expected(err, path, "an array of two numbers", v);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_number(e))
            return spec_refuse(err, path, "each value must be a number (got %s)",
                               describe(e, got, sizeof got));
        x[i] = json_number_value(e) + 0.0;
        if (!in_range(f, x[i]))
            return spec_refuse(err, path, "each value must be in %s (got %s)",
                               range_text(f, range, sizeof range), describe(e, got, sizeof got));
    }
    if ((f->flags & ORDERED) && x[0] > x[1])
        return spec_refuse(err, path, "the first value must not exceed the second (got [%s, %s])",
                           describe(json_array_get(v, 0), got, sizeof got),
                           describe(json_array_get(v, 1), other, sizeof other));
    memcpy(field_at(s, f), x, sizeof x);
    return 0;
}

static int read_bool(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    if (!json_is_boolean(v)) return expected(err, path, "true or false", v);
    *(int *)field_at(s, f) = json_is_true(v);
    return 0;
}

// An array of at most f->cap integers, each read as an F_INT of the same range (and named
// "path[i]" in its error).
static int read_ints(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    char sub[160];
    if (!json_is_array(v)) return expected(err, path, "an array of integers", v);
    size_t n = json_array_size(v);
    if (n > f->cap)
        return spec_refuse(err, path, "must list at most %zu values (got %zu)", f->cap, n);
    for (size_t i = 0; i < n; i++) {
        Field one = {.type = F_INT, .offset = f->offset + i * sizeof(int), .imin = f->imin,
                     .imax = f->imax};
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        if (read_integer(&one, json_array_get(v, i), s, sub, err)) return -1;
    }
    *(int *)((char *)s + f->count_offset) = (int)n;
    return 0;
}

// C0 controls, DEL and the C1 controls (U+0080–U+009F, UTF-8 C2 80–C2 9F).
static int has_control(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7F || (p[i] == 0xC2 && i + 1 < len && p[i + 1] < 0xA0))
            return 1;
    return 0;
}

static int read_string(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    if (!json_is_string(v)) return expected(err, path, "a string", v);
    const char *text = json_string_value(v);
    size_t len = json_string_length(v);
    if (memchr(text, 0, len)) return spec_refuse(err, path, "must not contain NUL bytes");
    if (len >= f->cap)
        return spec_refuse(err, path, "must be at most %zu bytes (got %zu)", f->cap - 1, len);
    if ((f->flags & NONEMPTY) && len == 0) return spec_refuse(err, path, "must not be empty");
    if ((f->flags & NO_CONTROL) && has_control(text, len))
        return spec_refuse(err, path, "must not contain control characters");
    memcpy(field_at(s, f), text, len + 1);
    return 0;
}

// "\"masked\" or \"full\"", "\"random\"".
static const char *choices_text(const char *const *choices, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; choices[i] && n < size; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        n += (size_t)snprintf(buf + n, size - n, "%s\"%s\"", sep, choices[i]);
    }
    return buf;
}

// The index of word in a NULL-terminated list of choices, -1 if it is not one.
static int choice_index(const char *const *choices, const char *word)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(word, choices[i]) == 0) return i;
    return -1;
}

// choices[i] of a NULL-terminated list, NULL when i is out of range.
static const char *choice_name(const char *const *choices, int i)
{
    int count = 0;
    while (choices[count]) count++;
    return i >= 0 && i < count ? choices[i] : NULL;
}

static int read_enum(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    char list[128];
    if (!json_is_string(v)) return expected(err, path, "a string", v);
    int i = choice_index(f->choices, json_string_value(v));
    if (i < 0)
        return spec_refuse(err, path, "must be %s", choices_text(f->choices, list, sizeof list));
    *(int *)field_at(s, f) = i;
    return 0;
}

// Reads one value whose full path is `path`; the dispatch every field goes through.
static int read_value(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    int rc;
    if (f->type != F_CUSTOM && json_is_null(v) && (f->flags & NULLABLE)) {
        if (f->flags & NULL_IS_ZERO && f->type == F_INT) *(int *)field_at(s, f) = 0;
        if (f->flags & NULL_IS_ZERO && f->type == F_LONG) *(long *)field_at(s, f) = 0;
        if (f->flags & NULL_IS_MINUS_ONE && f->type == F_LONG) *(long *)field_at(s, f) = -1;
        if (f->flags & NULL_IS_MINUS_ONE && f->type == F_BOOL) *(int *)field_at(s, f) = -1;
        return 0;
    }
    switch (f->type) {
    case F_INT:
    case F_LONG:
    case F_U64: rc = read_integer(f, v, s, path, err); break;
    case F_DOUBLE: rc = read_double(f, v, s, path, err); break;
    case F_PAIR: rc = read_pair(f, v, s, path, err); break;
    case F_BOOL: rc = read_bool(f, v, s, path, err); break;
    case F_STRING: rc = read_string(f, v, s, path, err); break;
    case F_INTS: rc = read_ints(f, v, s, path, err); break;
    case F_ENUM: rc = read_enum(f, v, s, path, err); break;
    case F_SECTION: rc = read_section(f->section, v, s, path, err); break;
    default: rc = f->read(f, v, s, path, err); break;
    }
    if (rc == 0 && !json_is_null(v)) s->given |= f->given;
    return rc;
}

// Appends "place" to a hint being built ("did you mean a, b or c?" when finished).
static void hint_add(char *hint, size_t cap, int *count, const char *place)
{
    size_t len = strlen(hint);
    snprintf(hint + len, cap - len, "%s%s", *count ? " or " : "", place);
    (*count)++;
}

// Where else `key` is a field, for an unknown key: "train.epochs", or, for a key of the
// object forms of init_from (the kind's) and dataset, that form with the value given
// ("finetune.init_from: {\"checkpoint\": 3}"). Fills hint with " (did you mean ...?)", or ""
// when nowhere.
static void unknown_field_hint(const char *key, json_t *v, const JobSpec *s, char *hint,
                               size_t cap)
{
    const struct {
        const char *path;
        const Field *table;
    } object_forms[] = {{spec_init_from_field(s), INIT_FROM_FIELDS}, {"dataset", DATASET_FIELDS}};
    char places[200] = "", place[120];
    int count = 0;
    for (const Field *f = TOP_FIELDS; f->key; f++) {
        if (strcmp(f->key, key) == 0) hint_add(places, sizeof places, &count, f->key);
        if (f->type != F_SECTION || !find_field(f->section, key)) continue;
        snprintf(place, sizeof place, "%s.%s", f->key, key);
        hint_add(places, sizeof places, &count, place);
    }
    char *value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    for (size_t i = 0; i < sizeof object_forms / sizeof *object_forms; i++) {
        if (!find_field(object_forms[i].table, key)) continue;
        snprintf(place, sizeof place, "%s: {\"%s\": %.40s}", object_forms[i].path, key,
                 value ? value : "...");
        hint_add(places, sizeof places, &count, place);
    }
    free(value);
    if (count) snprintf(hint, cap, " (did you mean %s?)", places);
    else hint[0] = '\0';
}

// A field given for a type that does not use it is a mistake the paper's users make
// (decoder.depth with an mlp decoder): refused, naming both, once the whole section is read.
static int check_type_only(const Field *table, json_t *obj, const JobSpec *s, const char *path,
                           SpecError *err)
{
    char sub[160], type_path[160];
    for (const Field *f = table; f->key; f++) {
        json_t *v = json_object_get(obj, f->key);
        if (!(f->flags & TYPE_ONLY) || !v || json_is_null(v) || type_uses(table, f, s)) continue;
        const Field *type = type_field(table);
        join_path(sub, sizeof sub, path, f->key);
        join_path(type_path, sizeof type_path, path, type->key);
        return spec_refuse(err, sub, "only used by %s \"%s\" (got %s \"%s\")", type_path,
                           choice_name(type->choices, f->used_by), type_path,
                           choice_name(type->choices, *(const int *)field_in(s, type)));
    }
    return 0;
}

// Reads an object by its table: every key must be in the table (checked first, so a typo is
// reported even when it also hides a required field), then the table's fields in its order,
// then the TYPE_ONLY rule.
static int read_section(const Field *table, json_t *obj, JobSpec *s, const char *path,
                        SpecError *err)
{
    char sub[160];
    const char *key;
    json_t *v;
    if (!json_is_object(obj)) return expected(err, path, "an object", obj);
    json_object_foreach(obj, key, v) {
        if (find_field(table, key)) continue;
        join_path(sub, sizeof sub, path, key);
        char hint[224];
        unknown_field_hint(key, v, s, hint, sizeof hint);
        return spec_refuse(err, sub, "unknown field%s", hint);
    }
    for (const Field *f = table; f->key; f++) {
        join_path(sub, sizeof sub, path, f->key);
        v = json_object_get(obj, f->key);
        if (!v && (f->flags & REQUIRED)) return spec_refuse(err, sub, "required");
        if (v && read_value(f, v, s, sub, err)) return -1;
    }
    return check_type_only(table, obj, s, path, err);
}

// model.arch: null (the preset's arch, a ViT without one, or the checkpoint's) or a word,
// which starts the model from that arch's default sizes — fmnist-q's or swin-fmnist's — for the
// preset and the explicit sizes to change.
static int read_arch(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    if (json_is_null(v)) return 0;
    if (read_enum(f, v, s, path, err)) return -1;
    model_config_preset(s->model.arch == ARCH_SWIN ? "swin-fmnist" : "fmnist-q", &s->model);
    return 0;
}

// model.preset: null or a preset name, applied to the model before the explicit sizes; a
// preset of another arch than the one given is refused.
static int read_preset(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    (void)f;
    s->preset[0] = 0;
    if (json_is_null(v)) return 0;
    if (!json_is_string(v)) return expected(err, path, "a preset name or null", v);
    const char *name = json_string_value(v);
    Arch arch = s->model.arch;
    if (strlen(name) >= sizeof s->preset || model_config_preset(name, &s->model) != 0)
        return spec_refuse(err, path, "unknown preset (fmnist-q, fmnist-vit-t, vit-t16-224, "
                           "vit-s16-224, swin-fmnist, swin-t-192 or swin-b-192)");
    if ((s->given & MODEL_GIVEN_ARCH) && s->model.arch != arch)
        return spec_refuse(err, path, "preset %s is a \"%s\" model (got model.arch \"%s\")", name,
                           ARCHS[s->model.arch], ARCHS[arch]);
    strcpy(s->preset, name);
    return 0;
}

// model.num_heads: null, an integer (a ViT's) or a list of one per stage (a Swin's).
static int read_num_heads(const Field *f, json_t *v, JobSpec *s, const char *path, SpecError *err)
{
    (void)f;
    int swin = s->model.arch == ARCH_SWIN;
    if (json_is_null(v)) return 0;
    if (swin && !json_is_array(v))
        return expected(err, path, "an array of integers, one per stage, for model.arch \"swin\"",
                        v);
    if (!swin && json_is_array(v))
        return expected(err, path, "an integer for model.arch \"vit\" (a list is a swin's)", v);
    return read_value(swin ? &SWIN_HEADS : &VIT_HEADS, v, s, path, err);
}

// dataset: a registered name (API form) or {"format", "path", "name"} (file form).
static int spec_read_dataset(const Field *f, json_t *v, JobSpec *s, const char *path,
                             SpecError *err)
{
    (void)f;
    if (json_is_string(v)) {
        s->dataset_form = REF_NAME;
        return read_value(&DATASET_NAME, v, s, path, err);
    }
    if (!json_is_object(v))
        return expected(err, path, "a dataset name or {\"format\", \"path\"}", v);
    s->dataset_form = REF_PATH;
    s->dataset_name[0] = 0; // the object's name is optional
    s->dataset_train[0] = s->dataset_test[0] = 0;
    if (read_section(DATASET_FIELDS, v, s, path, err)) return -1;
    if (s->dataset_format != DATA_FORMAT_SHARDS) return 0;
    // Shards: the training glob is required, the test glob optional; both name files inside
    // the dataset's folder.
    const char *const keys[] = {"train", "test"};
    const char *const globs[] = {s->dataset_train, s->dataset_test};
    char sub[160], why[256];
    for (int i = 0; i < 2; i++) {
        join_path(sub, sizeof sub, path, keys[i]);
        if (!globs[i][0] && i == 0)
            return spec_refuse(err, sub, "required with format \"shards\" (a glob of the "
                               "training shards inside dataset.path, e.g. \"train-*.tar\")");
        if (globs[i][0] && shards_glob_check(globs[i], why, sizeof why))
            return spec_refuse(err, sub, "%s", why);
    }
    return 0;
}

// A SHA-256 as 64 hexadecimal digits, lowered in place; 0, or -1 if it is not one.
static int sha256_hex_lower(char *hex)
{
    size_t n = strlen(hex);
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        if (c >= 'A' && c <= 'F') hex[i] = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
    }
    return n == 64 ? 0 : -1;
}

// finetune.init_from, pretrain.init_from and linprobe.init_from: null, a job id,
// {"checkpoint": id} or {"path": file, "sha256": hex} ("sha256" optional: the file's expected
// SHA-256, which simmim-train checks before loading). Only the kind's own section may set it
// (kind is read first); the others' are null.
static int read_init_from(const Field *f, json_t *v, JobSpec *s, const char *path,
                          SpecError *err)
{
    static const char *const verbs[] = {"continues", "starts", "starts"}; // JobKind order
    if (json_is_null(v)) return 0;
    if (s->kind != (JobKind)f->used_by)
        return spec_refuse(err, path, "only a %s job %s from a checkpoint (%s %s from %s)",
                           KINDS[f->used_by], verbs[f->used_by], spec_kind_noun(s->kind), verbs[s->kind],
                           spec_init_from_field(s));
    s->init_from.form = REF_NONE;
    s->init_from.id = 0;
    s->init_from.path[0] = 0;
    s->init_from.sha256[0] = 0;
    if (json_is_number(v)) {
        s->init_from.form = REF_JOB_ID;
        return read_value(&INIT_FROM_JOB, v, s, path, err);
    }
    if (!json_is_object(v))
        return expected(err, path, "null, a job id, {\"checkpoint\": id} or {\"path\": file}", v);
    if (read_section(INIT_FROM_FIELDS, v, s, path, err)) return -1;
    int by_checkpoint = json_object_get(v, "checkpoint") != NULL;
    if (by_checkpoint == (json_object_get(v, "path") != NULL))
        return spec_refuse(err, path, "give exactly one of \"checkpoint\" and \"path\"");
    char sub[160];
    join_path(sub, sizeof sub, path, "sha256");
    if (s->init_from.sha256[0] && by_checkpoint)
        return spec_refuse(err, sub, "only with \"path\" (the daemon knows a checkpoint's "
                           "sha256 itself)");
    size_t len = strlen(s->init_from.sha256);
    if (len && sha256_hex_lower(s->init_from.sha256))
        return len == 64 ? spec_refuse(err, sub, "must be 64 hexadecimal digits (got another "
                                       "character)")
                         : spec_refuse(err, sub, "must be 64 hexadecimal digits (got %zu "
                                       "characters)", len);
    s->init_from.form = by_checkpoint ? REF_CHECKPOINT_ID : REF_PATH;
    return 0;
}

// The contract's defaults for pretraining; set_finetune_defaults changes the kind-dependent
// ones before the document's fields are read, so explicit values win.
static void set_defaults(JobSpec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = JOB_PRETRAIN;
    strcpy(s->name, "fmnist-simmim");
    s->dataset_form = REF_NAME;
    strcpy(s->dataset_name, "fashion-mnist");
    s->model = model_config_default();
    s->mask.mask_patch_size = 8;
    s->mask.ratio = 0.6;
    s->mask.min_block = 4;
    s->train.epochs = 10;
    s->train.batch_size = 256;
    s->train.ranks = 1;
    s->train.lr = 1e-3;
    s->train.min_lr = 1e-5;
    s->train.warmup_epochs = 1;
    s->train.weight_decay = 0.05;
    s->train.betas[0] = 0.9, s->train.betas[1] = 0.999;
    s->train.clip_grad = 5.0;
    s->augment.crop_scale[0] = 0.67, s->augment.crop_scale[1] = 1.0;
    s->augment.crop_ratio[0] = 0.75, s->augment.crop_ratio[1] = 1.3333;
    s->augment.hflip = 1;
    s->data.workers = 0;
    s->data.prefetch = 2;
    s->data.cache_mb = -1;
    s->data.shuffle_buffer = 1000;
    s->data.max_error_fraction = 0.001;
    s->init_from.form = REF_NONE;
    s->finetune.layer_decay = 0.75;
    s->finetune.label_smoothing = 0.1;
    s->finetune.drop_path = 0.1;
    s->linprobe.weight_decay = 1e-4;
    s->linprobe.max_iterations = 1000;
    s->schedule.progress_every_steps = 10;
    s->schedule.checkpoint_every_steps = 500;
    s->schedule.preview_every_steps = 200;
    s->schedule.keep_checkpoints = 3;
    s->knn.enabled = -1;
    s->knn.bank = 10000;
    s->knn.k = 20;
    s->knn.temperature = 0.07;
}

static void set_finetune_defaults(JobSpec *s)
{
    s->train.min_lr = 1e-6;
    s->augment.crop_scale[0] = 0.6;
}

// The model a job trains, once it is known: pretraining (and a linear probe, whose encoder is a
// pretraining model) validates model, mask and head; fine-tuning the model only (masks and the
// head are unused); then the memory they need. A model still to come from a checkpoint waits
// for spec_adopt_model.
static int spec_check_model(const JobSpec *s, SpecError *err)
{
    char message[256];
    if (model_from_checkpoint(s)) return 0;
    if (model_config_validate(&s->model, message, sizeof message))
        return fail_config(err, message);
    if (s->kind != JOB_FINETUNE &&
        (mask_config_validate(&s->mask, &s->model, message, sizeof message) ||
         head_config_validate(&s->model, message, sizeof message)))
        return fail_config(err, message);
    return spec_check_memory(s, err);
}

enum { MB = 1 << 20 };

static _Atomic(const RankPlacement *) rank_placement;

void spec_set_rank_placement(const RankPlacement *placement)
{
    atomic_store(&rank_placement, placement);
}

RankHosts spec_rank_hosts(int ranks)
{
    const RankPlacement *p = atomic_load(&rank_placement);
    if (ranks > 1 && p) return p->place(ranks, p->ctx);
    return (RankHosts){.here = ranks, .rank0_here = 1};
}

// The memory of `ranks` ranks on one host (rank 0 among them or not), each on its share of the
// host's cores unless train.threads says.
static double host_memory(const ModelConfig *m, const JobSpec *spec, int ranks, int rank0)
{
    if (ranks < 1) return 0;
    int threads = spec->train.threads ? spec->train.threads : cpu_count() / ranks;
    if (threads < 1) threads = 1;
    MemoryEstimate share =
        model_memory_estimate(m, spec->train.batch_size / spec->train.ranks, threads);
    double need = (ranks - rank0) * memory_estimate_total(&share);
    if (rank0) {
        MemoryEstimate whole = model_memory_estimate(m, spec->train.batch_size, threads);
        need += memory_estimate_total(&whole);
    }
    return need;
}

int spec_check_memory(const JobSpec *spec, SpecError *err)
{
    SpecError unused;
    if (!err) err = &unused;
    ModelConfig m = spec->model;
    // A fine-tuning's classifier is sized by the dataset's classes; until they are known, the
    // fewest a fine-tuning has.
    if (spec->kind == JOB_FINETUNE && m.num_classes < 2) m.num_classes = 2;
    int ranks = spec->train.ranks;
    RankHosts hosts = spec_rank_hosts(ranks);
    double here = host_memory(&m, spec, hosts.here, hosts.rank0_here != 0),
           elsewhere = host_memory(&m, spec, hosts.elsewhere, 0);
    double need = here > elsewhere ? here : elsewhere;
    double limit = spec->train.max_memory_mb ? (double)spec->train.max_memory_mb * MB
                                             : machine_memory_bytes() / 2;
    if (need <= limit) return 0;
    char drivers[160], where[96] = "";
    memory_drivers(&m, drivers, sizeof drivers);
    if (ranks > 1)
        snprintf(where, sizeof where, " on %s (%d of its %d ranks)",
                 here >= elsewhere ? "this host" : "another host",
                 here >= elsewhere ? hosts.here : hosts.elsewhere, ranks);
    return spec_refuse(err, "train.max_memory_mb", "the job needs about %.0f MB%s, more than the "
                       "limit of %.0f MB%s; it grows with %s", ceil(need / MB), where,
                       floor(limit / MB),
                       spec->train.max_memory_mb ? "" : " (half of this machine's memory)",
                       drivers);
}

const char *spec_init_from_field(const JobSpec *spec)
{
    return spec->kind == JOB_PRETRAIN   ? "pretrain.init_from"
           : spec->kind == JOB_LINPROBE ? "linprobe.init_from"
                                        : "finetune.init_from";
}

const char *spec_kind_name(JobKind kind) { return choice_name(KINDS, (int)kind); }

const char *spec_kind_noun(JobKind kind)
{
    static const char *const nouns[] = {"a pretraining", "a fine-tuning", "a linear probe", NULL};
    return choice_name(nouns, (int)kind);
}

int spec_kind_parse(const char *word, JobKind *kind)
{
    int i = choice_index(KINDS, word);
    if (i < 0) return -1;
    *kind = (JobKind)i;
    return 0;
}

int spec_labels_per_class(const JobSpec *spec)
{
    return spec->kind == JOB_FINETUNE   ? spec->finetune.labels_per_class
           : spec->kind == JOB_LINPROBE ? spec->linprobe.labels_per_class
                                        : 0;
}

int spec_knn_runs(const JobSpec *spec, int num_classes, DataFormat format, SpecError *err)
{
    SpecError unused;
    if (!err) err = &unused;
    if (spec->kind != JOB_PRETRAIN || spec->knn.enabled == 0) return 0;
    int shards = format == DATA_FORMAT_SHARDS;
    if (num_classes >= 2 && !shards) return 1;
    if (spec->knn.enabled < 0) return 0;
    return shards ? spec_refuse(err, "eval.knn.enabled", "not available on tar shards yet (its bank "
                                "needs random access to training samples); set it false")
                  : spec_refuse(err, "eval.knn.enabled", "the dataset has no labels (it needs at "
                                "least two classes); leave it null or set it false");
}

// Rules across fields, after every field has been read and range-checked.
static int check_spec(JobSpec *s, SpecError *err)
{
    char a[32], b[32];
    if (s->train.min_lr > s->train.lr) {
        format_double(s->train.lr, a, sizeof a), format_double(s->train.min_lr, b, sizeof b);
        return spec_refuse(err, "train.min_lr", "must not exceed train.lr (%s) (got %s)", a, b);
    }
    if (!s->train.total_steps && s->train.warmup_epochs > s->train.epochs) {
        format_double(s->train.warmup_epochs, b, sizeof b);
        return spec_refuse(err, "train.warmup_epochs", "must not exceed train.epochs (%d) (got %s)",
                           s->train.epochs, b);
    }
    if (s->train.batch_size % s->train.ranks)
        return spec_refuse(err, "train.batch_size", "must divide by train.ranks (%d): each rank "
                           "takes an equal share of every batch (got %d)", s->train.ranks,
                           s->train.batch_size);
    if (s->train.ranks > 1 && s->kind == JOB_LINPROBE)
        return spec_refuse(err, "train.ranks", "a linear probe runs as one process (got %d)",
                           s->train.ranks);
    if (s->knn.k > s->knn.bank)
        return spec_refuse(err, "eval.knn.k", "must not exceed eval.knn.bank (%d) (got %d)",
                           s->knn.bank, s->knn.k);
    if (s->knn.enabled == 1 && s->kind != JOB_PRETRAIN)
        return spec_refuse(err, "eval.knn.enabled", "only used by kind \"pretrain\" (got kind "
                           "\"%s\")", KINDS[s->kind]);
    // Drop path is a fine-tuning regularizer; the model carries it for the block rates.
    s->model.drop_path = s->kind == JOB_FINETUNE ? (float)s->finetune.drop_path : 0.0f;
    return spec_check_model(s, err);
}

// Duplicate keys are refused (which one would win is a guess); any JSON value parses so that
// a non-object gets our message rather than Jansson's.
static json_t *load_document(const char *text, size_t len, SpecError *err)
{
    json_error_t je;
    char got[64];
    if (!text) {
        spec_refuse(err, "", "no spec document");
        return NULL;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) {
        spec_refuse(err, "", "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        spec_refuse(err, "", "the spec must be a JSON object (got %s)",
                    describe(root, got, sizeof got));
        json_decref(root);
        return NULL;
    }
    return root;
}

// The contract's mask_patch_size 8 suits patch sizes up to 8; larger patches (vit-t16-224)
// get SimMIM's ViT setting, two patches per side (32 for patch 16). A Swin's is its encoder's
// stride, patch_size · 2^(stages − 1), as SimMIM pairs 32-pixel masks with Swin's stride 32: a
// masked cell is one output token (8 for swin-fmnist, 32 for swin-t-192).
// Sizes not validated yet are computed wide: a value out of range is refused by the checks.
static int default_mask_patch(const ModelConfig *m)
{
    if (m->arch == ARCH_SWIN) return model_stride(m);
    return m->patch_size <= 8 ? 8 : m->patch_size <= INT_MAX / 2 ? 2 * m->patch_size : INT_MAX;
}

// The schedule is epochs × steps per epoch, or train.total_steps steps; one of the two, never
// both given. With total_steps, epochs is 0 (null, as spec_to_json writes it); without, a
// null epochs is the error it always was.
static int schedule_length(json_t *root, JobSpec *s, SpecError *err)
{
    json_t *epochs = json_object_get(json_object_get(root, "train"), "epochs");
    if (!s->train.total_steps)
        return s->train.epochs ? 0 : expected(err, "train.epochs", "an integer", epochs);
    if (epochs && !json_is_null(epochs))
        return spec_refuse(err, "train.total_steps", "give train.epochs or train.total_steps, "
                           "not both (got epochs %d and total_steps %ld)", s->train.epochs,
                           s->train.total_steps);
    s->train.epochs = 0;
    return 0;
}

static int parse_document(json_t *root, JobSpec *s, SpecError *err)
{
    set_defaults(s);
    json_t *kind = json_object_get(root, "kind");
    if (kind && read_value(&TOP_FIELDS[0], kind, s, "kind", err)) return -1;
    if (s->kind == JOB_FINETUNE) set_finetune_defaults(s);
    s->mask.mask_patch_size = 0; // absent until read; its default depends on the model
    if (read_section(TOP_FIELDS, root, s, "", err)) return -1;
    if (!s->mask.mask_patch_size && !model_from_checkpoint(s))
        s->mask.mask_patch_size = default_mask_patch(&s->model);
    if (schedule_length(root, s, err)) return -1;
    return check_spec(s, err);
}

int spec_parse(const char *json_text, size_t len, JobSpec *spec, SpecError *err)
{
    SpecError unused;
    JobSpec s;
    if (!err) err = &unused;
    memset(err, 0, sizeof *err);
    json_t *root = load_document(json_text, len, err);
    if (!root) return -1;
    int rc = parse_document(root, &s, err);
    json_decref(root);
    if (rc == 0) memcpy(spec, &s, sizeof s); // the caller's spec is untouched on error
    return rc;
}

// ---- Adopting a checkpoint's model -------------------------------------------------------

// A model field's value as the echo writes it, NULL where the arch of s does not use it.
static json_t *model_field(const Field *f, const JobSpec *s)
{
    return (f->flags & TYPE_ONLY) && !type_uses(MODEL_FIELDS, f, s) ? NULL : write_value(f, s);
}

// A model field's value for a message: a word bare, a number in its shortest form, a list as
// JSON ("[2, 2, 6, 2]").
static void value_text(json_t *v, char *buf, size_t size)
{
    char *text = json_is_string(v) || json_is_real(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
    if (json_is_string(v)) snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_real(v)) format_double(json_real_value(v), buf, size);
    else snprintf(buf, size, "%s", text ? text : "none");
    free(text);
}

// The spec determines a size when it gave it or gave a preset; a determined size must be the
// checkpoint's (want is the spec, have the checkpoint's model, both stating every size; the arch
// is compared first). An explicit size is named; one that came from the preset names the preset.
static int model_conflict(const JobSpec *spec, const JobSpec *want, const JobSpec *have,
                          SpecError *err)
{
    char path[64], w_text[96], h_text[96];
    int preset = (spec->given & MODEL_GIVEN_PRESET) != 0, rc = 0;
    for (const Field *f = MODEL_FIELDS; f->key && rc == 0; f++) {
        int explicit_size = (spec->given & f->given) != 0;
        if (!(f->given & MODEL_GIVEN_SIZES) || (!explicit_size && !preset)) continue;
        json_t *w = model_field(f, want), *h = model_field(f, have);
        if (w != h && !json_equal(w, h)) {
            value_text(w, w_text, sizeof w_text), value_text(h, h_text, sizeof h_text);
            join_path(path, sizeof path, "model", f->key);
            if (!explicit_size)
                rc = spec_refuse(err, "model.preset", "the starting checkpoint has %s %s, preset "
                                 "%s has %s", f->key, h_text, spec->preset, w_text);
            else if (!h)
                rc = spec_refuse(err, path, "the starting checkpoint is a %s, which has no %s "
                                 "(the spec says %s)", ARCHS[have->model.arch], path, w_text);
            else
                rc = spec_refuse(err, path, "the starting checkpoint has %s, the spec says %s",
                                 h_text, w_text);
        }
        json_decref(w);
        json_decref(h);
    }
    return rc;
}

int spec_adopt_model(JobSpec *spec, const ModelConfig *from, SpecError *err)
{
    SpecError unused;
    if (!err) err = &unused;
    memset(err, 0, sizeof *err);
    // want: the spec as it is; have: the checkpoint's encoder with the spec's head, the spec
    // adopted (a pretraining's head must suit the checkpoint's: checkpoint_suits_pretraining).
    JobSpec *want = malloc(2 * sizeof *want);
    if (!want) return spec_refuse(err, "", "out of memory");
    JobSpec *have = want + 1;
    *want = *spec;
    want->given |= MODEL_GIVEN_SIZES;
    *have = *want;
    ModelConfig *m = &have->model;
    *m = *from;
    m->num_classes = spec->model.num_classes;
    m->drop_path = spec->model.drop_path;
    m->decoder = spec->model.decoder;
    m->target_resolution = spec->model.target_resolution;
    m->loss = spec->model.loss;
    if (!have->mask.mask_patch_size) have->mask.mask_patch_size = default_mask_patch(m);
    int rc = model_conflict(spec, want, have, err) || spec_check_model(have, err) ? -1 : 0;
    if (rc == 0) *spec = *have;
    free(want);
    return rc;
}

// ---- Reading a checkpoint's head ---------------------------------------------------------

int spec_read_head(const char *decoder, const char *target, const char *loss, ModelConfig *cfg,
                   SpecError *err)
{
    const char *const texts[] = {decoder, target, loss};
    const char *const keys[] = {"decoder", "target", "loss"};
    SpecError unused;
    if (!err) err = &unused;
    JobSpec *s = malloc(sizeof *s);
    if (!s) return spec_refuse(err, "", "out of memory");
    set_defaults(s);
    int rc = 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys && rc == 0; i++) {
        if (!texts[i]) continue;
        json_t *v = json_loads(texts[i], JSON_REJECT_DUPLICATES, NULL);
        rc = v ? read_value(find_field(TOP_FIELDS, keys[i]), v, s, keys[i], err)
               : spec_refuse(err, keys[i], "not a JSON object");
        json_decref(v);
    }
    if (rc == 0) {
        cfg->decoder = s->model.decoder;
        cfg->target_resolution = s->model.target_resolution;
        cfg->loss = s->model.loss;
    }
    free(s);
    return rc;
}

// ---- Writing -----------------------------------------------------------------------------

// Each writer returns a new value, or NULL for any failure (allocation, a string that is not
// UTF-8, a value no form can express); NULL travels up, so spec_to_json returns NULL.

// Adds f's member with a new value (NULL: a failure) to obj and returns obj; on failure (obj
// NULL included) frees both: NULL.
static json_t *add_member(json_t *obj, const Field *f, json_t *value)
{
    if (json_object_set_new(obj, f->key, value) == 0) return obj;
    json_decref(obj);
    return NULL;
}

static json_t *write_section(const Field *table, const JobSpec *s)
{
    json_t *obj = json_object();
    for (const Field *f = table; obj && f->key; f++) {
        int unused = (f->flags & TYPE_ONLY) && !type_uses(table, f, s);
        obj = add_member(obj, f, unused ? json_null() : write_value(f, s));
    }
    return obj;
}

static json_t *write_double(double v) { return isfinite(v) ? json_real(v) : NULL; }

// Parsed seeds stay within 2^53; one past json_int_t cannot be written.
static json_t *write_u64(uint64_t v)
{
    _Static_assert(sizeof(json_int_t) == sizeof(long long), "json_int_t is long long");
    return v <= (uint64_t)LLONG_MAX ? json_integer((json_int_t)v) : NULL;
}

static json_t *write_pair(const double *p)
{
    json_t *pair = json_array();
    if (json_array_append_new(pair, write_double(p[0])) ||
        json_array_append_new(pair, write_double(p[1]))) {
        json_decref(pair);
        return NULL;
    }
    return pair;
}

static json_t *write_enum(const Field *f, const JobSpec *s)
{
    const char *word = choice_name(f->choices, *(const int *)field_in(s, f));
    return word ? json_string(word) : NULL;
}

static json_t *write_ints(const Field *f, const JobSpec *s)
{
    const int *v = field_in(s, f);
    int n = *(const int *)((const char *)s + f->count_offset);
    json_t *list = json_array();
    for (int i = 0; list && i < n; i++)
        if (json_array_append_new(list, json_integer(v[i]))) {
            json_decref(list);
            return NULL;
        }
    return list;
}

// A model size the checkpoint will supply, or a NULL_IS_ZERO field at 0: written as null.
static int written_as_null(const Field *f, const JobSpec *s)
{
    if (f->type == F_STRING && (f->flags & NULLABLE)) return !*(const char *)field_in(s, f);
    if (f->flags & NULL_IS_MINUS_ONE)
        return (f->type == F_LONG ? *(const long *)field_in(s, f) : *(const int *)field_in(s, f)) == -1;
    int unknown_size = (f->given & MODEL_GIVEN_SIZES) && model_from_checkpoint(s) &&
                       !(s->given & f->given);
    long value = !(f->flags & NULL_IS_ZERO) ? 1
                 : f->type == F_INT           ? *(const int *)field_in(s, f)
                                              : *(const long *)field_in(s, f);
    return unknown_size || value == 0;
}

static json_t *write_value(const Field *f, const JobSpec *s)
{
    const void *p = field_in(s, f);
    if (written_as_null(f, s)) return json_null();
    switch (f->type) {
    case F_INT: return json_integer(*(const int *)p);
    case F_LONG: return json_integer(*(const long *)p);
    case F_U64: return write_u64(*(const uint64_t *)p);
    case F_DOUBLE: return write_double(*(const double *)p);
    case F_PAIR: return write_pair((const double *)p);
    case F_BOOL: return json_boolean(*(const int *)p);
    case F_STRING: return json_string((const char *)p);
    case F_INTS: return write_ints(f, s);
    case F_ENUM: return write_enum(f, s);
    case F_SECTION: return write_section(f->section, s);
    default: return f->write(f, s);
    }
}

static json_t *write_num_heads(const Field *f, const JobSpec *s)
{
    (void)f;
    return write_value(s->model.arch == ARCH_SWIN ? &SWIN_HEADS : &VIT_HEADS, s);
}

static json_t *write_preset(const Field *f, const JobSpec *s)
{
    (void)f;
    return s->preset[0] ? json_string(s->preset) : json_null();
}

static json_t *write_dataset(const Field *f, const JobSpec *s)
{
    (void)f;
    if (s->dataset_form == REF_NAME) return json_string(s->dataset_name);
    if (s->dataset_form == REF_PATH) return write_section(DATASET_FIELDS, s);
    return NULL;
}

// The kind's section holds init_from; the other kind's is null.
static json_t *write_init_from(const Field *f, const JobSpec *s)
{
    const Field *checkpoint = &INIT_FROM_FIELDS[0], *path = &INIT_FROM_FIELDS[1],
                *sha256 = &INIT_FROM_FIELDS[2];
    if (s->kind != (JobKind)f->used_by) return json_null();
    switch (s->init_from.form) {
    case REF_NONE: return json_null();
    case REF_JOB_ID: return write_value(&INIT_FROM_JOB, s);
    case REF_CHECKPOINT_ID:
        return add_member(json_object(), checkpoint, write_value(checkpoint, s));
    case REF_PATH: {
        json_t *obj = add_member(json_object(), path, write_value(path, s));
        return obj && s->init_from.sha256[0] ? add_member(obj, sha256, write_value(sha256, s))
                                             : obj;
    }
    default: return NULL;
    }
}

char *spec_to_json(const JobSpec *spec)
{
    json_t *doc = write_section(TOP_FIELDS, spec);
    size_t len;
    char *text = doc ? json_out_spaced(doc, &len) : NULL;
    json_decref(doc);
    return text;
}

// ---- The data section's machine defaults --------------------------------------------------

int spec_data_workers(const JobSpec *spec)
{
    if (spec->data.workers > 0) return spec->data.workers;
    int cores = cpu_count();
    return cores > 1 ? cores - 1 : 1;
}

double spec_data_cache_bytes(const JobSpec *spec)
{
    if (spec->data.cache_mb >= 0) return (double)spec->data.cache_mb * MB;
    return machine_memory_bytes() / 4;
}

// ---- Precision words ---------------------------------------------------------------------

const char *spec_precision_name(Precision precision)
{
    return choice_name(PRECISIONS, (int)precision);
}

int spec_precision_parse(const char *word, Precision *precision)
{
    int i = choice_index(PRECISIONS, word);
    if (i < 0) return -1;
    *precision = (Precision)i;
    return 0;
}
