// Accuracy of the vectorizable exp and normal CDF (core/ops/vecmath.h) against libm in double:
// they replace expf and erff in GELU and softmax, so they must be as exact as float allows.
#include <math.h>

#include "test.h"
#include "ops/vecmath.h"

// x·Φ(x) through erfc, exact also where 1 + erf(x/√2) would cancel (x ≪ 0).
static double gelu_exact(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

int main(void)
{
    double worst_exp = 0.0, worst_gelu = 0.0, worst_cdf_abs = 0.0, worst_dgelu = 0.0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -87.0f + 175.0f * i / 2000000.0f;
        double rel = fabs(vec_expf(x) - exp((double)x)) / exp((double)x);
        worst_exp = rel > worst_exp ? rel : worst_exp;
    }
    for (int i = 0; i <= 2000000; i++) {
        float x = -12.0f + 24.0f * i / 2000000.0f;
        double ref = gelu_exact(x), cdf_ref = 0.5 * erfc(-x / sqrt(2.0));
        double got = x * vec_normal_cdf(x);
        // The float erf form (PyTorch's) is ~10% off at x = −5, where 1 + erf cancels, and 0
        // below; the erfc form holds a few 1e-6 there, 1e-4 at x = −12 (rounding of z² ≈ 72).
        double err = ref != 0.0 ? fabs(got - ref) / fabs(ref) : fabs(got);
        if (x < -5.0f) err *= 1e-2;
        worst_gelu = err > worst_gelu ? err : worst_gelu;
        double cdf_err = fabs(vec_normal_cdf(x) - cdf_ref);
        worst_cdf_abs = cdf_err > worst_cdf_abs ? cdf_err : worst_cdf_abs;
        double pdf = exp(-0.5 * (double)x * x) / sqrt(2.0 * M_PI);
        double d_ref = cdf_ref + x * pdf;
        double d_got = vec_gelu_derivative(x, x * vec_normal_cdf(x));
        double derr = fabs(d_got - d_ref);
        worst_dgelu = derr > worst_dgelu ? derr : worst_dgelu;
    }
    test_report(worst_exp < 3e-7, "vec_expf relative error over [-87, 88]", "%.3g", worst_exp);
    test_report(worst_gelu < 3e-6, "GELU relative error: 3e-6 over [-5, 12], 3e-4 below", "%.3g", worst_gelu);
    test_report(worst_cdf_abs < 3e-7, "normal CDF absolute error", "%.3g", worst_cdf_abs);
    test_report(worst_dgelu < 5e-7, "GELU derivative absolute error", "%.3g", worst_dgelu);
    TEST_EXIT();
}
