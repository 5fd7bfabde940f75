/* heartbeat_sender: see heartbeat_sender.h. One thread, one pending slot, one mutex. */
#include "daemon/heartbeat_sender.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/thread_cpu.h"
#include "worker/clock.h"

struct heartbeat_sender {
    worker_client *wc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    worker_heartbeat pending;
    int has_pending, in_flight, stopping;
    int failed; /* the first failed send's code, kept */
    char error[512];
};

static void *sender_main(void *arg)
{
    heartbeat_sender *s = arg;
    birdie_thread_name("birdie-beat");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && !s->has_pending)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping)
            break;
        worker_heartbeat hb = s->pending;
        s->has_pending = 0;
        s->in_flight = 1;
        pthread_mutex_unlock(&s->mu);
        char err[512];
        int rc = worker_client_heartbeat(s->wc, &hb, err, sizeof(err));
        pthread_mutex_lock(&s->mu);
        s->in_flight = 0;
        if (rc < 0 && !s->failed) {
            s->failed = rc;
            snprintf(s->error, sizeof(s->error), "%s", err);
        }
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

heartbeat_sender *heartbeat_sender_start(worker_client *wc, char *err, size_t errlen)
{
    heartbeat_sender *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "heartbeat sender: out of memory");
        return NULL;
    }
    s->wc = wc;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        snprintf(err, errlen, "heartbeat sender: cannot start its thread");
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    return s;
}

/* With s->mu held: the kept failure, copied out. */
static int kept_failure(heartbeat_sender *s, char *err, size_t errlen)
{
    if (s->failed)
        snprintf(err, errlen, "%s", s->error);
    return s->failed;
}

int heartbeat_sender_post(heartbeat_sender *s, const worker_heartbeat *hb, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    int rc = kept_failure(s, err, errlen);
    if (rc == 0) {
        s->pending = *hb;
        s->has_pending = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int heartbeat_sender_flush(heartbeat_sender *s, int timeout_ms, char *err, size_t errlen)
{
    struct timespec until = birdie_realtime_after_ms(timeout_ms);
    pthread_mutex_lock(&s->mu);
    int timed_out = 0;
    while (!s->failed && (s->has_pending || s->in_flight) && !timed_out)
        timed_out = pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT;
    int rc = kept_failure(s, err, errlen);
    if (rc == 0 && (s->has_pending || s->in_flight)) {
        snprintf(err, errlen, "heartbeat: not sent within %d ms", timeout_ms);
        rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void heartbeat_sender_stop(heartbeat_sender *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
