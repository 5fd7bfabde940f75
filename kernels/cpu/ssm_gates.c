/* kernels/cpu/ssm_gates.c: the elementwise gates of the Gated SSM block (algorithm reference §1.2).
 * proj (BT,4N) holds [a_i | a_z | a_o | a_f] per position:
 *   x = sigmoid(a_i) * a_z   (scan input),   f = sigmoid(a_f)   (forget gate),
 *   g = gelu(a_o) * h        (gated scan output, fed to W_out).
 * The scan itself is in scan.c. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

float cpu_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

float cpu_gelu(float x)
{
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}

float cpu_gelu_grad(float x)
{
    float cube = 0.044715f * x * x * x;
    float t = tanhf(GELU_SCALE * (x + cube));
    float sech2 = 1.0f - t * t;
    return 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

void cpu_ssm_gates_forward(float *x, float *f, const float *proj, int BT, int N)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *a_i = proj + (size_t)bt * 4 * N, *a_z = a_i + N, *a_f = a_i + 3 * N;
        float *xr = x + (size_t)bt * N, *fr = f + (size_t)bt * N;
        for (int n = 0; n < N; n++) {
            xr[n] = cpu_sigmoid(a_i[n]) * a_z[n];
            fr[n] = cpu_sigmoid(a_f[n]);
        }
    }
}

void cpu_ssm_gates_backward(float *dproj, const float *dx, const float *df, const float *proj, int BT, int N)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *a_i = proj + (size_t)bt * 4 * N, *a_z = a_i + N, *a_f = a_i + 3 * N;
        float *d_i = dproj + (size_t)bt * 4 * N, *d_z = d_i + N, *d_f = d_i + 3 * N;
        const float *dxr = dx + (size_t)bt * N, *dfr = df + (size_t)bt * N;
        for (int n = 0; n < N; n++) {
            float si = cpu_sigmoid(a_i[n]), sf = cpu_sigmoid(a_f[n]);
            d_i[n] = dxr[n] * a_z[n] * si * (1.0f - si);
            d_z[n] = dxr[n] * si;
            d_f[n] = dfr[n] * sf * (1.0f - sf);
        }
    }
}

void cpu_ssm_output_forward(float *g, const float *proj, const float *h, int BT, int N)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *a_o = proj + (size_t)bt * 4 * N + 2 * N;
        const float *hr = h + (size_t)bt * N;
        float *gr = g + (size_t)bt * N;
        for (int n = 0; n < N; n++)
            gr[n] = cpu_gelu(a_o[n]) * hr[n];
    }
}

void cpu_ssm_output_backward(float *dproj, float *dh, const float *dg, const float *proj,
                             const float *h, int BT, int N)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *a_o = proj + (size_t)bt * 4 * N + 2 * N;
        float *d_o = dproj + (size_t)bt * 4 * N + 2 * N;
        const float *hr = h + (size_t)bt * N, *dgr = dg + (size_t)bt * N;
        float *dhr = dh + (size_t)bt * N;
        for (int n = 0; n < N; n++) {
            dhr[n] = dgr[n] * cpu_gelu(a_o[n]);
            d_o[n] = dgr[n] * hr[n] * cpu_gelu_grad(a_o[n]);
        }
    }
}
