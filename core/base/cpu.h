// What this machine can run: the arithmetic of the matrix products (Precision) and the
// probe for the instructions bf16 needs, its processors and its memory. The kernels
// (ops/) run a precision; the spec names one, and the daemon refuses at submission one this
// machine cannot run or a job larger than its memory — so the probes live here, below both.
#ifndef SIMMIM_CPU_H
#define SIMMIM_CPU_H

#include <stddef.h>

// The arithmetic of the matrix products: fp32 throughout, or bf16 operands (rounded to
// nearest even) with fp32 accumulation, as PyTorch's autocast does; everything else (and
// the parameters, gradients and optimizer state) stays fp32.
typedef enum { PRECISION_FP32, PRECISION_BF16 } Precision;

// How this processor multiplies bf16 operands: not at all; with AVX512-BF16 dot products
// (AMD Zen 4 and later, Intel Cooper Lake); or on AMX-BF16 tiles (Intel Xeon 4th generation
// and later) when the kernel lets this process use them — about twice the former's rate.
typedef enum { BF16_ENGINE_NONE, BF16_ENGINE_AVX512, BF16_ENGINE_AMX } Bf16Engine;
Bf16Engine cpu_bf16_engine(void);
const char *cpu_bf16_engine_name(Bf16Engine engine); // "none", "avx512-bf16", "amx"

// Whether this processor can run the precision: 0, or -1 with err filled (bf16 needs an
// engine).
int cpu_precision_available(Precision precision, char *err, size_t errlen);

// The processors this process may run on (its affinity mask, as OpenMP's omp_get_num_procs,
// which sizes train.threads 0); at least 1.
int cpu_count(void);

// The physical cores among those processors (their hardware threads counted once): what
// mpirun counts as this host's slots. cpu_count() where the topology cannot be read.
int cpu_core_count(void);

// Physical memory in bytes, or the cgroup's limit when a container sets a lower one.
double machine_memory_bytes(void);

#endif
