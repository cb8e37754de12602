// The representation probes (core/train/probe.h) against the references of
// tests/golden/probe_reference.py (NumPy's k-NN, PyTorch's L-BFGS on the same problem), whose
// fixtures make fixtures writes: the k-NN's predictions equal NumPy's for three (k,
// temperature) settings; the linear probe's top-1 is within 0.2 percentage points of the
// reference's and its objective within 1e-5 of it. Both give the same bits on 1 and 2 threads;
// ties go to the lower bank index and the lower class; a zero feature stays finite.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/safetensors.h"
#include "ops/ops.h"
#include "test.h"
#include "train/probe.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/golden/fixtures"
#endif

static SafeTensors load_fixture(const char *name)
{
    char path[256], err[256];
    SafeTensors st;
    snprintf(path, sizeof path, "%s/%s.safetensors", FIXTURE_DIR, name);
    if (safetensors_read(path, &st, err, sizeof err)) {
        fprintf(stderr, "test_probe: %s\n", err);
        exit(2);
    }
    return st;
}

static const StTensor *tensor(const SafeTensors *st, const char *name)
{
    const StTensor *t = safetensors_find(st, name);
    if (!t) {
        fprintf(stderr, "test_probe: the fixture has no %s\n", name);
        exit(2);
    }
    return t;
}

static double meta_number(const SafeTensors *st, const char *key)
{
    const char *v = safetensors_meta(st, key);
    return v ? strtod(v, NULL) : NAN;
}

static int *labels_of(const StTensor *t)
{
    int *labels = malloc(sizeof(int) * t->numel);
    for (size_t i = 0; i < t->numel; i++) labels[i] = (int)t->data[i];
    return labels;
}

// The k-NN of one setting on the fixture's features, in query chunks of `chunk`.
static void knn_run(const SafeTensors *st, int k, double temperature, int chunk, int *predictions)
{
    const StTensor *bank = tensor(st, "bank_features"), *test = tensor(st, "test_features");
    int nb = (int)bank->shape[0], D = (int)bank->shape[1], nq = (int)test->shape[0];
    int classes = (int)meta_number(st, "classes");
    Knn knn;
    if (knn_create(&knn, nb, D, k, classes, chunk)) exit(2);
    memcpy(knn.bank, bank->data, sizeof(float) * nb * D);
    int *labels = labels_of(tensor(st, "bank_labels"));
    memcpy(knn.bank_labels, labels, sizeof(int) * nb);
    free(labels);
    probe_l2_normalize(knn.bank, nb, D);
    float *queries = malloc(sizeof(float) * nq * D);
    memcpy(queries, test->data, sizeof(float) * nq * D);
    probe_l2_normalize(queries, nq, D);
    for (int q = 0; q < nq; q += chunk)
        knn_predict(&knn, queries + (size_t)q * D, nq - q < chunk ? nq - q : chunk, temperature,
                    predictions + q);
    free(queries);
    knn_free(&knn);
}

static void check_knn_against_numpy(void)
{
    SafeTensors st = load_fixture("probe_knn");
    const StTensor *test_labels = tensor(&st, "test_labels");
    int nq = (int)test_labels->numel;
    int *mine = malloc(sizeof(int) * nq), *other = malloc(sizeof(int) * nq);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "k_%d", i);
        int k = (int)meta_number(&st, key);
        snprintf(key, sizeof key, "temperature_%d", i);
        double temperature = meta_number(&st, key);
        snprintf(key, sizeof key, "predictions_%d", i);
        const StTensor *want = tensor(&st, key);
        ops_set_threads(2);
        knn_run(&st, k, temperature, 64, mine);
        int same = 0, right = 0;
        for (int q = 0; q < nq; q++) {
            same += mine[q] == (int)want->data[q];
            right += mine[q] == (int)test_labels->data[q];
        }
        snprintf(key, sizeof key, "top1_%d", i);
        double top1 = 100.0 * right / nq, reference = meta_number(&st, key);
        test_report(same == nq && top1 == reference, "k-NN predictions equal NumPy's",
                    "k %d, temperature %g: %d of %d equal; top-1 %.2f (NumPy %.2f)", k,
                    temperature, same, nq, top1, reference);
        ops_set_threads(1);
        knn_run(&st, k, temperature, 200, other);
        test_report(!memcmp(mine, other, sizeof(int) * nq),
                    "k-NN: the same on 1 and 2 threads, in chunks of 64 and 200", "k %d", k);
    }
    free(mine);
    free(other);
    safetensors_free(&st);
}

// Ties: equal similarities rank by bank index, equal votes go to the lower class; k above the
// bank's size is the bank; a zero feature normalizes to zeros.
static void check_knn_ties(void)
{
    Knn knn;
    if (knn_create(&knn, 4, 2, 9, 3, 1)) exit(2);
    test_report(knn.k == 4, "k is clamped to the bank", "%d", knn.k);
    knn_free(&knn);
    if (knn_create(&knn, 4, 2, 2, 3, 1)) exit(2);
    const float bank[] = {1, 0, 0, 1, 1, 0, 1, 0}; // rows 0, 2 and 3 are the same
    const int labels[] = {2, 0, 1, 0};
    memcpy(knn.bank, bank, sizeof bank);
    memcpy(knn.bank_labels, labels, sizeof labels);
    float query[] = {1, 0};
    int prediction = -1;
    knn_predict(&knn, query, 1, 0.07, &prediction);
    test_report(knn.neighbours[0] == 0 && knn.neighbours[1] == 2 && prediction == 1,
                "equal similarities rank by bank index; equal votes go to the lower class",
                "neighbours %d %d, prediction %d", knn.neighbours[0], knn.neighbours[1], prediction);
    knn_free(&knn);
    float zero[3] = {0, 0, 0};
    probe_l2_normalize(zero, 1, 3);
    test_report(zero[0] == 0 && zero[1] == 0 && zero[2] == 0, "a zero feature stays zero", "");
}

typedef struct {
    float *train, *test;
    int *train_labels, *test_labels;
    long n_train, n_test;
    int D, classes;
} LinearData;

static LinearData linear_data(const SafeTensors *st)
{
    const StTensor *train = tensor(st, "train_features"), *test = tensor(st, "test_features");
    LinearData d = {.n_train = train->shape[0], .n_test = test->shape[0],
                    .D = (int)train->shape[1], .classes = (int)meta_number(st, "classes")};
    d.train = malloc(sizeof(float) * train->numel);
    d.test = malloc(sizeof(float) * test->numel);
    memcpy(d.train, train->data, sizeof(float) * train->numel);
    memcpy(d.test, test->data, sizeof(float) * test->numel);
    d.train_labels = labels_of(tensor(st, "train_labels"));
    d.test_labels = labels_of(tensor(st, "test_labels"));
    return d;
}

static void linear_free(LinearData *d)
{
    free(d->train), free(d->test), free(d->train_labels), free(d->test_labels);
}

// Standardizes, fits and evaluates on `threads` threads: the weights and bias, the result, the
// test top-1 and loss.
static void linear_run(const SafeTensors *st, int threads, float *w, float *b,
                       LinprobeResult *result, double *top1, double *loss)
{
    ops_set_threads(threads);
    LinearData d = linear_data(st);
    probe_standardize(d.train, d.n_train, d.test, d.n_test, d.D);
    LinprobeConfig cfg = {.weight_decay = meta_number(st, "weight_decay"), .max_iterations = 1000};
    if (linprobe_fit(d.train, d.train_labels, d.n_train, d.D, d.classes, &cfg, w, b, result))
        exit(2);
    int *predicted = malloc(sizeof(int) * d.n_test);
    *loss = linprobe_evaluate(d.test, d.test_labels, d.n_test, d.D, d.classes, w, b, predicted);
    long right = 0;
    for (long i = 0; i < d.n_test; i++) right += predicted[i] == d.test_labels[i];
    *top1 = 100.0 * right / d.n_test;
    free(predicted);
    linear_free(&d);
}

static int stop_at_three(void *ctx, int iteration, double loss, double grad_norm)
{
    (void)loss, (void)grad_norm;
    *(int *)ctx = iteration;
    return iteration == 3;
}

static void check_linear_against_torch(void)
{
    SafeTensors st = load_fixture("probe_linear");
    int D = (int)tensor(&st, "train_features")->shape[1], C = (int)meta_number(&st, "classes");
    float *w1 = malloc(sizeof(float) * C * D), *w2 = malloc(sizeof(float) * C * D);
    float b1[64], b2[64];
    LinprobeResult r1, r2;
    double top1, top1_2, loss, loss_2;
    linear_run(&st, 2, w2, b2, &r2, &top1_2, &loss_2);
    linear_run(&st, 1, w1, b1, &r1, &top1, &loss);
    double ref_top1 = meta_number(&st, "top1"), ref_objective = meta_number(&st, "objective");
    test_report(fabs(top1 - ref_top1) <= 0.2, "linear probe: top-1 within 0.2 pp of PyTorch's L-BFGS",
                "%.2f%% against %.2f%% (%d iterations)", top1, ref_top1, r1.iterations);
    test_report(fabs(r1.loss - ref_objective) <= 1e-5 * ref_objective,
                "linear probe: the objective reaches the reference's minimum",
                "%.9f against %.9f, gradient norm %.2g", r1.loss, ref_objective, r1.grad_norm);
    test_report(fabs(loss - meta_number(&st, "val_loss")) < 1e-3,
                "linear probe: test cross-entropy as the reference's", "%.6f against %.6f", loss,
                meta_number(&st, "val_loss"));
    test_report(!memcmp(w1, w2, sizeof(float) * C * D) && !memcmp(b1, b2, sizeof(float) * C) &&
                    r1.iterations == r2.iterations && top1 == top1_2 && loss == loss_2,
                "linear probe: the same bits on 1 and 2 threads", "%d / %d iterations",
                r1.iterations, r2.iterations);
    // The progress callback sees each iteration and can stop the solver.
    LinearData d = linear_data(&st);
    int seen = 0;
    LinprobeConfig cfg = {.weight_decay = 1e-3, .max_iterations = 1000, .progress = stop_at_three,
                          .ctx = &seen};
    LinprobeResult r;
    linprobe_fit(d.train, d.train_labels, d.n_train, d.D, d.classes, &cfg, w1, b1, &r);
    test_report(r.stopped && r.iterations == 3 && seen == 3, "linear probe: progress stops it",
                "stopped %d after %d", r.stopped, r.iterations);
    linear_free(&d);
    free(w1);
    free(w2);
    safetensors_free(&st);
}

int main(void)
{
    check_knn_against_numpy();
    check_knn_ties();
    check_linear_against_torch();
    TEST_EXIT();
}
