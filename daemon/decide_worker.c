/* decide_worker: one thread, a job list and a result list under one mutex; see decide_worker.h. */
#include "daemon/decide_worker.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/thread_cpu.h"
#include "worker/clock.h"

struct decide_worker {
    coordinator_decide_fn fn;
    void *ctx;
    int n_arms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    decide_result *jobs, *jobs_tail;
    decide_result *done, *done_tail;
};

void decide_result_free(decide_result *r)
{
    if (!r)
        return;
    free(r->loss_sum);
    free(r->tokens);
    free(r->new_weights);
    free(r->rewards);
    free(r->detail.record);
    free(r);
}

static void list_push(decide_result **head, decide_result **tail, decide_result *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static decide_result *list_pop(decide_result **head, decide_result **tail)
{
    decide_result *r = *head;
    if (r) {
        *head = r->next;
        if (!*head)
            *tail = NULL;
        r->next = NULL;
    }
    return r;
}

static void list_free(decide_result *r)
{
    while (r) {
        decide_result *next = r->next;
        decide_result_free(r);
        r = next;
    }
}

static void run_job(decide_worker *w, decide_result *job)
{
    coordinator_decision d = {
        .new_weights = job->new_weights,
        .rewards = job->rewards,
        .new_mixture = 1,
        .explore = 0,
        .predicted_reward = NAN,
        .observed_reward = NAN,
        .fit_error = NAN,
        .record_text = job->record,
        .record_cap = sizeof(job->record),
    };
    job->record[0] = 0;
    job->err[0] = 0;
    double t0 = birdie_monotonic_seconds();
    job->rc = w->fn(w->ctx, job->step, job->loss_sum, job->tokens, w->n_arms, &d, job->err, sizeof(job->err));
    job->seconds = birdie_monotonic_seconds() - t0;
    job->record[sizeof(job->record) - 1] = 0;
    job->new_mixture = d.new_mixture;
    job->explore = d.explore;
    job->predicted_reward = d.predicted_reward;
    job->observed_reward = d.observed_reward;
    job->fit_error = d.fit_error;
    job->detail = d.detail;
}

static void *worker_main(void *arg)
{
    decide_worker *w = arg;
    birdie_thread_name(BIRDIE_THREAD_SCHEDULER);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stopping && !w->jobs)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping)
            break;
        decide_result *job = list_pop(&w->jobs, &w->jobs_tail);
        pthread_mutex_unlock(&w->mu);
        run_job(w, job);
        pthread_mutex_lock(&w->mu);
        list_push(&w->done, &w->done_tail, job);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int decide_worker_start(coordinator_decide_fn fn, void *ctx, int n_arms, decide_worker **out)
{
    *out = NULL;
    decide_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->fn = fn;
    w->ctx = ctx;
    w->n_arms = n_arms;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return -EAGAIN;
    }
    *out = w;
    return 0;
}

static double *copy_array(const double *src, int n)
{
    double *d = malloc((size_t)n * sizeof(double));
    if (d && src)
        memcpy(d, src, (size_t)n * sizeof(double));
    return d;
}

int decide_worker_submit(decide_worker *w, int64_t step, const double *loss_sum, const double *tokens,
                         const double *current_weights)
{
    decide_result *job = calloc(1, sizeof(*job));
    if (!job)
        return -ENOMEM;
    job->step = step;
    job->n_arms = w->n_arms;
    job->loss_sum = copy_array(loss_sum, w->n_arms);
    job->tokens = copy_array(tokens, w->n_arms);
    job->new_weights = copy_array(current_weights, w->n_arms);
    job->rewards = copy_array(NULL, w->n_arms);
    if (!job->loss_sum || !job->tokens || !job->new_weights || !job->rewards) {
        decide_result_free(job);
        return -ENOMEM;
    }
    for (int a = 0; a < w->n_arms; a++)
        job->rewards[a] = NAN;
    pthread_mutex_lock(&w->mu);
    list_push(&w->jobs, &w->jobs_tail, job);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

decide_result *decide_worker_poll(decide_worker *w)
{
    pthread_mutex_lock(&w->mu);
    decide_result *r = list_pop(&w->done, &w->done_tail);
    pthread_mutex_unlock(&w->mu);
    return r;
}

void decide_worker_stop(decide_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    list_free(w->jobs);
    list_free(w->done);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
