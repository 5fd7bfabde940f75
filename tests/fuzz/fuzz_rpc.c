/* tests/fuzz/fuzz_rpc.c: every RPC method of the coordinator (the table of daemon/coord_handlers.c)
 * on arbitrary request bytes, through what a call goes through after its method and token are
 * checked: the bytes are unpacked with the method's protobuf-c descriptor as coord_calls.c does
 * (wire_unpack of a gRPC byte buffer), then the unary handler runs on a real coordinator (its SQLite
 * store in a temporary file, its decide thread); a streaming method builds its first message (the
 * directive or the snapshot event) as start_stream does. No network: the coordinator is opened with
 * coord_open, without its gRPC server, and the handlers run on this thread.
 *
 * An input is a sequence of calls on one fresh coordinator (world size 2, three arms), so that a call
 * can meet the state earlier calls left (registered ranks, a running run, an evaluation round):
 *   byte 0: bit 0 set: both ranks register first (well-formed requests through the same path)
 *   then per call: method index (mod the table size), length L, then L bytes of request.
 * Beyond "no crash, no leak, no undefined behaviour": a handler that succeeds leaves a reply, and one
 * that fails says why (the call's status message). */
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/coordinator_internal.h"
#include "daemon/rpc_wire.h"
#include "daemon/store.h"
#include "tests/fuzz/fuzz_util.h"

#define WORLD 2
#define N_ARMS 3
#define MAX_CALLS 64

static const char *const arm_names[N_ARMS] = {"ntp", "infill.l64-128.r15.w8", "plm.l64-1024.s75"};
static const char *const arm_classes[N_ARMS] = {"ntp", "infilling", "prefix_lm"};

/* The scheduler's part: the next mixture leans towards the arms with the higher mean loss. */
static int fuzz_decide(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                       coordinator_decision *out, char *err, size_t errlen)
{
    for (int i = 0; i < n_arms; i++)
        out->new_weights[i] = 1.0 + loss_sum[i] / (tokens[i] + 1.0);
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            break;
    if (!in || !out || ferror(in) || fclose(out) != 0) {
        perror("fuzz_rpc: copying the template database");
        abort();
    }
    fclose(in);
}

/* A fresh database for every input: a copy of one migrated at start (migrating each time is slow). */
static void fresh_db(const char *db)
{
    static char template[600];
    char path[700], err[512];
    if (!template[0]) {
        fuzz_path(template, sizeof template, "template.db");
        birdie_store *s;
        if (birdie_store_open(template, 0, &s, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_rpc: setup: %s\n", err);
            abort();
        }
        birdie_store_close(s);
    }
    snprintf(path, sizeof path, "%s-wal", db);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", db);
    unlink(path);
    copy_file(template, db);
}

/* After an evaluation round completed, the decide thread's answer is applied on a later tick: wait
 * for it (a bounded wait) so that an input replays the same way every time. */
static void settle_decision(coordinator *co, int64_t version)
{
    for (int i = 0; i < 2000 && co->version == version && !co->last_error[0]; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        coord_tick(co);
    }
}

static void call(coordinator *co, const method_entry *m, const uint8_t *bytes, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)bytes, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    ProtobufCMessage *req = wire_unpack(m->request, bb);
    grpc_byte_buffer_destroy(bb);
    if (!req)
        return;
    int64_t eval_step = co->last_eval_step, version = co->version;
    grpc_byte_buffer *reply = NULL;
    if (m->unary) {
        char msg[COORD_MSG_MAX] = "";
        grpc_status_code code = m->unary(co, req, &reply, msg, sizeof msg);
        if ((code == GRPC_STATUS_OK && !reply) || (code != GRPC_STATUS_OK && !msg[0])) {
            fprintf(stderr, "fuzz_rpc: %s answered %d with %s reply and message '%s'\n", m->path, (int)code,
                    reply ? "a" : "no", msg);
            abort();
        }
    } else {
        reply = m->stream == STREAM_DIRECTIVE ? coord_pack_directive(co) : coord_pack_snapshot_event(co);
    }
    if (reply)
        grpc_byte_buffer_destroy(reply);
    protobuf_c_message_free_unpacked(req, NULL);
    coord_tick(co);
    if (co->last_eval_step != eval_step)
        settle_decision(co, version);
}

static void register_all(coordinator *co, const method_entry *methods, size_t n_methods)
{
    for (size_t i = 0; i < n_methods; i++) {
        if (strcmp(methods[i].path, "/birdie.v1.Coordinator/Register") != 0)
            continue;
        for (int r = 0; r < WORLD; r++) {
            Birdie__V1__RegisterRequest req = BIRDIE__V1__REGISTER_REQUEST__INIT;
            req.rank = r;
            req.world_size = WORLD;
            req.hostname = "fuzzhost";
            req.pid = 100 + r;
            uint8_t buf[128];
            size_t n = protobuf_c_message_pack(&req.base, buf);
            call(co, &methods[i], buf, n);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char db[600];
    if (!db[0]) {
        grpc_init(); /* byte buffers and slices; kept for the life of the process */
        fuzz_path(db, sizeof db, "run.db");
    }
    if (size == 0)
        return 0;
    fresh_db(db);
    coordinator_config cfg = {.bind_addr = "127.0.0.1:0",
                              .token = "",
                              .auth_all = 0,
                              .db_path = db,
                              .run_name = "fuzz",
                              .n_arms = N_ARMS,
                              .arm_names = arm_names,
                              .arm_classes = arm_classes,
                              .world_size = WORLD,
                              .eval_deadline_ms = 600000,
                              .decide = fuzz_decide};
    coordinator *co = NULL;
    char err[512];
    if (coord_open(&cfg, &co, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_rpc: setup: %s\n", err);
        abort();
    }
    size_t n_methods;
    const method_entry *methods = coord_methods(&n_methods);
    if (data[0] & 1)
        register_all(co, methods, n_methods);
    size_t pos = 1;
    for (int calls = 0; calls < MAX_CALLS && pos + 2 <= size; calls++) {
        const method_entry *m = &methods[data[pos] % n_methods];
        size_t len = data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        call(co, m, data + pos, len);
        pos += len;
    }
    coord_close(co);
    return 0;
}
