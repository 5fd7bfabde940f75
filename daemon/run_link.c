/* daemon/run_link.c: the coordinator on rank 0 with the scheduler as its decide callback, and every
 * rank's gRPC client behind the birdie_control table (run_link.h). */
#include "daemon/run_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/coordinator.h"
#include "daemon/heartbeat_sender.h"
#include "daemon/local_scheduler.h"
#include "daemon/thread_cpu.h"
#include "daemon/worker_client.h"
#include "worker/clock.h"
#include "worker/curriculum.h"

struct birdie_run_link {
    worker_client *wc;
    heartbeat_sender *beat; /* heartbeats leave from their own thread */
    coordinator *co; /* rank 0 only */
    birdie_curriculum cur; /* rank 0 only: arms and initial mixture */
    int have_cur;
    birdie_sched *sched; /* rank 0 under mixture = birdie: the scheduler behind the coordinator's decisions */
    FILE *log; /* rank 0: where the closing CPU line goes */
    double opened_at; /* monotonic seconds at open */
    /* the scheduler is used by the coordinator's decide thread and saved by the training thread */
    pthread_mutex_t sched_lock;
    int n_arms;
};

enum { LINK_DEADLINE_MS = 30000 }; /* every unary call to the coordinator */

/* What rank 0 tells the others once its coordinator is up (or failed). */
typedef struct coordinator_announce {
    int rc;
    int port;
    char host[256];
    char err[512];
} coordinator_announce;

/* ---- decide: the scheduler, on the coordinator's decide thread ---- */

/* What `birdiectl explain` reads back (decision_detail.h). Without memory for the record the decision
 * still stands; it only cannot be explained or replayed later. */
static void fill_detail(const birdie_decision *d, birdie_decision_detail *x)
{
    x->eval_index = (int64_t)d->eval_index;
    snprintf(x->kind, sizeof x->kind, "%s", birdie_decision_kind_name(d->kind));
    x->explore_prob = d->explore_prob;
    x->explore_draw = d->explore_draw;
    x->fit_mse_first = d->fit_mse_first;
    x->fit_mse_last = d->fit_mse_last;
    x->fit_mse_clean = d->fit_mse_clean;
    x->predicted_out_score = d->history_len > 0 ? d->predicted_out_score : NAN;
    x->history_len = d->history_len;
    x->n_candidates = d->n_candidates;
    if (birdie_decision_encode(d, &x->record, &x->record_len, NULL, 0) < 0) {
        x->record = NULL;
        x->record_len = 0;
    }
}

static int decide_locked(birdie_sched *sched, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                         coordinator_decision *out, char *err, size_t errlen)
{
    if (!sched) { /* a fixed mixture: the evaluation is recorded, nothing is decided */
        out->new_mixture = 0;
        return 0;
    }
    /* out->new_weights holds the mixture in force. If it is not the scheduler's own last mixture (an
     * operator set one, or the store normalised it), it is handed in as a newer version; the
     * scheduler's numbering only has to be monotone, the coordinator assigns the published one. */
    const double *own = birdie_sched_mixture(sched);
    double diff = 0;
    for (int a = 0; a < n_arms; a++)
        diff = fmax(diff, fabs(own[a] - out->new_weights[a]));
    uint64_t own_version = birdie_sched_mixture_version(sched);
    birdie_sched_input in = {.step = step,
                             .n_arms = n_arms,
                             .loss_sum = loss_sum,
                             .tokens = tokens,
                             .mixture = diff > 1e-9 ? out->new_weights : NULL,
                             .mixture_version = own_version + 1};
    birdie_decision d = {0};
    int rc = birdie_sched_observe(sched, &in, &d, err, errlen);
    if (rc < 0)
        return rc;
    memcpy(out->new_weights, d.mixture_out, (size_t)n_arms * sizeof *out->new_weights);
    out->new_mixture = 1; /* every evaluation publishes a version, so ranks know the decision arrived */
    if (d.has_reward)
        memcpy(out->rewards, d.reward, (size_t)n_arms * sizeof *out->rewards);
    out->explore = d.kind == BIRDIE_DECISION_EXPLORE;
    out->predicted_reward = d.has_prediction ? d.predicted_in_score : NAN;
    out->observed_reward = d.has_reward ? d.observed_score : NAN;
    out->fit_error = d.fit_mse_clean;
    if (out->record_text && out->record_cap)
        birdie_decision_format(&d, sched, out->record_text, out->record_cap);
    fill_detail(&d, &out->detail);
    birdie_decision_free(&d);
    return 0;
}

static int decide_with_scheduler(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                                 coordinator_decision *out, char *err, size_t errlen)
{
    birdie_run_link *link = ctx;
    pthread_mutex_lock(&link->sched_lock);
    int rc = decide_locked(link->sched, step, loss_sum, tokens, n_arms, out, err, errlen);
    pthread_mutex_unlock(&link->sched_lock);
    return rc;
}

static int link_save_scheduler(void *ctx, uint8_t **state, size_t *len, char *err, size_t errlen)
{
    birdie_run_link *link = ctx;
    *state = NULL;
    *len = 0;
    if (!link->sched)
        return 0;
    pthread_mutex_lock(&link->sched_lock);
    int rc = birdie_sched_save(link->sched, state, len, err, errlen);
    pthread_mutex_unlock(&link->sched_lock);
    return rc;
}

/* ---- the control table over worker_client ---- */

static void link_poll(void *ctx, birdie_control_state *state, double *weights)
{
    birdie_run_link *link = ctx;
    worker_directive dir;
    worker_client_poll(link->wc, &dir, weights);
    state->version = dir.version;
    state->pause = dir.pause;
    state->stop = dir.stop;
    state->failed = dir.failed;
    state->checkpoint_seq = dir.checkpoint_seq;
    snprintf(state->stop_reason, sizeof state->stop_reason, "%s", dir.stop_reason[0] ? dir.stop_reason : "stopped");
}

static int link_wait(void *ctx, int64_t min_version, int want_unpause, int timeout_ms)
{
    birdie_run_link *link = ctx;
    if (!want_unpause)
        return worker_client_wait(link->wc, min_version, WORKER_WAKE_VERSION | WORKER_WAKE_STOP, timeout_ms) != 0;
    /* the client wakes on new versions and stops, not on the end of a pause: look every 50 ms */
    struct timespec nap = {0, 50 * 1000 * 1000};
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        worker_directive dir;
        worker_client_poll(link->wc, &dir, NULL);
        if (!dir.pause || dir.stop)
            return 1;
        nanosleep(&nap, NULL);
    }
    return 0;
}

static int link_report_eval(void *ctx, int64_t step, const double *loss_sum, const double *tokens, char *err,
                            size_t errlen)
{
    birdie_run_link *link = ctx;
    return worker_client_report_eval(link->wc, step, loss_sum, tokens, NULL, err, errlen);
}

static int link_heartbeat(void *ctx, const birdie_step_report *r, char *err, size_t errlen)
{
    birdie_run_link *link = ctx;
    worker_heartbeat hb = {.step = r->step,
                           .tokens_per_s = r->tokens_per_s,
                           .applied_version = r->applied_version,
                           .applied_step = r->applied_step,
                           .loss = r->loss,
                           .lr = r->lr,
                           .grad_norm = r->grad_norm};
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES && hb.n_classes < WORKER_HEARTBEAT_CLASSES; c++)
        if (!isnan(r->class_loss[c])) {
            hb.class_names[hb.n_classes] = birdie_objective_class_name((birdie_objective_class)c);
            hb.class_loss[hb.n_classes++] = r->class_loss[c];
        }
    return heartbeat_sender_post(link->beat, &hb, err, errlen);
}

static int link_finish(void *ctx, int64_t step, int failed, const char *reason, char *err, size_t errlen)
{
    birdie_run_link *link = ctx;
    /* the last heartbeat (the final step's) is recorded before the run is marked finished; the run
     * is marked either way, and a failed heartbeat is then this call's error */
    char beat_err[512] = "";
    int beat_rc = heartbeat_sender_flush(link->beat, LINK_DEADLINE_MS, beat_err, sizeof beat_err);
    int rc = worker_client_finish(link->wc, step, failed, reason, err, errlen);
    if (rc == 0 && beat_rc < 0 && !failed) {
        snprintf(err, errlen, "%s", beat_err);
        return beat_rc;
    }
    return rc;
}

static int link_report_checkpoint(void *ctx, int64_t step, const char *path, uint64_t bytes, const char *checksum,
                                  char *err, size_t errlen)
{
    birdie_run_link *link = ctx;
    return worker_client_report_checkpoint(link->wc, step, path, bytes, checksum, err, errlen);
}

/* ---- opening ---- */

/* "host:port" -> the host part. A wildcard becomes this machine's address as its own resolver sees
 * it (in a Kubernetes pod /etc/hosts maps the pod name to the pod IP): other machines may not
 * resolve the bare host name. */
static void connect_host(const char *listen, char *host, size_t len)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n >= len)
        n = len - 1;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (strcmp(host, "0.0.0.0") && strcmp(host, "[::]") && host[0])
        return;
    char name[256];
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    snprintf(host, len, "127.0.0.1");
    if (gethostname(name, sizeof name) != 0)
        return;
    if (getaddrinfo(name, NULL, &hints, &res) == 0 && res) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, host, (socklen_t)len);
        freeaddrinfo(res);
    } else {
        snprintf(host, len, "%s", name);
    }
}

static void start_coordinator(birdie_run_link *link, const birdie_config *cfg, int world, const char *token,
                              const birdie_checkpoint *resume, coordinator_announce *ann)
{
    int T = cfg->seq_len;
    ann->rc = birdie_curriculum_init(&link->cur, cfg, T, ann->err, sizeof ann->err);
    if (ann->rc < 0)
        return;
    link->have_cur = 1;
    /* a resumed Birdie run continues the scheduler of its checkpoint (history, reward model, RNG) */
    if (link->cur.birdie &&
        ((ann->rc = birdie_local_scheduler_create(cfg, &link->sched, ann->err, sizeof ann->err)) < 0 ||
         (resume && (ann->rc = birdie_local_scheduler_restore(&link->sched, resume, ann->err, sizeof ann->err)) < 0)))
        return;
    int n = link->cur.arms.n;
    const char **names = calloc((size_t)n, sizeof *names), **classes = calloc((size_t)n, sizeof *classes);
    if (!names || !classes) {
        ann->rc = -ENOMEM;
        snprintf(ann->err, sizeof ann->err, "out of memory");
    } else {
        for (int a = 0; a < n; a++) {
            names[a] = link->cur.arms.arms[a].name;
            classes[a] = birdie_objective_class_name(link->cur.arms.arms[a].cls);
        }
        coordinator_config cc = {.bind_addr = cfg->listen,
                                 .token = token,
                                 .auth_all = cfg->auth_all,
                                 .db_path = cfg->db,
                                 .run_name = cfg->name,
                                 .n_arms = n,
                                 .arm_names = names,
                                 .arm_classes = classes,
                                 .initial_weights = resume ? resume->weights : link->cur.weights,
                                 .initial_version =
                                     resume ? (int64_t)resume->mixture_version : (int64_t)link->cur.version,
                                 .initial_step = resume ? resume->step : 0,
                                 .world_size = world,
                                 .eval_deadline_ms = (int)(cfg->eval_deadline_s * 1000),
                                 .stall_after_ms = (int)(cfg->stall_after_s * 1000),
                                 .metrics_addr = cfg->metrics,
                                 .decide = decide_with_scheduler,
                                 .decide_ctx = link};
        ann->rc = coordinator_start(&cc, &link->co, ann->err, sizeof ann->err);
        if (ann->rc == 0) {
            ann->port = coordinator_port(link->co);
            connect_host(cfg->listen, ann->host, sizeof ann->host);
        }
    }
    free(names);
    free(classes);
}

int birdie_run_link_open(const birdie_config *cfg, birdie_collective *coll, const char *token,
                         const birdie_checkpoint *resume, FILE *log, birdie_control *ctl, birdie_run_link **out,
                         char *err, size_t errlen)
{
    birdie_run_link *link = calloc(1, sizeof *link);
    if (!link) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&link->sched_lock, NULL);
    link->log = coll->rank == 0 ? log : NULL;
    link->opened_at = birdie_monotonic_seconds();
    coordinator_announce ann = {0};
    if (coll->rank == 0)
        start_coordinator(link, cfg, coll->world, token, resume, &ann);
    int rc = coll->broadcast(coll, &ann, sizeof ann, 0, err, errlen);
    if (rc == 0 && ann.rc < 0) {
        snprintf(err, errlen, "coordinator on rank 0: %s", ann.err);
        rc = ann.rc;
    }
    if (rc < 0) {
        birdie_run_link_close(link, NULL);
        return rc;
    }
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", ann.host, ann.port);
    if (log && coll->rank == 0)
        fprintf(log, "coordinator listening on %s (store %s); birdiectl --addr %s status\n", addr, cfg->db, addr);
    if (log && coll->rank == 0 && link->co && coordinator_metrics_port(link->co)) {
        char mhost[256];
        connect_host(cfg->metrics, mhost, sizeof mhost);
        fprintf(log, "metrics: http://%s:%d/metrics\n", mhost, coordinator_metrics_port(link->co));
    }
    worker_client_config wcc = {.addr = addr,
                                .token = token,
                                .rank = coll->rank,
                                .world_size = coll->world,
                                .deadline_ms = LINK_DEADLINE_MS,
                                .connect_timeout_ms = 60000};
    if ((rc = worker_client_open(&wcc, &link->wc, err, errlen)) == 0 &&
        !(link->beat = heartbeat_sender_start(link->wc, err, errlen)))
        rc = -ENOMEM;
    if (rc < 0) {
        birdie_run_link_close(link, NULL);
        return rc;
    }
    link->n_arms = worker_client_arm_count(link->wc);
    *ctl = (birdie_control){.ctx = link,
                            .scheduler_remote = 1,
                            .poll = link_poll,
                            .wait = link_wait,
                            .report_eval = link_report_eval,
                            .heartbeat = link_heartbeat,
                            .finish = link_finish,
                            .report_checkpoint = link_report_checkpoint,
                            .save_scheduler = link_save_scheduler,
                            .decision_timeout_ms = (int)(cfg->decision_timeout_s * 1000)};
    *out = link;
    return 0;
}

/* What the run cost rank 0 by kind of thread (thread_cpu.h), before the coordinator's threads end:
 * operators can see that serving them stays small next to training. */
static void log_thread_cpu(const birdie_run_link *link)
{
    birdie_thread_cpu cpu;
    char err[256];
    if (!link->log || birdie_thread_cpu_read(&cpu, err, sizeof err) < 0)
        return;
    double wall = birdie_monotonic_seconds() - link->opened_at;
    fprintf(link->log,
            "cpu on rank 0 over %.1f s: training %.2f s | scheduler %.2f s | coordinator, gRPC and "
            "streams %.3f s (%.2f%% of training)\n",
            wall, cpu.training, cpu.scheduler, cpu.service,
            cpu.training > 0 ? 100.0 * cpu.service / cpu.training : 0.0);
}

void birdie_run_link_close(birdie_run_link *link, birdie_collective *coll)
{
    if (!link)
        return;
    heartbeat_sender_stop(link->beat);
    if (link->wc)
        worker_client_close(link->wc);
    if (coll) { /* rank 0 keeps serving until every rank has said goodbye */
        char err[256];
        coll->barrier(coll, err, sizeof err);
    }
    if (link->co) {
        log_thread_cpu(link);
        coordinator_stop(link->co);
    }
    if (link->have_cur)
        birdie_curriculum_free(&link->cur);
    if (link->sched)
        birdie_sched_free(link->sched);
    pthread_mutex_destroy(&link->sched_lock);
    free(link);
}
