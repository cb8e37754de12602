// Configuration loading; see daemon_config.h. One table of options serves the config file and the
// command line, so both accept exactly the same keys.
#include "daemon_config.h"

#include "studies.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const USAGE =
    "usage: simmimd [--config FILE] [--listen HOST:PORT] [--state-dir DIR] [--data-root DIR]...\n"
    "               [--max-jobs N] [--token TOKEN] [--train-binary PATH] [--data-binary PATH]\n"
    "               [--web-dir DIR] [--connections-per-ip N] [--max-restarts N] [--max-scans N]\n"
    "               [--max-cells N] [--mpirun PATH] [--mpi-hostfile FILE] [--mpi-args ARGS]\n"
    "               [--rank-timeout S]\n"
    "The token may also come from SIMMIMD_TOKEN; /usr/share/datasets is always a data root.";

typedef enum { OPT_STRING, OPT_INT, OPT_ROOT } OptionType;

typedef struct {
    const char *key; // "listen" in a file, "--listen" on the command line
    OptionType type;
    size_t offset;   // of the field in DaemonConfig
    size_t size;     // of a string field
    long min, max;   // of an integer
} Option;

#define STRING_OPTION(key, field) {key, OPT_STRING, offsetof(DaemonConfig, field), sizeof(((DaemonConfig *)0)->field), 0, 0}
#define INT_OPTION(key, field, lo, hi) {key, OPT_INT, offsetof(DaemonConfig, field), 0, lo, hi}
static const Option OPTIONS[] = {
    STRING_OPTION("listen", listen),
    STRING_OPTION("state-dir", state_dir),
    {"data-root", OPT_ROOT, 0, 0, 0, 0},
    INT_OPTION("max-jobs", max_jobs, 1, 64),
    STRING_OPTION("token", token),
    STRING_OPTION("train-binary", train_binary),
    STRING_OPTION("data-binary", data_binary),
    STRING_OPTION("web-dir", web_dir),
    INT_OPTION("connections-per-ip", connections_per_ip, 1, 100000),
    INT_OPTION("max-restarts", max_restarts, 0, 100),
    INT_OPTION("max-scans", max_scans, 1, 16),
    INT_OPTION("max-cells", max_cells, 1, 100000),
    STRING_OPTION("mpirun", mpirun),
    STRING_OPTION("mpi-hostfile", mpi_hostfile),
    STRING_OPTION("mpi-args", mpi_args),
    INT_OPTION("rank-timeout", rank_timeout, 0, 604800),
};
#undef STRING_OPTION
#undef INT_OPTION

static const Option *find_option(const char *key)
{
    for (size_t i = 0; i < sizeof OPTIONS / sizeof *OPTIONS; i++)
        if (strcmp(OPTIONS[i].key, key) == 0) return &OPTIONS[i];
    return NULL;
}

static int add_data_root(DaemonConfig *cfg, const char *dir, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->data_root_count; i++)
        if (strcmp(cfg->data_roots[i], dir) == 0) return 0;
    if (cfg->data_root_count == MAX_DATA_ROOTS) {
        snprintf(err, errlen, "data-root: at most %d data roots", MAX_DATA_ROOTS);
        return -1;
    }
    cfg->data_roots[cfg->data_root_count] = strdup(dir);
    if (!cfg->data_roots[cfg->data_root_count]) return -1;
    cfg->data_root_count++;
    return 0;
}

static int set_option(DaemonConfig *cfg, const Option *opt, const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + opt->offset;
    if (opt->type == OPT_ROOT) return add_data_root(cfg, value, err, errlen);
    if (opt->type == OPT_INT) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || *end || end == value || v < opt->min || v > opt->max) {
            snprintf(err, errlen, "%s: expected an integer from %ld to %ld (got '%s')", opt->key,
                     opt->min, opt->max, value);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    if (strlen(value) >= opt->size) {
        snprintf(err, errlen, "%s: value too long", opt->key);
        return -1;
    }
    strcpy(field, value);
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) *--end = 0;
    return s;
}

static int load_file(DaemonConfig *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return -1;
    }
    char line[8192];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == 0 || *s == '#') continue;
        char *eq = strchr(s, '=');
        const Option *opt = NULL;
        if (eq) {
            *eq = 0;
            opt = find_option(trim(s));
        }
        if (!opt) {
            char keys[256] = "";
            for (size_t i = 0, n = 0; i < sizeof OPTIONS / sizeof *OPTIONS && n < sizeof keys; i++)
                n += (size_t)snprintf(keys + n, sizeof keys - n, "%s%s", i ? ", " : "",
                                      OPTIONS[i].key);
            snprintf(err, errlen, "config %s line %d: expected one of %s = VALUE", path, lineno,
                     keys);
            rc = -1;
        } else {
            char msg[512];
            if (set_option(cfg, opt, trim(eq + 1), msg, sizeof msg)) {
                snprintf(err, errlen, "config %s line %d: %s", path, lineno, msg);
                rc = -1;
            }
        }
    }
    fclose(f);
    return rc;
}

// The directory holding this executable, for the default train binary and web dir.
static void exe_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    snprintf(out, len, "%s", n > 0 ? dirname(exe) : ".");
}

static void apply_defaults(DaemonConfig *cfg)
{
    char dir[PATH_MAX - 64];
    exe_dir(dir, sizeof dir);
    if (!cfg->train_binary[0]) snprintf(cfg->train_binary, sizeof cfg->train_binary, "%s/simmim-train", dir);
    if (!cfg->data_binary[0]) snprintf(cfg->data_binary, sizeof cfg->data_binary, "%s/simmim-data", dir);
    if (!cfg->web_dir[0]) {
        snprintf(cfg->web_dir, sizeof cfg->web_dir, "%s/../web", dir);
        if (access(cfg->web_dir, R_OK) != 0)
            snprintf(cfg->web_dir, sizeof cfg->web_dir, "/usr/share/simmimd/web");
    }
}

int config_load(DaemonConfig *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:8080");
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "./var");
    cfg->max_jobs = 1;
    cfg->connections_per_ip = 64;
    cfg->max_restarts = 3;
    cfg->max_scans = 2;
    cfg->max_cells = STUDY_DEFAULT_MAX_CELLS;
    snprintf(cfg->mpirun, sizeof cfg->mpirun, "mpirun");
    for (int i = 1; i + 1 < argc; i++) // the file first, so flags override it
        if (strcmp(argv[i], "--config") == 0 && load_file(cfg, argv[i + 1], err, errlen)) return -1;
    const char *env_token = getenv("SIMMIMD_TOKEN");
    if (env_token && *env_token && set_option(cfg, find_option("token"), env_token, err, errlen)) return -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            snprintf(err, errlen, "%s", USAGE);
            return 1;
        }
        const Option *opt = strncmp(arg, "--", 2) == 0 ? find_option(arg + 2) : NULL;
        int is_config = strcmp(arg, "--config") == 0;
        if ((!opt && !is_config) || i + 1 >= argc) {
            snprintf(err, errlen, "unknown or incomplete option '%s'\n%s", arg, USAGE);
            return -1;
        }
        i++;
        if (!is_config && set_option(cfg, opt, argv[i], err, errlen)) return -1;
    }
    if (add_data_root(cfg, "/usr/share/datasets", err, errlen)) return -1;
    apply_defaults(cfg);
    return 0;
}

void config_free(DaemonConfig *cfg)
{
    for (int i = 0; i < cfg->data_root_count; i++) free(cfg->data_roots[i]);
    cfg->data_root_count = 0;
}
