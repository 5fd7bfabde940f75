/* kernels/cuda/table.c: the CUDA backend's op table (kernels/ops.h), built only with CUDA.
 * Returning the table touches no GPU; birdie_cuda_probe() says whether one is usable. */
#include "kernels/cuda/cuda_ops.h"

static const birdie_ops cuda_table = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .zero = cuda_zero,
    .upload = cuda_upload,
    .download = cuda_download,
    .synchronize = cuda_synchronize,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload_async = cuda_upload_async,
    .upload_wait = cuda_upload_wait,
    .reserve = cuda_reserve,
    .embedding_forward = cuda_embedding_forward,
    .embedding_backward = cuda_embedding_backward,
    .rmsnorm_forward = cuda_rmsnorm_forward,
    .rmsnorm_backward = cuda_rmsnorm_backward,
    .matmul_forward = cuda_matmul_forward,
    .matmul_backward = cuda_matmul_backward,
    .residual_forward = cuda_residual_forward,
    .ssm_gates_forward = cuda_ssm_gates_forward,
    .ssm_gates_backward = cuda_ssm_gates_backward,
    .ssm_output_forward = cuda_ssm_output_forward,
    .ssm_output_backward = cuda_ssm_output_backward,
    .scan_forward = cuda_scan_forward,
    .scan_backward = cuda_scan_backward,
    .crossentropy_forward_backward = cuda_crossentropy_forward_backward,
    .sum_squares = cuda_sum_squares,
    .adamw_update = cuda_adamw_update,
    .adamw_update_segments = cuda_adamw_update_segments,
};

/* [train] precision = fp32: every op the same but the GEMMs */
static const birdie_ops cuda_fp32_table = {
    .name = "cuda-fp32",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .zero = cuda_zero,
    .upload = cuda_upload,
    .download = cuda_download,
    .synchronize = cuda_synchronize,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload_async = cuda_upload_async,
    .upload_wait = cuda_upload_wait,
    .reserve = cuda_reserve,
    .embedding_forward = cuda_embedding_forward,
    .embedding_backward = cuda_embedding_backward,
    .rmsnorm_forward = cuda_rmsnorm_forward,
    .rmsnorm_backward = cuda_rmsnorm_backward,
    .matmul_forward = cuda_matmul_forward_fp32,
    .matmul_backward = cuda_matmul_backward_fp32,
    .residual_forward = cuda_residual_forward,
    .ssm_gates_forward = cuda_ssm_gates_forward,
    .ssm_gates_backward = cuda_ssm_gates_backward,
    .ssm_output_forward = cuda_ssm_output_forward,
    .ssm_output_backward = cuda_ssm_output_backward,
    .scan_forward = cuda_scan_forward,
    .scan_backward = cuda_scan_backward,
    .crossentropy_forward_backward = cuda_crossentropy_forward_backward,
    .sum_squares = cuda_sum_squares,
    .adamw_update = cuda_adamw_update,
    .adamw_update_segments = cuda_adamw_update_segments,
};

const birdie_ops *birdie_ops_cuda_table(void)
{
    return &cuda_table;
}

const birdie_ops *birdie_ops_cuda_fp32_table(void)
{
    return &cuda_fp32_table;
}
