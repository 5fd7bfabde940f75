/* daemon/scheduler/rm_layers.c: split RMSNorm and the v1 GatedSSMBlock gates with their backward
 * passes (see rm_layers.h). Reductions accumulate in double so the result does not depend on how a
 * compiler vectorises a float sum. */
#include <math.h>
#include <string.h>

#include "daemon/scheduler/rm_layers.h"

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void rm_rmssplit_forward(float *out, float *rms, const float *inp, const float *gamma, const float *scale, int R, int C)
{
    int H = C / 2;
    for (int r = 0; r < R; r++)
        for (int half = 0; half < 2; half++) {
            size_t base = (size_t)r * C + (size_t)half * H;
            double ss = 0.0;
            for (int c = 0; c < H; c++)
                ss += (double)inp[base + c] * inp[base + c];
            float root = (float)sqrt(ss / H);
            float inv = 1.0f / (root + RM_RMSSPLIT_EPS);
            rms[2 * r + half] = root;
            for (int c = 0; c < H; c++) {
                int ch = half * H + c;
                out[base + c] = inp[base + c] * inv * gamma[ch] * scale[ch];
            }
        }
}

/* Per half, with q = rms + eps and n = x / q: dn = dy * gamma * scale and
 * dx_i = dn_i / q - x_i * sum_k(dn_k x_k) / (q^2 * H * rms) (the second term vanishes when rms = 0). */
void rm_rmssplit_backward(float *dinp, float *dgamma, float *dscale, const float *dout, const float *inp,
                          const float *gamma, const float *scale, const float *rms, int R, int C)
{
    int H = C / 2;
    for (int r = 0; r < R; r++)
        for (int half = 0; half < 2; half++) {
            size_t base = (size_t)r * C + (size_t)half * H;
            float root = rms[2 * r + half];
            float q = root + RM_RMSSPLIT_EPS;
            double dot = 0.0;
            for (int c = 0; c < H; c++) {
                int ch = half * H + c;
                float x = inp[base + c], dy = dout[base + c];
                float n = x / q;
                dgamma[ch] += dy * scale[ch] * n;
                dscale[ch] += dy * gamma[ch] * n;
                dot += (double)(dy * gamma[ch] * scale[ch]) * x;
            }
            if (!dinp)
                continue;
            float coef = root > 0.0f ? (float)(dot / ((double)q * q * H * root)) : 0.0f;
            for (int c = 0; c < H; c++) {
                int ch = half * H + c;
                float dn = dout[base + c] * gamma[ch] * scale[ch];
                dinp[base + c] += dn / q - inp[base + c] * coef;
            }
        }
}

void rm_in_gates_forward(float *K, float *sgi, float *sgo, float *pg, const float *kg, const float *ugg, int R, int S)
{
    for (int r = 0; r < R; r++) {
        const float *p = ugg + (size_t)r * 3 * S, *gin = p + S, *gout = p + 2 * S;
        size_t o = (size_t)r * S;
        for (int s = 0; s < S; s++) {
            float k = sigmoid(kg[o + s]);
            float si = sigmoid(gin[s]);
            K[o + s] = k;
            sgi[o + s] = si;
            sgo[o + s] = sigmoid(gout[s]);
            pg[o + s] = p[s] * si * (1.0f - k);
        }
    }
}

void rm_in_gates_backward(float *dkg, float *dugg, const float *dpg, const float *dK_carry, const float *ugg,
                          const float *K, const float *sgi, int R, int S)
{
    for (int r = 0; r < R; r++) {
        const float *p = ugg + (size_t)r * 3 * S;
        float *dp = dugg + (size_t)r * 3 * S, *dgin = dp + S;
        size_t o = (size_t)r * S;
        for (int s = 0; s < S; s++) {
            float k = K[o + s], si = sgi[o + s], d = dpg[o + s];
            float dk = -d * p[s] * si + (dK_carry ? dK_carry[o + s] : 0.0f);
            dkg[o + s] = dk * k * (1.0f - k);
            dp[s] = d * si * (1.0f - k);
            dgin[s] = d * p[s] * (1.0f - k) * si * (1.0f - si);
        }
    }
}

void rm_out_gate_forward(float *z, const float *h, const float *sgo, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] = h[i] * sgo[i];
}

void rm_out_gate_backward(float *dh, float *dugg, const float *dz, const float *h, const float *sgo, int R, int S)
{
    for (int r = 0; r < R; r++) {
        float *dgout = dugg + (size_t)r * 3 * S + 2 * S;
        size_t o = (size_t)r * S;
        for (int s = 0; s < S; s++) {
            float g = sgo[o + s];
            dh[o + s] = dz[o + s] * g;
            dgout[s] = dz[o + s] * h[o + s] * g * (1.0f - g);
        }
    }
}
