/* tests/fuzz/fuzz_sched_state.c: the scheduler's saved state (birdie_sched_load,
 * daemon/scheduler/state_io.c), the part of a checkpoint that a Birdie run without a coordinator
 * restores its scheduler from. Each input is read twice: as it is, and with its last 8 bytes replaced
 * by the FNV-1a checksum of the rest (little-endian), so that mutated bodies get past the checksum
 * to the parser behind it.
 *
 * Beyond "no crash, no leak, no undefined behaviour", what state_io.c promises: the format round
 * trips bit-exactly, so a state that loaded saves back to the very same bytes. */
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/scheduler.h"
#include "tests/fuzz/fuzz_util.h"
#include "worker/fnv.h"

static void load(const uint8_t *data, size_t size)
{
    birdie_sched *s = NULL;
    char err[1024];
    if (birdie_sched_load(data, size, NULL, &s, err, sizeof err) != 0)
        return;
    uint8_t *again = NULL;
    size_t len = 0;
    if (birdie_sched_save(s, &again, &len, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_sched_state: a loaded state does not save: %s\n", err);
        abort();
    }
    if (len != size || memcmp(again, data, size) != 0) {
        fprintf(stderr, "fuzz_sched_state: a loaded state of %zu bytes saves as %zu other bytes\n", size, len);
        abort();
    }
    free(again);
    birdie_sched_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size);
    if (size < 8)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    uint64_t sum = birdie_fnv1a(BIRDIE_FNV_OFFSET, fixed, size - 8);
    for (int i = 0; i < 8; i++)
        fixed[size - 8 + i] = (uint8_t)(sum >> (8 * i));
    load(fixed, size);
    free(fixed);
    return 0;
}
