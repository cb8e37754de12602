// Job spec tests: the defaults of {} and of a finetune spec are the contract's, field by field;
// presets and overrides; every kind of error names the field at fault (one table, document →
// field); exact message formats; round trips through spec_to_json; spec_adopt_model's
// conflicts and success; hostile documents are refused with a clean message, never a crash.
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"
#include "test.h"

// The contract's example spec (docs/job-spec.md): the defaults of a pretraining spec.
static const char CONTRACT[] =
    "{\"kind\": \"pretrain\", \"name\": \"fmnist-simmim\", \"dataset\": \"fashion-mnist\","
    " \"priority\": 0,"
    " \"model\": {\"arch\": \"vit\", \"preset\": null, \"img_size\": 32, \"patch_size\": 4,"
    " \"in_chans\": 1, \"embed_dim\": 128, \"depth\": 4, \"num_heads\": 4, \"mlp_ratio\": 4,"
    " \"depths\": null, \"window_size\": null, \"ape\": null, \"patch_norm\": null},"
    " \"mask\": {\"type\": \"random\", \"mask_patch_size\": 8, \"ratio\": 0.6, \"min_block\": 4},"
    " \"decoder\": {\"type\": \"linear\", \"hidden\": null, \"depth\": null, \"embed_dim\": null,"
    " \"num_heads\": null},"
    " \"target\": {\"resolution\": null},"
    " \"loss\": {\"type\": \"l1\", \"scope\": \"masked\", \"beta\": null, \"bins\": null,"
    " \"palette\": null},"
    " \"train\": {\"epochs\": 10, \"batch_size\": 256, \"lr\": 1e-3, \"min_lr\": 1e-5,"
    " \"warmup_epochs\": 1, \"weight_decay\": 0.05, \"betas\": [0.9, 0.999], \"clip_grad\": 5.0,"
    " \"seed\": 0, \"threads\": 0, \"ranks\": 1, \"max_steps\": 0, \"total_steps\": 0,"
    " \"precision\": \"fp32\","
    " \"max_memory_mb\": 0},"
    " \"augment\": {\"crop_scale\": [0.67, 1.0], \"crop_ratio\": [0.75, 1.3333], \"hflip\": true},"
    " \"data\": {\"workers\": 0, \"prefetch\": 2, \"cache_mb\": null, \"shuffle_buffer\": 1000,"
    " \"max_error_fraction\": 0.001},"
    " \"pretrain\": {\"init_from\": null},"
    " \"finetune\": {\"init_from\": null, \"layer_decay\": 0.75, \"label_smoothing\": 0.1,"
    " \"drop_path\": 0.1, \"labels_per_class\": 0},"
    " \"linprobe\": {\"init_from\": null, \"weight_decay\": 1e-4, \"max_iterations\": 1000,"
    " \"labels_per_class\": 0},"
    " \"schedule\": {\"progress_every_steps\": 10, \"checkpoint_every_steps\": 500,"
    " \"preview_every_steps\": 200, \"keep_checkpoints\": 3},"
    " \"eval\": {\"knn\": {\"enabled\": null, \"bank\": 10000, \"k\": 20, \"temperature\": 0.07}},"
    " \"job_id\": null}";

// Test documents are written with ' for " to stay readable; q() swaps them back.
static const char *q(const char *doc)
{
    static char buf[4096];
    size_t n = strlen(doc);
    if (n >= sizeof buf) n = sizeof buf - 1;
    for (size_t i = 0; i < n; i++) buf[i] = doc[i] == '\'' ? '"' : doc[i];
    buf[n] = 0;
    return buf;
}

static int parse(const char *text, JobSpec *s, SpecError *err)
{
    return spec_parse(text, strlen(text), s, err);
}

// A message the daemon can use as it is: non-empty, one line, valid UTF-8 (json_string checks).
static int clean_message(const SpecError *err)
{
    json_t *j = json_string(err->message);
    json_t *f = json_string(err->field);
    int ok = j && f && err->message[0] && !strchr(err->message, '\n');
    json_decref(j);
    json_decref(f);
    return ok;
}

static void expect_int(const char *what, long long got, long long want)
{
    test_report(got == want, what, "got %lld, want %lld", got, want);
}

static void expect_double(const char *what, double got, double want)
{
    test_report(got == want, what, "got %.17g, want %.17g", got, want);
}

static void expect_str(const char *what, const char *got, const char *want)
{
    test_report(strcmp(got, want) == 0, what, "got \"%s\", want \"%s\"", got, want);
}

// ---- Defaults ----------------------------------------------------------------------------

// Every field except the kind-dependent ones (min_lr, crop_scale, model.drop_path).
static void check_common_defaults(const JobSpec *s)
{
    expect_str("default name", s->name, "fmnist-simmim");
    expect_int("default priority", s->priority, 0);
    expect_int("default dataset form", s->dataset_form, REF_NAME);
    expect_str("default dataset", s->dataset_name, "fashion-mnist");
    expect_str("default preset", s->preset, "");
    expect_int("default model.img_size", s->model.img_size, 32);
    expect_int("default model.patch_size", s->model.patch_size, 4);
    expect_int("default model.in_chans", s->model.in_chans, 1);
    expect_int("default model.embed_dim", s->model.embed_dim, 128);
    expect_int("default model.depth", s->model.depth, 4);
    expect_int("default model.num_heads", s->model.num_heads, 4);
    expect_double("default model.mlp_ratio", s->model.mlp_ratio, 4.0);
    expect_int("default model.num_classes", s->model.num_classes, 0);
    expect_int("default given", s->given, 0);
    expect_int("default mask.mask_patch_size", s->mask.mask_patch_size, 8);
    expect_double("default mask.ratio", s->mask.ratio, 0.6);
    expect_int("default decoder.type linear", s->model.decoder.type, DECODER_LINEAR);
    expect_int("default decoder.hidden: the encoder's", s->model.decoder.hidden, 0);
    expect_int("default decoder.depth", s->model.decoder.depth, 2);
    expect_int("default decoder.embed_dim: the encoder's", s->model.decoder.embed_dim, 0);
    expect_int("default decoder.num_heads: the encoder's", s->model.decoder.num_heads, 0);
    expect_int("default target.resolution: the image's", s->model.target_resolution, 0);
    expect_int("default loss.type l1", s->model.loss.type, LOSS_L1);
    expect_int("default loss.scope masked", s->model.loss.full_image, 0);
    expect_double("default loss.beta", s->model.loss.beta, 1.0);
    expect_int("default loss.bins", s->model.loss.bins, 256);
    expect_int("default loss.palette", s->model.loss.palette, 512);
    expect_int("default train.epochs", s->train.epochs, 10);
    expect_int("default train.batch_size", s->train.batch_size, 256);
    expect_double("default train.lr", s->train.lr, 1e-3);
    expect_double("default train.warmup_epochs", s->train.warmup_epochs, 1);
    expect_double("default train.weight_decay", s->train.weight_decay, 0.05);
    expect_double("default train.betas[0]", s->train.betas[0], 0.9);
    expect_double("default train.betas[1]", s->train.betas[1], 0.999);
    expect_double("default train.clip_grad", s->train.clip_grad, 5.0);
    expect_int("default train.seed", (long long)s->train.seed, 0);
    expect_int("default train.threads", s->train.threads, 0);
    expect_int("default train.ranks", s->train.ranks, 1);
    expect_int("default train.max_steps", s->train.max_steps, 0);
    expect_int("default train.precision fp32", s->train.precision, PRECISION_FP32);
    expect_int("default train.max_memory_mb: half the machine's", s->train.max_memory_mb, 0);
    expect_double("default augment.crop_scale[1]", s->augment.crop_scale[1], 1.0);
    expect_double("default augment.crop_ratio[0]", s->augment.crop_ratio[0], 0.75);
    expect_double("default augment.crop_ratio[1]", s->augment.crop_ratio[1], 1.3333);
    expect_int("default augment.hflip", s->augment.hflip, 1);
    expect_int("default data.workers: one less than the cores", s->data.workers, 0);
    expect_int("default data.prefetch", s->data.prefetch, 2);
    expect_int("default data.cache_mb: a quarter of the memory (null)", s->data.cache_mb, -1);
    expect_int("default data.shuffle_buffer", s->data.shuffle_buffer, 1000);
    expect_double("default data.max_error_fraction", s->data.max_error_fraction, 0.001);
    expect_int("default init_from", s->init_from.form, REF_NONE);
    expect_double("default finetune.layer_decay", s->finetune.layer_decay, 0.75);
    expect_double("default finetune.label_smoothing", s->finetune.label_smoothing, 0.1);
    expect_double("default finetune.drop_path", s->finetune.drop_path, 0.1);
    expect_int("default finetune.labels_per_class", s->finetune.labels_per_class, 0);
    expect_int("default schedule.progress_every_steps", s->schedule.progress_every_steps, 10);
    expect_int("default schedule.checkpoint_every_steps", s->schedule.checkpoint_every_steps, 500);
    expect_int("default schedule.preview_every_steps", s->schedule.preview_every_steps, 200);
    expect_int("default schedule.keep_checkpoints", s->schedule.keep_checkpoints, 3);
    expect_double("default linprobe.weight_decay", s->linprobe.weight_decay, 1e-4);
    expect_int("default linprobe.max_iterations", s->linprobe.max_iterations, 1000);
    expect_int("default linprobe.labels_per_class", s->linprobe.labels_per_class, 0);
    expect_int("default eval.knn.enabled: null, on for labelled data", s->knn.enabled, -1);
    expect_int("default eval.knn.bank", s->knn.bank, 10000);
    expect_int("default eval.knn.k", s->knn.k, 20);
    expect_double("default eval.knn.temperature", s->knn.temperature, 0.07);
    expect_int("default job_id", s->job_id, 0);
}

// The output of two documents is the same text.
static void expect_same_json(const char *what, const char *doc_a, const char *doc_b)
{
    JobSpec a, b;
    SpecError ea, eb;
    int ra = parse(doc_a, &a, &ea), rb = parse(doc_b, &b, &eb);
    char *ja = ra == 0 ? spec_to_json(&a) : NULL, *jb = rb == 0 ? spec_to_json(&b) : NULL;
    test_report(ja && jb && strcmp(ja, jb) == 0, what, "%s | %s | %s | %s", ra ? ea.message : "",
                rb ? eb.message : "", ja ? ja : "-", jb ? jb : "-");
    free(ja);
    free(jb);
}

// Same keys in the same order at every level (the contract's shape and key order).
static int same_shape(json_t *a, json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b)) return json_typeof(a) == json_typeof(b) ||
                                                          (json_is_number(a) && json_is_number(b));
    void *ia = json_object_iter(a), *ib = json_object_iter(b);
    for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib))
        if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0 ||
            !same_shape(json_object_iter_value(ia), json_object_iter_value(ib)))
            return 0;
    return !ia && !ib;
}

static void check_defaults(void)
{
    JobSpec s;
    SpecError err;
    int rc = parse("{}", &s, &err);
    test_report(rc == 0, "{} parses", "%s", rc ? err.message : "");
    check_common_defaults(&s);
    expect_int("default kind pretrain", s.kind, JOB_PRETRAIN);
    expect_double("pretrain default train.min_lr", s.train.min_lr, 1e-5);
    expect_double("pretrain default augment.crop_scale[0]", s.augment.crop_scale[0], 0.67);
    expect_double("pretrain model.drop_path is 0", s.model.drop_path, 0.0);
    expect_same_json("{} resolves to the contract's example", "{}", CONTRACT);

    char *text = spec_to_json(&s);
    json_t *out = text ? json_loads(text, 0, NULL) : NULL;
    json_t *contract = json_loads(CONTRACT, 0, NULL);
    test_report(out && same_shape(out, contract), "spec_to_json has the contract's keys in order",
                "%s", text ? text : "NULL");
    json_decref(out);
    json_decref(contract);
    free(text);

    rc = parse(q("{'kind': 'finetune'}"), &s, &err);
    test_report(rc == 0, "{kind: finetune} parses", "%s", rc ? err.message : "");
    check_common_defaults(&s);
    expect_int("kind finetune", s.kind, JOB_FINETUNE);
    expect_double("finetune default train.min_lr", s.train.min_lr, 1e-6);
    expect_double("finetune default augment.crop_scale[0]", s.augment.crop_scale[0], 0.6);
    expect_double("finetune model.drop_path = finetune.drop_path", s.model.drop_path, 0.1f);
}

// Kind-dependent defaults apply only when absent, wherever "kind" is in the document.
static void check_kind_defaults(void)
{
    static const struct {
        const char *doc;
        double min_lr, crop_lo;
    } cases[] = {
        {"{'kind': 'finetune', 'train': {'min_lr': 1e-5}}", 1e-5, 0.6},
        {"{'train': {'min_lr': 0}, 'kind': 'finetune'}", 0, 0.6},
        {"{'augment': {'crop_scale': [0.2, 1]}, 'kind': 'finetune'}", 1e-6, 0.2},
        {"{'kind': 'pretrain', 'augment': {'crop_scale': [0.6, 1]}}", 1e-5, 0.6},
        {"{'augment': {'hflip': false}, 'kind': 'finetune'}", 1e-6, 0.6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        JobSpec s;
        SpecError err;
        int rc = parse(q(cases[i].doc), &s, &err);
        test_report(rc == 0 && s.train.min_lr == cases[i].min_lr &&
                        s.augment.crop_scale[0] == cases[i].crop_lo,
                    "kind-dependent defaults only when absent", "%s: min_lr %g crop %g %s",
                    cases[i].doc, s.train.min_lr, s.augment.crop_scale[0], rc ? err.message : "");
    }
}

// mask_patch_size defaults to 8, or two patches for patch sizes above 8 (SimMIM's ViT).
static void check_mask_patch_default(void)
{
    JobSpec s;
    SpecError err;
    const char *doc = "{\"model\": {\"preset\": \"vit-t16-224\"}}";
    int rc = spec_parse(doc, strlen(doc), &s, &err);
    test_report(rc == 0 && s.mask.mask_patch_size == 32, "vit-t16-224 gets mask_patch_size 32 by default",
                "%s", rc ? err.message : "32");
    rc = spec_parse("{}", 2, &s, &err);
    test_report(rc == 0 && s.mask.mask_patch_size == 8, "patch 4 keeps mask_patch_size 8", "8");
}

static void check_spec_presets(void)
{
    static const struct {
        const char *doc, *preset;
        int img, patch, chans, dim, depth, heads;
        double mlp;
        unsigned given;
    } cases[] = {
        {"{'model': {'preset': 'vit-t16-224', 'depth': 6}, 'mask': {'mask_patch_size': 32}}",
         "vit-t16-224", 224, 16, 3, 192, 6, 3, 4, MODEL_GIVEN_PRESET | MODEL_GIVEN_DEPTH},
        // Explicit sizes win wherever the preset appears in the document.
        {"{'model': {'depth': 6, 'mlp_ratio': 2, 'preset': 'vit-t16-224'},"
         " 'mask': {'mask_patch_size': 32}}",
         "vit-t16-224", 224, 16, 3, 192, 6, 3, 2,
         MODEL_GIVEN_PRESET | MODEL_GIVEN_DEPTH | MODEL_GIVEN_MLP},
        {"{'model': {'preset': 'fmnist-vit-t'}}", "fmnist-vit-t", 32, 4, 1, 192, 6, 3, 4,
         MODEL_GIVEN_PRESET},
        {"{'model': {'preset': 'fmnist-q', 'embed_dim': 64, 'num_heads': 2}}", "fmnist-q", 32, 4,
         1, 64, 4, 2, 4, MODEL_GIVEN_PRESET | MODEL_GIVEN_DIM | MODEL_GIVEN_HEADS},
        {"{'model': {'preset': 'vit-s16-224'}, 'mask': {'mask_patch_size': 32},"
         " 'train': {'max_memory_mb': 1048576}}",
         "vit-s16-224", 224, 16, 3, 384, 12, 6, 4, MODEL_GIVEN_PRESET},
        {"{'model': {'preset': null, 'img_size': 64, 'in_chans': 3, 'patch_size': 8}}", "", 64, 8,
         3, 128, 4, 4, 4, MODEL_GIVEN_IMG | MODEL_GIVEN_CHANS | MODEL_GIVEN_PATCH},
        {"{'model': {'embed_dim': null, 'depth': 2}}", "", 32, 4, 1, 128, 2, 4, 4,
         MODEL_GIVEN_DEPTH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        JobSpec s;
        SpecError err;
        const ModelConfig *m = &s.model;
        int rc = parse(q(cases[i].doc), &s, &err);
        int ok = rc == 0 && strcmp(s.preset, cases[i].preset) == 0 &&
                 m->img_size == cases[i].img && m->patch_size == cases[i].patch &&
                 m->in_chans == cases[i].chans && m->embed_dim == cases[i].dim &&
                 m->depth == cases[i].depth && m->num_heads == cases[i].heads &&
                 m->mlp_ratio == cases[i].mlp && s.given == cases[i].given;
        test_report(ok, "preset and explicit sizes", "%s → %s %d/%d/%d/%d/%d/%d/%g given %#x %s",
                    cases[i].doc, s.preset, m->img_size, m->patch_size, m->in_chans,
                    m->embed_dim, m->depth, m->num_heads, m->mlp_ratio, s.given,
                    rc ? err.message : "");
    }
}

// ---- Errors ------------------------------------------------------------------------------

typedef struct {
    const char *doc;   // with ' for "
    const char *field; // the field the error must name ("" for the document)
} BadSpec;

static const BadSpec bad_specs[] = {
    // Unknown keys at every level.
    {"{'bogus': 1}", "bogus"},
    {"{'train': {'epocs': 1}}", "train.epocs"},
    {"{'model': {'preset': null, 'width': 1}}", "model.width"},
    {"{'mask': {'ratio': 0.5, 'shape': 'block'}}", "mask.shape"},
    {"{'loss': {'norm': true}}", "loss.norm"},
    {"{'augment': {'vflip': true}}", "augment.vflip"},
    {"{'schedule': {'eval_every_steps': 5}}", "schedule.eval_every_steps"},
    {"{'dataset': {'format': 'idx', 'path': '/d', 'split': 1}}", "dataset.split"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 1, 'step': 2}}}",
     "finetune.init_from.step"},
    {"{'finetune': {'mixup': 0.8}}", "finetune.mixup"},
    {"{'Kind': 'pretrain'}", "Kind"},
    // kind, name, priority, job_id.
    {"{'kind': 'train'}", "kind"},
    {"{'kind': 3}", "kind"},
    {"{'kind': null}", "kind"},
    {"{'name': 3}", "name"},
    {"{'name': 'a\\nb'}", "name"},
    {"{'name': 'tab\\there'}", "name"},
    {"{'name': 'c1\\u0085'}", "name"},
    {"{'priority': 1001}", "priority"},
    {"{'priority': -1001}", "priority"},
    {"{'priority': 1.5}", "priority"},
    {"{'priority': '1'}", "priority"},
    {"{'priority': null}", "priority"},
    {"{'job_id': 0}", "job_id"},
    {"{'job_id': -1}", "job_id"},
    {"{'job_id': 1.5}", "job_id"},
    {"{'job_id': '7'}", "job_id"},
    // dataset.
    {"{'dataset': ''}", "dataset"},
    {"{'dataset': 3}", "dataset"},
    {"{'dataset': null}", "dataset"},
    {"{'dataset': ['fashion-mnist']}", "dataset"},
    {"{'dataset': 'bad\\u0001name'}", "dataset"},
    {"{'dataset': {'path': '/d'}}", "dataset.format"},
    {"{'dataset': {'format': 'csv', 'path': '/d'}}", "dataset.format"},
    {"{'dataset': {'format': 'idx'}}", "dataset.path"},
    {"{'dataset': {'format': 'idx', 'path': ''}}", "dataset.path"},
    {"{'dataset': {'format': 'idx', 'path': 7}}", "dataset.path"},
    {"{'dataset': {'format': 'idx', 'path': '/d', 'name': 'x\\ny'}}", "dataset.name"},
    // dataset: the shards' globs.
    {"{'dataset': {'format': 'shards', 'path': '/d'}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': ''}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': null}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': 'a/*.tar'}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': '../*.tar'}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': '.*'}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': 3}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': 'a\\u0001'}}", "dataset.train"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': 't*', 'test': '..'}}",
     "dataset.test"},
    {"{'dataset': {'format': 'shards', 'path': '/d', 'train': 't*', 'test': 'x/y'}}",
     "dataset.test"},
    {"{'dataset': {'format': 'idx', 'path': '/d', 'train': 't*'}}", "dataset.train"},
    {"{'dataset': {'format': 'imagefolder', 'path': '/d', 'test': 't*'}}", "dataset.test"},
    // data.
    {"{'data': 3}", "data"},
    {"{'data': null}", "data"},
    {"{'data': {'threads': 2}}", "data.threads"},
    {"{'data': {'workers': -1}}", "data.workers"},
    {"{'data': {'workers': 65}}", "data.workers"},
    {"{'data': {'workers': 1.5}}", "data.workers"},
    {"{'data': {'workers': null}}", "data.workers"},
    {"{'data': {'prefetch': 0}}", "data.prefetch"},
    {"{'data': {'prefetch': 17}}", "data.prefetch"},
    {"{'data': {'cache_mb': -1}}", "data.cache_mb"},
    {"{'data': {'cache_mb': 1073741825}}", "data.cache_mb"},
    {"{'data': {'cache_mb': '1G'}}", "data.cache_mb"},
    {"{'data': {'shuffle_buffer': 0}}", "data.shuffle_buffer"},
    {"{'data': {'shuffle_buffer': 1000001}}", "data.shuffle_buffer"},
    {"{'data': {'max_error_fraction': 1}}", "data.max_error_fraction"},
    {"{'data': {'max_error_fraction': -0.001}}", "data.max_error_fraction"},
    {"{'data': {'max_error_fraction': null}}", "data.max_error_fraction"},
    // model.
    {"{'model': 3}", "model"},
    {"{'model': {'arch': 'cnn'}}", "model.arch"},
    {"{'model': {'arch': 3}}", "model.arch"},
    {"{'model': {'preset': 'vit-h14'}}", "model.preset"},
    {"{'model': {'preset': 3}}", "model.preset"},
    {"{'model': {'embed_dim': 130}}", "model.embed_dim"},
    {"{'model': {'embed_dim': 0}}", "model.embed_dim"},
    {"{'model': {'img_size': 30}}", "model.img_size"},
    {"{'model': {'patch_size': 0}}", "model.patch_size"},
    {"{'model': {'depth': 1000}}", "model.depth"},
    {"{'model': {'depth': 3000000000}}", "model.depth"},
    {"{'model': {'in_chans': 2.5}}", "model.in_chans"},
    {"{'model': {'num_heads': 'four'}}", "model.num_heads"},
    {"{'model': {'num_heads': 256}}", "model.num_heads"},
    {"{'model': {'mlp_ratio': 0}}", "model.mlp_ratio"},
    {"{'model': {'mlp_ratio': 65}}", "model.mlp_ratio"},
    {"{'model': {'preset': 'vit-t16-224'}, 'mask': {'mask_patch_size': 8}}",
     "mask.mask_patch_size"}, // 8 is no multiple of 16
    {"{'kind': 'finetune', 'model': {'embed_dim': 130}}", "model.embed_dim"}, // from scratch
    // model: a Swin's fields, and the other arch's.
    {"{'model': {'depths': [2, 2]}}", "model.depths"},
    {"{'model': {'window_size': 4}}", "model.window_size"},
    {"{'model': {'ape': true}}", "model.ape"},
    {"{'model': {'patch_norm': false}}", "model.patch_norm"},
    {"{'model': {'num_heads': [2, 4]}}", "model.num_heads"},
    {"{'model': {'arch': 'swin', 'depth': 4}}", "model.depth"},
    {"{'model': {'arch': 'swin', 'num_heads': 4}}", "model.num_heads"},
    {"{'model': {'arch': 'swin', 'depths': 2}}", "model.depths"},
    {"{'model': {'arch': 'swin', 'depths': [2, 2.5, 2]}}", "model.depths[1]"},
    {"{'model': {'arch': 'swin', 'depths': [2, 0, 2]}}", "model.depths[1]"},
    {"{'model': {'arch': 'swin', 'depths': [2, 2, 2, 2, 2, 2, 2, 2, 2]}}", "model.depths"},
    {"{'model': {'arch': 'swin', 'depths': [], 'num_heads': []}}", "model.depths"},
    {"{'model': {'arch': 'swin', 'depths': [2, 2]}}", "model.num_heads"}, // 3 heads, 2 stages
    {"{'model': {'arch': 'swin', 'num_heads': [3, 6, 12, 24]}}", "model.num_heads"},
    {"{'model': {'arch': 'swin', 'num_heads': [3, 5, 12]}}", "model.num_heads[1]"},
    {"{'model': {'arch': 'swin', 'num_heads': [3, 6, 'x']}}", "model.num_heads[2]"},
    {"{'model': {'arch': 'swin', 'window_size': 3}}", "model.window_size"},
    {"{'model': {'arch': 'swin', 'window_size': 0}}", "model.window_size"},
    {"{'model': {'arch': 'swin', 'img_size': 36, 'patch_size': 4}}", "model.img_size"},
    {"{'model': {'arch': 'swin', 'img_size': 28}}", "model.img_size"}, // stride 8
    {"{'model': {'arch': 'swin', 'ape': 1}}", "model.ape"},
    {"{'model': {'arch': 'swin', 'patch_norm': 'yes'}}", "model.patch_norm"},
    {"{'model': {'arch': 'vit', 'preset': 'swin-fmnist'}}", "model.preset"},
    {"{'model': {'arch': 'swin', 'preset': 'fmnist-q'}}", "model.preset"},
    {"{'model': {'preset': 'swin-fmnist', 'depth': 4}}", "model.depth"},
    {"{'model': {'preset': 'swin-fmnist'}, 'mask': {'mask_patch_size': 3}}",
     "mask.mask_patch_size"}, // no multiple of the patch (2) that divides 32
    {"{'model': {'preset': 'swin-fmnist'}, 'target': {'resolution': 6}}",
     "target.resolution"}, // its output grid (32 / stride 8 = 4) needs r a multiple of 4
    {"{'model': {'preset': 'swin-fmnist'}, 'target': {'resolution': 4}, 'mask': {'mask_patch_size': 4}}",
     "target.resolution"}, // an 8-pixel target pixel is never inside one 4-pixel mask cell
    // mask and loss.
    {"{'mask': {'type': 'blocks'}}", "mask.type"},
    {"{'mask': {'type': 'block', 'min_block': 0}}", "mask.min_block"},
    {"{'mask': {'type': 'block', 'min_block': 17}}", "mask.min_block"}, // 4×4 cells
    {"{'mask': {'ratio': 1}}", "mask.ratio"},
    {"{'mask': {'ratio': 0}}", "mask.ratio"},
    {"{'mask': {'ratio': '0.6'}}", "mask.ratio"},
    {"{'mask': {'mask_patch_size': 6}}", "mask.mask_patch_size"},
    {"{'mask': {'mask_patch_size': 2}}", "mask.mask_patch_size"},
    {"{'mask': {'mask_patch_size': 0}}", "mask.mask_patch_size"},
    {"{'loss': {'type': 'l3'}}", "loss.type"},
    {"{'loss': {'type': null}}", "loss.type"},
    {"{'loss': {'scope': 'all'}}", "loss.scope"},
    {"{'loss': []}", "loss"},
    // The head: decoder, target and loss (pretraining).
    {"{'decoder': 3}", "decoder"},
    {"{'decoder': {'type': 'conv'}}", "decoder.type"},
    {"{'decoder': {'type': null}}", "decoder.type"},
    {"{'decoder': {'type': 'mlp', 'width': 64}}", "decoder.width"},
    {"{'decoder': {'type': 'mlp', 'hidden': 0}}", "decoder.hidden"},
    {"{'decoder': {'type': 'mlp', 'hidden': 16385}}", "decoder.hidden"},
    {"{'decoder': {'type': 'mlp', 'hidden': 1.5}}", "decoder.hidden"},
    {"{'decoder': {'type': 'transformer', 'depth': 0}}", "decoder.depth"},
    {"{'decoder': {'type': 'transformer', 'depth': 257}}", "decoder.depth"},
    {"{'decoder': {'type': 'transformer', 'embed_dim': 16385}}", "decoder.embed_dim"},
    {"{'decoder': {'type': 'transformer', 'embed_dim': 96, 'num_heads': 5}}",
     "decoder.embed_dim"}, // not divisible
    {"{'decoder': {'type': 'transformer', 'embed_dim': 8, 'num_heads': 16}}",
     "decoder.num_heads"},
    {"{'decoder': {'type': 'transformer', 'num_heads': '4'}}", "decoder.num_heads"},
    // A field its type does not use names both.
    {"{'decoder': {'hidden': 64}}", "decoder.hidden"},
    {"{'decoder': {'type': 'mlp', 'depth': 2}}", "decoder.depth"},
    {"{'decoder': {'type': 'mlp', 'embed_dim': 64}}", "decoder.embed_dim"},
    {"{'decoder': {'type': 'linear', 'num_heads': 4}}", "decoder.num_heads"},
    {"{'decoder': {'type': 'transformer', 'hidden': 64}}", "decoder.hidden"},
    {"{'kind': 'finetune', 'decoder': {'type': 'mlp', 'depth': 2}}", "decoder.depth"},
    {"{'loss': {'beta': 0.5}}", "loss.beta"},
    {"{'loss': {'type': 'l2', 'beta': 0.5}}", "loss.beta"},
    {"{'loss': {'bins': 8}}", "loss.bins"},
    {"{'loss': {'type': 'palette', 'bins': 8}}", "loss.bins"},
    {"{'loss': {'type': 'bins', 'palette': 16}}", "loss.palette"},
    {"{'loss': {'type': 'smooth_l1', 'beta': -0.5}}", "loss.beta"},
    {"{'loss': {'type': 'smooth_l1', 'beta': 2e6}}", "loss.beta"},
    {"{'loss': {'type': 'smooth_l1', 'beta': 'one'}}", "loss.beta"},
    {"{'loss': {'type': 'bins', 'bins': 1}}", "loss.bins"},
    {"{'loss': {'type': 'bins', 'bins': 257}}", "loss.bins"},
    {"{'loss': {'type': 'bins', 'bins': 0}}", "loss.bins"},
    {"{'loss': {'type': 'palette', 'palette': 1}}", "loss.palette"},
    {"{'loss': {'type': 'palette', 'palette': 1025}}", "loss.palette"},
    {"{'target': 32}", "target"},
    {"{'target': {'resolution': 0}}", "target.resolution"},
    {"{'target': {'resolution': 12}}", "target.resolution"}, // no multiple of the 8×8 grid
    {"{'target': {'resolution': 24}}", "target.resolution"}, // does not divide 32
    {"{'target': {'resolution': 64}}", "target.resolution"}, // above the image
    {"{'target': {'resolution': '16'}}", "target.resolution"},
    {"{'target': {'size': 16}}", "target.size"},
    {"{'model': {'preset': 'vit-t16-224'}, 'target': {'resolution': 16}}",
     "target.resolution"}, // the 14×14 grid
    // Memory: the paper's N/A (256 bins at full resolution, batch 128), and any job above an
    // explicit limit.
    {"{'model': {'preset': 'vit-t16-224'}, 'loss': {'type': 'bins', 'bins': 256},"
     " 'train': {'batch_size': 128, 'max_memory_mb': 65536}}", "train.max_memory_mb"},
    {"{'train': {'max_memory_mb': 100}}", "train.max_memory_mb"},
    {"{'kind': 'finetune', 'train': {'max_memory_mb': 100}}", "train.max_memory_mb"},
    {"{'train': {'max_memory_mb': -1}}", "train.max_memory_mb"},
    {"{'train': {'max_memory_mb': 1073741825}}", "train.max_memory_mb"},
    {"{'train': {'max_memory_mb': 1.5}}", "train.max_memory_mb"},
    {"{'train': {'max_memory_mb': null}}", "train.max_memory_mb"},
    // pretrain.init_from: the forms of finetune.init_from, for a pretraining only.
    {"{'pretrain': {'init_from': 0}}", "pretrain.init_from"},
    {"{'pretrain': {'init_from': 'job3'}}", "pretrain.init_from"},
    {"{'pretrain': {'init_from': {'checkpoint': 1, 'path': '/x'}}}", "pretrain.init_from"},
    {"{'pretrain': {'init_from': {'checkpoint': 0}}}", "pretrain.init_from.checkpoint"},
    {"{'pretrain': {'init_from': {'path': '/x', 'sha256': 'abc'}}}", "pretrain.init_from.sha256"},
    {"{'pretrain': {'init_from': {'path': '/x', 'step': 3}}}", "pretrain.init_from.step"},
    {"{'pretrain': {'checkpoint': 3}}", "pretrain.checkpoint"},
    {"{'pretrain': 3}", "pretrain"},
    {"{'kind': 'finetune', 'pretrain': {'init_from': 3}}", "pretrain.init_from"},
    {"{'pretrain': {'init_from': 3}, 'finetune': {'init_from': 3}}", "finetune.init_from"},
    // train.
    {"{'train': {'epochs': 0}}", "train.epochs"},
    {"{'train': {'epochs': 100001}}", "train.epochs"},
    {"{'train': {'epochs': 3.5}}", "train.epochs"},
    {"{'train': {'epochs': 1e300}}", "train.epochs"},
    {"{'train': {'epochs': '10'}}", "train.epochs"},
    {"{'train': {'epochs': null}}", "train.epochs"},
    {"{'train': {'epochs': true}}", "train.epochs"},
    {"{'train': {'batch_size': 0}}", "train.batch_size"},
    {"{'train': {'batch_size': 65537}}", "train.batch_size"},
    {"{'train': {'lr': 0}}", "train.lr"},
    {"{'train': {'lr': -1e-3}}", "train.lr"},
    {"{'train': {'lr': 10.5}}", "train.lr"},
    {"{'train': {'lr': 1e-400}}", "train.lr"}, // underflows to 0
    {"{'train': {'min_lr': -1}}", "train.min_lr"},
    {"{'train': {'min_lr': 0.01}}", "train.min_lr"}, // above lr 1e-3
    {"{'train': {'lr': 1e-6, 'min_lr': 1e-5}}", "train.min_lr"},
    {"{'train': {'warmup_epochs': 11}}", "train.warmup_epochs"}, // above epochs 10
    {"{'train': {'warmup_epochs': -1}}", "train.warmup_epochs"},
    {"{'train': {'weight_decay': 11}}", "train.weight_decay"},
    {"{'train': {'weight_decay': -0.1}}", "train.weight_decay"},
    {"{'train': {'betas': [0.9]}}", "train.betas"},
    {"{'train': {'betas': [0.9, 0.99, 0.999]}}", "train.betas"},
    {"{'train': {'betas': [0.9, 1.0]}}", "train.betas"},
    {"{'train': {'betas': [-0.1, 0.9]}}", "train.betas"},
    {"{'train': {'betas': [0.9, 'x']}}", "train.betas"},
    {"{'train': {'betas': 0.9}}", "train.betas"},
    {"{'train': {'clip_grad': -1}}", "train.clip_grad"},
    {"{'train': {'clip_grad': 2e6}}", "train.clip_grad"},
    {"{'train': {'seed': -1}}", "train.seed"},
    {"{'train': {'seed': 9007199254740993}}", "train.seed"},
    {"{'train': {'seed': 1.5}}", "train.seed"},
    {"{'train': {'threads': 1025}}", "train.threads"},
    {"{'train': {'threads': -1}}", "train.threads"},
    {"{'train': {'ranks': 0}}", "train.ranks"},
    {"{'train': {'ranks': 1025}}", "train.ranks"},
    {"{'train': {'ranks': 3}}", "train.batch_size"},
    {"{'train': {'batch_size': 100, 'ranks': 8}}", "train.batch_size"},
    {"{'kind': 'linprobe', 'linprobe': {'init_from': 1}, 'train': {'ranks': 2}}", "train.ranks"},
    {"{'train': {'max_steps': -1}}", "train.max_steps"},
    {"{'train': {'max_steps': 1e19}}", "train.max_steps"},
    {"{'train': {'max_steps': -1e19}}", "train.max_steps"},
    {"{'train': {'precision': 'fp16'}}", "train.precision"},
    {"{'train': {'precision': 'BF16'}}", "train.precision"},
    {"{'train': {'precision': 16}}", "train.precision"},
    {"{'train': {'precision': null}}", "train.precision"},
    // augment.
    {"{'augment': {'crop_scale': [0, 1]}}", "augment.crop_scale"},
    {"{'augment': {'crop_scale': [0.5, 1.1]}}", "augment.crop_scale"},
    {"{'augment': {'crop_scale': [0.9, 0.5]}}", "augment.crop_scale"},
    {"{'augment': {'crop_ratio': [0.75, 101]}}", "augment.crop_ratio"},
    {"{'augment': {'crop_ratio': [2, 1]}}", "augment.crop_ratio"},
    {"{'augment': {'crop_ratio': [-1, 1]}}", "augment.crop_ratio"},
    {"{'augment': {'hflip': 1}}", "augment.hflip"},
    {"{'augment': {'hflip': 'yes'}}", "augment.hflip"},
    // finetune.
    {"{'finetune': {'layer_decay': 0}}", "finetune.layer_decay"},
    {"{'finetune': {'layer_decay': 1.5}}", "finetune.layer_decay"},
    {"{'finetune': {'label_smoothing': 1}}", "finetune.label_smoothing"},
    {"{'finetune': {'drop_path': 1}}", "finetune.drop_path"},
    {"{'finetune': {'drop_path': -0.1}}", "finetune.drop_path"},
    {"{'finetune': {'labels_per_class': -1}}", "finetune.labels_per_class"},
    {"{'finetune': {'labels_per_class': 1000001}}", "finetune.labels_per_class"},
    {"{'kind': 'finetune', 'finetune': {'init_from': 0}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': -3}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': 2.5}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': 'job3'}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': true}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {}}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 1, 'path': '/x'}}}",
     "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 0}}}",
     "finetune.init_from.checkpoint"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': '4'}}}",
     "finetune.init_from.checkpoint"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': ''}}}", "finetune.init_from.path"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': 3}}}", "finetune.init_from.path"},
    {"{'finetune': {'init_from': 3}}", "finetune.init_from"}, // pretrain from a checkpoint
    {"{'finetune': {'init_from': {'path': '/c.safetensors'}}}", "finetune.init_from"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256': 'abc'}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256': ''}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256': 7}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256':"
     " 'g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256':"
     " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0'}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 3, 'sha256':"
     " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
     "finetune.init_from.sha256"},
    {"{'kind': 'finetune', 'finetune': {'init_from': {'sha256':"
     " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
     "finetune.init_from"},
    // linprobe and eval.knn.
    {"{'kind': 'linprobe', 'linprobe': {'weight_decay': -1}}", "linprobe.weight_decay"},
    {"{'kind': 'linprobe', 'linprobe': {'max_iterations': 0}}", "linprobe.max_iterations"},
    {"{'kind': 'linprobe', 'linprobe': {'labels_per_class': -1}}", "linprobe.labels_per_class"},
    {"{'kind': 'linprobe', 'linprobe': {'solver': 'sgd'}}", "linprobe.solver"},
    {"{'kind': 'linprobe', 'finetune': {'init_from': 3}}", "finetune.init_from"},
    {"{'linprobe': {'init_from': 3}}", "linprobe.init_from"},
    {"{'eval': {'knn': {'enabled': 1}}}", "eval.knn.enabled"},
    {"{'eval': {'knn': {'bank': 0}}}", "eval.knn.bank"},
    {"{'eval': {'knn': {'bank': 1000001}}}", "eval.knn.bank"},
    {"{'eval': {'knn': {'k': 0}}}", "eval.knn.k"},
    {"{'eval': {'knn': {'k': 30, 'bank': 20}}}", "eval.knn.k"},
    {"{'eval': {'knn': {'temperature': 0}}}", "eval.knn.temperature"},
    {"{'eval': {'knn': {'temperature': 'warm'}}}", "eval.knn.temperature"},
    {"{'eval': {'knn': {'metric': 'cosine'}}}", "eval.knn.metric"},
    {"{'eval': {'knn': true}}", "eval.knn"},
    {"{'eval': {'every_steps': 5}}", "eval.every_steps"},
    {"{'kind': 'finetune', 'eval': {'knn': {'enabled': true}}}", "eval.knn.enabled"},
    // schedule.
    {"{'schedule': {'progress_every_steps': 0}}", "schedule.progress_every_steps"},
    {"{'schedule': {'checkpoint_every_steps': 1000000001}}", "schedule.checkpoint_every_steps"},
    {"{'schedule': {'preview_every_steps': 'x'}}", "schedule.preview_every_steps"},
    {"{'schedule': {'keep_checkpoints': 0}}", "schedule.keep_checkpoints"},
    {"{'schedule': {'keep_checkpoints': 1001}}", "schedule.keep_checkpoints"},
    // The document itself.
    {"", ""},
    {"[]", ""},
    {"3", ""},
    {"null", ""},
    {"'spec'", ""},
    {"{'train': ", ""},
    {"{} {}", ""},
    {"{'lr': 1, 'lr': 2}", ""},                   // duplicate keys
    {"{'train': {'epochs': 1, 'epochs': 2}}", ""}, // also inside sections
    {"{'name': 'a\\u0000b'}", ""},                 // Jansson refuses NUL in strings
    {"{'train': {'lr': 1e400}}", ""},              // Jansson: real number overflow
    {"{'train': {'max_steps': 9223372036854775808}}", ""}, // Jansson: too big integer
    {"{'train': {'lr': NaN}}", ""},
    {"{'train': {'lr': Infinity}}", ""},
};

static void check_bad_specs(void)
{
    for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
        const BadSpec *b = &bad_specs[i];
        JobSpec s;
        SpecError err;
        memset(&s, 0x5A, sizeof s);
        int rc = parse(q(b->doc), &s, &err);
        // The caller's spec is untouched on error.
        int untouched = ((unsigned char *)&s)[0] == 0x5A && s.job_id == (long)0x5A5A5A5A5A5A5A5A;
        size_t n = strlen(b->field);
        int names_field = strcmp(err.field, b->field) == 0 &&
                          (n == 0 || (strncmp(err.message, b->field, n) == 0 &&
                                      strncmp(err.message + n, ": ", 2) == 0));
        test_report(rc == -1 && names_field && untouched && clean_message(&err), "refuses",
                    "%s → [%s] %s", q(b->doc), err.field, rc ? err.message : "accepted");
    }
}

// Exact messages: the format the API returns.
static void check_messages(void)
{
    static const struct {
        const char *doc, *message;
    } cases[] = {
        {"{'train': {'epocs': 1}}", "train.epocs: unknown field"},
        // An unknown key that is a field elsewhere says where.
        {"{'kind': 'finetune', 'finetune': {'checkpoint': 3}}",
         "finetune.checkpoint: unknown field (did you mean finetune.init_from: {\"checkpoint\": 3}?)"},
        {"{'epochs': 3}", "epochs: unknown field (did you mean train.epochs?)"},
        {"{'model': {'type': 'x'}}",
         "model.type: unknown field (did you mean mask.type or decoder.type or loss.type?)"},
        {"{'model': {'hidden': 64}}", "model.hidden: unknown field (did you mean decoder.hidden?)"},
        {"{'loss': {'resolution': 16}}",
         "loss.resolution: unknown field (did you mean target.resolution?)"},
        {"{'init_from': 3}",
         "init_from: unknown field (did you mean pretrain.init_from or finetune.init_from or "
         "linprobe.init_from?)"},
        {"{'pretrain': {'checkpoint': 3}}",
         "pretrain.checkpoint: unknown field (did you mean pretrain.init_from: "
         "{\"checkpoint\": 3}?)"},
        {"{'decoder': {'type': 'mlp', 'depth': 4}}",
         "decoder.depth: only used by decoder.type \"transformer\" (got decoder.type \"mlp\")"},
        {"{'decoder': {'hidden': 64}}",
         "decoder.hidden: only used by decoder.type \"mlp\" (got decoder.type \"linear\")"},
        {"{'loss': {'type': 'palette', 'bins': 8}}",
         "loss.bins: only used by loss.type \"bins\" (got loss.type \"palette\")"},
        {"{'loss': {'beta': 0.5}}",
         "loss.beta: only used by loss.type \"smooth_l1\" (got loss.type \"l1\")"},
        {"{'target': {'resolution': 12}}",
         "target.resolution: must be a multiple of the token grid (model.img_size / "
         "model.patch_size = 8; got 12)"},
        {"{'loss': {'type': 'bins', 'bins': 512}}",
         "loss.bins: must be between 2 and 256 (got 512)"},
        {"{'kind': 'finetune', 'pretrain': {'init_from': 3}}",
         "pretrain.init_from: only a pretrain job continues from a checkpoint (a fine-tuning "
         "starts from finetune.init_from)"},
        {"{'train': {'ratio': 0.5}}", "train.ratio: unknown field (did you mean mask.ratio?)"},
        // The schedule's length is epochs or total_steps, not both.
        {"{'train': {'epochs': 3, 'total_steps': 30}}",
         "train.total_steps: give train.epochs or train.total_steps, not both (got epochs 3 and "
         "total_steps 30)"},
        {"{'train': {'total_steps': -1}}",
         "train.total_steps: must be between 0 and 1000000000000 (got -1)"},
        {"{'train': {'epochs': 0}}", "train.epochs: must be between 1 and 100000 (got 0)"},
        {"{'train': {'epochs': 3.5}}", "train.epochs: expected an integer (got 3.5)"},
        {"{'train': {'epochs': '10'}}", "train.epochs: expected an integer (got a string)"},
        {"{'train': {'lr': 0}}", "train.lr: must be in (0, 10] (got 0)"},
        {"{'train': {'lr': 'fast'}}", "train.lr: expected a number (got a string)"},
        {"{'train': {'min_lr': 0.01}}",
         "train.min_lr: must not exceed train.lr (0.001) (got 0.01)"},
        {"{'train': {'warmup_epochs': 12.5}}",
         "train.warmup_epochs: must not exceed train.epochs (10) (got 12.5)"},
        {"{'train': {'betas': [0.9, 1]}}", "train.betas: each value must be in [0, 1) (got 1)"},
        {"{'train': {'betas': [0.9]}}",
         "train.betas: expected an array of two numbers (got an array of 1 value)"},
        {"{'augment': {'crop_scale': [0.9, 0.5]}}",
         "augment.crop_scale: the first value must not exceed the second (got [0.9, 0.5])"},
        {"{'augment': {'hflip': 1}}", "augment.hflip: expected true or false (got 1)"},
        {"{'loss': {'scope': 'all'}}", "loss.scope: must be \"masked\" or \"full\""},
        {"{'train': {'precision': 'fp16'}}", "train.precision: must be \"fp32\" or \"bf16\""},
        {"{'train': {'precision': 32}}", "train.precision: expected a string (got 32)"},
        {"{'kind': 'train'}", "kind: must be \"pretrain\", \"finetune\" or \"linprobe\""},
        {"{'kind': 'linprobe', 'finetune': {'init_from': 3}}",
         "finetune.init_from: only a finetune job starts from a checkpoint (a linear probe starts "
         "from linprobe.init_from)"},
        {"{'linprobe': {'init_from': 3}}",
         "linprobe.init_from: only a linprobe job starts from a checkpoint (a pretraining "
         "continues from pretrain.init_from)"},
        {"{'eval': {'knn': {'k': 30, 'bank': 20}}}",
         "eval.knn.k: must not exceed eval.knn.bank (20) (got 30)"},
        {"{'eval': {'knn': {'temperature': 0}}}", "eval.knn.temperature: must be in (0, 10] (got 0)"},
        {"{'kind': 'linprobe', 'eval': {'knn': {'enabled': true}}}",
         "eval.knn.enabled: only used by kind \"pretrain\" (got kind \"linprobe\")"},
        {"{'dataset': {'format': 'idx'}}", "dataset.path: required"},
        {"{'dataset': {'format': 'shards', 'path': '/d'}}",
         "dataset.train: required with format \"shards\" (a glob of the training shards inside "
         "dataset.path, e.g. \"train-*.tar\")"},
        {"{'dataset': {'format': 'shards', 'path': '/d', 'train': '../x*'}}",
         "dataset.train: a pattern of file names inside the dataset's folder: no '/' and no '..' "
         "(got \"../x*\")"},
        {"{'dataset': {'format': 'idx', 'path': '/d', 'test': 'test-*.tar'}}",
         "dataset.test: only used by dataset.format \"shards\" (got dataset.format \"idx\")"},
        {"{'dataset': {'format': 'zip', 'path': '/d'}}",
         "dataset.format: must be \"idx\", \"imagefolder\" or \"shards\""},
        {"{'data': {'workers': 65}}", "data.workers: must be between 0 and 64 (got 65)"},
        {"{'data': {'prefetch': 0}}", "data.prefetch: must be between 1 and 16 (got 0)"},
        {"{'data': {'cache_mb': -1}}",
         "data.cache_mb: must be between 0 and 1073741824 (got -1)"},
        {"{'data': {'shuffle_buffer': 0}}",
         "data.shuffle_buffer: must be between 1 and 1000000 (got 0)"},
        {"{'data': {'max_error_fraction': 1}}",
         "data.max_error_fraction: must be in [0, 1) (got 1)"},
        {"{'workers': 2}", "workers: unknown field (did you mean data.workers?)"},
        {"{'model': 3}", "model: expected an object (got 3)"},
        {"{'model': {'embed_dim': 130}}",
         "model.embed_dim: must be divisible by model.num_heads (got 130 and 4)"},
        {"{'model': {'arch': 'swin', 'depth': 4}}",
         "model.depth: only used by model.arch \"vit\" (got model.arch \"swin\")"},
        {"{'model': {'depths': [2, 2]}}",
         "model.depths: only used by model.arch \"swin\" (got model.arch \"vit\")"},
        {"{'model': {'arch': 'swin', 'num_heads': 4}}",
         "model.num_heads: expected an array of integers, one per stage, for model.arch \"swin\" "
         "(got 4)"},
        {"{'model': {'num_heads': [4]}}",
         "model.num_heads: expected an integer for model.arch \"vit\" (a list is a swin's) (got an "
         "array of 1 value)"},
        {"{'model': {'arch': 'swin', 'depths': [2, 2]}}",
         "model.num_heads: must list one entry per stage, as model.depths does (got 3 entries and "
         "2 stages)"},
        {"{'model': {'arch': 'swin', 'num_heads': [3, 5, 12]}}",
         "model.num_heads[1]: must divide stage 1's width embed_dim · 2^1 = 96 (got 5)"},
        {"{'model': {'arch': 'swin', 'window_size': 3}}",
         "model.window_size: must divide stage 0's resolution 16 (or be at least it; got 3)"},
        {"{'model': {'arch': 'swin', 'img_size': 36, 'patch_size': 4}}",
         "model.img_size: must be divisible by the encoder's stride, model.patch_size · "
         "2^(stages − 1) = 16 (got 36)"},
        {"{'model': {'arch': 'swin', 'depths': [1, 1, 1, 1, 1, 1, 1, 1, 1]}}",
         "model.depths: must list at most 8 values (got 9)"},
        {"{'model': {'arch': 'vit', 'preset': 'swin-t-192'}}",
         "model.preset: preset swin-t-192 is a \"swin\" model (got model.arch \"vit\")"},
        {"{'model': {'preset': 'swin-l'}}",
         "model.preset: unknown preset (fmnist-q, fmnist-vit-t, vit-t16-224, vit-s16-224, "
         "swin-fmnist, swin-t-192 or swin-b-192)"},
        {"{'finetune': {'init_from': 3}}",
         "finetune.init_from: only a finetune job starts from a checkpoint (a pretraining "
         "continues from pretrain.init_from)"},
        {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 1, 'path': '/x'}}}",
         "finetune.init_from: give exactly one of \"checkpoint\" and \"path\""},
        {"{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x', 'sha256': 'abc'}}}",
         "finetune.init_from.sha256: must be 64 hexadecimal digits (got 3 characters)"},
        {"{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 3, 'sha256':"
         " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
         "finetune.init_from.sha256: only with \"path\" (the daemon knows a checkpoint's sha256 "
         "itself)"},
        {"[]", "the spec must be a JSON object (got an array of 0 values)"},
        {"{'train': ", "invalid JSON at line 1, column 10: unexpected token near end of file"},
        {"{\n  'lr': 1,\n  'lr': 2}",
         "invalid JSON at line 3, column 6: duplicate object key near '\"lr\"'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        JobSpec s;
        SpecError err;
        int rc = parse(q(cases[i].doc), &s, &err);
        test_report(rc == -1 && strcmp(err.message, cases[i].message) == 0, "message",
                    "%s → \"%s\"", q(cases[i].doc), rc ? err.message : "accepted");
    }
}

// Documents that must be accepted, including edges of every range.
static void check_good_specs(void)
{
    static const char *const docs[] = {
        "{'train': {'epochs': 3.0}}",
        "{'kind': 'linprobe', 'linprobe': {'init_from': 3}}",
        "{'kind': 'linprobe', 'linprobe': {'init_from': {'path': '/c.safetensors'},"
        " 'weight_decay': 0, 'max_iterations': 100000, 'labels_per_class': 1000000}}",
        "{'kind': 'linprobe'}",
        "{'eval': {'knn': {'enabled': true, 'bank': 1, 'k': 1, 'temperature': 10}}}",
        "{'eval': {'knn': {'enabled': null, 'bank': 1000000, 'k': 1000}}}",
        "{'kind': 'finetune', 'eval': {'knn': {'enabled': false}}}",
        "{'train': {'total_steps': 30, 'epochs': null, 'warmup_epochs': 50}}",
        "{'train': {'lr': 1, 'min_lr': 1, 'epochs': 5, 'warmup_epochs': 5}}",
        "{'train': {'lr': 10, 'clip_grad': 0, 'weight_decay': 0, 'betas': [0, 0]}}",
        "{'train': {'seed': 9007199254740992, 'threads': 1024, 'max_steps': 9223372036854775807}}",
        "{'train': {'epochs': 100000, 'batch_size': 65536, 'warmup_epochs': 0.5,"
        " 'max_memory_mb': 1073741824}}",
        "{'augment': {'crop_scale': [1, 1], 'crop_ratio': [100, 100], 'hflip': false}}",
        "{'priority': -1000, 'job_id': 9223372036854775807, 'name': ''}",
        "{'priority': 1000, 'job_id': null, 'name': 'ünïcödé ✓ \\\"quoted\\\"'}",
        "{'loss': {'scope': 'full', 'type': 'l1'}, 'mask': {'type': 'random', 'ratio': 0.999}}",
        "{'mask': {'type': 'square', 'ratio': 0.11, 'mask_patch_size': 4}}",
        "{'mask': {'type': 'block', 'min_block': 16}}",
        // The head: every type, its own fields, nulls for the defaults.
        "{'decoder': null, 'target': null}",
        "{'decoder': {'type': 'linear', 'hidden': null, 'depth': null}}",
        "{'decoder': {'type': 'mlp'}}",
        "{'decoder': {'type': 'mlp', 'hidden': 16384}}",
        "{'decoder': {'type': 'transformer', 'depth': 8, 'embed_dim': 64, 'num_heads': 1}}",
        "{'decoder': {'type': 'transformer', 'num_heads': 128}}",
        "{'target': {'resolution': 8}}",
        "{'target': {'resolution': 16}}",
        "{'target': {'resolution': 32}}",
        "{'model': {'preset': 'vit-t16-224'}, 'target': {'resolution': 112},"
        " 'train': {'batch_size': 32}}",
        // a Swin's from its output grid (32 / stride 8 = 4), below its 16×16 patch grid
        "{'model': {'preset': 'swin-fmnist'}, 'target': {'resolution': 4}}",
        "{'model': {'preset': 'swin-fmnist'}, 'target': {'resolution': 8}, 'mask': {'mask_patch_size': 16}}",
        "{'model': {'preset': 'swin-fmnist'}, 'target': {'resolution': 4}, 'mask': {'mask_patch_size': 2},"
        " 'loss': {'scope': 'full'}}",
        "{'loss': {'type': 'l2', 'scope': 'full'}}",
        "{'loss': {'type': 'smooth_l1'}}",
        "{'loss': {'type': 'smooth_l1', 'beta': 0}}",
        "{'loss': {'type': 'smooth_l1', 'beta': 1e6}}",
        "{'loss': {'type': 'bins', 'bins': 2}}",
        "{'loss': {'type': 'bins', 'bins': 256, 'palette': null}, 'target': {'resolution': 8}}",
        "{'loss': {'type': 'palette', 'palette': 1024}, 'target': {'resolution': 8}}",
        // Fine-tuning has no head: its sections are read, not judged (as mask and loss always
        // were).
        "{'kind': 'finetune', 'decoder': {'type': 'mlp', 'hidden': 99999},"
        " 'target': {'resolution': 3}, 'loss': {'type': 'bins', 'bins': 1000}}",
        "{'train': {'max_memory_mb': 1024}}",
        "{'train': {'max_memory_mb': 0}}",
        "{'pretrain': {'init_from': 1}}",
        "{'pretrain': {'init_from': {'checkpoint': 12}}, 'finetune': {'init_from': null}}",
        "{'pretrain': {'init_from': {'path': '/c', 'sha256':"
        " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
        "{'pretrain': {'init_from': null}}",
        "{'kind': 'finetune', 'pretrain': {'init_from': null}, 'finetune': {'init_from': 2}}",
        // From a checkpoint the model, and so the head's sizes, wait for spec_adopt_model.
        "{'pretrain': {'init_from': 4}, 'target': {'resolution': 16}, 'model': {'depth': 2}}",
        "{'finetune': {'layer_decay': 1, 'label_smoothing': 0, 'drop_path': 0,"
        " 'labels_per_class': 1000000}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 1}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 7.0}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 12}}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'path': 'runs/1/step-500.safetensors'}}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'sha256':"
        " '0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef', 'path': '/c'}}}",
        // From a checkpoint, the spec's sizes wait for spec_adopt_model (and masks are unused).
        "{'kind': 'finetune', 'finetune': {'init_from': 4}, 'model': {'embed_dim': 130}}",
        "{'kind': 'finetune', 'mask': {'mask_patch_size': 6}}",
        "{'dataset': {'format': 'imagefolder', 'path': '/data/imgs'}}",
        "{'dataset': {'name': 'mine', 'path': 'rel/dir', 'format': 'idx'}}",
        // model.arch: null is the preset's (or the checkpoint's); a Swin, its presets and fields.
        "{'model': {'arch': null}}",
        "{'model': {'arch': 'vit', 'depths': null, 'window_size': null, 'ape': null,"
        " 'patch_norm': null}}",
        "{'model': {'arch': 'swin'}}",
        "{'model': {'preset': 'swin-fmnist'}}",
        "{'model': {'arch': 'swin', 'preset': 'swin-fmnist', 'depth': null}}",
        "{'model': {'preset': 'swin-t-192'}, 'train': {'batch_size': 32}}",
        "{'model': {'preset': 'swin-b-192'}, 'train': {'batch_size': 16}}",
        "{'model': {'arch': 'swin', 'img_size': 32, 'patch_size': 4, 'window_size': 4,"
        " 'depths': [2, 2], 'num_heads': [2, 4], 'embed_dim': 32, 'ape': true,"
        " 'patch_norm': false}}",
        "{'model': {'arch': 'swin', 'window_size': 16}}", // a window as large as the grid
        "{'model': {'arch': 'swin', 'depths': [2], 'num_heads': [3]}, 'decoder': {'type': 'mlp'},"
        " 'mask': {'type': 'block', 'mask_patch_size': 2}}",
        "{'kind': 'finetune', 'model': {'preset': 'swin-fmnist', 'mlp_ratio': 2},"
        " 'finetune': {'drop_path': 0.2}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'arch': 'swin',"
        " 'depths': [2, 2]}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'arch': null}}",
        "{'schedule': {'progress_every_steps': 1, 'checkpoint_every_steps': 1000000000,"
        " 'preview_every_steps': 1, 'keep_checkpoints': 1000}}",
        "{'data': {'workers': 0, 'prefetch': 1, 'cache_mb': 0, 'shuffle_buffer': 1,"
        " 'max_error_fraction': 0}}",
        "{'data': {'workers': 64, 'prefetch': 16, 'cache_mb': 1073741824,"
        " 'shuffle_buffer': 1000000, 'max_error_fraction': 0.999}}",
        "{'data': {'cache_mb': null}}",
        "{'data': {}}",
        "{'kind': 'finetune', 'data': {'workers': 3}}",
        "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'train-*.tar'}}",
        "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'train-*.tar', 'test': null}}",
        "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'shard-[0-9]*.tar.gz',"
        " 'test': 'val-?.tar', 'name': 'big'}}",
        "{'dataset': {'format': 'idx', 'path': '/d', 'train': null, 'test': null}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        JobSpec s;
        SpecError err;
        int rc = parse(q(docs[i]), &s, &err);
        test_report(rc == 0, "accepts", "%s %s", q(docs[i]), rc ? err.message : "");
    }
}

// train.total_steps replaces epochs (stored as 0, written as null) and reads back the same.
static void check_schedule_length(void)
{
    JobSpec s, back;
    SpecError err;
    int rc = parse(q("{'train': {'total_steps': 30}}"), &s, &err);
    char *text = rc ? NULL : spec_to_json(&s);
    test_report(rc == 0 && s.train.total_steps == 30 && s.train.epochs == 0 && text &&
                    strstr(text, "\"epochs\": null") && strstr(text, "\"total_steps\": 30"),
                "total_steps: epochs is 0, written as null", "%s", text ? text : err.message);
    rc = text ? parse(text, &back, &err) : -1;
    test_report(rc == 0 && back.train.total_steps == 30 && back.train.epochs == 0,
                "total_steps reads back from the written spec", "%s", rc ? err.message : "");
    free(text);
}

// NAME_GIVEN tells a name the document gave from the default.
static void check_name_given(void)
{
    JobSpec s;
    SpecError err;
    int rc = parse("{}", &s, &err);
    test_report(rc == 0 && !(s.given & NAME_GIVEN) && !strcmp(s.name, "fmnist-simmim"),
                "no name: the default, not marked given", "given %#x", s.given);
    rc = parse(q("{'name': 'mine'}"), &s, &err);
    test_report(rc == 0 && (s.given & NAME_GIVEN) && !strcmp(s.name, "mine"),
                "a name is marked given", "given %#x", s.given);
}

// The forms of dataset and init_from land in the right fields.
static void check_forms(void)
{
    JobSpec s;
    SpecError err;
    int rc = parse(q("{'kind': 'finetune', 'dataset': {'format': 'imagefolder', 'path': '/d'},"
                     " 'finetune': {'init_from': {'path': '/c.safetensors'}}, 'job_id': 9}"),
                   &s, &err);
    test_report(rc == 0 && s.dataset_form == REF_PATH &&
                    s.dataset_format == DATA_FORMAT_IMAGEFOLDER &&
                    !strcmp(s.dataset_path, "/d") && !s.dataset_name[0] &&
                    s.init_from.form == REF_PATH &&
                    !strcmp(s.init_from.path, "/c.safetensors") && s.job_id == 9,
                "file form: dataset and init_from paths", "%s", rc ? err.message : "");
    test_report(rc == 0 && !s.init_from.sha256[0], "file form: init_from without sha256",
                "\"%s\"", s.init_from.sha256);
    rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': {'path': '/c.safetensors',"
                 " 'sha256': 'ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789'}}}"),
               &s, &err);
    char *text = rc ? NULL : spec_to_json(&s);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *from = json_object_get(json_object_get(doc, "finetune"), "init_from");
    test_report(rc == 0 && s.init_from.form == REF_PATH &&
                    !strcmp(s.init_from.sha256,
                            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789") &&
                    json_object_size(from) == 2 &&
                    !strcmp(json_string_value(json_object_get(from, "sha256")),
                            s.init_from.sha256),
                "file form: init_from sha256 stored lowercase and written back", "%s",
                rc ? err.message : text);
    free(text);
    json_decref(doc);
    rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': {'path': '/c.safetensors'}}}"),
               &s, &err);
    text = rc ? NULL : spec_to_json(&s);
    doc = text ? json_loads(text, 0, NULL) : NULL;
    from = json_object_get(json_object_get(doc, "finetune"), "init_from");
    test_report(rc == 0 && json_object_size(from) == 1 && json_object_get(from, "path"),
                "file form: init_from without sha256 written without it", "%s", text ? text : "");
    free(text);
    json_decref(doc);
    rc = parse(q("{'kind': 'finetune', 'dataset': 'cifar', 'finetune': {'init_from': 5}}"), &s,
               &err);
    test_report(rc == 0 && s.dataset_form == REF_NAME && !strcmp(s.dataset_name, "cifar") &&
                    s.init_from.form == REF_JOB_ID && s.init_from.id == 5,
                "API form: dataset name and init_from job id", "%s", rc ? err.message : "");
    rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 8}}}"), &s, &err);
    test_report(rc == 0 && s.init_from.form == REF_CHECKPOINT_ID &&
                    s.init_from.id == 8,
                "API form: init_from checkpoint id", "%s", rc ? err.message : "");
    rc = parse(q("{'loss': {'scope': 'full'}, 'augment': {'hflip': false},"
                 " 'train': {'seed': 9007199254740992, 'max_steps': 9223372036854775807}}"),
               &s, &err);
    test_report(rc == 0 && s.model.loss.full_image == 1 && s.augment.hflip == 0 &&
                    s.train.seed == 9007199254740992ULL &&
                    s.train.max_steps == 9223372036854775807L,
                "scope, hflip, seed and max_steps stored", "%s", rc ? err.message : "");
    rc = parse(q("{'train': {'precision': 'bf16'}}"), &s, &err);
    test_report(rc == 0 && s.train.precision == PRECISION_BF16, "train.precision bf16 stored",
                "%s", rc ? err.message : "");
    rc = parse(q("{'train': {'precision': 'fp32'}}"), &s, &err);
    test_report(rc == 0 && s.train.precision == PRECISION_FP32, "train.precision fp32 stored",
                "%s", rc ? err.message : "");
}

// The head's sections land in spec->model (decoder, target_resolution, loss).
static void check_head_values(void)
{
    JobSpec s;
    SpecError err;
    const DecoderConfig *d = &s.model.decoder;
    const LossConfig *l = &s.model.loss;
    int rc = parse(q("{'decoder': {'type': 'mlp', 'hidden': 64}, 'target': {'resolution': 16},"
                     " 'loss': {'type': 'bins', 'scope': 'full', 'bins': 8}}"), &s, &err);
    test_report(rc == 0 && d->type == DECODER_MLP && d->hidden == 64 && d->depth == 2 &&
                    s.model.target_resolution == 16 && l->type == LOSS_BINS &&
                    l->full_image == 1 && l->bins == 8 && l->palette == 512 && l->beta == 1.0,
                "mlp decoder, target 16, bins 8 stored", "%s", rc ? err.message : "");
    rc = parse(q("{'decoder': {'type': 'transformer', 'depth': 3, 'embed_dim': 96,"
                 " 'num_heads': 3}, 'loss': {'type': 'smooth_l1', 'beta': 0.25}}"), &s, &err);
    test_report(rc == 0 && d->type == DECODER_TRANSFORMER && d->depth == 3 &&
                    d->embed_dim == 96 && d->num_heads == 3 && d->hidden == 0 &&
                    s.model.target_resolution == 0 && l->type == LOSS_SMOOTH_L1 &&
                    l->beta == 0.25 && l->full_image == 0,
                "transformer decoder, smooth_l1 beta stored", "%s", rc ? err.message : "");
    rc = parse(q("{'decoder': {'type': 'transformer'}, 'loss': {'type': 'palette',"
                 " 'palette': 16}}"), &s, &err);
    test_report(rc == 0 && d->depth == 2 && d->embed_dim == 0 && d->num_heads == 0 &&
                    l->type == LOSS_PALETTE && l->palette == 16 && l->bins == 256,
                "transformer defaults (depth 2, the encoder's width and heads), palette 16",
                "%s", rc ? err.message : "");
    rc = parse(q("{'loss': {'type': 'l2'}, 'train': {'max_memory_mb': 4096}}"), &s, &err);
    test_report(rc == 0 && l->type == LOSS_L2 && s.train.max_memory_mb == 4096,
                "l2 and train.max_memory_mb stored", "%s", rc ? err.message : "");
    // Unused fields are written as null, used ones as given; defaults of "the encoder's" as null.
    rc = parse(q("{'decoder': {'type': 'mlp'}, 'loss': {'type': 'bins', 'bins': 8}}"), &s, &err);
    char *text = rc ? NULL : spec_to_json(&s);
    test_report(text && strstr(text, "\"decoder\": {\"type\": \"mlp\", \"hidden\": null, "
                                     "\"depth\": null, \"embed_dim\": null, "
                                     "\"num_heads\": null}") &&
                    strstr(text, "\"target\": {\"resolution\": null}") &&
                    strstr(text, "\"loss\": {\"type\": \"bins\", \"scope\": \"masked\", \"beta\": "
                                 "null, \"bins\": 8, \"palette\": null}"),
                "the head written: unused fields null", "%s", text ? text : err.message);
    free(text);
}

// train.max_memory_mb against the one sizing function: the paper's N/A (vit-t16-224, 256 bins at
// full resolution, batch 128) is refused under the default limit, today's configurations fit.
static void check_memory(void)
{
    JobSpec s;
    SpecError err;
    ModelConfig na = model_config_default();
    model_config_preset("vit-t16-224", &na);
    na.loss.type = LOSS_BINS;
    MemoryEstimate e = model_memory_estimate(&na, 128, cpu_count());
    int refused = parse(q("{'model': {'preset': 'vit-t16-224'}, 'loss': {'type': 'bins'},"
                          " 'train': {'batch_size': 128}}"), &s, &err) == -1;
    // Half this machine is the default: the N/A config (tens of GB) exceeds it on any machine
    // with less than twice its estimate.
    int above = memory_estimate_total(&e) > machine_memory_bytes() / 2;
    test_report(refused == above && (!refused || !strcmp(err.field, "train.max_memory_mb")),
                "the paper's N/A refused under half this machine's memory",
                "estimate %.0f MB, machine %.0f MB: %s", memory_estimate_total(&e) / 1048576,
                machine_memory_bytes() / 1048576, refused ? err.message : "accepted");
    test_report(memory_estimate_total(&e) > 32768.0 * 1048576, "the N/A config needs over 32 GB",
                "%.0f MB", memory_estimate_total(&e) / 1048576);
    int rc = parse(q("{'model': {'preset': 'vit-t16-224'}, 'loss': {'type': 'bins'},"
                     " 'train': {'batch_size': 128, 'threads': 2, 'max_memory_mb': 32768}}"), &s,
                   &err);
    const char *tail = ", more than the limit of 32768 MB; it grows with train.batch_size, "
                       "model.img_size, model.embed_dim, model.depth, target.resolution, loss.bins";
    size_t n = strlen(err.message), k = strlen(tail);
    const char *head = "train.max_memory_mb: the job needs about ";
    test_report(rc == -1 && !strncmp(err.message, head, strlen(head)) &&
                    n > k && !strcmp(err.message + n - k, tail),
                "the refusal names the estimate, the limit and what drives it", "%s",
                rc ? err.message : "accepted");
    // A lower target resolution makes it fit (the paper's 4×4 target: 14×14 here).
    rc = parse(q("{'model': {'preset': 'vit-t16-224'}, 'loss': {'type': 'bins'},"
                 " 'target': {'resolution': 14}, 'train': {'batch_size': 128, 'threads': 2,"
                 " 'max_memory_mb': 32768}}"), &s, &err);
    test_report(rc == 0, "bins at the token grid's resolution fits", "%s", rc ? err.message : "");
    // Today's configurations (the recipes, the defaults of each kind) within 2 GB.
    static const char *const fits[] = {
        "{'train': {'max_memory_mb': 2048}}",
        "{'kind': 'finetune', 'train': {'max_memory_mb': 2048}}",
        "{'model': {'preset': 'fmnist-vit-t'},"
        " 'train': {'batch_size': 128, 'max_memory_mb': 2048}}",
        "{'model': {'preset': 'vit-t16-224'}, 'train': {'batch_size': 32, 'max_memory_mb': 2048}}",
        "{'kind': 'finetune', 'model': {'preset': 'vit-t16-224'},"
        " 'train': {'batch_size': 32, 'max_memory_mb': 2048}}",
    };
    for (size_t i = 0; i < sizeof fits / sizeof *fits; i++) {
        rc = parse(q(fits[i]), &s, &err);
        test_report(rc == 0, "today's configurations fit in 2 GB", "%s %s", q(fits[i]),
                    rc ? err.message : "");
    }
    // A fine-tuning's classes count once known: spec_check_memory with the dataset's.
    rc = parse(q("{'kind': 'finetune', 'train': {'max_memory_mb': 700}}"), &s, &err);
    int before = rc == 0 && spec_check_memory(&s, &err) == 0;
    s.model.num_classes = 100000;
    test_report(before && spec_check_memory(&s, &err) == -1 &&
                    !strcmp(err.field, "train.max_memory_mb"),
                "a fine-tuning's classes count", "%s", err.message);
}

// The precision words outside a spec (bench_step, the trainer's start event) are the spec's.
// The kind's words, the few-label setting by kind, and when the k-NN probe runs.
static void check_kinds_and_probes(void)
{
    JobKind k = JOB_PRETRAIN;
    test_report(!strcmp(spec_kind_name(JOB_LINPROBE), "linprobe") && !spec_kind_name((JobKind)3),
                "kind words", "%s", spec_kind_name(JOB_LINPROBE));
    test_report(!strcmp(spec_kind_noun(JOB_FINETUNE), "a fine-tuning") &&
                    !strcmp(spec_kind_noun(JOB_LINPROBE), "a linear probe") && !spec_kind_noun((JobKind)3),
                "kind nouns", "%s", spec_kind_noun(JOB_LINPROBE));
    test_report(spec_kind_parse("linprobe", &k) == 0 && k == JOB_LINPROBE &&
                    spec_kind_parse("probe", &k) == -1 && k == JOB_LINPROBE,
                "kind parsed", "%d", (int)k);
    JobSpec s;
    SpecError err;
    parse(q("{'kind': 'finetune', 'finetune': {'labels_per_class': 6},"
            " 'linprobe': {'labels_per_class': 9}}"), &s, &err);
    expect_int("a fine-tuning's labels_per_class", spec_labels_per_class(&s), 6);
    s.kind = JOB_LINPROBE;
    expect_int("a linear probe's labels_per_class", spec_labels_per_class(&s), 9);
    s.kind = JOB_PRETRAIN;
    expect_int("a pretraining has no labels_per_class", spec_labels_per_class(&s), 0);
    const DataFormat idx = DATA_FORMAT_IDX, shards = DATA_FORMAT_SHARDS;
    parse("{}", &s, &err);
    test_report(spec_knn_runs(&s, 10, idx, &err) == 1 && spec_knn_runs(&s, 1, idx, &err) == 0 &&
                    spec_knn_runs(&s, 0, idx, NULL) == 0 && spec_knn_runs(&s, 10, shards, &err) == 0,
                "eval.knn null: on for a labelled dataset only, not shards", "");
    s.knn.enabled = 1;
    int rc = spec_knn_runs(&s, 1, idx, &err);
    test_report(rc == -1 && !strcmp(err.field, "eval.knn.enabled"),
                "eval.knn true on an unlabelled dataset is refused", "%s", err.message);
    rc = spec_knn_runs(&s, 10, shards, &err);
    test_report(rc == -1 && !strcmp(err.field, "eval.knn.enabled") && strstr(err.message, "shards"),
                "eval.knn true on tar shards is refused", "%s", err.message);
    s.knn.enabled = 0;
    test_report(spec_knn_runs(&s, 10, idx, &err) == 0, "eval.knn false: off", "");
    parse(q("{'kind': 'finetune'}"), &s, &err);
    test_report(spec_knn_runs(&s, 10, idx, &err) == 0, "no k-NN probe in a fine-tuning", "");
}

static void check_precision_words(void)
{
    Precision p = PRECISION_FP32;
    expect_str("fp32's word", spec_precision_name(PRECISION_FP32), "fp32");
    expect_str("bf16's word", spec_precision_name(PRECISION_BF16), "bf16");
    test_report(spec_precision_name((Precision)2) == NULL, "no word for an unknown precision",
                "%s", "");
    test_report(spec_precision_parse("bf16", &p) == 0 && p == PRECISION_BF16, "bf16 parsed",
                "%d", (int)p);
    test_report(spec_precision_parse("fp16", &p) == -1 && p == PRECISION_BF16,
                "fp16 refused, the precision untouched", "%d", (int)p);
}

// ---- Round trips -------------------------------------------------------------------------

// parse → spec_to_json → parse → spec_to_json gives the same text, and the second parse has
// the first's values (compared through the text, which holds every field exactly).
static void round_trip(const char *doc)
{
    JobSpec a, b;
    SpecError err;
    char *ja = NULL, *jb = NULL;
    int ok = parse(doc, &a, &err) == 0 && (ja = spec_to_json(&a)) != NULL &&
             parse(ja, &b, &err) == 0 && (jb = spec_to_json(&b)) != NULL && !strcmp(ja, jb);
    // Only a model still to come from a checkpoint keeps given exactly (the others are
    // written in full, so every size reads back as given).
    int pending = a.init_from.form != REF_NONE;
    if (ok && pending) ok = (a.given & MODEL_GIVEN_ALL) == (b.given & MODEL_GIVEN_ALL);
    ok = ok && a.model.drop_path == b.model.drop_path && a.model.num_classes == b.model.num_classes;
    test_report(ok, "round trip", "%s → %s", doc, ja ? ja : err.message);
    free(ja);
    free(jb);
}

static void check_round_trips(void)
{
    static const char *const docs[] = {
        "{}",
        "{'kind': 'finetune'}",
        "{'name': 'ünïcödé \\\"q\\\" \\\\ /', 'priority': -3, 'job_id': 42}",
        "{'train': {'lr': 0.1, 'min_lr': 0.030000000000000002, 'weight_decay': 0.3333333333333333,"
        " 'betas': [0.123456789012345678, 0.9999999999999999], 'clip_grad': 1e-300,"
        " 'warmup_epochs': 0.1, 'seed': 9007199254740992, 'max_steps': 9223372036854775807}}",
        "{'train': {'min_lr': -0.0}, 'finetune': {'label_smoothing': -0.0}}",
        "{'augment': {'crop_scale': [1e-9, 0.5], 'crop_ratio': [0.1, 99.99999999999999]}}",
        "{'model': {'preset': 'vit-t16-224'}, 'mask': {'mask_patch_size': 32, 'ratio': 0.75}}",
        "{'model': {'embed_dim': 96, 'num_heads': 3, 'mlp_ratio': 2.5}, 'loss': {'scope': 'full'}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'depth': 6}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'checkpoint': 5}},"
        " 'model': {'preset': 'fmnist-vit-t', 'mlp_ratio': 2}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'path': '/x/step-9.safetensors'},"
        " 'drop_path': 0.25, 'labels_per_class': 600}, 'dataset': {'format': 'idx', 'path': '/d',"
        " 'name': 'fashion-mnist'}, 'job_id': 17}",
        "{'dataset': {'format': 'imagefolder', 'path': 'relative/dir'}}",
        "{'train': {'precision': 'bf16'}}",
        "{'kind': 'finetune', 'finetune': {'init_from': {'path': '/p/checkpoint-3.safetensors',"
        " 'sha256': '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}}",
        "{'decoder': {'type': 'mlp', 'hidden': 48}, 'target': {'resolution': 16},"
        " 'loss': {'type': 'smooth_l1', 'beta': 0.1, 'scope': 'full'}}",
        "{'model': {'arch': 'swin', 'depths': [2, 4], 'num_heads': [3, 6], 'ape': true}}",
        "{'model': {'preset': 'swin-t-192'}, 'train': {'batch_size': 8}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'arch': 'swin',"
        " 'num_heads': [3, 6, 12], 'patch_norm': false}}",
        "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': {'preset': 'swin-fmnist'}}",
        "{'decoder': {'type': 'transformer', 'depth': 1}, 'loss': {'type': 'palette'}}",
        "{'decoder': {'type': 'transformer', 'embed_dim': 64, 'num_heads': 2},"
        " 'loss': {'type': 'bins', 'bins': 16}, 'target': {'resolution': 8}}",
        "{'decoder': null, 'target': null, 'loss': {'type': 'l2'},"
        " 'train': {'max_memory_mb': 900}}",
        "{'pretrain': {'init_from': 3}}",
        "{'pretrain': {'init_from': 3}, 'model': {'depth': 6}, 'mask': {'ratio': 0.5}}",
        "{'pretrain': {'init_from': 3}, 'mask': {'mask_patch_size': 16}}",
        "{'pretrain': {'init_from': {'checkpoint': 5}}, 'decoder': {'type': 'mlp'}}",
        "{'pretrain': {'init_from': {'path': '/x/step-9.safetensors', 'sha256':"
        " 'abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789'}},"
        " 'dataset': {'format': 'imagefolder', 'path': '/d'}, 'job_id': 4}",
        "{'kind': 'finetune', 'decoder': {'type': 'mlp', 'hidden': 3},"
        " 'target': {'resolution': 5}}",
        "{'mask': {'mask_patch_size': null}}",
        "{'data': {'workers': 3, 'prefetch': 4, 'cache_mb': 0, 'shuffle_buffer': 77,"
        " 'max_error_fraction': 0.05}}",
        "{'data': {'cache_mb': 1024, 'max_error_fraction': 0.1}}",
        "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'train-*.tar'}}",
        "{'dataset': {'format': 'shards', 'path': '/d', 'train': 'train-*.tar',"
        " 'test': 'test-*.tar', 'name': 'big'}, 'job_id': 3}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) round_trip(q(docs[i]));
}

// Every field's value survives: a spec with no field at its default, compared field by field.
static void check_round_trip_values(void)
{
    const char *doc = q(
        "{'kind': 'finetune', 'name': 'n', 'dataset': {'format': 'imagefolder', 'path': '/p',"
        " 'name': 'dn'}, 'priority': 5, 'model': {'img_size': 64, 'patch_size': 8, 'in_chans': 3,"
        " 'embed_dim': 96, 'depth': 3, 'num_heads': 6, 'mlp_ratio': 3},"
        " 'mask': {'mask_patch_size': 16, 'ratio': 0.5}, 'loss': {'scope': 'full'},"
        " 'train': {'epochs': 7, 'batch_size': 9, 'lr': 0.02, 'min_lr': 0.001,"
        " 'warmup_epochs': 2.5, 'weight_decay': 0.1, 'betas': [0.8, 0.95], 'clip_grad': 0,"
        " 'seed': 11, 'threads': 2, 'max_steps': 13, 'precision': 'bf16'},"
        " 'augment': {'crop_scale': [0.3, 0.9],"
        " 'crop_ratio': [0.5, 2], 'hflip': false}, 'finetune': {'init_from': {'checkpoint': 4},"
        " 'layer_decay': 0.65, 'label_smoothing': 0.2, 'drop_path': 0.3, 'labels_per_class': 10},"
        " 'schedule': {'progress_every_steps': 1, 'checkpoint_every_steps': 2,"
        " 'preview_every_steps': 3, 'keep_checkpoints': 4}, 'job_id': 99}");
    JobSpec a, b;
    SpecError err;
    char *text = NULL;
    int ok = parse(doc, &a, &err) == 0 && (text = spec_to_json(&a)) && parse(text, &b, &err) == 0;
    // Padding is zero in both: spec_parse starts from a zeroed spec and sets members only.
    ok = ok && memcmp(&a, &b, sizeof a) == 0;
    test_report(ok, "every non-default field survives a round trip (memcmp)", "%s",
                text ? text : err.message);
    free(text);
    // The head, train.max_memory_mb and pretrain.init_from, in a pretraining spec.
    doc = q("{'name': 'p', 'model': {'img_size': 64, 'patch_size': 8, 'in_chans': 3,"
            " 'embed_dim': 96, 'depth': 3, 'num_heads': 6, 'mlp_ratio': 3},"
            " 'mask': {'type': 'block', 'mask_patch_size': 16, 'ratio': 0.5, 'min_block': 2},"
            " 'decoder': {'type': 'transformer', 'depth': 3, 'embed_dim': 64, 'num_heads': 4},"
            " 'target': {'resolution': 16}, 'loss': {'type': 'bins', 'scope': 'full', 'bins': 8},"
            " 'train': {'batch_size': 9, 'threads': 2, 'max_memory_mb': 4096},"
            " 'pretrain': {'init_from': {'path': '/c', 'sha256':"
            " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}},"
            " 'job_id': 98}");
    text = NULL;
    ok = parse(doc, &a, &err) == 0 && (text = spec_to_json(&a)) && parse(text, &b, &err) == 0;
    ok = ok && memcmp(&a, &b, sizeof a) == 0;
    test_report(ok, "a pretraining's head and pretrain.init_from survive a round trip (memcmp)",
                "%s", text ? text : err.message);
    free(text);
    // A linear probe and the k-NN probe's fields.
    doc = q("{'kind': 'linprobe', 'linprobe': {'init_from': {'checkpoint': 5}, 'weight_decay': 0.01,"
            " 'max_iterations': 200, 'labels_per_class': 60},"
            " 'eval': {'knn': {'enabled': false, 'bank': 500, 'k': 7, 'temperature': 0.1}}}");
    text = NULL;
    ok = parse(doc, &a, &err) == 0 && (text = spec_to_json(&a)) && parse(text, &b, &err) == 0;
    b.given = a.given;
    ok = ok && memcmp(&a, &b, sizeof a) == 0 && a.kind == JOB_LINPROBE &&
         a.init_from.form == REF_CHECKPOINT_ID && a.init_from.id == 5 &&
         a.linprobe.weight_decay == 0.01 && a.linprobe.max_iterations == 200 &&
         spec_labels_per_class(&a) == 60 && a.knn.enabled == 0 && a.knn.bank == 500 &&
         a.knn.k == 7 && a.knn.temperature == 0.1 &&
         strstr(text, "\"finetune\": {\"init_from\": null") &&
         strstr(text, "\"linprobe\": {\"init_from\": {\"checkpoint\": 5}");
    test_report(ok, "a linear probe and eval.knn survive a round trip (memcmp)", "%s",
                text ? text : err.message);
    free(text);
    // The data section and a shards dataset.
    doc = q("{'dataset': {'format': 'shards', 'path': '/s', 'name': 'big', 'train': 'tr-*.tar',"
            " 'test': 'te-*.tar'}, 'data': {'workers': 5, 'prefetch': 3, 'cache_mb': 512,"
            " 'shuffle_buffer': 4096, 'max_error_fraction': 0.01}}");
    text = NULL;
    ok = parse(doc, &a, &err) == 0 && (text = spec_to_json(&a)) && parse(text, &b, &err) == 0;
    b.given = a.given; // the echo states the name and the model sizes, so they read back given
    ok = ok && memcmp(&a, &b, sizeof a) == 0 && a.dataset_format == DATA_FORMAT_SHARDS &&
         !strcmp(a.dataset_train, "tr-*.tar") && !strcmp(a.dataset_test, "te-*.tar") &&
         a.data.workers == 5 && a.data.prefetch == 3 && a.data.cache_mb == 512 &&
         a.data.shuffle_buffer == 4096 && a.data.max_error_fraction == 0.01;
    test_report(ok, "the data section and a shards dataset survive a round trip (memcmp)", "%s",
                text ? text : err.message);
    free(text);
}

// The file form of a shards dataset, what is written as null, and the machine defaults.
static void check_data_section(void)
{
    JobSpec s;
    SpecError err;
    int rc = parse(q("{'dataset': {'format': 'shards', 'path': '/s', 'train': 'train-*.tar'}}"),
                   &s, &err);
    char *text = rc ? NULL : spec_to_json(&s);
    test_report(rc == 0 && s.dataset_format == DATA_FORMAT_SHARDS && !s.dataset_test[0] && text &&
                    strstr(text, "\"dataset\": {\"format\": \"shards\", \"path\": \"/s\", \"name\": \"\", "
                           "\"train\": \"train-*.tar\", \"test\": null}"),
                "shards without a test glob: test written as null", "%s",
                text ? text : err.message);
    free(text);
    rc = parse(q("{'dataset': {'format': 'idx', 'path': '/d'}}"), &s, &err);
    text = rc ? NULL : spec_to_json(&s);
    test_report(rc == 0 && text && strstr(text, "\"train\": null, \"test\": null}"),
                "idx: the shards' globs written as null", "%s", text ? text : err.message);
    free(text);
    rc = parse(q("{'data': {'cache_mb': 0}}"), &s, &err);
    text = rc ? NULL : spec_to_json(&s);
    test_report(rc == 0 && s.data.cache_mb == 0 && spec_data_cache_bytes(&s) == 0 && text &&
                    strstr(text, "\"cache_mb\": 0,"),
                "data.cache_mb 0: always stream, written as 0", "%s", text ? text : err.message);
    free(text);
    rc = parse(q("{'data': {'cache_mb': 3}}"), &s, &err);
    test_report(rc == 0 && spec_data_cache_bytes(&s) == 3.0 * 1048576,
                "data.cache_mb resolved in bytes", "%.0f", spec_data_cache_bytes(&s));
    rc = parse("{}", &s, &err);
    test_report(rc == 0 && spec_data_cache_bytes(&s) == machine_memory_bytes() / 4,
                "data.cache_mb null: a quarter of the machine's memory", "%.0f of %.0f",
                spec_data_cache_bytes(&s), machine_memory_bytes());
    int cores = cpu_count();
    test_report(rc == 0 && spec_data_workers(&s) == (cores > 1 ? cores - 1 : 1),
                "data.workers 0: one less than the cores, at least 1", "%d on %d cores",
                spec_data_workers(&s), cores);
    rc = parse(q("{'data': {'workers': 7}}"), &s, &err);
    test_report(rc == 0 && spec_data_workers(&s) == 7, "data.workers as given", "%d",
                spec_data_workers(&s));
}

// ---- spec_adopt_model --------------------------------------------------------------------

// A finetune spec from job 3 with the given model section, adopting `from`, must fail with
// exactly `message`, leave the model as it was, and name the field the message starts with.
static void expect_adopt_error(const char *model, const ModelConfig *from, const char *message)
{
    char doc[512];
    JobSpec s;
    SpecError err;
    snprintf(doc, sizeof doc, "{'kind': 'finetune', 'finetune': {'init_from': 3}, 'model': %s}",
             model);
    if (parse(q(doc), &s, &err) != 0) {
        test_report(0, "adopt refuses a conflict", "%s does not parse: %s", q(doc), err.message);
        return;
    }
    ModelConfig before = s.model;
    int rc = spec_adopt_model(&s, from, &err);
    int field_ok = strncmp(err.message, err.field, strlen(err.field)) == 0 && err.field[0];
    test_report(rc == -1 && !strcmp(err.message, message) && field_ok &&
                    !memcmp(&before, &s.model, sizeof before),
                "adopt refuses a conflict", "%s → [%s] %s", model, err.field, err.message);
}

static void check_adopt(void)
{
    // The checkpoints' models: fmnist-q, fmnist-vit-t, swin-fmnist, swin-fmnist with 8×8 windows.
    ModelConfig from[4] = {model_config_default(), model_config_default(), model_config_default(),
                           model_config_default()};
    model_config_preset("fmnist-vit-t", &from[1]);
    model_config_preset("swin-fmnist", &from[2]);
    model_config_preset("swin-fmnist", &from[3]);
    from[3].window_size = 8;
    ModelConfig fmnist_q = from[0], vit_t = from[1];
    static const struct {
        const char *model;
        int from;
        const char *message;
    } conflicts[] = {
        {"{'embed_dim': 192}", 0,
         "model.embed_dim: the starting checkpoint has 128, the spec says 192"},
        {"{'mlp_ratio': 2}", 0, "model.mlp_ratio: the starting checkpoint has 4, the spec says 2"},
        {"{'preset': 'fmnist-vit-t'}", 0,
         "model.preset: the starting checkpoint has embed_dim 128, preset fmnist-vit-t has 192"},
        // Sizes are compared in the contract's order; the first difference is reported.
        {"{'preset': 'vit-t16-224', 'depth': 5}", 1,
         "model.preset: the starting checkpoint has img_size 32, preset vit-t16-224 has 224"},
        {"{'preset': 'fmnist-vit-t', 'depth': 5}", 1,
         "model.depth: the starting checkpoint has 6, the spec says 5"},
        // A Swin checkpoint: the arch first, then the lists as lists.
        {"{'arch': 'vit'}", 2, "model.arch: the starting checkpoint has swin, the spec says vit"},
        {"{'preset': 'fmnist-q'}", 2,
         "model.preset: the starting checkpoint has arch swin, preset fmnist-q has vit"},
        {"{'depth': 4}", 2,
         "model.depth: the starting checkpoint is a swin, which has no model.depth (the spec says "
         "4)"},
        {"{'num_heads': 4}", 2, "model.num_heads: the starting checkpoint has [3, 6, 12], the "
         "spec says 4"},
        {"{'arch': 'swin', 'depths': [2, 2]}", 2,
         "model.depths: the starting checkpoint has [2, 2, 2], the spec says [2, 2]"},
        {"{'arch': 'swin', 'ape': true}", 2,
         "model.ape: the starting checkpoint has false, the spec says true"},
        {"{'preset': 'swin-fmnist'}", 3,
         "model.preset: the starting checkpoint has window_size 8, preset swin-fmnist has 4"},
    };
    for (size_t i = 0; i < sizeof conflicts / sizeof *conflicts; i++)
        expect_adopt_error(conflicts[i].model, &from[conflicts[i].from], conflicts[i].message);

    // Success: the checkpoint's sizes, the spec's drop_path and num_classes.
    JobSpec s;
    SpecError err;
    const char *doc = q("{'kind': 'finetune', 'finetune': {'init_from': {'path': '/c'},"
                        " 'drop_path': 0.2}, 'model': {'depth': 6}}");
    int rc = parse(doc, &s, &err);
    char *before = rc == 0 ? spec_to_json(&s) : NULL;
    test_report(before && strstr(before, "\"embed_dim\": null") && strstr(before, "\"depth\": 6"),
                "before adoption the unknown sizes are written as null", "%s", before);
    s.model.num_classes = 10;
    rc = rc ? rc : spec_adopt_model(&s, &vit_t, &err);
    ModelConfig want = vit_t;
    want.num_classes = 10, want.drop_path = 0.2f;
    test_report(rc == 0 && !memcmp(&s.model, &want, sizeof want) &&
                    s.given == (MODEL_GIVEN_SIZES),
                "adopt takes the checkpoint's model, keeps drop_path and num_classes", "%s",
                rc ? err.message : "");
    char *after = spec_to_json(&s);
    test_report(after && strstr(after, "\"embed_dim\": 192") && strstr(after, "\"img_size\": 32"),
                "after adoption every size is written", "%s", after);
    // The written spec reads back and adopts the same checkpoint again.
    JobSpec again;
    rc = after ? parse(after, &again, &err) : -1;
    rc = rc ? rc : spec_adopt_model(&again, &vit_t, &err);
    test_report(rc == 0 && again.model.embed_dim == 192 && again.model.drop_path == 0.2f,
                "an adopted spec re-reads and re-adopts", "%s", rc ? err.message : "");
    rc = rc ? rc : spec_adopt_model(&again, &fmnist_q, &err);
    test_report(rc == -1 && !strcmp(err.field, "model.embed_dim"),
                "an adopted spec refuses another checkpoint", "%s", err.message);
    free(before);
    free(after);

    // A preset overridden to match the checkpoint is no conflict.
    rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': 2}, 'model': {'preset':"
                 " 'fmnist-vit-t', 'embed_dim': 128, 'depth': 4, 'num_heads': 4}}"),
               &s, &err);
    rc = rc ? rc : spec_adopt_model(&s, &fmnist_q, &err);
    test_report(rc == 0, "adopt accepts a preset overridden to the checkpoint's sizes", "%s",
                rc ? err.message : "");
    // An invalid checkpoint config is refused too.
    ModelConfig broken = fmnist_q;
    broken.num_heads = 3;
    rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': 2}}"), &s, &err);
    rc = rc ? rc : spec_adopt_model(&s, &broken, &err);
    test_report(rc == -1 && !strcmp(err.field, "model.embed_dim"),
                "adopt refuses an invalid checkpoint config", "%s", err.message);
}

// A pretraining from a checkpoint adopts its encoder as a fine-tuning does, keeps its own head,
// defaults mask_patch_size by the adopted patch, and validates the head and memory then.
static void check_adopt_pretrain(void)
{
    JobSpec s;
    SpecError err;
    ModelConfig vit_t = model_config_default(), big = model_config_default();
    model_config_preset("fmnist-vit-t", &vit_t);
    model_config_preset("vit-t16-224", &big);
    big.decoder.type = DECODER_MLP; // the checkpoint's head is not the spec's business here
    int rc = parse(q("{'pretrain': {'init_from': 3}, 'decoder': {'type': 'transformer'},"
                     " 'target': {'resolution': 16}}"), &s, &err);
    char *before = rc == 0 ? spec_to_json(&s) : NULL;
    test_report(before && strstr(before, "\"embed_dim\": null, \"depth\": null") &&
                    strstr(before, "\"mask_patch_size\": null") &&
                    strstr(before, "\"pretrain\": {\"init_from\": 3}") &&
                    strstr(before, "\"finetune\": {\"init_from\": null"),
                "pretrain from a checkpoint: unknown sizes and mask_patch_size written as null",
                "%s", before ? before : err.message);
    free(before);
    rc = rc ? rc : spec_adopt_model(&s, &vit_t, &err);
    test_report(rc == 0 && s.model.embed_dim == 192 && s.model.depth == 6 &&
                    s.model.decoder.type == DECODER_TRANSFORMER &&
                    s.model.target_resolution == 16 && s.mask.mask_patch_size == 8 &&
                    s.model.num_classes == 0 && s.given == MODEL_GIVEN_SIZES,
                "pretrain adopts the encoder, keeps its head, defaults mask_patch_size", "%s",
                rc ? err.message : "");
    // The 14×14 grid of vit-t16-224 does not take a 16×16 target: refused at adoption, the
    // spec untouched.
    rc = parse(q("{'pretrain': {'init_from': 3}, 'target': {'resolution': 16}}"), &s, &err);
    JobSpec kept = s;
    rc = rc ? rc : spec_adopt_model(&s, &big, &err);
    test_report(rc == -1 && !strcmp(err.field, "target.resolution") && !memcmp(&kept, &s, sizeof s),
                "adoption judges the head against the checkpoint's grid", "%s", err.message);
    rc = parse(q("{'pretrain': {'init_from': 3}, 'train': {'batch_size': 64}}"), &s, &err);
    rc = rc ? rc : spec_adopt_model(&s, &big, &err);
    test_report(rc == 0 && s.mask.mask_patch_size == 32 && s.model.decoder.type == DECODER_LINEAR,
                "mask_patch_size defaults by the checkpoint's patch (32 for 16)", "%s",
                rc ? err.message : "");
    rc = parse(q("{'pretrain': {'init_from': 3}, 'loss': {'type': 'bins'},"
                 " 'train': {'batch_size': 128, 'max_memory_mb': 32768}}"), &s, &err);
    rc = rc ? rc : spec_adopt_model(&s, &big, &err);
    test_report(rc == -1 && !strcmp(err.field, "train.max_memory_mb"),
                "adoption checks the memory of the adopted model", "%s", err.message);
    rc = parse(q("{'pretrain': {'init_from': 3}, 'model': {'preset': 'fmnist-q'}}"), &s, &err);
    rc = rc ? rc : spec_adopt_model(&s, &vit_t, &err);
    test_report(rc == -1 && !strcmp(err.field, "model.preset"),
                "a pretraining's preset must match the checkpoint", "%s", err.message);
}

// ---- Swin ---------------------------------------------------------------------------------

static int same_ints(const int *a, const int *b, int n)
{
    return memcmp(a, b, sizeof(int) * (size_t)n) == 0;
}

// A Swin through model.arch or its presets: the arch's default sizes, the preset's, explicit
// lists over both; the echo; mask_patch_size defaulting to the encoder's stride.
static void check_swin_spec(void)
{
    static const struct {
        const char *doc, *preset;
        int img, patch, dim, window, stages, depths[4], heads[4], ape, patch_norm, mask_patch;
        unsigned given;
    } cases[] = {
        {"{'model': {'arch': 'swin'}}", "", 32, 2, 48, 4, 3, {2, 2, 2}, {3, 6, 12}, 0, 1, 8,
         MODEL_GIVEN_ARCH},
        {"{'model': {'preset': 'swin-fmnist'}}", "swin-fmnist", 32, 2, 48, 4, 3, {2, 2, 2},
         {3, 6, 12}, 0, 1, 8, MODEL_GIVEN_PRESET},
        {"{'model': {'preset': 'swin-t-192'}, 'train': {'batch_size': 16}}", "swin-t-192", 192, 4,
         96, 6, 4, {2, 2, 6, 2}, {3, 6, 12, 24}, 0, 1, 32, MODEL_GIVEN_PRESET},
        {"{'model': {'preset': 'swin-b-192'}, 'train': {'batch_size': 8}}", "swin-b-192", 192, 4,
         128, 6, 4, {2, 2, 18, 2}, {4, 8, 16, 32}, 0, 1, 32, MODEL_GIVEN_PRESET},
        // Explicit fields win wherever they appear; the arch, given, agrees with the preset.
        {"{'model': {'depths': [2, 2], 'num_heads': [2, 4], 'arch': 'swin', 'patch_size': 4,"
         " 'window_size': 4, 'ape': true, 'patch_norm': false, 'embed_dim': 32}}", "", 32, 4, 32,
         4, 2, {2, 2}, {2, 4}, 1, 0, 8,
         MODEL_GIVEN_ARCH | MODEL_GIVEN_DEPTHS | MODEL_GIVEN_HEADS | MODEL_GIVEN_PATCH |
             MODEL_GIVEN_WINDOW | MODEL_GIVEN_APE | MODEL_GIVEN_PATCH_NORM | MODEL_GIVEN_DIM},
        {"{'model': {'arch': 'swin', 'preset': 'swin-t-192', 'depths': [2, 2, 2, 2]},"
         " 'mask': {'mask_patch_size': 16}, 'train': {'batch_size': 16}}", "swin-t-192", 192, 4,
         96, 6, 4, {2, 2, 2, 2}, {3, 6, 12, 24}, 0, 1, 16,
         MODEL_GIVEN_ARCH | MODEL_GIVEN_PRESET | MODEL_GIVEN_DEPTHS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        JobSpec s;
        SpecError err;
        const ModelConfig *m = &s.model;
        int rc = parse(q(cases[i].doc), &s, &err), n = cases[i].stages;
        int ok = rc == 0 && m->arch == ARCH_SWIN && !strcmp(s.preset, cases[i].preset) &&
                 m->img_size == cases[i].img && m->patch_size == cases[i].patch &&
                 m->embed_dim == cases[i].dim && m->window_size == cases[i].window &&
                 m->num_stages == n && m->num_stage_heads == n &&
                 same_ints(m->depths, cases[i].depths, n) &&
                 same_ints(m->stage_heads, cases[i].heads, n) && m->ape == cases[i].ape &&
                 m->patch_norm == cases[i].patch_norm && m->depth == 0 && m->num_heads == 0 &&
                 s.mask.mask_patch_size == cases[i].mask_patch && s.given == cases[i].given;
        test_report(ok, "swin preset, arch and explicit fields", "%s → %s img %d patch %d dim %d "
                    "window %d stages %d ape %d patch_norm %d mask %d given %#x %s",
                    cases[i].doc, s.preset, m->img_size, m->patch_size, m->embed_dim,
                    m->window_size, m->num_stages, m->ape, m->patch_norm,
                    s.mask.mask_patch_size, s.given, rc ? err.message : "");
    }
    JobSpec s;
    SpecError err;
    int rc = parse(q("{'model': {'preset': 'swin-fmnist'}}"), &s, &err);
    char *text = rc == 0 ? spec_to_json(&s) : NULL;
    test_report(text && strstr(text, "\"model\": {\"arch\": \"swin\", \"preset\": \"swin-fmnist\","
                               " \"img_size\": 32, \"patch_size\": 2, \"in_chans\": 1,"
                               " \"embed_dim\": 48, \"depth\": null, \"num_heads\": [3, 6, 12],"
                               " \"mlp_ratio\": 4.0, \"depths\": [2, 2, 2], \"window_size\": 4,"
                               " \"ape\": false, \"patch_norm\": true}"),
                "a swin's echo: its lists, window, ape and patch_norm; depth null", "%s",
                text ? text : err.message);
    free(text);
}

// A fine-tuning from a Swin checkpoint adopts its encoder (its conflicts: check_adopt).
static void check_adopt_swin(void)
{
    ModelConfig swin = model_config_default(), wide = model_config_default();
    model_config_preset("swin-fmnist", &swin);
    model_config_preset("swin-fmnist", &wide);
    wide.window_size = 8;
    JobSpec s, again;
    SpecError err;
    int rc = parse(q("{'kind': 'finetune', 'finetune': {'init_from': 3}}"), &s, &err);
    char *before = rc == 0 ? spec_to_json(&s) : NULL;
    test_report(before && strstr(before, "\"arch\": null") && strstr(before, "\"depths\": null"),
                "before adoption a spec without arch writes it as null", "%s", before);
    s.model.num_classes = 10;
    rc = rc ? rc : spec_adopt_model(&s, &wide, &err);
    char *after = rc == 0 ? spec_to_json(&s) : NULL;
    test_report(after && s.model.arch == ARCH_SWIN && s.model.window_size == 8 &&
                    s.model.num_classes == 10 &&
                    strstr(after, "\"arch\": \"swin\"") && strstr(after, "\"window_size\": 8") &&
                    strstr(after, "\"num_heads\": [3, 6, 12]") && strstr(after, "\"depth\": null"),
                "a swin checkpoint's encoder adopted and echoed", "%s", after ? after : err.message);
    rc = after ? parse(after, &again, &err) : -1;
    rc = rc ? rc : spec_adopt_model(&again, &wide, &err);
    test_report(rc == 0 && again.model.arch == ARCH_SWIN && again.model.window_size == 8,
                "an adopted swin spec re-reads and re-adopts", "%s", rc ? err.message : "");
    rc = rc ? rc : spec_adopt_model(&again, &swin, &err);
    test_report(rc == -1 && !strcmp(err.field, "model.window_size"),
                "and refuses a swin of another window", "%s", err.message);
    free(before);
    free(after);
}

// ---- Hostile input -----------------------------------------------------------------------

static char *repeat(const char *prefix, const char *unit, size_t count, const char *suffix)
{
    size_t p = strlen(prefix), u = strlen(unit), s = strlen(suffix);
    char *buf = malloc(p + u * count + s + 1);
    if (!buf) exit(2);
    memcpy(buf, prefix, p);
    for (size_t i = 0; i < count; i++) memcpy(buf + p + i * u, unit, u);
    memcpy(buf + p + u * count, suffix, s + 1);
    return buf;
}

// A hostile document gets -1 and a clean message naming `field`.
static void expect_spec_refused(const char *what, const char *text, size_t len, const char *field)
{
    JobSpec s;
    SpecError err;
    int rc = spec_parse(text, len, &s, &err);
    test_report(rc == -1 && !strcmp(err.field, field) && clean_message(&err), what, "[%s] %s",
                err.field, err.message);
}

static void check_hostile_specs(void)
{
    enum { MB = 1 << 20 };
    JobSpec s;
    SpecError err;
    int rc;
    char *t = repeat("", "[", 100000, "");
    expect_spec_refused("100000 nested arrays", t, strlen(t), "");
    free(t);
    t = repeat("{\"model\": ", "[", 2000, "");
    char *u = repeat(t, "]", 2000, "}");
    expect_spec_refused("2000 nested arrays in a section", u, strlen(u), "model");
    free(t);
    free(u);
    t = repeat("", "{\"a\": ", 2000, "1");
    u = repeat(t, "}", 2000, "");
    expect_spec_refused("2000 nested objects", u, strlen(u), "a");
    free(t);
    free(u);
    t = repeat("{\"name\": \"", "x", MB, "\"}");
    expect_spec_refused("a 1 MB name", t, strlen(t), "name");
    free(t);
    t = repeat("{\"dataset\": {\"format\": \"idx\", \"path\": \"", "p", MB, "\"}}");
    expect_spec_refused("a 1 MB path", t, strlen(t), "dataset.path");
    free(t);
    // SPEC_PATH_MAX − 1 bytes fit; one more does not.
    t = repeat("{\"kind\": \"finetune\", \"finetune\": {\"init_from\": {\"path\": \"/", "d",
               SPEC_PATH_MAX - 2, "\"}}}");
    rc = spec_parse(t, strlen(t), &s, &err);
    test_report(rc == 0 && strlen(s.init_from.path) == SPEC_PATH_MAX - 1,
                "a path of SPEC_PATH_MAX - 1 bytes", "%s", rc ? err.message : "");
    free(t);
    t = repeat("{\"kind\": \"finetune\", \"finetune\": {\"init_from\": {\"path\": \"/", "d",
               SPEC_PATH_MAX - 1, "\"}}}");
    expect_spec_refused("a path of SPEC_PATH_MAX bytes", t, strlen(t), "finetune.init_from.path");
    free(t);
    t = repeat("{\"train\": {\"", "k", MB, "\": 1}}");
    rc = spec_parse(t, strlen(t), &s, &err);
    test_report(rc == -1 && !strncmp(err.field, "train.kkk", 9) && clean_message(&err),
                "a 1 MB unknown key is named, truncated", "[%s]", err.field);
    free(t);
    t = repeat("{\"train\": {\"lr\": 1", "0", MB, "}}");
    expect_spec_refused("a 1 MB number", t, strlen(t), "");
    free(t);
    t = repeat("{\"name\": \"", "\xc3\xa9", MB / 2, "\"}");
    expect_spec_refused("a long multi-byte name (message stays valid UTF-8)", t, strlen(t), "name");
    free(t);
    t = repeat("{\"train\": {\"", "\xc3\xa9", 100, "\": 1}}");
    rc = spec_parse(t, strlen(t), &s, &err);
    test_report(rc == -1 && !strncmp(err.field, "train.\xc3\xa9", 8) && clean_message(&err),
                "an unknown key truncated mid-character stays valid UTF-8", "[%s]", err.field);
    free(t);

    static const struct {
        const char *what, *text;
        const char *field;
    } docs[] = {
        {"invalid UTF-8", "{\"name\": \"\xff\xfe\"}", ""},
        {"invalid UTF-8 in a key", "{\"\xc0\xaf\": 1}", ""},
        {"a control character in a key", "{\"a\\u0001\\n\": 1}", "a??"},
        {"an overlong escape", "{\"name\": \"\\ud800\"}", ""},
        {"1e400", "{\"train\": {\"lr\": 1e400}}", ""},
        {"-1e400", "{\"train\": {\"lr\": -1e400}}", ""},
        {"2^63", "{\"job_id\": 9223372036854775808}", ""},
        {"-2^63 - 1", "{\"job_id\": -9223372036854775809}", ""},
        {"2^64 as a real", "{\"job_id\": 18446744073709551616.0}", "job_id"},
        {"-2^63 as a real", "{\"train\": {\"seed\": -9223372036854775808.0}}", "train.seed"},
        {"-2^63", "{\"train\": {\"max_steps\": -9223372036854775808}}", "train.max_steps"},
        {"a top-level string", "\"{}\"", ""},
        {"a top-level number", "1e400", ""},
        {"whitespace only", " \n\t ", ""},
        {"a BOM", "\xef\xbb\xbf{}", ""},
        {"trailing garbage", "{}garbage", ""},
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        expect_spec_refused(docs[i].what, docs[i].text, strlen(docs[i].text), docs[i].field);

    expect_spec_refused("no text", NULL, 0, "");
    expect_spec_refused("an empty buffer", "{}", 0, "");
    // len is honoured: the bytes after it are not read (ASan would see it).
    char *exact = malloc(2);
    memcpy(exact, "{}", 2);
    rc = spec_parse(exact, 2, &s, &err);
    test_report(rc == 0, "a document without a NUL terminator", "%s", rc ? err.message : "");
    free(exact);
    rc = spec_parse("{}\0{\"bogus\": 1}", 15, &s, &err);
    test_report(rc == -1, "a NUL inside the document is refused", "%s", err.message);
    rc = spec_parse("{}", 2, &s, NULL);
    test_report(rc == 0, "err may be NULL", "");
    rc = spec_parse("[", 1, &s, NULL);
    test_report(rc == -1, "err may be NULL on failure", "");

    // spec_to_json refuses what JSON cannot express instead of writing invalid text.
    parse("{}", &s, &err);
    JobSpec bad = s;
    strcpy(bad.name, "\xff");
    char *text = spec_to_json(&bad);
    test_report(!text, "spec_to_json refuses a name that is not UTF-8", "%s", text ? text : "NULL");
    free(text);
    bad = s, bad.kind = (JobKind)7;
    text = spec_to_json(&bad);
    test_report(!text, "spec_to_json refuses a kind out of range", "%s", text ? text : "NULL");
    free(text);
    bad = s, bad.train.lr = NAN;
    text = spec_to_json(&bad);
    test_report(!text, "spec_to_json refuses a non-finite number", "%s", text ? text : "NULL");
    free(text);
}

int main(void)
{
    check_defaults();
    check_kind_defaults();
    check_mask_patch_default();
    check_spec_presets();
    check_forms();
    check_schedule_length();
    check_name_given();
    check_precision_words();
    check_kinds_and_probes();
    check_head_values();
    check_memory();
    check_bad_specs();
    check_messages();
    check_good_specs();
    check_round_trips();
    check_round_trip_values();
    check_data_section();
    check_adopt();
    check_adopt_pretrain();
    check_swin_spec();
    check_adopt_swin();
    check_hostile_specs();
    TEST_EXIT();
}
