// The bf16 matrix products (precision bf16, core/ops/matmul_bf16.c) against products computed here
// in double from the same operands rounded to bf16: they must agree to fp32 accumulation's
// rounding, so a wrong packing, padding or tile edge shows as an error of order 1, not 1e-3.
// Shapes are ragged (no dimension a multiple of the 32-wide blocks, odd reductions, several
// row parts in the weight gradient) and the results must not depend on the thread count.
// Each engine the processor has runs them (AVX512-BF16 on an AMX processor too); on a processor
// with neither the one thing to check is that bf16 is refused clearly.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ops/matmul_bf16.h"
#include "ops/ops.h"
#include "test.h"

static float to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0x7fffu + (u >> 16 & 1)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float *random_matrix(Rng *rng, long n)
{
    float *x = malloc(sizeof(float) * n);
    if (!x) exit(2);
    for (long i = 0; i < n; i++) x[i] = (float)rng_normal(rng);
    return x;
}

// The largest |got − want| / (Σ|terms| + 1e-30) over the elements, where want[i] = base[i] +
// Σ_k a(i, k)·b(i, k) in double from bf16-rounded operands; a(i,k) = A[ai(i) + k·as], same for b.
typedef struct {
    const float *A, *B;
    long a_row, a_step, b_col, b_step; // element i = (r, c): A[r·a_row + k·a_step], B[c·b_col + k·b_step]
} Product;

static double worst_error(const float *got, const float *base, Product p, int rows, int cols, int reduction)
{
    double worst = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double sum = base ? base[(long)r * cols + c] : 0, scale = fabs(sum);
            for (int k = 0; k < reduction; k++) {
                double t = (double)to_bf16(p.A[r * p.a_row + k * p.a_step]) * to_bf16(p.B[c * p.b_col + k * p.b_step]);
                sum += t, scale += fabs(t);
            }
            double e = fabs(got[(long)r * cols + c] - sum) / (scale + 1e-30);
            worst = e > worst ? e : worst;
        }
    return worst;
}

typedef struct {
    float *out, *dinp, *dweight, *dbias;
} Results;

static Results run(int threads, const float *inp, const float *weight, const float *bias,
                   const float *dout, const float *dweight0, int M, int K, int N)
{
    ops_set_threads(threads);
    Results r = {malloc(sizeof(float) * M * N), malloc(sizeof(float) * M * K), malloc(sizeof(float) * N * K),
                 calloc(N, sizeof(float))};
    float *scratch = malloc(sizeof(float) * (matmul_backward_scratch_floats(M, K, N) + 1));
    if (!r.out || !r.dinp || !r.dweight || !r.dbias || !scratch || matmul_reserve(K, N)) exit(2);
    memcpy(r.dweight, dweight0, sizeof(float) * N * K);
    matmul_forward(r.out, inp, weight, bias, M, K, N);
    matmul_backward(r.dinp, r.dweight, r.dbias, scratch, dout, inp, weight, M, K, N);
    free(scratch);
    return r;
}

static int same(const Results *a, const Results *b, int M, int K, int N)
{
    return !memcmp(a->out, b->out, sizeof(float) * M * N) && !memcmp(a->dinp, b->dinp, sizeof(float) * M * K) &&
           !memcmp(a->dweight, b->dweight, sizeof(float) * N * K) && !memcmp(a->dbias, b->dbias, sizeof(float) * N);
}

static void free_results(Results *r) { free(r->out), free(r->dinp), free(r->dweight), free(r->dbias); }

static void check_product_shape(int M, int K, int N, int with_bias)
{
    Rng rng;
    rng_seed(&rng, (uint64_t)M * 1000003 + K * 1009 + N);
    float *inp = random_matrix(&rng, (long)M * K), *weight = random_matrix(&rng, (long)N * K);
    float *bias = random_matrix(&rng, N), *dout = random_matrix(&rng, (long)M * N);
    float *dweight0 = random_matrix(&rng, (long)N * K), *bias_rows = malloc(sizeof(float) * M * N);
    if (!bias_rows) exit(2);
    for (long i = 0; i < (long)M * N; i++) bias_rows[i] = bias[i % N];
    Results r = run(2, inp, weight, with_bias ? bias : NULL, dout, dweight0, M, K, N);

    // out[m,n] = Σ_k inp[m,k]·weight[n,k]; dinp[m,k] = Σ_n dout[m,n]·weight[n,k];
    // dweight[n,k] = dweight0 + Σ_m dout[m,n]·inp[m,k].
    double e_out = worst_error(r.out, with_bias ? bias_rows : NULL, (Product){inp, weight, K, 1, K, 1}, M, N, K);
    double e_dinp = worst_error(r.dinp, NULL, (Product){dout, weight, N, 1, 1, K}, M, K, N);
    double e_dw = worst_error(r.dweight, dweight0, (Product){dout, inp, 1, N, 1, K}, N, K, M);
    double e_db = 0;
    for (int n = 0; n < N; n++) {
        double sum = 0, scale = 0;
        for (int m = 0; m < M; m++) sum += dout[(long)m * N + n], scale += fabs(dout[(long)m * N + n]);
        e_db = fmax(e_db, fabs(r.dbias[n] - sum) / scale);
    }
    // fp32 accumulation over a reduction of R terms: a relative error of a few R·2^-24 at most.
    double limit = 1e-5;
    char name[96];
    const char *engine = cpu_bf16_engine_name(bf16_engine());
    snprintf(name, sizeof name, "bf16 products (%s) %dx%dx%d%s", engine, M, K, N, with_bias ? " with bias" : "");
    test_report(e_out < limit && e_dinp < limit && e_dw < limit && e_db < limit, name,
                "worst relative error: out %.1e, dinp %.1e, dweight %.1e, dbias %.1e (limit %.0e)", e_out,
                e_dinp, e_dw, e_db, limit);

    int alike = 1;
    for (int threads = 1; threads <= 3; threads += 2) {
        Results t = run(threads, inp, weight, with_bias ? bias : NULL, dout, dweight0, M, K, N);
        alike &= same(&r, &t, M, K, N);
        free_results(&t);
    }
    snprintf(name, sizeof name, "bf16 products (%s) %dx%dx%d: same on 1, 2, 3 threads", engine, M, K, N);
    test_report(alike, name, "");
    free_results(&r);
    free(inp), free(weight), free(bias), free(dout), free(dweight0), free(bias_rows);
}

// Rounding: a value halfway between two bf16 numbers goes to the even one, as PyTorch's does;
// a product of exactly representable operands is exact.
static void check_rounding(void)
{
    float halfway_down = 1.0f + 0x1p-8f;           // between 1 and 1 + 2^-7: even is 1
    float halfway_up = 1.0f + 3 * 0x1p-8f;         // between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6
    float inp[2] = {halfway_down, halfway_up}, weight[1] = {1.0f}, out[2];
    if (matmul_reserve(1, 1)) exit(2);
    matmul_forward(out, inp, weight, NULL, 2, 1, 1);
    char name[64];
    snprintf(name, sizeof name, "bf16 rounding to nearest even (%s)", cpu_bf16_engine_name(bf16_engine()));
    test_report(out[0] == 1.0f && out[1] == 1.0f + 0x1p-6f, name, "%.9g %.9g", out[0], out[1]);
}

static void check_engine(void)
{
    check_rounding();
    check_product_shape(37, 20, 45, 1); // smaller than a block in every dimension but N
    check_product_shape(70, 64, 32, 0); // whole blocks in K and N, ragged M
    // odd reduction; the weight gradient in 2 row parts of ragged chunks
    check_product_shape(2100, 17, 100, 1);
    check_product_shape(1030, 96, 10, 0); // a classifier-like head: N under a tile's 16 columns
    check_product_shape(45, 300, 77, 1);  // a long reduction, ragged row groups of 8 and columns
}

int main(void)
{
    char err[256];
    if (ops_set_precision(PRECISION_BF16, err, sizeof err)) {
        test_report(strstr(err, "AVX512-BF16") != NULL && strstr(err, "AMX-BF16") != NULL,
                    "bf16 refused on a processor without AVX512-BF16 or AMX-BF16", "%s", err);
        printf("# this processor has neither AVX512-BF16 nor AMX-BF16: the bf16 products are not run here\n");
        TEST_EXIT();
    }
    check_engine();
    if (bf16_engine() == BF16_ENGINE_AMX) {
        bf16_use_engine(BF16_ENGINE_AVX512);
        check_engine();
    } else {
        printf("# this processor has no AMX-BF16: the AMX engine is not run here\n");
    }
    ops_set_precision(PRECISION_FP32, err, sizeof err);
    TEST_EXIT();
}
