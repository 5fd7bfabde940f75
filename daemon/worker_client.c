/* worker_client: see worker_client.h. Unary calls run on the caller's thread (rpc_client gives each
 * call its own completion queue); the stream lives on one background thread. */
#include "daemon/worker_client.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/rpc_client.h"
#include "daemon/rpc_wire.h"
#include "daemon/thread_cpu.h"
#include "worker/clock.h"
#include "worker/error.h"
#include "worker/flight.h"

struct worker_client {
    birdie_rpc_channel *ch;
    int rank, world_size, deadline_ms;
    int64_t incarnation;
    int n_arms;
    char **arm_names;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closing;
    birdie_rpc_stream *stream; /* the live stream, for cancel on close */
    worker_directive dir;
    double *weights; /* [n_arms] */
};

int worker_client_rpc_code(int rc)
{
    return rc <= -1000 && rc >= -1016 ? -1000 - rc : -1;
}

static int rpc_fail(const char *what, const birdie_rpc_status *st, char *err, size_t errlen)
{
    return birdie_fail(err, errlen, WORKER_RPC_ERR(st->code), "%s: %s%s%s", what, birdie_wire_status_name(st->code),
                       st->message[0] ? ": " : "", st->message);
}

static int take_register_reply(worker_client *wc, const Birdie__V1__RegisterResponse *r, char *err, size_t errlen)
{
    wc->incarnation = r->incarnation;
    wc->n_arms = (int)r->n_arms;
    wc->arm_names = calloc(r->n_arms ? r->n_arms : 1, sizeof(char *));
    wc->weights = calloc(r->n_arms ? r->n_arms : 1, sizeof(double));
    if (!wc->arm_names || !wc->weights)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_arms; i++) {
        wc->arm_names[i] = strdup(r->arms[i]);
        if (!wc->arm_names[i])
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    if (r->n_arms == 0)
        return birdie_fail(err, errlen, -EPROTO, "the coordinator's run has no arms");
    return 0;
}

static int do_register(worker_client *wc, int connect_timeout_ms, char *err, size_t errlen)
{
    Birdie__V1__RegisterRequest req = BIRDIE__V1__REGISTER_REQUEST__INIT;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    req.rank = wc->rank;
    req.world_size = wc->world_size;
    req.hostname = host;
    req.pid = getpid();
    int64_t give_up = birdie_monotonic_ms() + connect_timeout_ms;
    int backoff_ms = 50;
    for (;;) {
        ProtobufCMessage *resp = NULL;
        birdie_rpc_status st;
        if (birdie_rpc_unary(wc->ch, "/birdie.v1.Coordinator/Register", &req.base,
                             &birdie__v1__register_response__descriptor, &resp, wc->deadline_ms, &st) == 0) {
            int rc = take_register_reply(wc, (const Birdie__V1__RegisterResponse *)resp, err, errlen);
            protobuf_c_message_free_unpacked(resp, NULL);
            return rc;
        }
        if (st.code != GRPC_STATUS_UNAVAILABLE || birdie_monotonic_ms() + backoff_ms > give_up)
            return rpc_fail("Register", &st, err, errlen);
        struct timespec ts = {.tv_sec = backoff_ms / 1000, .tv_nsec = (long)(backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (backoff_ms < 1000)
            backoff_ms *= 2;
    }
}

/* Copies a received directive into the shared state (weights by arm name). */
static void take_directive(worker_client *wc, const Birdie__V1__WorkerDirective *d)
{
    pthread_mutex_lock(&wc->mu);
    if (d->mixture) {
        for (size_t k = 0; k < d->mixture->n_weights; k++)
            for (int i = 0; i < wc->n_arms; i++)
                if (strcmp(wc->arm_names[i], d->mixture->weights[k]->arm) == 0)
                    wc->weights[i] = d->mixture->weights[k]->weight;
        wc->dir.version = d->mixture->version;
    }
    wc->dir.pause = d->pause;
    wc->dir.stop = d->stop;
    wc->dir.failed = d->failed;
    snprintf(wc->dir.stop_reason, sizeof(wc->dir.stop_reason), "%s", d->stop_reason);
    wc->dir.checkpoint_seq = d->checkpoint_seq;
    wc->dir.stream_connected = 1;
    pthread_cond_broadcast(&wc->cv);
    pthread_mutex_unlock(&wc->mu);
}

/* Sleeps up to ms unless the client is closing; returns closing. Called with mu held. */
static int wait_closing(worker_client *wc, int ms)
{
    struct timespec ts = birdie_realtime_after_ms(ms);
    while (!wc->closing && pthread_cond_timedwait(&wc->cv, &wc->mu, &ts) == 0) {
    }
    return wc->closing;
}

static void *stream_main(void *arg)
{
    worker_client *wc = arg;
    birdie_thread_name("birdie-watch");
    Birdie__V1__WatchMixtureRequest req = BIRDIE__V1__WATCH_MIXTURE_REQUEST__INIT;
    req.rank = wc->rank;
    int backoff_ms = 50;
    for (;;) {
        birdie_rpc_stream *s = NULL;
        birdie_rpc_status st;
        int opened = birdie_rpc_stream_open(wc->ch, "/birdie.v1.Coordinator/WatchMixture", &req.base, 0, &s, &st) == 0;
        pthread_mutex_lock(&wc->mu);
        wc->stream = s;
        if (wc->closing && s)
            birdie_rpc_stream_cancel(s);
        pthread_mutex_unlock(&wc->mu);
        if (opened) {
            ProtobufCMessage *m = NULL;
            while (birdie_rpc_stream_next(s, &birdie__v1__worker_directive__descriptor, &m, &st) == 1) {
                take_directive(wc, (const Birdie__V1__WorkerDirective *)m);
                protobuf_c_message_free_unpacked(m, NULL);
                backoff_ms = 50;
            }
        }
        pthread_mutex_lock(&wc->mu);
        wc->stream = NULL;
        wc->dir.stream_connected = 0;
        pthread_mutex_unlock(&wc->mu);
        birdie_rpc_stream_close(s);
        pthread_mutex_lock(&wc->mu);
        int closing = wait_closing(wc, backoff_ms);
        pthread_mutex_unlock(&wc->mu);
        if (closing)
            break;
        if (backoff_ms < 2000)
            backoff_ms *= 2;
    }
    return NULL;
}

static void free_client(worker_client *wc)
{
    birdie_rpc_channel_close(wc->ch);
    for (int i = 0; wc->arm_names && i < wc->n_arms; i++)
        free(wc->arm_names[i]);
    free(wc->arm_names);
    free(wc->weights);
    pthread_mutex_destroy(&wc->mu);
    pthread_cond_destroy(&wc->cv);
    free(wc);
}

int worker_client_open(const worker_client_config *cfg, worker_client **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->rank < 0 || cfg->world_size <= 0 || cfg->rank >= cfg->world_size)
        return birdie_fail(err, errlen, -EINVAL, "rank %d is outside 0..world_size-1 (%d)", cfg->rank,
                           cfg->world_size - 1);
    if (cfg->deadline_ms <= 0)
        return birdie_fail(err, errlen, -EINVAL, "deadline_ms must be positive");
    worker_client *wc = calloc(1, sizeof(*wc));
    if (!wc)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    wc->rank = cfg->rank;
    wc->world_size = cfg->world_size;
    wc->deadline_ms = cfg->deadline_ms;
    wc->dir.version = -1;
    pthread_mutex_init(&wc->mu, NULL);
    pthread_cond_init(&wc->cv, NULL);
    int rc = birdie_rpc_channel_open(cfg->addr, cfg->token, &wc->ch, err, errlen);
    if (rc == 0)
        rc = do_register(wc, cfg->connect_timeout_ms, err, errlen);
    if (rc == 0 && pthread_create(&wc->thread, NULL, stream_main, wc) != 0) {
        snprintf(err, errlen, "cannot start the mixture stream thread");
        rc = -EAGAIN;
    }
    if (rc) {
        free_client(wc);
        return rc;
    }
    *out = wc;
    return 0;
}

void worker_client_close(worker_client *wc)
{
    if (!wc)
        return;
    pthread_mutex_lock(&wc->mu);
    wc->closing = 1;
    if (wc->stream)
        birdie_rpc_stream_cancel(wc->stream);
    pthread_cond_broadcast(&wc->cv);
    pthread_mutex_unlock(&wc->mu);
    pthread_join(wc->thread, NULL);
    free_client(wc);
}

/* A unary call of this rank's client, noted in the flight recorder (worker/flight.h). */
static int recorded_unary(worker_client *wc, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, birdie_rpc_status *st)
{
    double start = birdie_monotonic_seconds();
    int rc = birdie_rpc_unary(wc->ch, method, req, resp_desc, resp, wc->deadline_ms, st);
    birdie_flight_rpc(method, rc ? (int)st->code : 0, start, birdie_monotonic_seconds());
    return rc;
}

int worker_client_arm_count(const worker_client *wc)
{
    return wc->n_arms;
}
const char *worker_client_arm_name(const worker_client *wc, int i)
{
    return i >= 0 && i < wc->n_arms ? wc->arm_names[i] : NULL;
}
int64_t worker_client_incarnation(const worker_client *wc)
{
    return wc->incarnation;
}
int worker_client_report_eval(worker_client *wc, int64_t step, const double *loss_sum, const double *tokens,
                              int *round_complete, char *err, size_t errlen)
{
    Birdie__V1__ReportEvalRequest req = BIRDIE__V1__REPORT_EVAL_REQUEST__INIT;
    Birdie__V1__ArmEval *evals = calloc((size_t)wc->n_arms, sizeof(*evals));
    Birdie__V1__ArmEval **ptrs = calloc((size_t)wc->n_arms, sizeof(*ptrs));
    if (!evals || !ptrs) {
        free(evals);
        free(ptrs);
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < wc->n_arms; i++) {
        birdie__v1__arm_eval__init(&evals[i]);
        evals[i].arm = wc->arm_names[i];
        evals[i].loss_sum = loss_sum[i];
        evals[i].tokens = tokens[i];
        ptrs[i] = &evals[i];
    }
    req.rank = wc->rank;
    req.step = step;
    req.n_evals = (size_t)wc->n_arms;
    req.evals = ptrs;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    int rc = recorded_unary(wc, "/birdie.v1.Coordinator/ReportEval", &req.base,
                            &birdie__v1__report_eval_response__descriptor, &resp, &st);
    free(evals);
    free(ptrs);
    if (rc)
        return rpc_fail("ReportEval", &st, err, errlen);
    if (round_complete)
        *round_complete = ((Birdie__V1__ReportEvalResponse *)resp)->round_complete;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

static int simple_call(worker_client *wc, const char *method, const char *what, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, char *err, size_t errlen)
{
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (recorded_unary(wc, method, req, resp_desc, &resp, &st))
        return rpc_fail(what, &st, err, errlen);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int worker_client_heartbeat(worker_client *wc, const worker_heartbeat *hb, char *err, size_t errlen)
{
    Birdie__V1__HeartbeatRequest req = BIRDIE__V1__HEARTBEAT_REQUEST__INIT;
    req.rank = wc->rank;
    req.step = hb->step;
    req.tokens_per_s = hb->tokens_per_s;
    req.applied_version = hb->applied_version;
    req.applied_step = hb->applied_step;
    req.loss = hb->loss;
    req.lr = hb->lr;
    req.grad_norm = hb->grad_norm;
    Birdie__V1__ClassLoss cl[WORKER_HEARTBEAT_CLASSES], *clp[WORKER_HEARTBEAT_CLASSES];
    int n = hb->n_classes < WORKER_HEARTBEAT_CLASSES ? hb->n_classes : WORKER_HEARTBEAT_CLASSES;
    for (int i = 0; i < n; i++) {
        birdie__v1__class_loss__init(&cl[i]);
        cl[i].objective_class = (char *)hb->class_names[i];
        cl[i].loss = hb->class_loss[i];
        clp[i] = &cl[i];
    }
    req.n_class_losses = n > 0 ? (size_t)n : 0;
    req.class_losses = clp;
    return simple_call(wc, "/birdie.v1.Coordinator/Heartbeat", "Heartbeat", &req.base,
                       &birdie__v1__heartbeat_response__descriptor, err, errlen);
}

int worker_client_report_checkpoint(worker_client *wc, int64_t step, const char *path, uint64_t bytes,
                                    const char *checksum_hex, char *err, size_t errlen)
{
    if (!path || !checksum_hex)
        return birdie_fail(err, errlen, -EINVAL, "ReportCheckpoint: path and checksum are required");
    Birdie__V1__ReportCheckpointRequest req = BIRDIE__V1__REPORT_CHECKPOINT_REQUEST__INIT;
    req.rank = wc->rank;
    req.step = step;
    req.path = (char *)path;
    req.bytes = bytes;
    req.checksum = (char *)checksum_hex;
    return simple_call(wc, "/birdie.v1.Coordinator/ReportCheckpoint", "ReportCheckpoint", &req.base,
                       &birdie__v1__report_checkpoint_response__descriptor, err, errlen);
}

int worker_client_finish(worker_client *wc, int64_t step, int failed, const char *reason, char *err, size_t errlen)
{
    Birdie__V1__FinishRequest req = BIRDIE__V1__FINISH_REQUEST__INIT;
    req.rank = wc->rank;
    req.step = step;
    req.failed = failed != 0;
    req.reason = (char *)(reason ? reason : "");
    return simple_call(wc, "/birdie.v1.Coordinator/Finish", "Finish", &req.base,
                       &birdie__v1__finish_response__descriptor, err, errlen);
}

void worker_client_poll(worker_client *wc, worker_directive *out, double *weights)
{
    pthread_mutex_lock(&wc->mu);
    *out = wc->dir;
    if (weights)
        memcpy(weights, wc->weights, (size_t)wc->n_arms * sizeof(double));
    pthread_mutex_unlock(&wc->mu);
}

int worker_client_wait(worker_client *wc, int64_t min_version, int wake, int timeout_ms)
{
    int64_t until = birdie_monotonic_ms() + timeout_ms;
    pthread_mutex_lock(&wc->mu);
    for (;;) {
        int ok = ((wake & WORKER_WAKE_VERSION) && wc->dir.version >= min_version ? WORKER_WAKE_VERSION : 0) |
                 ((wake & WORKER_WAKE_PAUSE) && wc->dir.pause ? WORKER_WAKE_PAUSE : 0) |
                 ((wake & WORKER_WAKE_STOP) && wc->dir.stop ? WORKER_WAKE_STOP : 0);
        int64_t left = until - birdie_monotonic_ms();
        if (ok || left <= 0 || wc->closing) {
            pthread_mutex_unlock(&wc->mu);
            return ok;
        }
        struct timespec ts = birdie_realtime_after_ms((int)left);
        pthread_cond_timedwait(&wc->cv, &wc->mu, &ts);
    }
}
