// Representation probes on frozen features (docs/job-spec.md, eval.knn and linprobe): DINO's
// weighted k-nearest-neighbour classifier, and a linear classifier (multinomial logistic
// regression solved by L-BFGS). Features are rows of D floats; labels are class indices.
// Results do not depend on the thread count.
#ifndef SIMMIM_PROBE_H
#define SIMMIM_PROBE_H

#include <stddef.h>

// x [n, D]: each row divided by max(‖row‖₂, 1e-12) (torch.nn.functional.normalize's).
void probe_l2_normalize(float *x, long n, int D);

// The k-NN classifier's buffers, sized once: the bank of labelled features and the
// similarities and votes of up to max_queries queries at a time.
typedef struct {
    int bank_count, dim, k, classes, max_queries;
    float *bank;       // [bank_count, dim]: filled by the caller, then probe_l2_normalize'd
    int *bank_labels;  // [bank_count] in [0, classes)
    float *sims;       // [max_queries, bank_count]
    int *neighbours;   // [max_queries, k] bank indices, most similar first
    double *votes;     // [max_queries, classes]
} Knn;

// k is clamped to bank_count. 0, or -1 when out of memory (nothing to free).
int knn_create(Knn *knn, int bank_count, int dim, int k, int classes, int max_queries);
void knn_free(Knn *knn);

// queries [n, dim] (n ≤ max_queries), L2-normalized → predictions [n]: each query's k bank rows
// of highest cosine similarity (ties: the lower bank index), each adding
// exp(similarity / temperature) to its label's vote (in double, most similar first); the
// class with the most votes (ties: the lower class). Similarities are fp32 products.
void knn_predict(Knn *knn, const float *queries, int n, double temperature, int *predictions);

// The linear probe. Standardizes train [n_train, D] and test [n_test, D] in place with the
// training rows' per-dimension mean and standard deviation (population; a dimension without
// spread is only centred), all in double in row order.
void probe_standardize(float *train, long n_train, float *test, long n_test, int D);

typedef struct {
    double weight_decay; // λ of (λ/2)·‖W‖²
    int max_iterations;
    // Called after each iteration (NULL: not called): its number (from 1), the objective and
    // the gradient's Euclidean norm. A nonzero return stops the solver there.
    int (*progress)(void *ctx, int iteration, double loss, double grad_norm);
    void *ctx;
} LinprobeConfig;

typedef struct {
    int iterations;   // done
    int stopped;      // progress asked to stop
    double loss;      // the objective at the end
    double grad_norm; // its gradient's norm there
} LinprobeResult;

// Multinomial logistic regression on x [n, D] with labels [n] in [0, classes): minimizes
// (1/n) Σ −log softmax(W xᵢ + b)_{yᵢ} + (λ/2)‖W‖² over W [classes, D] and b [classes] from
// zeros by L-BFGS (LINPROBE_HISTORY pairs, backtracking Armijo line search) until the
// gradient's largest component is below LINPROBE_TOLERANCE, the line search finds no
// decrease, or max_iterations. Writes weights [classes, D] and bias [classes]. 0, or -1 when
// out of memory.
enum { LINPROBE_HISTORY = 10 };
#define LINPROBE_TOLERANCE 1e-5
int linprobe_fit(const float *x, const int *labels, long n, int D, int classes,
                 const LinprobeConfig *cfg, float *weights, float *bias, LinprobeResult *result);

// The classifier on x [n, D]: predictions [n] (argmax of W x + b, ties the lower class) and
// the mean cross-entropy against labels, returned. -1 (and no predictions) when out of memory.
double linprobe_evaluate(const float *x, const int *labels, long n, int D, int classes,
                         const float *weights, const float *bias, int *predictions);

#endif
