/* tests/worker/objectives/bench_packer.c: prints the packer's throughput on one core — rows of the
 * default grid under the uniform (Birdie warm-up) mixture, from the test double's word-like text
 * (worker/data's synthetic corpus is not linked here). Usage: bench-packer [B] [T] [seconds]. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/worker/objectives/fake_source.h"
#include "worker/objectives/bench.h"
#include "worker/objectives/mixture.h"

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 64, T = argc > 2 ? atoi(argv[2]) : 512;
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    char err[512];
    birdie_arm_set arms;
    birdie_arm_set_init(&arms);
    birdie_source *src = NULL;
    static double w[BIRDIE_MAX_ARMS];
    birdie_packer_bench_result res;
    int rc = birdie_arm_set_add_default(&arms, err, sizeof err);
    if (!rc)
        rc = birdie_mixture_parse(&arms, "uniform", w, err, sizeof err);
    if (!rc && (rc = fake_source_open(&src, 1, 1 << 22, FAKE_WORDS)))
        snprintf(err, sizeof err, "cannot create the test source");
    if (!rc)
        rc = birdie_packer_bench(&arms, w, src, B, T, seconds, &res, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench-packer: %s\n", err);
        return 1;
    }
    printf("packer: %d arms, uniform mixture, %d x %d rows, %.2f s: %.2f M positions/s, %.2f M tokens/s, "
           "fill %.4f, %.2f samples/row\n",
           arms.n, B, T, res.seconds, res.positions_per_s / 1e6, res.tokens_per_s / 1e6,
           birdie_pack_fill_rate(&res.stats), (double)res.stats.samples / (double)res.stats.rows);
    printf("packer: samples per class / mixture weight %.3f .. %.3f, share correction set up in %.0f ms\n",
           res.class_share_min, res.class_share_max, res.setup_seconds * 1e3);
    birdie_source_close(src);
    birdie_arm_set_free(&arms);
    return 0;
}
