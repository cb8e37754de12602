// The launcher (server/launch.h) against what mpirun would do: more ranks than this host's
// cores refused at submission without a hostfile unless mpi-args lets mpirun oversubscribe; a
// hostfile's slots (slots=N, or a host listed once per slot) counted, and one mpirun would
// refuse refused; where mpirun's default mapping puts the ranks; and the memory check (spec.h)
// counting the ranks of each host rather than every rank on this one.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cpu.h"
#include "config/config.h"
#include "launch.h"
#include "spec/spec.h"
#include "test.h"

static char dir[] = "/tmp/test_launch.XXXXXX";
static char trainer[64], hostfile[64];
static Launcher launcher; // large: not on the stack

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) || chmod(path, mode)) exit(2);
}

// A launcher of a stand-in simmim-train built with MPI and an mpirun found, with this hostfile
// (NULL: none) and mpi-args.
static Launcher *launch(const char *hosts, const char *args)
{
    if (hosts) write_file(hostfile, hosts, 0644);
    LaunchConfig cfg = {.train_binary = trainer, .mpirun = "/bin/true",
                        .hostfile = hosts ? hostfile : NULL, .mpi_args = args};
    launcher_init(&launcher, &cfg);
    return &launcher;
}

// 1 if `ranks` ranks are accepted; else 0 with the message in err.
static int accepts(const Launcher *l, int ranks, char *err, size_t errlen)
{
    err[0] = 0;
    return launcher_check_ranks(l, ranks, err, errlen) == 0;
}

static double mb(double bytes) { return bytes / (1 << 20); }

int main(void)
{
    char err[1024];
    if (!mkdtemp(dir)) return 2;
    snprintf(trainer, sizeof trainer, "%s/simmim-train", dir);
    snprintf(hostfile, sizeof hostfile, "%s/hosts", dir);
    write_file(trainer, "#!/bin/sh\necho '{\"mpi\": \"Test MPI\"}'\n", 0755);
    int cores = cpu_core_count(), threads = cpu_count();
    test_report(cores >= 1 && cores <= threads, "this host's cores: at most its processors",
                "%d cores, %d processors", cores, threads);

    // --- no hostfile: every rank here, mpirun's slots are this host's cores -------------------
    Launcher *l = launch(NULL, "");
    int over = accepts(l, cores + 1, err, sizeof err);
    test_report(!over && strncmp(err, "train.ranks: ", 13) == 0 && strstr(err, "--oversubscribe") &&
                    strstr(err, "no mpi-hostfile"),
                "more ranks than this host's cores, no hostfile: refused, naming train.ranks",
                "%d ranks: %s", cores + 1, err);
    test_report(accepts(l, cores, err, sizeof err) && accepts(l, 1, err, sizeof err),
                "as many ranks as cores: accepted", "%d ranks %s", cores, err);
    static const char *const oversubscribing[] = {
        "--oversubscribe", "-oversubscribe", "--bind-to none --map-by core:OVERSUBSCRIBE",
        "--map-by=slot:PE=1,oversubscribe", "--mca rmaps_base_oversubscribe 1"};
    for (size_t i = 0; i < sizeof oversubscribing / sizeof *oversubscribing; i++) {
        l = launch(NULL, oversubscribing[i]);
        test_report(accepts(l, 4 * cores + 1, err, sizeof err),
                    "mpi-args that let mpirun oversubscribe: more ranks than cores accepted",
                    "\"%s\" %s", oversubscribing[i], err);
    }
    static const char *const not_oversubscribing[] = {
        "--nooversubscribe", "--map-by core:NOOVERSUBSCRIBE", "--mca btl_tcp_if_include eth1",
        "--mca rmaps_base_oversubscribe 0"};
    for (size_t i = 0; i < sizeof not_oversubscribing / sizeof *not_oversubscribing; i++) {
        l = launch(NULL, not_oversubscribing[i]);
        test_report(!accepts(l, cores + 1, err, sizeof err),
                    "mpi-args that do not: refused", "\"%s\": %s", not_oversubscribing[i], err);
    }
    l = launch(NULL, "--use-hwthread-cpus");
    test_report(accepts(l, threads, err, sizeof err) && !accepts(l, threads + 1, err, sizeof err),
                "--use-hwthread-cpus: the slots are the processors", "%d: %s", threads, err);

    // --- a hostfile ----------------------------------------------------------------------------
    l = launch("# this host first\nhere slots=2   # rank 0's\n\nthere slots=3 max_slots=4\n", "");
    test_report(accepts(l, 5, err, sizeof err) && !accepts(l, 6, err, sizeof err) &&
                    strstr(err, hostfile) && strstr(err, "5 slots"),
                "a hostfile's slots=N: as many ranks accepted, one more refused naming it",
                "%s", err);
    l = launch("here slots=1\nthere\n", "");
    test_report(accepts(l, 64, err, sizeof err),
                "another host's slots not given (its cores, unknown here): not refused", "%s", err);
    l = launch("here\nhere\nthere slots=1\n", "");
    test_report(l->hosts == 2 && l->slots[0] == 2 && accepts(l, 3, err, sizeof err) &&
                    !accepts(l, 4, err, sizeof err),
                "a host listed once per slot", "%d hosts, here %d slots: %s", l->hosts,
                l->slots[0], err);
    static const struct {
        const char *hosts, *says;
    } bad[] = {{"here slots=2\nhere slots=1\n", "line 2: the host is named again"},
               {"here\nhere slots=1\n", "line 2: the host is named again"},
               {"here slots=0\n", "line 1: slots="},
               {"here\nthere slots=two\n", "line 2: slots="},
               {"# nobody\n\n", "names no host"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        l = launch(bad[i].hosts, "");
        test_report(accepts(l, 1, err, sizeof err) && !accepts(l, 2, err, sizeof err) &&
                        strstr(err, bad[i].says),
                    "a hostfile mpirun would not take: ranks refused, saying why",
                    "%s", err);
    }
    LaunchConfig missing = {.train_binary = trainer, .mpirun = "/bin/true",
                            .hostfile = "/nonexistent/hosts"};
    launcher_init(&launcher, &missing);
    test_report(!accepts(&launcher, 2, err, sizeof err) && strstr(err, "cannot be read"),
                "a hostfile that cannot be read: ranks refused", "%s", err);

    // --- where the ranks run: by slot, rank 0 here ------------------------------------------
    static const struct {
        const char *hosts, *name;
        int ranks, here, elsewhere;
    } placed[] = {{NULL, "no hostfile", 4, 4, 0},
                  {"here slots=1\nthere slots=1\n", "1 + 1 slots", 2, 1, 1},
                  {"here slots=2\nthere slots=2\n", "2 + 2 slots", 3, 2, 1},
                  {"here slots=2\nthere slots=2\nyonder slots=2\n", "2 + 2 + 2 slots", 4, 2, 2},
                  // beyond every slot: one more per host in turn
                  {"here slots=2\nthere slots=2\n", "2 + 2 slots", 5, 3, 2},
                  {"here slots=2\nthere slots=2\n", "2 + 2 slots", 6, 3, 3}};
    for (size_t i = 0; i < sizeof placed / sizeof *placed; i++) {
        l = launch(placed[i].hosts, "--oversubscribe");
        RankHosts h = launcher_rank_hosts(placed[i].ranks, l);
        test_report(h.here == placed[i].here && h.rank0_here && h.elsewhere == placed[i].elsewhere,
                    "ranks placed as mpirun maps them by slot", "%d ranks on %s: here %d, "
                    "elsewhere at most %d", placed[i].ranks, placed[i].name, h.here, h.elsewhere);
    }

    // --- the memory check counts each host's ranks ------------------------------------------
    // fmnist-q at batch 256 on 1 thread a rank: rank 0 holds the whole batch, each other rank
    // its share; a limit between one host's need (rank 0 alone) and both ranks' on this host.
    ModelConfig m;
    JobSpec s;
    SpecError se;
    const char *two = "{\"train\": {\"ranks\": 2, \"threads\": 1, \"max_memory_mb\": %d}}";
    char text[256];
    if (spec_parse("{}", 2, &s, &se)) return 2;
    m = s.model;
    MemoryEstimate whole = model_memory_estimate(&m, 256, 1);
    MemoryEstimate half = model_memory_estimate(&m, 128, 1);
    int limit = (int)ceil(mb(memory_estimate_total(&whole) + memory_estimate_total(&half) / 2));
    snprintf(text, sizeof text, two, limit);
    int all_here = spec_parse(text, strlen(text), &s, &se);
    test_report(all_here == -1 && strcmp(se.field, "train.max_memory_mb") == 0 &&
                    strstr(se.message, "on this host (2 of its 2 ranks)"),
                "2 ranks on this host (no hostfile): both counted here", "limit %d MB: %s", limit,
                all_here ? se.message : "accepted");
    l = launch("here slots=1\nthere slots=1\n", "");
    RankPlacement placement = {launcher_rank_hosts, l};
    spec_set_rank_placement(&placement);
    int spread = spec_parse(text, strlen(text), &s, &se);
    test_report(spread == 0, "2 ranks a hostfile spreads over 2 hosts: each host's counted",
                "limit %d MB: %s", limit, spread ? se.message : "accepted");
    // the busiest host is the one named: 7 ranks on another host can need more than rank 0
    l = launch("here slots=1\nthere slots=7\n", "");
    MemoryEstimate eighth = model_memory_estimate(&m, 32, 1);
    double here = memory_estimate_total(&whole), there = 7 * memory_estimate_total(&eighth);
    limit = (int)floor(mb(here < there ? here : there)) - 1;
    snprintf(text, sizeof text,
             "{\"train\": {\"ranks\": 8, \"threads\": 1, \"max_memory_mb\": %d}}", limit);
    int eight = spec_parse(text, strlen(text), &s, &se);
    const char *busiest = here >= there ? "on this host (1 of its 8 ranks)"
                                        : "on another host (7 of its 8 ranks)";
    test_report(eight == -1 && strstr(se.message, busiest), "the busiest host is the one counted",
                "here %.0f MB, there %.0f MB: %s", mb(here), mb(there),
                eight ? se.message : "accepted");
    spec_set_rank_placement(NULL);
    RankHosts alone = spec_rank_hosts(3);
    test_report(alone.here == 3 && alone.rank0_here && alone.elsewhere == 0,
                "no placement set: every rank here", "here %d", alone.here);

    unlink(trainer), unlink(hostfile), rmdir(dir);
    TEST_EXIT();
}
