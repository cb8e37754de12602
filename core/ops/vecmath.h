// Branch-free exp and normal CDF that the compiler vectorizes (glibc's expf and erff are
// scalar calls, and GELU and softmax spent a fifth of a training step in them). Accuracy:
// exp within 2 ulp over the float range (inputs below −87 return ~1e-38, not 0, harmless
// where it is used: softmax terms and Gaussian densities); normal_cdf within 2e-7 relative
// for x ≤ 0 and 2e-7 absolute above — the rounding level of float GELU.
#ifndef SIMMIM_VECMATH_H
#define SIMMIM_VECMATH_H

#include <stdint.h>
#include <string.h>

static inline float vec_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    // e^x = 2^n · e^r with n = round(x / ln 2), |r| ≤ ln2 / 2; ln 2 split for exact n·ln2_hi.
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer (roundevenf does not vectorize).
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-6f;
    float p = 1.0f / 5040 + r * (1.0f / 40320);
    p = 1.0f / 720 + r * p;
    p = 1.0f / 120 + r * p;
    p = 1.0f / 24 + r * p;
    p = 1.0f / 6 + r * p;
    p = 0.5f + r * p;
    p = 1.0f + r * p;
    p = 1.0f + r * p;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// Φ(x) = ½·erfc(−x/√2), with erfc from the Chebyshev fit of Numerical Recipes (§6.2,
// fractional error < 1.2e-7 everywhere).
static inline float vec_normal_cdf(float x)
{
    float z = x * -0.70710678118654752f, az = z < 0.0f ? -z : z;
    float t = 1.0f / (1.0f + 0.5f * az);
    float poly = 0.17087277f;
    poly = -0.82215223f + t * poly;
    poly = 1.48851587f + t * poly;
    poly = -1.13520398f + t * poly;
    poly = 0.27886807f + t * poly;
    poly = -0.18628806f + t * poly;
    poly = 0.09678418f + t * poly;
    poly = 0.37409196f + t * poly;
    poly = 1.00002368f + t * poly;
    poly = -1.26551223f + t * poly;
    float erfc_abs = t * vec_expf(-az * az + poly); // erfc(|z|)
    float erfc_z = z >= 0.0f ? erfc_abs : 2.0f - erfc_abs;
    return 0.5f * erfc_z;
}

// GELU'(x) = Φ(x) + x·φ(x), given gelu = x·Φ(x) from the forward pass: Φ as gelu / x costs
// one division where recomputing it costs a division, an exp and ten FMAs (Φ(0) = ½ is taken
// where x is too small to divide by).
static inline float vec_gelu_derivative(float x, float gelu)
{
    float cdf = x > 1e-20f || x < -1e-20f ? gelu / x : 0.5f;
    return cdf + x * 0.3989422804014327f * vec_expf(-0.5f * x * x);
}

#endif
