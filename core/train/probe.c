// Representation probes on frozen features; see probe.h. Each query of the k-NN classifier and
// each row of the linear classifier is computed by one thread, and every sum over rows runs in
// row order on one thread, so results do not depend on the thread count; the products are
// matmul_forward_fp32's, which split at thread-independent boundaries.
#include "train/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

void probe_l2_normalize(float *x, long n, int D)
{
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float *row = x + i * D;
        double sum = 0.0;
        for (int d = 0; d < D; d++) sum += (double)row[d] * row[d];
        double norm = fmax(sqrt(sum), 1e-12);
        for (int d = 0; d < D; d++) row[d] = (float)(row[d] / norm);
    }
}

// ---- k nearest neighbours -----------------------------------------------------------------

int knn_create(Knn *knn, int bank_count, int dim, int k, int classes, int max_queries)
{
    *knn = (Knn){.bank_count = bank_count, .dim = dim, .k = k < bank_count ? k : bank_count,
                 .classes = classes, .max_queries = max_queries};
    knn->bank = malloc(sizeof(float) * (size_t)bank_count * dim);
    knn->bank_labels = malloc(sizeof(int) * (size_t)bank_count);
    knn->sims = malloc(sizeof(float) * (size_t)max_queries * bank_count);
    knn->neighbours = malloc(sizeof(int) * (size_t)max_queries * knn->k);
    knn->votes = malloc(sizeof(double) * (size_t)max_queries * classes);
    if (knn->bank && knn->bank_labels && knn->sims && knn->neighbours && knn->votes) return 0;
    knn_free(knn);
    return -1;
}

void knn_free(Knn *knn)
{
    free(knn->bank);
    free(knn->bank_labels);
    free(knn->sims);
    free(knn->neighbours);
    free(knn->votes);
    memset(knn, 0, sizeof *knn);
}

// best [k] ← the indices of the k largest of s [n], largest first, equal values in index order
// (a newcomer displaces only a strictly smaller one). Insertion: k is small beside n, and most
// values fall below the k-th at once.
static void top_k(const float *s, int n, int k, int *best)
{
    int count = 0;
    for (int j = 0; j < n; j++) {
        if (count == k && !(s[j] > s[best[k - 1]])) continue;
        int at = count < k ? count++ : k - 1;
        for (; at > 0 && s[j] > s[best[at - 1]]; at--) best[at] = best[at - 1];
        best[at] = j;
    }
}

// The index of the largest of v [n]; ties the lower index.
static int argmax_double(const double *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

// sims [n, bank] = queries · bankᵀ, then per query (one thread each) its neighbours and votes.
void knn_predict(Knn *knn, const float *queries, int n, double temperature, int *predictions)
{
    int nb = knn->bank_count, k = knn->k, C = knn->classes;
    matmul_forward_fp32(knn->sims, queries, knn->bank, NULL, n, knn->dim, nb);
#pragma omp parallel for schedule(static)
    for (int q = 0; q < n; q++) {
        const float *s = knn->sims + (size_t)q * nb;
        int *neighbours = knn->neighbours + (size_t)q * k;
        double *votes = knn->votes + (size_t)q * C;
        top_k(s, nb, k, neighbours);
        for (int c = 0; c < C; c++) votes[c] = 0.0;
        for (int i = 0; i < k; i++)
            votes[knn->bank_labels[neighbours[i]]] += exp((double)s[neighbours[i]] / temperature);
        predictions[q] = argmax_double(votes, C);
    }
}

// ---- the linear probe ---------------------------------------------------------------------

void probe_standardize(float *train, long n_train, float *test, long n_test, int D)
{
    double *mean = calloc((size_t)D, sizeof(double)), *scale = calloc((size_t)D, sizeof(double));
    if (!mean || !scale) { // nothing can be computed; the features stay as they are
        free(mean), free(scale);
        return;
    }
    for (long i = 0; i < n_train; i++)
        for (int d = 0; d < D; d++) mean[d] += train[i * D + d];
    for (int d = 0; d < D; d++) mean[d] /= (double)n_train;
    for (long i = 0; i < n_train; i++)
        for (int d = 0; d < D; d++) {
            double centred = train[i * D + d] - mean[d];
            scale[d] += centred * centred;
        }
    for (int d = 0; d < D; d++) {
        double sd = sqrt(scale[d] / (double)n_train);
        scale[d] = sd > 0.0 ? 1.0 / sd : 1.0;
    }
    float *const sets[2] = {train, test};
    const long rows[2] = {n_train, n_test};
    for (int set = 0; set < 2; set++) {
        float *x = sets[set];
#pragma omp parallel for schedule(static)
        for (long i = 0; i < rows[set]; i++)
            for (int d = 0; d < D; d++) x[i * D + d] = (float)((x[i * D + d] - mean[d]) * scale[d]);
    }
    free(mean);
    free(scale);
}

// The problem and the solver's buffers (allocated once per fit).
typedef struct {
    const float *x;   // [n, D]
    const int *labels;
    long n;
    int D, C;
    double weight_decay;
    float *xt;        // [D, n]: x transposed, the right operand of the weight gradient
    float *logits;    // [n, C]
    float *gt;        // [C, n]: softmax − one-hot, transposed
    double *row_loss; // [n]
    float *wf, *bf;   // the parameters as fp32 for the products
    float *gw;        // [C, D]: gtᵀ's product with x
} Problem;

static long problem_params(const Problem *p) { return (long)p->C * p->D + p->C; }

// One row's softmax cross-entropy in double: its loss, and softmax − one-hot into gt's column.
static double row_crossentropy(const float *z, int y, int C, float *gt, long n, long i)
{
    double top = z[0], sum = 0.0;
    for (int c = 1; c < C; c++) top = fmax(top, z[c]);
    for (int c = 0; c < C; c++) sum += exp(z[c] - top);
    double lse = top + log(sum);
    if (gt)
        for (int c = 0; c < C; c++) gt[c * n + i] = (float)(exp(z[c] - lse) - (c == y));
    return lse - z[y];
}

// The objective at theta = [W (C·D, row-major), b (C)]; its gradient into grad.
static double objective(Problem *p, const double *theta, double *grad)
{
    long n = p->n, CD = (long)p->C * p->D;
    for (long j = 0; j < CD; j++) p->wf[j] = (float)theta[j];
    for (int c = 0; c < p->C; c++) p->bf[c] = (float)theta[CD + c];
    matmul_forward_fp32(p->logits, p->x, p->wf, p->bf, (int)n, p->D, p->C);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        p->row_loss[i] = row_crossentropy(p->logits + i * p->C, p->labels[i], p->C, p->gt, n, i);
    double loss = 0.0, penalty = 0.0;
    for (long i = 0; i < n; i++) loss += p->row_loss[i];
    for (long j = 0; j < CD; j++) penalty += theta[j] * theta[j];
    matmul_forward_fp32(p->gw, p->gt, p->xt, NULL, p->C, (int)n, p->D);
    for (long j = 0; j < CD; j++) grad[j] = p->gw[j] / (double)n + p->weight_decay * theta[j];
    for (int c = 0; c < p->C; c++) {
        double sum = 0.0;
        for (long i = 0; i < n; i++) sum += p->gt[c * n + i];
        grad[CD + c] = sum / (double)n;
    }
    return loss / (double)n + 0.5 * p->weight_decay * penalty;
}

static double dot(const double *a, const double *b, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

// The L-BFGS direction d = −H·g from the stored pairs, newest last (the two-loop recursion),
// H₀ = (s·y / y·y)·I of the newest pair, or 1/‖g‖ without one.
static void lbfgs_direction(double *d, const double *g, long P, double *const *s,
                            double *const *y, const double *rho, int pairs, int newest,
                            double *alpha)
{
    for (long i = 0; i < P; i++) d[i] = -g[i];
    for (int j = 0; j < pairs; j++) {
        int at = (newest - j + LINPROBE_HISTORY) % LINPROBE_HISTORY;
        alpha[at] = rho[at] * dot(s[at], d, P);
        for (long i = 0; i < P; i++) d[i] -= alpha[at] * y[at][i];
    }
    double gamma = pairs ? dot(s[newest], y[newest], P) / dot(y[newest], y[newest], P)
                         : 1.0 / sqrt(dot(g, g, P));
    for (long i = 0; i < P; i++) d[i] *= gamma;
    for (int j = pairs - 1; j >= 0; j--) {
        int at = (newest - j + LINPROBE_HISTORY) % LINPROBE_HISTORY;
        double beta = rho[at] * dot(y[at], d, P);
        for (long i = 0; i < P; i++) d[i] += (alpha[at] - beta) * s[at][i];
    }
}

enum { LINE_SEARCH_HALVINGS = 40 };
static const double ARMIJO = 1e-4;

// L-BFGS from theta; work holds (4 + 2·LINPROBE_HISTORY)·P doubles.
static void solve(Problem *p, const LinprobeConfig *cfg, double *theta, double *work,
                  LinprobeResult *result)
{
    long P = problem_params(p);
    double *g = work, *d = g + P, *trial = d + P, *trial_g = trial + P;
    double *s[LINPROBE_HISTORY], *y[LINPROBE_HISTORY], rho[LINPROBE_HISTORY], alpha[LINPROBE_HISTORY];
    for (int j = 0; j < LINPROBE_HISTORY; j++) {
        s[j] = trial_g + P + (long)2 * j * P;
        y[j] = s[j] + P;
    }
    int pairs = 0, newest = LINPROBE_HISTORY - 1;
    double f = objective(p, theta, g);
    *result = (LinprobeResult){.loss = f, .grad_norm = sqrt(dot(g, g, P))};
    while (result->iterations < cfg->max_iterations && max_abs(g, P) >= LINPROBE_TOLERANCE) {
        lbfgs_direction(d, g, P, s, y, rho, pairs, newest, alpha);
        double slope = dot(g, d, P);
        if (!(slope < 0.0)) { // not a descent direction: start the history again
            pairs = 0;
            lbfgs_direction(d, g, P, s, y, rho, 0, newest, alpha);
            slope = dot(g, d, P);
        }
        double t = 1.0, ft = 0.0;
        int accepted = 0;
        for (int h = 0; h <= LINE_SEARCH_HALVINGS && !accepted; h++, t *= 0.5) {
            for (long i = 0; i < P; i++) trial[i] = theta[i] + t * d[i];
            ft = objective(p, trial, trial_g);
            accepted = ft <= f + ARMIJO * t * slope;
        }
        if (!accepted) break; // no decrease left at fp32's resolution of the loss
        newest = (newest + 1) % LINPROBE_HISTORY;
        for (long i = 0; i < P; i++) {
            s[newest][i] = trial[i] - theta[i];
            y[newest][i] = trial_g[i] - g[i];
        }
        double sy = dot(s[newest], y[newest], P);
        if (sy > 1e-12 * dot(y[newest], y[newest], P)) {
            rho[newest] = 1.0 / sy;
            if (pairs < LINPROBE_HISTORY) pairs++;
        } else { // curvature not positive: the pair is dropped
            newest = (newest + LINPROBE_HISTORY - 1) % LINPROBE_HISTORY;
        }
        memcpy(theta, trial, sizeof(double) * P);
        memcpy(g, trial_g, sizeof(double) * P);
        f = ft;
        result->iterations++;
        result->loss = f;
        result->grad_norm = sqrt(dot(g, g, P));
        if (cfg->progress &&
            cfg->progress(cfg->ctx, result->iterations, result->loss, result->grad_norm)) {
            result->stopped = 1;
            break;
        }
    }
}

int linprobe_fit(const float *x, const int *labels, long n, int D, int classes,
                 const LinprobeConfig *cfg, float *weights, float *bias, LinprobeResult *result)
{
    Problem p = {.x = x, .labels = labels, .n = n, .D = D, .C = classes,
                 .weight_decay = cfg->weight_decay};
    long P = problem_params(&p), CD = (long)classes * D;
    p.xt = malloc(sizeof(float) * (size_t)n * D);
    p.logits = malloc(sizeof(float) * (size_t)n * classes);
    p.gt = malloc(sizeof(float) * (size_t)n * classes);
    p.row_loss = malloc(sizeof(double) * (size_t)n);
    p.wf = malloc(sizeof(float) * (size_t)CD);
    p.bf = malloc(sizeof(float) * (size_t)classes);
    p.gw = malloc(sizeof(float) * (size_t)CD);
    double *theta = calloc((size_t)P, sizeof(double));
    double *work = malloc(sizeof(double) * (size_t)P * (4 + 2 * LINPROBE_HISTORY));
    int rc = p.xt && p.logits && p.gt && p.row_loss && p.wf && p.bf && p.gw && theta && work ? 0 : -1;
    if (rc == 0) {
#pragma omp parallel for schedule(static)
        for (int d = 0; d < D; d++)
            for (long i = 0; i < n; i++) p.xt[(long)d * n + i] = x[i * D + d];
        solve(&p, cfg, theta, work, result);
        for (long j = 0; j < CD; j++) weights[j] = (float)theta[j];
        for (int c = 0; c < classes; c++) bias[c] = (float)theta[CD + c];
    }
    free(p.xt), free(p.logits), free(p.gt), free(p.row_loss), free(p.wf), free(p.bf), free(p.gw);
    free(theta), free(work);
    return rc;
}

double linprobe_evaluate(const float *x, const int *labels, long n, int D, int classes,
                         const float *weights, const float *bias, int *predictions)
{
    float *logits = malloc(sizeof(float) * (size_t)n * classes);
    double *row_loss = malloc(sizeof(double) * (size_t)n);
    if (!logits || !row_loss) {
        free(logits), free(row_loss);
        return -1.0;
    }
    matmul_forward_fp32(logits, x, weights, bias, (int)n, D, classes);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        const float *z = logits + i * classes;
        row_loss[i] = row_crossentropy(z, labels[i], classes, NULL, n, i);
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (z[c] > z[best]) best = c;
        predictions[i] = best;
    }
    double loss = 0.0;
    for (long i = 0; i < n; i++) loss += row_loss[i];
    free(logits);
    free(row_loss);
    return loss / (double)n;
}
