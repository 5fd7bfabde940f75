/* tests/fuzz/fuzz_manifest.c: the checkpoint manifest (manifest.json, read by
 * birdie_checkpoint_load_latest in worker/checkpoint.c) from arbitrary bytes, in a directory that
 * also holds two good checkpoints (steps 1 and 2), so that entries naming them reach the file checks
 * and the comparison of checksums.
 *
 * Beyond "no crash, no leak, no undefined behaviour": a checkpoint that loads is one of the two good
 * ones (nothing else in the directory verifies). */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/manifest_good.h"
#include "worker/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[600], manifest[700];
    if (!dir[0]) {
        fuzz_path(dir, sizeof dir, "ckpt");
        fuzz_write_good_checkpoint(dir, 1);
        fuzz_write_good_checkpoint(dir, 2);
        snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    }
    fuzz_write_file(manifest, data, size);
    birdie_checkpoint ck;
    char notes[4096], err[8192];
    int rc = birdie_checkpoint_load_latest(dir, &ck, notes, sizeof notes, err, sizeof err);
    if (rc == 1) {
        if ((ck.step != 1 && ck.step != 2) || ck.n_params != 6 || ck.n_arms != 2) {
            fprintf(stderr, "fuzz_manifest: loaded a checkpoint of step %lld that was never written\n",
                    (long long)ck.step);
            abort();
        }
        birdie_checkpoint_free(&ck);
    }
    return 0;
}
