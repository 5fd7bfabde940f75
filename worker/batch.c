/* worker/batch.c: next-token-prediction rows (batch.h). */
#include "worker/batch.h"

#include <errno.h>
#include <stdlib.h>

#include "kernels/ops.h"
#include "worker/vocab.h"

int birdie_batch_ntp(birdie_rows *rows, const birdie_source *src, uint64_t seed, int64_t step, uint64_t global_row0,
                     uint32_t purpose)
{
    int T = rows->T;
    int32_t *window = malloc((size_t)T * sizeof *window);
    if (!window)
        return -ENOMEM;
    int rc = 0;
    for (int b = 0; b < rows->B && rc == 0; b++) {
        birdie_rng rng = birdie_rng_stream(seed, (uint64_t)step, global_row0 + (uint64_t)b, purpose);
        rc = birdie_source_window(src, &rng, window, T);
        if (rc < 0)
            break;
        size_t base = (size_t)b * T;
        for (int t = 0; t < T; t++) {
            rows->inputs[base + t] = t == 0 ? BIRDIE_BEGIN : window[t - 1];
            rows->labels[base + t] = window[t];
            rows->segments[base + t] = 1;
            rows->prefix[base + t] = 0;
            /* an empty prefix: the first token starts the sample (forward reset) and every position
             * is in the causal region (reverse reset) */
            rows->resets[base + t] = (uint8_t)(BIRDIE_RESET_REV | (t == 0 ? BIRDIE_RESET_FWD : 0));
            rows->arms[base + t] = 0;
        }
    }
    free(window);
    return rc;
}
