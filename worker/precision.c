/* worker/precision.c: [train] precision resolved into an op table (see precision.h). */
#include "worker/precision.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "worker/error.h"

int birdie_precision_choose(const char *request, const birdie_ops *backend, const birdie_ops **chosen, char *note,
                            size_t notelen, char *err, size_t errlen)
{
    const int unsupported = birdie_error_tag(-ENOTSUP, BIRDIE_EXIT_BACKEND);
    if (!request || !*request)
        request = "auto";
    if (strcmp(request, "auto") != 0 && strcmp(request, "fp32") != 0 && strcmp(request, "bf16") != 0)
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "[train] precision = '%s' is not one of auto, fp32, bf16", request);
    if (backend != &birdie_ops_cpu) {
        if (strcmp(request, "fp32") == 0) {
            const birdie_ops *cuda = birdie_ops_cuda_table(), *fp32 = birdie_ops_cuda_fp32_table();
            if (!cuda || backend != cuda || !fp32)
                return birdie_fail(err, errlen, unsupported,
                                   "[train] precision = fp32: the %s backend has no fp32 GEMMs; use bf16 or auto, or "
                                   "--backend cpu",
                                   backend->name);
            *chosen = fp32;
            snprintf(note, notelen, "precision fp32 (requested; %s: fp32 GEMM inputs and compute)", fp32->name);
            return 0;
        }
        *chosen = backend;
        snprintf(note, notelen, "precision bf16 (%s: bf16 GEMM inputs, fp32 accumulation)%s", backend->name,
                 strcmp(request, "auto") == 0 ? ", auto" : "");
        return 0;
    }
    if (strcmp(request, "fp32") == 0) {
        *chosen = backend;
        snprintf(note, notelen, "precision fp32 (requested)");
        return 0;
    }
    birdie_bf16_support info;
    const birdie_ops *bf16 = birdie_ops_cpu_bf16_table(&info);
    if (strcmp(request, "bf16") == 0) {
        if (!bf16)
            return birdie_fail(err, errlen, unsupported, "[train] precision = bf16 on the CPU: %s", info.why);
        *chosen = bf16;
        snprintf(note, notelen, "precision bf16 (requested; %s%s)", info.isa,
                 info.native ? "" : "; no bf16 matrix instructions, oneDNN emulates them");
        return 0;
    }
    if (bf16 && info.native) {
        *chosen = bf16;
        snprintf(note, notelen, "precision bf16 (auto; %s)", info.isa);
        return 0;
    }
    *chosen = backend;
    if (bf16)
        snprintf(note, notelen, "precision fp32 (auto: %s has no bf16 matrix instructions)", info.isa);
    else
        snprintf(note, notelen, "precision fp32 (auto: %s)", info.why);
    return 0;
}
