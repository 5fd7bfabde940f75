/* tests/fuzz/replay_main.c: the main of a fuzz target in a build without libFuzzer (gcc, the normal
 * and the sanitized trees of tests/run-all.sh): runs LLVMFuzzerTestOneInput once on every file of the
 * directories given (the target's seed corpus and its regression inputs, tests/fuzz/), in name
 * order, and reports one TAP case per directory, each input named on a comment line before it runs.
 * A crash, a sanitizer report or an abort of the target ends the process, which meson counts as a
 * failure (the last comment line names the input); a directory that cannot be read is one too.
 * It does not mutate inputs: that is libFuzzer's job (-Dfuzz=enabled). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_input(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f)
            fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    *size = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (buf && *size != (size_t)st.st_size) {
        free(buf);
        return NULL;
    }
    return buf;
}

int main(int argc, char **argv)
{
    int failed = 0;
    printf("1..%d\n", argc - 1);
    for (int d = 1; d < argc; d++) {
        struct dirent **names;
        int count = scandir(argv[d], &names, is_input, alphasort), ran = 0, unreadable = 0;
        for (int i = 0; i < count; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[d], names[i]->d_name);
            size_t size = 0;
            uint8_t *data = slurp(path, &size);
            if (!data) {
                printf("# cannot read %s\n", path);
                unreadable++;
            } else {
                /* named before it runs: a crash ends the process with this line last */
                printf("# %s (%zu bytes)\n", path, size);
                fflush(stdout);
                LLVMFuzzerTestOneInput(data, size);
                ran++;
                free(data);
            }
            free(names[i]);
        }
        if (count >= 0)
            free(names);
        if (count < 0 || unreadable) {
            printf("not ok %d - %s: %s\n", d, argv[d], count < 0 ? "cannot read the directory" : "unreadable inputs");
            failed = 1;
        } else {
            printf("ok %d - %s: %d inputs\n", d, argv[d], ran);
        }
    }
    return failed;
}
