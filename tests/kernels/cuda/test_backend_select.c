/* tests/kernels/cuda/test_backend_select.c: --backend resolution (birdie_backend_choose) on whatever machine
 * runs it: with a usable GPU "auto" and "cuda" pick the CUDA table; without one "auto" picks the CPU
 * and names the reason, and "cuda" is an error carrying the CUDA call's message. Unknown names and
 * missing arguments are errors everywhere. Plain C, TAP output (the GPU machine has no cmocka). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/ops.h"

static int tests_run, tests_failed;

static void tap_result(int ok, const char *name)
{
    tests_run++;
    tests_failed += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tests_run, name);
}

int main(void)
{
    char probe_err[512] = "", note[512], err[512];
    const birdie_ops *chosen;
    const int have_gpu = birdie_cuda_probe(probe_err, sizeof probe_err) == 0;
    printf("# GPU usable: %s%s%s\n", have_gpu ? "yes" : "no (", have_gpu ? "" : probe_err, have_gpu ? "" : ")");
    if (!have_gpu)
        tap_result(probe_err[0] != '\0', "probe failure names its cause");

    chosen = NULL;
    int rc = birdie_backend_choose("cpu", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    tap_result(rc == 0 && chosen == &birdie_ops_cpu && strstr(note, "cpu"), "cpu: always the CPU table");

    chosen = NULL;
    rc = birdie_backend_choose("auto", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    printf("# auto: %s\n", rc == 0 ? note : err);
    if (have_gpu)
        tap_result(rc == 0 && chosen == birdie_ops_cuda_table() && chosen != NULL, "auto with a GPU: the CUDA table");
    else
        tap_result(rc == 0 && chosen == &birdie_ops_cpu && strstr(note, "no usable GPU") && strstr(note, probe_err),
                   "auto without a GPU: the CPU table, and the note says why");

    chosen = NULL;
    rc = birdie_backend_choose(NULL, &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    tap_result(rc == 0 && chosen == (have_gpu ? birdie_ops_cuda_table() : &birdie_ops_cpu), "NULL request means auto");

    chosen = NULL;
    rc = birdie_backend_choose("cuda", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    printf("# cuda: %s\n", rc == 0 ? note : err);
    if (have_gpu)
        tap_result(rc == 0 && chosen == birdie_ops_cuda_table() && strcmp(chosen->name, "cuda") == 0,
                   "cuda with a GPU: the CUDA table");
    else
        tap_result(rc == -ENODEV && chosen == NULL && strstr(err, "no usable GPU") && strstr(err, probe_err),
                   "cuda without a GPU: -ENODEV with the CUDA error");

    chosen = NULL;
    rc = birdie_backend_choose("gpu", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    tap_result(rc == -EINVAL && chosen == NULL && strstr(err, "'gpu'"), "unknown backend name: -EINVAL naming it");

    rc = birdie_backend_choose("cpu", NULL, &chosen, note, sizeof note, err, sizeof err);
    tap_result(rc == -EINVAL, "missing CPU table: -EINVAL");

    rc = birdie_backend_choose("cpu", &birdie_ops_cpu, &chosen, NULL, 0, NULL, 0);
    tap_result(rc == 0, "note and err buffers may be NULL");

    printf("1..%d\n", tests_run);
    return tests_failed ? 1 : 0;
}
