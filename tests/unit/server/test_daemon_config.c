// simmimd's configuration: defaults, the config file, SIMMIMD_TOKEN and flags in that order of
// precedence; /usr/share/datasets always a data root; bad keys and values refused with the
// line and the key named.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_config.h"
#include "test.h"

static char file_path[] = "/tmp/simmimd-config-XXXXXX";

static void write_config(const char *text)
{
    FILE *f = fopen(file_path, "w");
    if (!f || fputs(text, f) < 0) exit(2);
    fclose(f);
}

static int load(DaemonConfig *cfg, char *err, int argc, char **argv)
{
    return config_load(cfg, argc, argv, err, 512);
}

int main(void)
{
    char err[512];
    DaemonConfig cfg;
    int fd = mkstemp(file_path);
    if (fd < 0) return 2;
    close(fd);
    unsetenv("SIMMIMD_TOKEN");

    char *plain[] = {"simmimd"};
    int rc = load(&cfg, err, 1, plain);
    test_report(rc == 0 && strcmp(cfg.listen, "127.0.0.1:8080") == 0 && strcmp(cfg.state_dir, "./var") == 0 &&
                    cfg.max_jobs == 1 && cfg.token[0] == 0 && cfg.data_root_count == 1 &&
                    strcmp(cfg.data_roots[0], "/usr/share/datasets") == 0,
                "defaults", "%s on %s, %d root(s)", cfg.state_dir, cfg.listen, cfg.data_root_count);
    config_free(&cfg);

    write_config("# comment\n\nlisten = 0.0.0.0:9000\nstate-dir = /srv/simmimd\ndata-root = /srv/a\n"
                 "data-root=/srv/b\nmax-jobs = 2\ntoken = from-file\n");
    char *with_file[] = {"simmimd", "--config", file_path, "--max-jobs", "3"};
    rc = load(&cfg, err, 5, with_file);
    test_report(rc == 0 && strcmp(cfg.listen, "0.0.0.0:9000") == 0 && strcmp(cfg.state_dir, "/srv/simmimd") == 0 &&
                    cfg.max_jobs == 3 && strcmp(cfg.token, "from-file") == 0 && cfg.data_root_count == 3,
                "the file, then flags over it", "listen %s, max-jobs %d, %d roots", cfg.listen, cfg.max_jobs,
                cfg.data_root_count);
    config_free(&cfg);

    setenv("SIMMIMD_TOKEN", "from-env", 1);
    rc = load(&cfg, err, 3, (char *[]){"simmimd", "--config", file_path});
    test_report(rc == 0 && strcmp(cfg.token, "from-env") == 0, "SIMMIMD_TOKEN over the file", "%s", cfg.token);
    config_free(&cfg);
    rc = load(&cfg, err, 5, (char *[]){"simmimd", "--config", file_path, "--token", "from-flag"});
    test_report(rc == 0 && strcmp(cfg.token, "from-flag") == 0, "--token over SIMMIMD_TOKEN", "%s", cfg.token);
    config_free(&cfg);
    unsetenv("SIMMIMD_TOKEN");

    write_config("listen = 127.0.0.1:1\nmax_job = 2\n");
    rc = load(&cfg, err, 3, (char *[]){"simmimd", "--config", file_path});
    test_report(rc < 0 && strstr(err, "line 2"), "an unknown key in the file names its line", "%s", err);
    config_free(&cfg);
    write_config("max-jobs = many\n");
    rc = load(&cfg, err, 3, (char *[]){"simmimd", "--config", file_path});
    test_report(rc < 0 && strstr(err, "max-jobs"), "a bad value names its key", "%s", err);
    config_free(&cfg);
    rc = load(&cfg, err, 3, (char *[]){"simmimd", "--max-jobs", "0"});
    test_report(rc < 0 && strstr(err, "max-jobs"), "--max-jobs 0 is refused", "%s", err);
    config_free(&cfg);
    rc = load(&cfg, err, 2, (char *[]){"simmimd", "--frobnicate"});
    test_report(rc < 0 && strstr(err, "--frobnicate"), "an unknown flag is refused", "%s", err);
    config_free(&cfg);
    rc = load(&cfg, err, 3, (char *[]){"simmimd", "--config", "/nonexistent/simmimd.conf"});
    test_report(rc < 0 && strstr(err, "/nonexistent/simmimd.conf"), "a missing config file is named", "%s", err);
    config_free(&cfg);
    rc = load(&cfg, err, 2, (char *[]){"simmimd", "--help"});
    test_report(rc == 1 && strstr(err, "usage"), "--help prints the usage", "rc %d", rc);
    config_free(&cfg);
    unlink(file_path);
    TEST_EXIT();
}
