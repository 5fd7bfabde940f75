/* worker/model_mlp.c: the gated MLP half of a Hawk or Transformer block (model_mlp.h). */
#include "worker/model_mlp.h"

#include "worker/model_op.h"

void birdie_mlp_forward(birdie_model *m, const birdie_mlp_layer *l, float *x_next, int M)
{
    int BT = m->cur_B * m->T, C = m->cfg.d_model;
    const float *p = m->params;
    OP(m, rmsnorm_forward, l->u2, l->rstd2, l->x_mid, p + l->ln2, BT, C);
    OP(m, matmul_forward, l->mlp, l->u2, p + l->w_mlp, NULL, BT, C, 2 * M);
    OP(m, gelu_mul_forward, l->mlp_g, l->mlp, 2 * M, l->mlp + M, 2 * M, BT, M);
    OP(m, matmul_forward, m->du, l->mlp_g, p + l->w_mo, NULL, BT, M, C);
    OP(m, residual_forward, x_next, l->x_mid, m->du, (size_t)BT * C);
}

void birdie_mlp_backward(birdie_model *m, const birdie_mlp_layer *l, float *dmlp_g, float *dmlp, int M)
{
    int BT = m->cur_B * m->T, C = m->cfg.d_model;
    const float *p = m->params;
    float *g = m->grads;
    OP(m, matmul_backward, dmlp_g, g + l->w_mo, NULL, m->dresidual, l->mlp_g, p + l->w_mo, BT, M, C);
    OP(m, gelu_mul_backward, dmlp, dmlp + M, dmlp_g, l->mlp, 2 * M, l->mlp + M, 2 * M, BT, M);
    OP(m, matmul_backward, m->du, g + l->w_mlp, NULL, dmlp, l->u2, p + l->w_mlp, BT, C, 2 * M);
    OP(m, rmsnorm_backward, m->dresidual, g + l->ln2, m->du, l->x_mid, p + l->ln2, l->rstd2, BT, C);
}
