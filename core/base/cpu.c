// The processor probe; see cpu.h.
#include "base/cpu.h"

#include <cpuid.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

// Whether the kernel saves the AVX-512 registers (XCR0: SSE, AVX, opmask, both halves of the
// upper ZMM state), without which their instructions fault whatever CPUID says.
static int os_saves_avx512(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1)) return 0; // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xe6) == 0xe6;
}

static Bf16Engine probe_bf16_engine(void)
{
    unsigned a, b, c, d;
    if (!os_saves_avx512() || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) return BF16_ENGINE_NONE;
    int avx512f = b >> 16 & 1, avx512bw = b >> 30 & 1, amx_bf16 = d >> 22 & 1, amx_tile = d >> 24 & 1;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    int avx512_bf16 = a1 >> 5 & 1;
    if (!avx512f || !avx512bw || !avx512_bf16) return BF16_ENGINE_NONE;
    // Linux hands out the tiles' 8 KiB of register state only to processes that ask.
    if (amx_bf16 && amx_tile && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
        return BF16_ENGINE_AMX;
    return BF16_ENGINE_AVX512;
}

// Probed once per process: the answer cannot change, and the AMX request is a system call.
Bf16Engine cpu_bf16_engine(void)
{
    static _Atomic int probed = -1;
    int engine = probed;
    if (engine < 0) probed = engine = (int)probe_bf16_engine();
    return (Bf16Engine)engine;
}

const char *cpu_bf16_engine_name(Bf16Engine engine)
{
    return engine == BF16_ENGINE_AMX ? "amx" : engine == BF16_ENGINE_AVX512 ? "avx512-bf16" : "none";
}

int cpu_precision_available(Precision precision, char *err, size_t errlen)
{
    if (precision == PRECISION_BF16 && cpu_bf16_engine() == BF16_ENGINE_NONE) {
        snprintf(err, errlen, "bf16 needs a processor with AVX512-BF16 (AMD Zen 4 or later, Intel "
                              "Cooper Lake) or AMX-BF16 (Intel Xeon 4th generation or later); "
                              "this one has neither");
        return -1;
    }
    return 0;
}

int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

// The number a file of /sys holds (-1 if it cannot be read or holds none).
static double read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    double value = -1;
    if (f && fscanf(f, "%lf", &value) != 1) value = -1;
    if (f) fclose(f);
    return value;
}

int cpu_core_count(void)
{
    double seen[CPU_SETSIZE][2]; // the (package, core) of each core counted
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpu_count();
    int cores = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 cpu);
        double package = read_number(path);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        double core = read_number(path);
        if (package < 0 || core < 0) return cpu_count(); // no topology: every processor a core
        int known = 0;
        for (int i = 0; i < cores && !known; i++)
            known = seen[i][0] == package && seen[i][1] == core;
        if (known) continue;
        seen[cores][0] = package, seen[cores][1] = core;
        cores++;
    }
    return cores > 0 ? cores : cpu_count();
}

// A cgroup's memory limit from one of its files; 0 when absent or unlimited ("max" in v2).
static double cgroup_limit(const char *path)
{
    double limit = read_number(path);
    return limit > 0 ? limit : 0;
}

double machine_memory_bytes(void)
{
    double bytes = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    // cgroup v2, then v1 (whose "unlimited" is a huge number, above any machine's memory)
    static const char *const limits[] = {"/sys/fs/cgroup/memory.max",
                                         "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        double limit = cgroup_limit(limits[i]);
        if (limit > 0 && limit < bytes) bytes = limit;
    }
    return bytes;
}
