// simmim-eval: evaluates a fine-tuning checkpoint on a dataset's test split, independently of
// the training loop: `simmim-eval --checkpoint FILE --format idx|imagefolder --data DIR
// [--batch N] [--threads N]`. Prints one JSON line with the top-1 accuracy (percent) and the
// mean cross-entropy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/data.h"
#include "model/model.h"
#include "ops/ops.h"
#include "train/checkpoint.h"

static int eval_usage(void)
{
    fprintf(stderr, "usage: simmim-eval --checkpoint FILE --format idx|imagefolder --data DIR "
                    "[--batch N] [--threads N]\n");
    return 2;
}

static int eval_die(const char *what, const char *err)
{
    fprintf(stderr, "simmim-eval: error: %s%s%s\n", what, err ? ": " : "", err ? err : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *format = NULL, *data = NULL;
    int batch = 256, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--checkpoint") == 0) ckpt = argv[i + 1];
        else if (strcmp(argv[i], "--format") == 0) format = argv[i + 1];
        else if (strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        else if (strcmp(argv[i], "--batch") == 0) batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else
            return eval_usage();
    }
    if (argc % 2 == 0 || !ckpt || !format || !data || batch < 1) return eval_usage();
    if (strcmp(format, "idx") && strcmp(format, "imagefolder")) return eval_usage();
    ops_set_threads(threads);

    char err[1024];
    SafeTensors st;
    ModelConfig cfg;
    CheckpointMeta meta;
    if (checkpoint_read(ckpt, &st, &cfg, &meta, err, sizeof err))
        return eval_die("checkpoint", err);
    if (strcmp(meta.kind, "finetune") != 0)
        return eval_die("only fine-tuning checkpoints are evaluated", NULL);
    Dataset ds;
    if (dataset_load(strcmp(format, "idx") ? DATA_FORMAT_IMAGEFOLDER : DATA_FORMAT_IDX, data,
                     cfg.img_size, cfg.in_chans, NULL, &ds, err, sizeof err)) // no data roots
        return eval_die("dataset", err);
    if (ds.num_classes != cfg.num_classes)
        return eval_die("dataset and checkpoint disagree on the classes", NULL);
    memcpy(ds.mean, meta.mean, sizeof ds.mean);
    memcpy(ds.std, meta.std, sizeof ds.std);
    Model m;
    if (model_create(&m, &cfg, batch, err, sizeof err) || checkpoint_load_params(&m, &st, 0, err, sizeof err))
        return eval_die("model", err);
    safetensors_free(&st);

    size_t pixels = (size_t)batch * cfg.in_chans * cfg.img_size * cfg.img_size;
    float *images = malloc(pixels * sizeof(float));
    int *labels = malloc(sizeof(int) * batch), *indices = malloc(sizeof(int) * batch);
    if (!images || !labels || !indices) return eval_die("out of memory", NULL);
    long correct = 0;
    double loss_sum = 0.0;
    for (int first = 0; first < ds.test.count; first += batch) {
        int n = ds.test.count - first < batch ? ds.test.count - first : batch;
        for (int i = 0; i < n; i++) indices[i] = first + i;
        augment_batch(&ds, &ds.test, indices, n, NULL, 0, 0, 0, images, labels);
        Batch b = {.size = n, .images = images, .labels = labels};
        loss_sum += (double)model_forward(&m, &b) * n;
        for (int i = 0; i < n; i++) {
            const float *z = m.acts.logits + (size_t)i * cfg.num_classes;
            int best = 0;
            for (int k = 1; k < cfg.num_classes; k++)
                if (z[k] > z[best]) best = k;
            correct += best == labels[i];
        }
    }
    printf("{\"images\": %d, \"top1\": %.8g, \"val_loss\": %.8g}\n", ds.test.count,
           100.0 * correct / ds.test.count, loss_sum / ds.test.count);
    free(images), free(labels), free(indices);
    model_free(&m);
    dataset_free(&ds);
    return 0;
}
