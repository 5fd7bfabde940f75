/* kernels/cpu/table.c: the CPU twin's op table (kernels/ops.h). */
#include "kernels/cpu/cpu_ops.h"

const birdie_ops birdie_ops_cpu = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .rmsnorm_forward = cpu_rmsnorm_forward,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .residual_forward = cpu_residual_forward,
    .ssm_gates_forward = cpu_ssm_gates_forward,
    .ssm_gates_backward = cpu_ssm_gates_backward,
    .ssm_output_forward = cpu_ssm_output_forward,
    .ssm_output_backward = cpu_ssm_output_backward,
    .scan_forward = cpu_scan_forward,
    .scan_backward = cpu_scan_backward,
    .crossentropy_forward_backward = cpu_crossentropy_forward_backward,
    .sum_squares = cpu_sum_squares,
    .adamw_update = cpu_adamw_update,
};
