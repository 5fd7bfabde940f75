/* tests/fuzz/fuzz_config.c: the run configuration parser (worker/config.c) on arbitrary text, the
 * way birdied reads it: the INI file first, then --section.key=value overrides, then the checks
 * between keys. Input lines that start with "--" are overrides; the other lines are the file.
 *
 * Beyond "no crash, no leak, no undefined behaviour": a configuration that parsed is written beside
 * every checkpoint as config.ini (birdie_run_config_write) and read back by `birdied eval` and
 * `birdied generate`, which compare its hash with the checkpoint's; so printing it, reading the print
 * and printing again must give the same text. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "worker/config.h"

#define MAX_OVERRIDES 16

/* The configuration as birdie_config_print writes it, malloc'ed. */
static char *printed(const birdie_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    birdie_config_print(cfg, f);
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char ini_path[600], again_path[600];
    if (!ini_path[0]) {
        fuzz_path(ini_path, sizeof ini_path, "run.ini");
        fuzz_path(again_path, sizeof again_path, "config.ini");
    }
    char *text = malloc(size + 1), *file = malloc(size + 1);
    if (!text || !file)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    const char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    size_t file_len = 0;
    for (char *line = text, *next; line < text + size; line = next) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        next = nl ? nl + 1 : text + size;
        if (nl)
            *nl = '\0';
        if (strncmp(line, "--", 2) == 0 && n_overrides < MAX_OVERRIDES) {
            overrides[n_overrides++] = line + 2;
        } else {
            size_t n = (size_t)(next - line);
            memcpy(file + file_len, line, n);
            if (nl)
                file[file_len + n - 1] = '\n';
            file_len += n;
        }
    }
    fuzz_write_file(ini_path, file, file_len);

    birdie_config cfg;
    char err[1024];
    birdie_config_defaults(&cfg);
    int rc = birdie_config_load_file(&cfg, ini_path, err, sizeof err);
    for (int i = 0; rc == 0 && i < n_overrides; i++)
        rc = birdie_config_set(&cfg, overrides[i], err, sizeof err);
    if (rc == 0)
        rc = birdie_config_validate(&cfg, err, sizeof err);
    if (rc == 0) {
        char *first = printed(&cfg);
        fuzz_write_file(again_path, first, strlen(first));
        birdie_config back;
        birdie_config_defaults(&back);
        if (birdie_config_load_file(&back, again_path, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_config: the printed configuration does not load: %s\n--- printed:\n%s", err, first);
            abort();
        }
        char *second = printed(&back);
        if (strcmp(first, second) != 0) {
            fprintf(stderr,
                    "fuzz_config: the printed configuration reads back differently\n--- first:\n%s--- second:\n%s",
                    first, second);
            abort();
        }
        free(first);
        free(second);
    }
    free(text);
    free(file);
    return 0;
}
