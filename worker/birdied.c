/* worker/birdied.c: main of birdied. Parses flags and the config, picks the backend, and runs the
 * training (or the `prep` subcommand). The only place that exits; everything below returns errors.
 *
 * Exit codes: 0 done; 2 usage or configuration error; 3 data error (missing or corrupt shard,
 * empty source); 4 training stopped on a non-finite loss or gradient; 5 no usable backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "worker/config.h"
#include "worker/data/prep.h"
#include "worker/train.h"

enum { EXIT_USAGE = 2, EXIT_DATA = 3, EXIT_DIVERGED = 4, EXIT_BACKEND = 5 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: birdied [--config FILE] [--section.key=value ...] [--backend auto|cpu|cuda]\n"
            "       birdied prep [--out DIR] [--shard-tokens N] [--val-fraction F] FILE...\n"
            "       birdied --print-config [...]   print the effective configuration and exit\n"
            "\n"
            "Trains a Gated SSM language model (the Birdie procedure). The configuration is an INI file;\n"
            "every key can be overridden on the command line as --section.key=value (later wins).\n"
            "Unknown keys and bad values are errors.\n"
            "\n"
            "exit codes: 0 done, 2 usage/config error, 3 data error, 4 non-finite loss or gradient,\n"
            "            5 no usable backend\n"
            "\n"
            "configuration keys:\n");
    birdie_config_print_help(out);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "prep") == 0)
        return birdie_prep_main(argc - 1, argv + 1);

    birdie_config cfg;
    birdie_config_defaults(&cfg);
    char err[512];
    int print_config = 0;
    /* The file first, then overrides in order, whatever their position on the line. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0) {
            const char *path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!path) {
                fprintf(stderr, "birdied: --config needs a file\n");
                return EXIT_USAGE;
            }
            if (birdie_config_load_file(&cfg, path, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--print-config") == 0) {
            print_config = 1;
        } else if (strcmp(a, "--backend") == 0 || strncmp(a, "--backend=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : "");
            char assignment[64];
            snprintf(assignment, sizeof assignment, "run.backend=%s", v);
            if (birdie_config_set(&cfg, assignment, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
            if (birdie_config_set(&cfg, a + 2, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "birdied: unknown argument '%s' (see birdied --help)\n", a);
            return EXIT_USAGE;
        }
    }
    if (birdie_config_validate(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "birdied: %s\n", err);
        return EXIT_USAGE;
    }
    if (print_config) {
        birdie_config_print(&cfg, stdout);
        return 0;
    }

    const birdie_ops *ops;
    char note[256];
    if (birdie_backend_choose(cfg.backend, &birdie_ops_cpu, &ops, note, sizeof note, err, sizeof err) < 0) {
        fprintf(stderr, "birdied: backend: %s\n", err);
        return EXIT_BACKEND;
    }
    printf("birdied: %s\n", note);

    birdie_train_report rep = {0};
    int rc = birdie_train(&cfg, ops, stdout, &rep, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "birdied: %s\n", err);
        return rc == -ERANGE ? EXIT_DIVERGED : EXIT_DATA;
    }
    printf("done: %ld steps | val loss %.4f -> %.4f | %.0f tok/s\n", rep.steps_done, rep.first_val_loss,
           rep.last_val_loss, rep.tokens_per_s);
    return 0;
}
