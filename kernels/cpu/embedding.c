/* kernels/cpu/embedding.c: token embedding lookup and its backward (scatter-add). */
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

void cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int BT, int C)
{
    for (int bt = 0; bt < BT; bt++)
        memcpy(out + (size_t)bt * C, wte + (size_t)tokens[bt] * C, (size_t)C * sizeof(float));
}

void cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int BT, int C)
{
    for (int bt = 0; bt < BT; bt++) {
        float *row = dwte + (size_t)tokens[bt] * C;
        const float *d = dout + (size_t)bt * C;
        for (int c = 0; c < C; c++)
            row[c] += d[c];
    }
}
