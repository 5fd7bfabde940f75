/* birdiectl: the operator's command line for a running birdied coordinator (birdie.v1.Control over
 * gRPC), plus `history --db FILE`, which reads a coordinator database directly and read-only.
 *
 * Exit codes (for scripts): 0 ok; 1 other error (INTERNAL, UNIMPLEMENTED, a database error...);
 * 2 usage error; 3 cannot reach the server (UNAVAILABLE); 4 deadline exceeded; 5 the server refused
 * the request (INVALID_ARGUMENT, ABORTED, FAILED_PRECONDITION, NOT_FOUND, OUT_OF_RANGE); 6
 * UNAUTHENTICATED; 7 a program birdiectl needs is missing (plot: gnuplot); 8 explain --replay recomputed
 * a decision that differs from the stored one. `plot` and `explain` are ctl_plot*.c and ctl_explain.c.
 * Errors print the status name and the server's message (as JSON with -o json). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "birdie/v1/birdie.pb-c.h"
#include "ctl/ctl_explain.h"
#include "ctl/ctl_json.h"
#include "ctl/ctl_plot.h"
#include "ctl/ctl_table.h"
#include "ctl/ctl_weights.h"
#include "daemon/rpc_client.h"
#include "daemon/rpc_wire.h"
#include "daemon/store.h"
#include "daemon/token.h"
#include "worker/error.h"

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_UNAVAILABLE = 3,
    EXIT_DEADLINE = 4,
    EXIT_REFUSED = 5,
    EXIT_UNAUTHENTICATED = 6,
    EXIT_MISSING_PROGRAM = 7,
    EXIT_REPLAY_DIFFERS = 8
};

/* Rows per table plot asks for: the server's maximum (GetHistory's limit). */
#define PLOT_HISTORY_LIMIT 100000

typedef struct options {
    const char *addr, *token, *token_file, *output, *db, *run, *file, *request_id, *reason;
    const char *out_dir, *checkpoint, *gnuplot; /* plot --out, explain --checkpoint, plot --gnuplot */
    int has_decision, replay; /* explain --decision N, --replay */
    int64_t decision;
    int timeout_ms;
    int timeout_given;
    int64_t since;
    int limit;
    int has_expected_version;
    int64_t expected_version;
    long count; /* watch: stop after this many events (0: until the stream ends) */
    int json;
    const char *command;
    int n_args;
    char **args;
} options;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: birdiectl [options] COMMAND [args]\n"
           "commands:\n"
           "  status                                  run state, step, tokens/s, per-rank mixture version, last eval,\n"
           "                                          checkpoint_seq and the last checkpoint\n"
           "  set-mixture arm=w ... | --file F        set the objective mixture (weights are normalised)\n"
           "              [--expected-version V] [--request-id ID] [--reason TEXT]\n"
           "  watch [--count N]                       stream step/eval/mixture/state/checkpoint events\n"
           "  history [--since STEP] [--limit N]      evals, rewards, decisions, mixtures, checkpoints,\n"
           "                                          model evals, fine-tuning points\n"
           "          [--db FILE [--run NAME]]        ... read from a database file, no server needed\n"
           "  checkpoint [--reason TEXT] [--request-id ID]\n"
           "                                          ask every rank to checkpoint; prints the new checkpoint_seq\n"
           "  pause | resume | stop [--reason TEXT]\n"
           "  plot --out DIR [--db FILE [--run NAME]] [--gnuplot PROG]\n"
           "                                          PNG and SVG pictures of the run (losses, mixture per class with\n"
           "                                          decisions, rewards) drawn with gnuplot, from the server or a "
           "database\n"
           "  explain STEP | --decision N --db FILE [--run NAME] [--replay [--checkpoint FILE|DIR]]\n"
           "                                          why the scheduler decided what it did at STEP (or its evaluation "
           "N);\n"
           "                                          --replay recomputes it from a checkpoint's scheduler state\n"
           "options:\n"
           "  --addr HOST:PORT     coordinator address (default $BIRDIE_ADDR or 127.0.0.1:50051)\n"
           "  --token TOKEN        bearer token (default $BIRDIE_TOKEN); --token-file FILE reads it from a file\n"
           "  -o table|json        output format (default table)\n"
           "  --timeout MS         deadline of each call (default 10000; watch: none unless given)\n"
           "exit codes: 0 ok, 1 error, 2 usage, 3 unavailable, 4 deadline exceeded,\n"
           "            5 refused (INVALID_ARGUMENT/ABORTED/FAILED_PRECONDITION) or not found (explain: no such\n"
           "            decision), 6 unauthenticated, 7 a needed program is missing (plot: gnuplot),\n"
           "            8 explain --replay: the recomputed decision differs from the stored one\n");
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Options may appear anywhere; everything else is the command and its arguments. */
static int parse_args(int argc, char **argv, options *o, char *err, size_t errlen)
{
    static const char *const with_value[] = {
        "--addr",  "--token",      "--token-file", "-o",           "--output", "--db",    "--run",
        "--file",  "--request-id", "--reason",     "--timeout",    "--since",  "--limit", "--expected-version",
        "--count", "--out",        "--decision",   "--checkpoint", "--gnuplot"};
    o->args = calloc((size_t)argc, sizeof(char *));
    if (!o->args)
        return birdie_fail(err, errlen, -1, "out of memory");
    o->timeout_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        const char *name = NULL;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t n = strlen(with_value[k]);
            if (strcmp(a, with_value[k]) == 0) {
                if (i + 1 >= argc)
                    return birdie_fail(err, errlen, -1, "%s needs a value", a);
                name = with_value[k];
                value = argv[++i];
            } else if (strncmp(a, with_value[k], n) == 0 && a[n] == '=') {
                name = with_value[k];
                value = a + n + 1;
            }
            if (name)
                break;
        }
        if (!name) {
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
                return 1;
            if (strcmp(a, "--replay") == 0) {
                o->replay = 1;
                continue;
            }
            if (a[0] == '-' && a[1] == '-')
                return birdie_fail(err, errlen, -1, "unknown option %s", a);
            if (!o->command)
                o->command = a;
            else
                o->args[o->n_args++] = argv[i];
            continue;
        }
        int64_t v = 0;
        if (!strcmp(name, "--addr"))
            o->addr = value;
        else if (!strcmp(name, "--token"))
            o->token = value;
        else if (!strcmp(name, "--token-file"))
            o->token_file = value;
        else if (!strcmp(name, "-o") || !strcmp(name, "--output"))
            o->output = value;
        else if (!strcmp(name, "--db"))
            o->db = value;
        else if (!strcmp(name, "--run"))
            o->run = value;
        else if (!strcmp(name, "--file"))
            o->file = value;
        else if (!strcmp(name, "--request-id"))
            o->request_id = value;
        else if (!strcmp(name, "--reason"))
            o->reason = value;
        else if (!strcmp(name, "--out"))
            o->out_dir = value;
        else if (!strcmp(name, "--checkpoint"))
            o->checkpoint = value;
        else if (!strcmp(name, "--gnuplot"))
            o->gnuplot = value;
        else if (parse_int64(value, &v))
            return birdie_fail(err, errlen, -1, "%s: '%s' is not an integer", name, value);
        else if (!strcmp(name, "--timeout")) {
            if (v <= 0 || v > 86400000)
                return birdie_fail(err, errlen, -1, "--timeout must be within 1..86400000 ms");
            o->timeout_ms = (int)v;
            o->timeout_given = 1;
        } else if (!strcmp(name, "--since"))
            o->since = v;
        else if (!strcmp(name, "--limit")) {
            if (v < 0 || v > 100000)
                return birdie_fail(err, errlen, -1, "--limit must be within 0..100000");
            o->limit = (int)v;
        } else if (!strcmp(name, "--expected-version")) {
            if (v < 0)
                return birdie_fail(err, errlen, -1, "--expected-version must be non-negative");
            o->has_expected_version = 1;
            o->expected_version = v;
        } else if (!strcmp(name, "--decision")) {
            if (v < 0)
                return birdie_fail(err, errlen, -1, "--decision must be non-negative");
            o->has_decision = 1;
            o->decision = v;
        } else if (!strcmp(name, "--count")) {
            if (v < 0)
                return birdie_fail(err, errlen, -1, "--count must be non-negative");
            o->count = (long)v;
        }
    }
    if (!o->command)
        return birdie_fail(err, errlen, -1, "no command given");
    if (o->output && strcmp(o->output, "json") != 0 && strcmp(o->output, "table") != 0)
        return birdie_fail(err, errlen, -1, "-o must be table or json, not '%s'", o->output);
    o->json = o->output && strcmp(o->output, "json") == 0;
    return 0;
}

static int exit_code_for(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK: return EXIT_OK;
    case GRPC_STATUS_UNAVAILABLE: return EXIT_UNAVAILABLE;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return EXIT_DEADLINE;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_NOT_FOUND:
    case GRPC_STATUS_OUT_OF_RANGE: return EXIT_REFUSED;
    case GRPC_STATUS_UNAUTHENTICATED: return EXIT_UNAUTHENTICATED;
    default: return EXIT_ERROR;
    }
}

/* Reports an error in the chosen format and returns the exit code. */
static int report_error(const options *o, const char *code_name, const char *message, int exit_code)
{
    if (o->json) {
        json_t *e = json_pack("{s:{s:s,s:s,s:i}}", "error", "code", code_name, "message", message ? message : "",
                              "exit_code", exit_code);
        /* watch prints JSON lines, one object per line: its closing error is one more line */
        ctl_print_json(e, o->command && !strcmp(o->command, "watch"));
    } else {
        fprintf(stderr, "birdiectl: %s: %s\n", code_name, message ? message : "");
    }
    return exit_code;
}

static int report_rpc_error(const options *o, const char *command, const birdie_rpc_status *st)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "%s: %s", command, st->message);
    return report_error(o, birdie_wire_status_name(st->code), msg, exit_code_for(st->code));
}

static int usage_error(const options *o, const char *msg)
{
    int rc = report_error(o, "USAGE", msg, EXIT_USAGE);
    if (!o->json)
        usage(stderr);
    return rc;
}

/* A random request id so that a retry of a mutation (set-mixture, checkpoint) cannot apply it twice. */
static void new_request_id(char *out, size_t outlen)
{
    unsigned char b[12] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof(b), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(b)) { /* no urandom: time and address still make collisions unlikely */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &x, sizeof(x));
    }
    size_t used = (size_t)snprintf(out, outlen, "ctl-");
    for (size_t i = 0; i < sizeof(b) && used + 2 < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%02x", b[i]);
}

/* --request-id as given (the server checks its length), else a new random one in buf. */
static char *request_id_or_new(const options *o, char *buf, size_t buflen)
{
    if (o->request_id)
        return (char *)o->request_id;
    new_request_id(buf, buflen);
    return buf;
}

typedef void (*table_printer)(const ProtobufCMessage *m, const options *o);

static int print_reply(const options *o, const ProtobufCMessage *m, table_printer table)
{
    if (o->json)
        ctl_print_json(ctl_message_to_json(m), 0);
    else
        table(m, o);
    return EXIT_OK;
}

static void table_status(const ProtobufCMessage *m, const options *o)
{
    ctl_table_status((const void *)m);
}
static void table_set_mixture(const ProtobufCMessage *m, const options *o)
{
    ctl_table_set_mixture((const void *)m);
}
static void table_history(const ProtobufCMessage *m, const options *o)
{
    ctl_table_history((const void *)m);
}
static void table_control(const ProtobufCMessage *m, const options *o)
{
    ctl_table_control(o->command, (const void *)m);
}
static void table_checkpoint(const ProtobufCMessage *m, const options *o)
{
    ctl_table_checkpoint((const void *)m);
}

static int unary(birdie_rpc_channel *ch, const options *o, const char *method, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc, table_printer table)
{
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, method, req, resp_desc, &resp, o->timeout_ms, &st))
        return report_rpc_error(o, o->command, &st);
    int rc = print_reply(o, resp, table);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* A mutation carrying a request id: a timeout or a dropped connection may hide a success, and the
 * same request id makes the one retry return the first result instead of applying it twice. */
static int call_with_retry(birdie_rpc_channel *ch, const options *o, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, birdie_rpc_status *st)
{
    int rc = birdie_rpc_unary(ch, method, req, resp_desc, resp, o->timeout_ms, st);
    if (rc && (st->code == GRPC_STATUS_DEADLINE_EXCEEDED || st->code == GRPC_STATUS_UNAVAILABLE))
        rc = birdie_rpc_unary(ch, method, req, resp_desc, resp, o->timeout_ms, st);
    return rc;
}

static int cmd_set_mixture(birdie_rpc_channel *ch, const options *o)
{
    ctl_weights w;
    char err[600];
    if (o->file && o->n_args)
        return usage_error(o, "set-mixture takes arm=w arguments or --file, not both");
    if (!o->file && !o->n_args)
        return usage_error(o, "set-mixture needs arm=w arguments or --file F");
    int rc = o->file ? ctl_weights_from_file(o->file, &w, err, sizeof(err))
                     : ctl_weights_from_args(o->n_args, o->args, &w, err, sizeof(err));
    if (rc)
        return usage_error(o, err);
    Birdie__V1__SetMixtureRequest req = BIRDIE__V1__SET_MIXTURE_REQUEST__INIT;
    Birdie__V1__ArmWeight *items = calloc(w.n, sizeof(*items));
    Birdie__V1__ArmWeight **ptrs = calloc(w.n, sizeof(*ptrs));
    Birdie__V1__ExpectedVersion expected = BIRDIE__V1__EXPECTED_VERSION__INIT;
    char request_id[64];
    if (!items || !ptrs) {
        free(items);
        free(ptrs);
        ctl_weights_free(&w);
        return report_error(o, "INTERNAL", "out of memory", EXIT_ERROR);
    }
    for (size_t i = 0; i < w.n; i++) {
        birdie__v1__arm_weight__init(&items[i]);
        items[i].arm = w.arms[i];
        items[i].weight = w.weights[i];
        ptrs[i] = &items[i];
    }
    req.n_weights = w.n;
    req.weights = ptrs;
    if (o->has_expected_version) {
        expected.version = o->expected_version;
        req.expected_version = &expected;
    }
    req.request_id = request_id_or_new(o, request_id, sizeof(request_id));
    req.reason = (char *)(o->reason ? o->reason : "");
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    rc = call_with_retry(ch, o, "/birdie.v1.Control/SetMixture", &req.base,
                         &birdie__v1__set_mixture_response__descriptor, &resp, &st);
    free(items);
    free(ptrs);
    ctl_weights_free(&w);
    if (rc)
        return report_rpc_error(o, "set-mixture", &st);
    rc = print_reply(o, resp, table_set_mixture);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int cmd_checkpoint(birdie_rpc_channel *ch, const options *o)
{
    Birdie__V1__CheckpointRequest req = BIRDIE__V1__CHECKPOINT_REQUEST__INIT;
    char request_id[64];
    req.request_id = request_id_or_new(o, request_id, sizeof(request_id));
    req.reason = (char *)(o->reason ? o->reason : "");
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (call_with_retry(ch, o, "/birdie.v1.Control/Checkpoint", &req.base, &birdie__v1__checkpoint_response__descriptor,
                        &resp, &st))
        return report_rpc_error(o, "checkpoint", &st);
    int rc = print_reply(o, resp, table_checkpoint);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int cmd_watch(birdie_rpc_channel *ch, const options *o)
{
    Birdie__V1__WatchRequest req = BIRDIE__V1__WATCH_REQUEST__INIT;
    birdie_rpc_stream *s = NULL;
    birdie_rpc_status st;
    /* A watch lasts as long as the operator wants: no deadline unless --timeout was given. */
    int deadline = o->timeout_given ? o->timeout_ms : 0;
    if (birdie_rpc_stream_open(ch, "/birdie.v1.Control/Watch", &req.base, deadline, &s, &st))
        return report_rpc_error(o, "watch", &st);
    long seen = 0;
    ProtobufCMessage *m = NULL;
    int r;
    while ((o->count == 0 || seen < o->count) &&
           (r = birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st)) == 1) {
        if (o->json)
            ctl_print_json(ctl_message_to_json(m), 1);
        else
            ctl_table_event((const Birdie__V1__Event *)m);
        protobuf_c_message_free_unpacked(m, NULL);
        seen++;
    }
    int done_by_count = o->count > 0 && seen >= o->count;
    birdie_rpc_stream_close(s);
    if (done_by_count || st.code == GRPC_STATUS_OK)
        return EXIT_OK;
    return report_rpc_error(o, "watch", &st);
}

static int cmd_history_db(const options *o)
{
    birdie_store *store = NULL;
    char err[600];
    int64_t run_id;
    Birdie__V1__GetHistoryResponse *h = NULL;
    int rc = birdie_store_open(o->db, 1, &store, err, sizeof(err));
    if (rc == 0)
        rc = birdie_store_select_run(store, o->run, &run_id, err, sizeof(err));
    if (rc == 0)
        rc = birdie_store_history(store, o->since, o->limit, &h, err, sizeof(err));
    birdie_store_close(store);
    if (rc)
        return report_error(o, "DATABASE", err, EXIT_ERROR);
    print_reply(o, &h->base, table_history);
    birdie_store_history_free(h);
    return EXIT_OK;
}

/* plot: the history (a database's or the server's) -> ctl_plot_data -> gnuplot. */
static int plot_history(const options *o, const Birdie__V1__GetHistoryResponse *h)
{
    char err[700];
    ctl_plot_data d;
    int rc = ctl_plot_data_build(h, &d, err, sizeof(err));
    if (rc)
        return report_error(o, "DATA", err, EXIT_ERROR);
    ctl_plot_files files;
    rc = ctl_plot_draw(&d, o->out_dir, o->gnuplot ? o->gnuplot : "gnuplot", &files, err, sizeof(err));
    ctl_plot_data_free(&d);
    if (rc == -ENOENT)
        return report_error(o, "MISSING_PROGRAM", err, EXIT_MISSING_PROGRAM);
    if (rc)
        return report_error(o, rc == -ENODATA ? "NO_DATA" : "PLOT", err, EXIT_ERROR);
    /* the limit caps every table; a table that filled it was cut */
    size_t cap = PLOT_HISTORY_LIMIT;
    int cut = h->n_evals == cap || h->n_steps == cap || h->n_rewards == cap || h->n_mixtures == cap;
    if (o->json) {
        json_t *list = json_array();
        for (int i = 0; i < files.n; i++)
            json_array_append_new(list, json_string(files.path[i]));
        ctl_print_json(json_pack("{s:o,s:b}", "files", list, "truncated", cut), 0);
    } else {
        for (int i = 0; i < files.n; i++)
            printf("%s\n", files.path[i]);
        if (cut)
            fprintf(stderr, "birdiectl: plot: the history was cut at %d rows per table; later steps are missing\n",
                    PLOT_HISTORY_LIMIT);
    }
    return EXIT_OK;
}

static int cmd_plot_rpc(birdie_rpc_channel *ch, const options *o)
{
    Birdie__V1__GetHistoryRequest req = BIRDIE__V1__GET_HISTORY_REQUEST__INIT;
    req.limit = PLOT_HISTORY_LIMIT;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/GetHistory", &req.base, &birdie__v1__get_history_response__descriptor,
                         &resp, o->timeout_ms, &st))
        return report_rpc_error(o, "plot", &st);
    int rc = plot_history(o, (const Birdie__V1__GetHistoryResponse *)resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int cmd_plot_db(const options *o)
{
    birdie_store *store = NULL;
    char err[600];
    int64_t run_id;
    Birdie__V1__GetHistoryResponse *h = NULL;
    int rc = birdie_store_open(o->db, 1, &store, err, sizeof(err));
    if (rc == 0)
        rc = birdie_store_select_run(store, o->run, &run_id, err, sizeof(err));
    if (rc == 0)
        rc = birdie_store_history(store, 0, PLOT_HISTORY_LIMIT, &h, err, sizeof(err));
    birdie_store_close(store);
    if (rc)
        return report_error(o, "DATABASE", err, EXIT_ERROR);
    rc = plot_history(o, h);
    birdie_store_history_free(h);
    return rc;
}

static int cmd_explain(const options *o)
{
    char err[1600];
    if (!o->db)
        return usage_error(o, "explain reads the store: --db FILE");
    if (o->has_decision ? o->n_args != 0 : o->n_args != 1)
        return usage_error(o, "explain takes one STEP or --decision N");
    ctl_explain_args a = {.db = o->db,
                          .run = o->run,
                          .by_decision = o->has_decision,
                          .step = o->decision,
                          .replay = o->replay,
                          .checkpoint = o->checkpoint,
                          .json = o->json};
    if (!o->has_decision && (parse_int64(o->args[0], &a.step) || a.step < 0)) {
        snprintf(err, sizeof(err), "explain: STEP '%s' is not a non-negative integer", o->args[0]);
        return usage_error(o, err);
    }
    if (o->checkpoint && !o->replay)
        return usage_error(o, "--checkpoint goes with --replay");
    int replayed;
    int rc = ctl_explain(&a, &replayed, err, sizeof(err));
    if (rc == -ENOENT)
        return report_error(o, "NOT_FOUND", err, EXIT_REFUSED);
    if (rc)
        return report_error(o, "DATABASE", err, EXIT_ERROR);
    return replayed == CTL_EXPLAIN_REPLAY_DIFFERS ? EXIT_REPLAY_DIFFERS : EXIT_OK;
}

static int run_command(birdie_rpc_channel *ch, const options *o)
{
    const char *c = o->command;
    if (!strcmp(c, "status")) {
        Birdie__V1__GetStatusRequest req = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
        return unary(ch, o, "/birdie.v1.Control/GetStatus", &req.base, &birdie__v1__get_status_response__descriptor,
                     table_status);
    }
    if (!strcmp(c, "set-mixture"))
        return cmd_set_mixture(ch, o);
    if (!strcmp(c, "watch"))
        return cmd_watch(ch, o);
    if (!strcmp(c, "checkpoint"))
        return cmd_checkpoint(ch, o);
    if (!strcmp(c, "plot"))
        return cmd_plot_rpc(ch, o);
    if (!strcmp(c, "history")) {
        Birdie__V1__GetHistoryRequest req = BIRDIE__V1__GET_HISTORY_REQUEST__INIT;
        req.since_step = o->since;
        req.limit = o->limit;
        return unary(ch, o, "/birdie.v1.Control/GetHistory", &req.base, &birdie__v1__get_history_response__descriptor,
                     table_history);
    }
    static const char *const verbs[][2] = {{"pause", "/birdie.v1.Control/Pause"},
                                           {"resume", "/birdie.v1.Control/Resume"},
                                           {"stop", "/birdie.v1.Control/Stop"}};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(c, verbs[i][0]) != 0)
            continue;
        Birdie__V1__ControlRequest req = BIRDIE__V1__CONTROL_REQUEST__INIT;
        req.reason = (char *)(o->reason ? o->reason : "");
        return unary(ch, o, verbs[i][1], &req.base, &birdie__v1__control_response__descriptor, table_control);
    }
    return -1;
}

static int known_command(const char *c)
{
    static const char *const names[] = {"status", "set-mixture", "watch", "history", "checkpoint",
                                        "pause",  "resume",      "stop",  "plot",    "explain"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(c, names[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof(o));
    char err[600];
    int prc = parse_args(argc, argv, &o, err, sizeof(err));
    if (prc == 1) {
        usage(stdout);
        free(o.args);
        return EXIT_OK;
    }
    int rc;
    if (prc < 0) {
        rc = usage_error(&o, err);
    } else if (!known_command(o.command)) {
        snprintf(err, sizeof(err), "unknown command '%s'", o.command);
        rc = usage_error(&o, err);
    } else if ((o.replay || o.has_decision || o.checkpoint) && strcmp(o.command, "explain") != 0) {
        rc = usage_error(&o, "--replay, --decision and --checkpoint work with explain only");
    } else if ((o.out_dir || o.gnuplot) && strcmp(o.command, "plot") != 0) {
        rc = usage_error(&o, "--out and --gnuplot work with plot only");
    } else if (!strcmp(o.command, "explain")) {
        rc = cmd_explain(&o);
    } else if (o.n_args && strcmp(o.command, "set-mixture") != 0) {
        snprintf(err, sizeof(err), "%s takes no arguments (got '%s')", o.command, o.args[0]);
        rc = usage_error(&o, err);
    } else if (!strcmp(o.command, "plot") && !o.out_dir) {
        rc = usage_error(&o, "plot needs --out DIR");
    } else if (o.db) {
        rc = !strcmp(o.command, "history") ? cmd_history_db(&o)
             : !strcmp(o.command, "plot")  ? cmd_plot_db(&o)
                                           : usage_error(&o, "--db works with history, plot and explain only");
    } else {
        char token[BIRDIE_TOKEN_MAX];
        token[0] = 0;
        if (o.token)
            snprintf(token, sizeof(token), "%s", o.token);
        else if (birdie_token_load(o.token_file, token, sizeof(token), err, sizeof(err))) {
            rc = usage_error(&o, err);
            free(o.args);
            return rc;
        }
        const char *addr = o.addr ? o.addr : getenv("BIRDIE_ADDR");
        if (!addr || !*addr)
            addr = "127.0.0.1:50051";
        if (o.timeout_ms < 0)
            o.timeout_ms = 10000;
        birdie_rpc_channel *ch = NULL;
        if (birdie_rpc_channel_open(addr, token, &ch, err, sizeof(err))) {
            rc = report_error(&o, "UNAVAILABLE", err, EXIT_UNAVAILABLE);
        } else {
            rc = run_command(ch, &o);
            birdie_rpc_channel_close(ch);
        }
    }
    free(o.args);
    return rc;
}
