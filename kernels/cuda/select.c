/* kernels/cuda/select.c: resolves --backend cuda|cpu|auto into an op table (cuda_backend.h).
 * Built with and without CUDA: without it the probe reports that the build has no CUDA backend, so
 * "auto" picks the CPU and says why, and "cuda" is a clear error. Never touches the CPU library
 * (the caller passes its table), so link order does not matter. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"

int birdie_backend_choose(const char *request, const birdie_ops *cpu_ops, const birdie_ops **chosen, char *note,
                          size_t notelen, char *err, size_t errlen)
{
    char why[256] = "";
    char device[256] = "";
    if (!request)
        request = "auto";
    if (!cpu_ops || !chosen) {
        snprintf(err, err ? errlen : 0, "birdie_backend_choose: no CPU table or no result pointer given");
        return -EINVAL;
    }
    if (strcmp(request, "cpu") == 0) {
        *chosen = cpu_ops;
        snprintf(note, note ? notelen : 0, "backend cpu (requested)");
        return 0;
    }
    if (strcmp(request, "cuda") != 0 && strcmp(request, "auto") != 0) {
        snprintf(err, err ? errlen : 0, "unknown backend '%s' (expected cuda, cpu or auto)", request);
        return -EINVAL;
    }
    int rc = birdie_cuda_describe(device, sizeof device, why, sizeof why);
    const birdie_ops *cuda_ops = rc == 0 ? birdie_ops_cuda_table() : NULL;
    if (rc == 0 && !cuda_ops) {
        snprintf(why, sizeof why, "this build has no CUDA op table");
        rc = -ENODEV;
    }
    if (rc < 0 && strcmp(request, "cuda") == 0) {
        snprintf(err, err ? errlen : 0, "backend cuda requested but no usable GPU: %s", why);
        return -ENODEV;
    }
    if (rc < 0) {
        *chosen = cpu_ops;
        snprintf(note, note ? notelen : 0, "backend auto: no usable GPU (%s); using the CPU backend", why);
        return 0;
    }
    *chosen = cuda_ops;
    snprintf(note, note ? notelen : 0, "backend %s: using cuda on %s", request, device);
    return 0;
}
