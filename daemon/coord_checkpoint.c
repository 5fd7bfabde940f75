/* coord_checkpoint: checkpoints as the coordinator sees them. Control.Checkpoint (an operator asks
 * every rank to checkpoint: the incarnation's checkpoint_seq goes up by one and rides on every
 * WatchMixture directive, so the training loop's control all-reduce makes all ranks write at the
 * same step) and Coordinator.ReportCheckpoint (a rank says which file it wrote; recorded once per
 * step of an incarnation). It does not write or verify checkpoint files (worker/checkpoint.c does)
 * and does not decide the step a checkpoint is taken at (worker/train.c does). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/coordinator_internal.h"
#include "daemon/rpc_wire.h"
#include "worker/error.h"

#define CHECKPOINT_SUM_DIGITS 16 /* FNV-1a-64 in hex */

static void record_from_row(const store_checkpoint_row *row, Birdie__V1__CheckpointRecord *r)
{
    r->incarnation = row->incarnation;
    r->step = row->step;
    r->path = (char *)row->path;
    r->bytes = row->bytes < 0 ? 0 : (uint64_t)row->bytes;
    r->checksum = (char *)row->checksum;
    r->rank = row->rank;
    r->unix_ms = row->unix_ms;
}

void coord_last_checkpoint_record(const coordinator *co, Birdie__V1__CheckpointRecord *out)
{
    birdie__v1__checkpoint_record__init(out);
    if (co->has_last_checkpoint)
        record_from_row(&co->last_checkpoint, out);
}

int coord_load_last_checkpoint(coordinator *co, char *err, size_t errlen)
{
    int rc = store_last_checkpoint(co->store, &co->last_checkpoint, err, errlen);
    co->has_last_checkpoint = rc == 1;
    return rc < 0 ? rc : 0;
}

/* ---- Control.Checkpoint ------------------------------------------------------------------------ */

static grpc_status_code checkpoint_reply(int64_t seq, int replayed, grpc_byte_buffer **reply)
{
    Birdie__V1__CheckpointResponse r = BIRDIE__V1__CHECKPOINT_RESPONSE__INIT;
    r.checkpoint_seq = seq;
    r.replayed = replayed;
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}

grpc_status_code coord_handle_checkpoint(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                         char *msg, size_t msglen)
{
    const Birdie__V1__CheckpointRequest *req = (const void *)m;
    if (strlen(req->request_id) > 128)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "request_id is longer than 128 bytes");
    if (strlen(req->reason) > 1024)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "reason is longer than 1024 bytes");
    char err[COORD_MSG_MAX];
    if (req->request_id[0]) {
        int64_t seq = 0, incarnation = 0;
        int found = store_find_checkpoint_request(co->store, req->request_id, &seq, &incarnation, err, sizeof(err));
        if (found < 0)
            return birdie_fail(msg, msglen, GRPC_STATUS_INTERNAL, "looking up request_id: %s", err);
        if (found)
            return checkpoint_reply(seq, 1, reply);
    }
    grpc_status_code code = coord_check_active(co, "cannot checkpoint", msg, msglen);
    if (code)
        return code;
    int64_t seq = co->checkpoint_seq + 1, now = coord_now_unix_ms();
    if (store_record_checkpoint_request(co->store, seq, co->step, req->request_id, req->reason, now, err, sizeof(err)))
        return birdie_fail(msg, msglen, GRPC_STATUS_INTERNAL,
                           "recording the checkpoint request failed, nothing changed: %s", err);
    co->checkpoint_seq = seq;
    coord_mark_directives_dirty(co);
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "checkpoint_requested";
    ev.step = co->step;
    ev.checkpoint_seq = seq;
    ev.detail = req->reason;
    ev.unix_ms = now;
    coord_broadcast_event(co, &ev);
    return checkpoint_reply(seq, 0, reply);
}

/* ---- Coordinator.ReportCheckpoint -------------------------------------------------------------- */

/* Copies a 16-hex-digit checksum in lower case; -1 when it is anything else. */
static int normalise_checksum(const char *in, char out[CHECKPOINT_SUM_DIGITS + 1])
{
    if (strlen(in) != CHECKPOINT_SUM_DIGITS)
        return -1;
    for (int i = 0; i < CHECKPOINT_SUM_DIGITS; i++) {
        if (!isxdigit((unsigned char)in[i]))
            return -1;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[CHECKPOINT_SUM_DIGITS] = 0;
    return 0;
}

static grpc_status_code check_report(const coordinator *co, const Birdie__V1__ReportCheckpointRequest *req,
                                     char checksum[CHECKPOINT_SUM_DIGITS + 1], char *msg, size_t msglen)
{
    if (req->rank < 0 || req->rank >= co->world_size)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "rank %d is outside 0..%d", req->rank,
                           co->world_size - 1);
    if (!co->ranks[req->rank].registered)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "rank %d has not registered", req->rank);
    if (req->step < 0)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "step %" PRId64 " is negative", req->step);
    if (!req->path[0])
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "path is empty");
    if (strlen(req->path) > STORE_PATH_MAX)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "path is longer than %d bytes", STORE_PATH_MAX);
    if (req->bytes > (uint64_t)INT64_MAX)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "bytes %" PRIu64 " is larger than %" PRId64,
                           req->bytes, INT64_MAX);
    if (normalise_checksum(req->checksum, checksum))
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                           "checksum '%.40s' is not %d hex digits (FNV-1a-64)", req->checksum, CHECKPOINT_SUM_DIGITS);
    return GRPC_STATUS_OK;
}

/* The newest checkpoint is the one of the latest incarnation with the highest step (as at start). */
static void remember_checkpoint(coordinator *co, const store_checkpoint *c)
{
    store_checkpoint_row *last = &co->last_checkpoint;
    if (co->has_last_checkpoint && last->incarnation == co->incarnation && last->step > c->step)
        return;
    last->incarnation = co->incarnation;
    last->step = c->step;
    last->bytes = c->bytes;
    last->unix_ms = c->unix_ms;
    last->rank = c->rank;
    snprintf(last->path, sizeof(last->path), "%s", c->path);
    snprintf(last->checksum, sizeof(last->checksum), "%s", c->checksum);
    co->has_last_checkpoint = 1;
}

static void emit_checkpoint_event(coordinator *co, const store_checkpoint *c)
{
    store_checkpoint_row row = {
        .incarnation = co->incarnation, .step = c->step, .bytes = c->bytes, .unix_ms = c->unix_ms, .rank = c->rank};
    snprintf(row.path, sizeof(row.path), "%s", c->path);
    snprintf(row.checksum, sizeof(row.checksum), "%s", c->checksum);
    Birdie__V1__CheckpointRecord rec = BIRDIE__V1__CHECKPOINT_RECORD__INIT;
    record_from_row(&row, &rec);
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "checkpoint";
    ev.step = c->step;
    ev.checkpoint = &rec;
    ev.detail = row.path;
    ev.unix_ms = c->unix_ms;
    coord_broadcast_event(co, &ev);
}

grpc_status_code coord_handle_report_checkpoint(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                                char *msg, size_t msglen)
{
    const Birdie__V1__ReportCheckpointRequest *req = (const void *)m;
    char checksum[CHECKPOINT_SUM_DIGITS + 1];
    grpc_status_code code = check_report(co, req, checksum, msg, msglen);
    if (code)
        return code;
    store_checkpoint c = {.step = req->step,
                          .rank = req->rank,
                          .path = req->path,
                          .bytes = (int64_t)req->bytes,
                          .checksum = checksum,
                          .unix_ms = coord_now_unix_ms()};
    char detail[STORE_PATH_MAX + 128], err[COORD_MSG_MAX];
    snprintf(detail, sizeof(detail), "%s (%" PRIu64 " bytes, fnv1a64 %s, rank %d)", req->path, req->bytes, checksum,
             req->rank);
    int recorded = store_record_checkpoint(co->store, &c, detail, err, sizeof(err));
    if (recorded < 0) {
        coord_store_failed(co, "a checkpoint", err);
        return birdie_fail(msg, msglen, GRPC_STATUS_INTERNAL, "recording the checkpoint failed: %s", err);
    }
    if (recorded) {
        remember_checkpoint(co, &c);
        emit_checkpoint_event(co, &c);
    }
    Birdie__V1__ReportCheckpointResponse r = BIRDIE__V1__REPORT_CHECKPOINT_RESPONSE__INIT;
    r.recorded = recorded == 1;
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}
