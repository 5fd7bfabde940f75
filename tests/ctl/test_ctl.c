/* End-to-end tests of birdiectl (run as a subprocess, path in $BIRDIECTL) against an in-process
 * coordinator: output formats, every exit code (0 ok, 2 usage, 3 unavailable, 4 deadline,
 * 5 refused, 6 unauthenticated), the server's message in errors, history --db without a server,
 * and checkpoint (request ids, status and history showing checkpoints); model evaluations and
 * fine-tuning points written by another handle beside the live coordinator, in history over gRPC and
 * --db, table and JSON. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/store_eval.h"
#include "daemon/worker_client.h"
#include "tests/daemon/daemon_fixture.h"

typedef struct ctl_env {
    fixture f;
    worker_client *w0;
    char out[400];
    const char *ctl;
} ctl_env;

static int setup(void **state)
{
    ctl_env *e = calloc(1, sizeof(*e));
    e->ctl = getenv("BIRDIECTL");
    if (!e->ctl || fix_start(&e->f, 1, 1, 2000))
        return -1;
    worker_client_config cfg = {.addr = e->f.addr,
                                .token = FIX_TOKEN,
                                .rank = 0,
                                .world_size = 1,
                                .deadline_ms = 5000,
                                .connect_timeout_ms = 2000};
    char err[256];
    if (worker_client_open(&cfg, &e->w0, err, sizeof(err)))
        return -1;
    snprintf(e->out, sizeof(e->out), "%s/ctl.out", e->f.dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    ctl_env *e = *state;
    worker_client_close(e->w0);
    fix_stop(&e->f);
    free(e);
    return 0;
}

/* Runs birdiectl --addr ADDR --token TOKEN args... (addr/token NULL: left out). */
static int ctl(ctl_env *e, const char *addr, const char *token, const char *const *args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)e->ctl;
    if (addr) {
        argv[n++] = "--addr";
        argv[n++] = (char *)addr;
    }
    if (token) {
        argv[n++] = "--token";
        argv[n++] = (char *)token;
    }
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return fix_run(argv, e->out, 10000);
}

static const char *output(ctl_env *e)
{
    return fix_slurp(e->out);
}

#define EXPECT_OUTPUT(e, needle)                            \
    do {                                                    \
        const char *o_ = output(e);                         \
        if (!strstr(o_, needle))                            \
            fail_msg("output lacks '%s':\n%s", needle, o_); \
    } while (0)

static void test_status_table_and_json(void **state)
{
    ctl_env *e = *state;
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"status", NULL}), 0);
    EXPECT_OUTPUT(e, "test-run");
    EXPECT_OUTPUT(e, "running");
    EXPECT_OUTPUT(e, "copy_short");
    /* the config mixture is uniform over the 3 classes: a third each, 13 of 40 '#' (13.3 rounded) */
    EXPECT_OUTPUT(e, "copying                0.3333  |#############                           |");
    EXPECT_OUTPUT(e, "prefix_lm              0.3333  |#############                           |");
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"-o", "json", "status", NULL}), 0);
    json_error_t jerr;
    json_t *root = json_loads(output(e), 0, &jerr);
    if (!root)
        fail_msg("not JSON: %s\n%s", jerr.text, output(e));
    assert_string_equal(json_string_value(json_object_get(root, "state")), "running");
    json_t *mix = json_object_get(root, "mixture");
    assert_int_equal(json_integer_value(json_object_get(mix, "version")), 0);
    assert_int_equal(json_array_size(json_object_get(mix, "weights")), FIX_N_ARMS);
    assert_int_equal(json_array_size(json_object_get(root, "ranks")), 1);
    json_t *arms = json_object_get(root, "arms");
    assert_int_equal(json_array_size(arms), FIX_N_ARMS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arms, 3), "name")), "copy_long");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arms, 3), "objective_class")), "copying");
    json_decref(root);
}

/* plot over gRPC (GetHistory): the run has its config mixture and one evaluation; the pictures of
 * what exists are drawn (the picture tests themselves are test_ctl_plot.c, from a database). */
static void test_plot_over_grpc(void **state)
{
    ctl_env *e = *state;
    double loss_sum[FIX_N_ARMS] = {30, 32, 20, 22}, tokens[FIX_N_ARMS] = {10, 10, 10, 10};
    char err[256];
    assert_int_equal(worker_client_report_eval(e->w0, 7, loss_sum, tokens, NULL, err, sizeof(err)), 0);
    /* the evaluation is stored once its decision is committed */
    for (int i = 0; i < 1000 && fix_count(&e->f, "evals", "step = 7") < FIX_N_ARMS; i++)
        usleep(20000);
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/plots", e->f.dir);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"-o", "json", "plot", "--out", dir, NULL}), 0);
    json_t *root = json_loads(output(e), 0, NULL);
    if (!root)
        fail_msg("not JSON:\n%s", output(e));
    json_t *files = json_object_get(root, "files");
    char want[500];
    snprintf(want, sizeof(want), "%s/mixture.png", dir);
    int found = 0;
    for (size_t i = 0; i < json_array_size(files); i++)
        found |= !strcmp(json_string_value(json_array_get(files, i)), want);
    if (!found)
        fail_msg("plot over gRPC did not draw %s:\n%s", want, output(e));
    snprintf(want, sizeof(want), "%s/class_loss.svg", dir);
    found = 0;
    for (size_t i = 0; i < json_array_size(files); i++)
        found |= !strcmp(json_string_value(json_array_get(files, i)), want);
    assert_true(found);
    json_decref(root);
}

static void test_set_mixture_and_refusals(void **state)
{
    ctl_env *e = *state;
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN,
                         (const char *[]){"set-mixture", "ntp=3", "copy_long=1", "--expected-version", "0", NULL}),
                     0);
    EXPECT_OUTPUT(e, "version 0 -> 1");
    assert_true(worker_client_wait(e->w0, 1, WORKER_WAKE_VERSION, 3000));
    /* stale version */
    assert_int_equal(
        ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "ntp=1", "--expected-version", "0", NULL}), 5);
    EXPECT_OUTPUT(e, "ABORTED");
    EXPECT_OUTPUT(e, "current version is 1");
    /* unknown arm, negative weight: the server's message */
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "frob=1", NULL}), 5);
    EXPECT_OUTPUT(e, "INVALID_ARGUMENT");
    EXPECT_OUTPUT(e, "unknown arm 'frob'");
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "ntp=-1", NULL}), 5);
    EXPECT_OUTPUT(e, "negative");
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "ntp=nan", NULL}), 5);
    EXPECT_OUTPUT(e, "not finite");
    /* not a number: usage error, nothing sent */
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "ntp=abc", NULL}), 2);
    EXPECT_OUTPUT(e, "not a number");
    /* JSON errors with -o json */
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"-o", "json", "set-mixture", "zzz=1", NULL}), 5);
    json_t *root = json_loads(output(e), 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "error"), "code")), "INVALID_ARGUMENT");
    json_decref(root);
    worker_directive d;
    worker_client_poll(e->w0, &d, NULL);
    assert_int_equal(d.version, 1);
    assert_int_equal(fix_count(&e->f, "mixtures", "source = 'operator'"), 1);
}

static void test_set_mixture_from_files(void **state)
{
    ctl_env *e = *state;
    char path[400];
    snprintf(path, sizeof(path), "%s/w.json", e->f.dir);
    FILE *f = fopen(path, "w");
    fputs("{\"ntp\": 1, \"prefix_lm\": 1}\n", f);
    fclose(f);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "--file", path, NULL}), 0);
    EXPECT_OUTPUT(e, "0.500000");
    snprintf(path, sizeof(path), "%s/w.txt", e->f.dir);
    f = fopen(path, "w");
    fputs("# weights\ncopy_short=2\ncopy_long 2  # same\n", f);
    fclose(f);
    assert_int_equal(
        ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "--file", path, "--expected-version", "1", NULL}),
        0);
    EXPECT_OUTPUT(e, "version 1 -> 2");
    f = fopen(path, "w");
    fputs("copy_short=\n", f);
    fclose(f);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"set-mixture", "--file", path, NULL}), 2);
    EXPECT_OUTPUT(e, ":1:");
}

static void test_auth_and_env(void **state)
{
    ctl_env *e = *state;
    assert_int_equal(ctl(e, e->f.addr, "wrong", (const char *[]){"status", NULL}), 6);
    EXPECT_OUTPUT(e, "UNAUTHENTICATED");
    assert_int_equal(ctl(e, e->f.addr, NULL, (const char *[]){"pause", NULL}), 6);
    setenv("BIRDIE_TOKEN", FIX_TOKEN, 1);
    setenv("BIRDIE_ADDR", e->f.addr, 1);
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"pause", "--reason", "lunch", NULL}), 0);
    EXPECT_OUTPUT(e, "paused");
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"resume", NULL}), 0);
    EXPECT_OUTPUT(e, "running");
    unsetenv("BIRDIE_TOKEN");
    unsetenv("BIRDIE_ADDR");
}

static void test_unavailable_deadline_usage(void **state)
{
    ctl_env *e = *state;
    /* A port nobody listens on: bind one, note it, close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(s, (struct sockaddr *)&a, &len);
    char dead[64];
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", ntohs(a.sin_port));
    close(s);
    assert_int_equal(ctl(e, dead, FIX_TOKEN, (const char *[]){"status", NULL}), 3);
    EXPECT_OUTPUT(e, "UNAVAILABLE");
    /* A socket that accepts TCP but never speaks HTTP/2: the call runs into its deadline. */
    s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, 4), 0);
    len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    char silent[64];
    snprintf(silent, sizeof(silent), "127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(ctl(e, silent, FIX_TOKEN, (const char *[]){"--timeout", "300", "status", NULL}), 4);
    EXPECT_OUTPUT(e, "DEADLINE_EXCEEDED");
    close(s);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"frobnicate", NULL}), 2);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"status", "extra", NULL}), 2);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"-o", "yaml", "status", NULL}), 2);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"--timeout", "x", "status", NULL}), 2);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"--help", NULL}), 0);
    EXPECT_OUTPUT(e, "exit codes");
}

static void test_history_shows_model_evals_and_finetune_points(void **state)
{
    ctl_env *e = *state;
    char err[256];
    /* another writer on the coordinator's database, as `birdied eval` and `finetune` are */
    birdie_store *s = NULL;
    if (birdie_store_open(e->f.db_path, 0, &s, err, sizeof(err)))
        fail_msg("open: %s", err);
    const birdie_store_eval_result r[2] = {
        {.task = "phonebook", .k = 4, .entries = 4, .items = 8, .metric = "digit_accuracy", .value = 0.375},
        {.task = "bpc", .items = 3, .metric = "bits_per_char", .value = 2.5}};
    birdie_store_eval ev = {
        .checkpoint = "/ck/ckpt_000000012.bin", .step = 12, .seed = 7, .n_results = 2, .results = r};
    assert_int_equal(birdie_store_record_eval(s, "test-run", &ev, err, sizeof(err)), 0);
    birdie_store_finetune_point p = {.task = "phonebook",
                                     .source_step = 12,
                                     .lr = 1e-4,
                                     .step = 30,
                                     .k = 2,
                                     .items = 8,
                                     .digit_accuracy = 0.5,
                                     .exact_rate = 0.25,
                                     .answer_loss = 1.25,
                                     .train_loss = 1.5};
    assert_int_equal(birdie_store_record_finetune_point(s, "test-run", &p, err, sizeof(err)), 0);
    birdie_store_close(s);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"history", NULL}), 0);
    EXPECT_OUTPUT(e, "model evals (2)");
    EXPECT_OUTPUT(e, "bits_per_char");
    EXPECT_OUTPUT(e, "finetune points (1)");
    for (int db = 0; db < 2; db++) {
        const char *const server[] = {"-o", "json", "history", NULL};
        const char *const file[] = {"history", "--db", e->f.db_path, "-o", "json", NULL};
        assert_int_equal(ctl(e, db ? NULL : e->f.addr, db ? NULL : FIX_TOKEN, db ? file : server), 0);
        json_t *root = json_loads(output(e), 0, NULL);
        if (!root)
            fail_msg("not JSON:\n%s", output(e));
        json_t *evals = json_object_get(root, "model_evals"), *points = json_object_get(root, "finetune_points");
        assert_int_equal(json_array_size(evals), 2);
        json_t *first = json_array_get(evals, 0);
        assert_string_equal(json_string_value(json_object_get(first, "task")), "phonebook");
        assert_int_equal(json_integer_value(json_object_get(first, "k")), 4);
        assert_true(json_real_value(json_object_get(first, "value")) == 0.375);
        assert_int_equal(json_integer_value(json_object_get(first, "step")), 12);
        assert_int_equal(json_array_size(points), 1);
        assert_true(json_real_value(json_object_get(json_array_get(points, 0), "answer_loss")) == 1.25);
        json_decref(root);
    }
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "--since", "13", NULL}), 0);
    EXPECT_OUTPUT(e, "model evals (0)");
    EXPECT_OUTPUT(e, "finetune points (0)");
}

static void test_history_from_db_and_server(void **state)
{
    ctl_env *e = *state;
    char err[256];
    double l[FIX_N_ARMS] = {4, 3, 2, 1}, t[FIX_N_ARMS] = {2, 2, 2, 2};
    int complete = 0;
    assert_int_equal(worker_client_report_eval(e->w0, 64, l, t, &complete, err, sizeof(err)), 0);
    assert_true(complete);
    assert_true(worker_client_wait(e->w0, 1, WORKER_WAKE_VERSION, 3000));
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"history", NULL}), 0);
    EXPECT_OUTPUT(e, "decisions (1)");
    /* Read the database directly, while the coordinator runs, without any server address. */
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "-o", "json", NULL}), 0);
    json_t *root = json_loads(output(e), 0, NULL);
    if (!root)
        fail_msg("not JSON:\n%s", output(e));
    assert_int_equal(json_array_size(json_object_get(root, "evals")), FIX_N_ARMS);
    assert_int_equal(json_array_size(json_object_get(root, "mixtures")), 2);
    json_decref(root);
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "--since", "65", NULL}), 0);
    EXPECT_OUTPUT(e, "evals (0)");
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/nope.db", e->f.dir);
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", missing, NULL}), 1);
    assert_int_equal(access(missing, F_OK), -1); /* read-only: nothing created */
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"status", "--db", e->f.db_path, NULL}), 2);
}

/* An operator's pause, resume and stop are kept with their reasons, and history shows them (table
 * over gRPC, JSON from the file). */
static void test_history_shows_state_changes(void **state)
{
    ctl_env *e = *state;
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"pause", "--reason", "lunch break", NULL}), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"resume", NULL}), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"stop", "--reason", "enough", NULL}), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"history", NULL}), 0);
    EXPECT_OUTPUT(e, "state changes (5)"); /* starting, running, paused, running, stopping */
    const char *text = output(e);
    const char *paused = strstr(text, " paused ");
    if (!paused || !strstr(paused, "operator pause: lunch break") || !strstr(paused, "operator stop: enough"))
        fail_msg("history lacks the pause and stop with their reasons:\n%s", text);
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "-o", "json", NULL}), 0);
    json_t *root = json_loads(output(e), 0, NULL);
    if (!root)
        fail_msg("not JSON:\n%s", output(e));
    json_t *changes = json_object_get(root, "state_changes");
    assert_int_equal(json_array_size(changes), 5);
    json_t *p = json_array_get(changes, 2);
    assert_string_equal(json_string_value(json_object_get(p, "state")), "paused");
    assert_string_equal(json_string_value(json_object_get(p, "reason")), "operator pause: lunch break");
    json_decref(root);
}

typedef struct delayed {
    const fixture *f;
} delayed;

static void *set_later(void *p)
{
    delayed *d = p;
    usleep(800000); /* after birdiectl has opened its watch (it starts in well under that) */
    birdie_rpc_channel *ch = fix_channel(d->f, FIX_TOKEN);
    Birdie__V1__ControlRequest req = BIRDIE__V1__CONTROL_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/Pause", &req.base, &birdie__v1__control_response__descriptor, &resp,
                         5000, &st) == 0)
        protobuf_c_message_free_unpacked(resp, NULL);
    birdie_rpc_channel_close(ch);
    return NULL;
}

static void test_watch_and_stop(void **state)
{
    ctl_env *e = *state;
    delayed d = {.f = &e->f};
    pthread_t th;
    pthread_create(&th, NULL, set_later, &d);
    int rc = ctl(e, e->f.addr, FIX_TOKEN,
                 (const char *[]){"watch", "--count", "2", "-o", "json", "--timeout", "5000", NULL});
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    /* One JSON object per line: the current state first, then the pause. */
    const char *text = output(e);
    const char *second = strchr(text, '\n');
    assert_non_null(second);
    json_t *first = json_loadb(text, (size_t)(second - text), 0, NULL);
    json_t *root = json_loads(second + 1, 0, NULL);
    if (!first || !root)
        fail_msg("not JSON lines:\n%s", text);
    assert_string_equal(json_string_value(json_object_get(first, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(root, "kind")), "state");
    assert_string_equal(json_string_value(json_object_get(root, "state")), "paused");
    json_decref(first);
    json_decref(root);
    /* its closing error is a JSON line too (a client reads one object per line, always) */
    rc = ctl(e, e->f.addr, "not-the-token", (const char *[]){"watch", "-o", "json", "--timeout", "5000", NULL});
    assert_int_not_equal(rc, 0);
    text = output(e);
    const char *nl = strchr(text, '\n');
    if (!nl || nl[1] != '\0')
        fail_msg("watch -o json: the error is not one line:\n%s", text);
    json_t *err = json_loadb(text, (size_t)(nl - text), 0, NULL);
    assert_non_null(err);
    assert_non_null(json_object_get(err, "error"));
    json_decref(err);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"stop", "--reason", "test over", NULL}), 0);
    EXPECT_OUTPUT(e, "stopping");
    assert_true(worker_client_wait(e->w0, 0, WORKER_WAKE_STOP, 3000));
}

static json_t *json_output(ctl_env *e)
{
    json_error_t jerr;
    json_t *root = json_loads(output(e), 0, &jerr);
    if (!root)
        fail_msg("not JSON: %s\n%s", jerr.text, output(e));
    return root;
}

static void test_checkpoint_command(void **state)
{
    ctl_env *e = *state;
    assert_int_equal(ctl(e, e->f.addr, NULL, (const char *[]){"checkpoint", NULL}), 6);
    assert_int_equal(ctl(e, e->f.addr, "wrong", (const char *[]){"checkpoint", NULL}), 6);
    EXPECT_OUTPUT(e, "UNAUTHENTICATED");
    assert_int_equal(fix_count(&e->f, "checkpoint_requests", NULL), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"checkpoint", "now", NULL}), 2);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"checkpoint", NULL}), 0);
    EXPECT_OUTPUT(e, "checkpoint_seq 1");
    assert_int_equal(
        ctl(e, e->f.addr, FIX_TOKEN,
            (const char *[]){"-o", "json", "checkpoint", "--request-id", "nightly-1", "--reason", "nightly", NULL}),
        0);
    json_t *root = json_output(e);
    assert_int_equal(json_integer_value(json_object_get(root, "checkpoint_seq")), 2);
    assert_true(json_is_false(json_object_get(root, "replayed")));
    json_decref(root);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"checkpoint", "--request-id", "nightly-1", NULL}),
                     0);
    EXPECT_OUTPUT(e, "checkpoint_seq 2 (request already applied");
    assert_int_equal(fix_count(&e->f, "checkpoint_requests", NULL), 2);
    assert_int_equal(fix_count(&e->f, "checkpoint_requests", "request_id = 'nightly-1' AND reason = 'nightly'"), 1);
    worker_directive d = {0};
    for (int i = 0; i < 150 && d.checkpoint_seq < 2; i++) {
        worker_client_poll(e->w0, &d, NULL);
        usleep(20000);
    }
    assert_int_equal(d.checkpoint_seq, 2);

    char err[256];
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"status", NULL}), 0);
    EXPECT_OUTPUT(e, "last ckpt  none");
    assert_int_equal(
        worker_client_report_checkpoint(e->w0, 64, "/ck/ckpt_64.bin", 4096, "00112233445566ff", err, sizeof(err)), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"status", NULL}), 0);
    EXPECT_OUTPUT(e, "ckpt seq   2");
    EXPECT_OUTPUT(e, "last ckpt  step 64");
    EXPECT_OUTPUT(e, "/ck/ckpt_64.bin");
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"-o", "json", "status", NULL}), 0);
    root = json_output(e);
    assert_int_equal(json_integer_value(json_object_get(root, "checkpoint_seq")), 2);
    json_t *last = json_object_get(root, "last_checkpoint");
    assert_string_equal(json_string_value(json_object_get(last, "path")), "/ck/ckpt_64.bin");
    assert_int_equal(json_integer_value(json_object_get(last, "bytes")), 4096);
    json_decref(root);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"history", NULL}), 0);
    EXPECT_OUTPUT(e, "checkpoints (1)");
    EXPECT_OUTPUT(e, "00112233445566ff /ck/ckpt_64.bin");
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "-o", "json", NULL}), 0);
    root = json_output(e);
    json_t *cks = json_object_get(root, "checkpoints");
    assert_int_equal(json_array_size(cks), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(cks, 0), "step")), 64);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "checksum")), "00112233445566ff");
    json_decref(root);
    assert_int_equal(ctl(e, NULL, NULL, (const char *[]){"history", "--db", e->f.db_path, "--since", "65", NULL}), 0);
    EXPECT_OUTPUT(e, "checkpoints (0)");

    /* Once the run is over a checkpoint is refused (exit 5) and nothing changes. */
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"stop", NULL}), 0);
    assert_int_equal(worker_client_finish(e->w0, 64, 0, "done", err, sizeof(err)), 0);
    assert_int_equal(ctl(e, e->f.addr, FIX_TOKEN, (const char *[]){"checkpoint", NULL}), 5);
    EXPECT_OUTPUT(e, "FAILED_PRECONDITION");
    EXPECT_OUTPUT(e, "stopped");
    assert_int_equal(fix_count(&e->f, "checkpoint_requests", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_table_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plot_over_grpc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_mixture_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_mixture_from_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_deadline_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_from_db_and_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_shows_model_evals_and_finetune_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_shows_state_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_command, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
