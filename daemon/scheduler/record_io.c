/* daemon/scheduler/record_io.c: a decision record as bytes, for the coordinator's store (the blob of
 * migration 0005's decision_details) and for `birdiectl explain`, which decodes it and compares a
 * replayed decision with it bit for bit. It does not decide, replay or store anything.
 *
 * Layout (little-endian; f64 as IEEE-754 bit patterns, so a round trip is bit-exact):
 *   "BIRDDREC" | u32 format version (1)
 *   u32 n_arms, u32 top_k, u64 eval_index, i64 step, u32 kind, u64 mixture_version_in,
 *   u64 mixture_version_out, u32 has_reward, u32 has_prediction, u32 history_len, u32 n_candidates,
 *   f64 observed_score, predicted_in_score, fit_mse_first, fit_mse_last, fit_mse_clean, explore_prob,
 *   explore_draw, predicted_out_score,
 *   f64 loss_sum, tokens, mixture_in, loss, reward, predicted_in, mixture_out, predicted_out (n_arms
 *   each), f64 top_score[top_k], f64 top_candidates[top_k * n_arms], u32 top_index[top_k]
 *   u64 FNV-1a of every byte before it */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/bytes.h"
#include "daemon/scheduler/decision_internal.h"
#include "worker/error.h"
#include "worker/fnv.h"

#define RECORD_MAGIC "BIRDDREC"
#define RECORD_MAGIC_LEN 8
#define RECORD_VERSION 1u
#define RECORD_MAX_TOP_K 65536

int birdie_decision_encode(const birdie_decision *d, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    size_t N = (size_t)d->n_arms, k = (size_t)d->top_k;
    byte_writer w = {0};
    bw_bytes(&w, RECORD_MAGIC, RECORD_MAGIC_LEN);
    bw_u32(&w, RECORD_VERSION);
    bw_u32(&w, (uint32_t)d->n_arms);
    bw_u32(&w, (uint32_t)d->top_k);
    bw_u64(&w, d->eval_index);
    bw_i64(&w, d->step);
    bw_u32(&w, (uint32_t)d->kind);
    bw_u64(&w, d->mixture_version_in);
    bw_u64(&w, d->mixture_version_out);
    const int flags[] = {d->has_reward, d->has_prediction, d->history_len, d->n_candidates};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        bw_u32(&w, (uint32_t)flags[i]);
    const double scalars[] = {d->observed_score, d->predicted_in_score, d->fit_mse_first, d->fit_mse_last,
                              d->fit_mse_clean,  d->explore_prob,       d->explore_draw,  d->predicted_out_score};
    bw_f64s(&w, scalars, sizeof(scalars) / sizeof(scalars[0]));
    /* the record's double block is contiguous from loss_sum (decision.c) */
    bw_f64s(&w, d->loss_sum, 8 * N + k + k * N);
    for (size_t j = 0; j < k; j++)
        bw_u32(&w, (uint32_t)d->top_index[j]);
    if (!w.failed)
        bw_u64(&w, birdie_fnv1a(BIRDIE_FNV_OFFSET, w.buf, w.len));
    if (w.failed) {
        free(w.buf);
        return birdie_fail(err, errlen, -ENOMEM, "decision record: out of memory while encoding");
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

static int read_int(byte_reader *r, int *v, const char *field)
{
    uint32_t x;
    if (br_u32(r, &x, field) != 0)
        return -1;
    *v = x > 0x7fffffffu ? -1 : (int)x;
    return 0;
}

int birdie_decision_decode(const uint8_t *buf, size_t len, birdie_decision *d, char *err, size_t errlen)
{
    if (!buf || len < RECORD_MAGIC_LEN + 4 + 8 || memcmp(buf, RECORD_MAGIC, RECORD_MAGIC_LEN) != 0)
        return birdie_fail(err, errlen, -EBADMSG, "decision record: not a birdie decision record (%zu bytes)", len);
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++)
        stored |= (uint64_t)buf[len - 8 + i] << (8 * i);
    if (stored != birdie_fnv1a(BIRDIE_FNV_OFFSET, buf, len - 8))
        return birdie_fail(err, errlen, -EBADMSG, "decision record: checksum mismatch (corrupt record)");
    byte_reader r = {.buf = buf + RECORD_MAGIC_LEN, .len = len - RECORD_MAGIC_LEN - 8};
    uint32_t version = 0;
    int n_arms = 0, top_k = 0;
    br_u32(&r, &version, "version");
    read_int(&r, &n_arms, "n_arms");
    read_int(&r, &top_k, "top_k");
    if (r.failed_at)
        return birdie_fail(err, errlen, -EBADMSG, "decision record: truncated in '%s'", r.failed_at);
    if (version != RECORD_VERSION)
        return birdie_fail(err, errlen, -EBADMSG, "decision record: format version %u, this build reads %u", version,
                           RECORD_VERSION);
    if (n_arms < 1 || n_arms > BIRDIE_SCHED_MAX_ARMS || top_k < 1 || top_k > RECORD_MAX_TOP_K)
        return birdie_fail(err, errlen, -EBADMSG, "decision record: %d arms, top_k %d out of range", n_arms, top_k);
    if (sched_decision_alloc(d, n_arms, top_k) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "decision record: out of memory for %d arms", n_arms);
    uint32_t kind = 0;
    br_u64(&r, &d->eval_index, "eval_index");
    br_i64(&r, &d->step, "step");
    br_u32(&r, &kind, "kind");
    br_u64(&r, &d->mixture_version_in, "mixture_version_in");
    br_u64(&r, &d->mixture_version_out, "mixture_version_out");
    read_int(&r, &d->has_reward, "has_reward");
    read_int(&r, &d->has_prediction, "has_prediction");
    read_int(&r, &d->history_len, "history_len");
    read_int(&r, &d->n_candidates, "n_candidates");
    double sc[8] = {0};
    br_f64s(&r, sc, 8, "scores");
    size_t N = (size_t)n_arms, k = (size_t)top_k;
    br_f64s(&r, d->loss_sum, 8 * N + k + k * N, "arrays");
    for (size_t j = 0; j < k && !r.failed_at; j++)
        read_int(&r, &d->top_index[j], "top_index");
    if (r.failed_at || r.pos != r.len || kind > BIRDIE_DECISION_EXPLOIT) {
        birdie_decision_free(d);
        if (r.failed_at)
            return birdie_fail(err, errlen, -EBADMSG, "decision record: truncated in '%s'", r.failed_at);
        return birdie_fail(err, errlen, -EBADMSG, "decision record: %s",
                           kind > BIRDIE_DECISION_EXPLOIT ? "unknown decision kind" : "trailing bytes");
    }
    d->kind = (birdie_decision_kind)kind;
    d->observed_score = sc[0];
    d->predicted_in_score = sc[1];
    d->fit_mse_first = sc[2];
    d->fit_mse_last = sc[3];
    d->fit_mse_clean = sc[4];
    d->explore_prob = sc[5];
    d->explore_draw = sc[6];
    d->predicted_out_score = sc[7];
    return 0;
}
