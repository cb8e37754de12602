// What this machine can run: the arithmetic of the matrix products (Precision) and the
// probe for the Intel AMX tiles that bf16 needs, its processors and its memory. The kernels
// (ops/) run a precision; the spec names one, and the daemon refuses at submission one this
// machine cannot run or a job larger than its memory — so the probes live here, below both.
#ifndef SIMMIM_CPU_H
#define SIMMIM_CPU_H

#include <stddef.h>

// The arithmetic of the matrix products: fp32 throughout, or bf16 operands (rounded to
// nearest even) with fp32 accumulation, as PyTorch's autocast does; everything else (and
// the parameters, gradients and optimizer state) stays fp32.
typedef enum { PRECISION_FP32, PRECISION_BF16 } Precision;

// 1 if this processor runs AMX-BF16 and the kernel lets this process use its tiles.
int cpu_has_amx_bf16(void);

// Whether this processor can run the precision: 0, or -1 with err filled (bf16 needs
// AMX-BF16).
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
