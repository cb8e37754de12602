// The processor probe; see cpu.h.
#include "base/cpu.h"

#include <cpuid.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int cpu_has_amx_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx512bw = b >> 30 & 1, amx_bf16 = d >> 22 & 1, amx_tile = d >> 24 & 1;
    if (!avx512bw || !amx_bf16 || !amx_tile || a < 1) return 0;
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    int avx512_bf16 = a >> 5 & 1;
    // Linux hands out the tiles' 8 KiB of register state only to processes that ask.
    return avx512_bf16 && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

int cpu_precision_available(Precision precision, char *err, size_t errlen)
{
    if (precision == PRECISION_BF16 && !cpu_has_amx_bf16()) {
        snprintf(err, errlen, "bf16 needs a processor with AMX-BF16 (Intel Xeon 4th generation or "
                              "later) and a kernel that grants it; this one has none");
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
