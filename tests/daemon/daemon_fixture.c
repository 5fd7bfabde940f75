/* daemon_fixture: see daemon_fixture.h. */
#define _GNU_SOURCE
#include "tests/daemon/daemon_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

const char *const fix_arm_names[FIX_N_ARMS] = {"ntp", "prefix_lm", "copy_short", "copy_long"};
const char *const fix_arm_classes[FIX_N_ARMS] = {"ntp", "prefix_lm", "copying", "copying"};

void fix_expected_weights(const double *loss_sum, const double *tokens, double *out)
{
    double sum = 0;
    for (int i = 0; i < FIX_N_ARMS; i++) {
        out[i] = tokens[i] > 0 ? loss_sum[i] / tokens[i] : 0;
        sum += out[i];
    }
    for (int i = 0; i < FIX_N_ARMS; i++)
        out[i] /= sum;
}

static int fake_decide(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                       coordinator_decision *out, char *err, size_t errlen)
{
    fake_scheduler *s = ctx;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
    if (s->sleep_ms) {
        struct timespec ts = {.tv_sec = s->sleep_ms / 1000, .tv_nsec = (long)(s->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (s->fail) {
        snprintf(err, errlen, "fake scheduler told to fail");
        return -EINVAL;
    }
    fix_expected_weights(loss_sum, tokens, out->new_weights);
    for (int i = 0; i < n_arms; i++)
        out->rewards[i] = 0.1 * (i + 1);
    if (s->bad_weights)
        out->new_weights[0] = NAN;
    out->new_mixture = !s->keep;
    out->explore = (int)(step % 2);
    out->predicted_reward = 0.5;
    out->observed_reward = 0.25;
    out->fit_error = 0.125;
    snprintf(out->record_text, out->record_cap, "{\"step\": %lld}", (long long)step);
    return 0;
}

static int start_coordinator(fixture *f)
{
    coordinator_config cfg = {
        .bind_addr = "127.0.0.1:0",
        .token = FIX_TOKEN,
        .auth_all = f->auth_all,
        .db_path = f->db_path,
        .run_name = "test-run",
        .n_arms = FIX_N_ARMS,
        .arm_names = fix_arm_names,
        .arm_classes = fix_arm_classes,
        .world_size = f->world_size,
        .eval_deadline_ms = f->eval_deadline_ms,
        .stall_after_ms = f->stall_after_ms,
        .decide = fake_decide,
        .decide_ctx = &f->sched,
        .metrics_addr = f->metrics ? "127.0.0.1:0" : NULL,
    };
    char err[512];
    int rc = coordinator_start(&cfg, &f->co, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "coordinator_start: %s\n", err);
        return rc;
    }
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", coordinator_port(f->co));
    f->metrics_port = coordinator_metrics_port(f->co);
    return 0;
}

static int fix_start_opts(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms);

int fix_start(fixture *f, int world_size, int auth_all, int eval_deadline_ms)
{
    return fix_start_stall(f, world_size, auth_all, eval_deadline_ms, 0);
}

int fix_start_stall(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms)
{
    memset(f, 0, sizeof(*f));
    return fix_start_opts(f, world_size, auth_all, eval_deadline_ms, stall_after_ms);
}

int fix_start_metrics(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms)
{
    memset(f, 0, sizeof(*f));
    f->metrics = 1;
    return fix_start_opts(f, world_size, auth_all, eval_deadline_ms, stall_after_ms);
}

static int fix_start_opts(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/birdie-daemon-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db_path, sizeof(f->db_path), "%s/coord.db", f->dir);
    f->world_size = world_size;
    f->auth_all = auth_all;
    f->eval_deadline_ms = eval_deadline_ms;
    f->stall_after_ms = stall_after_ms;
    return start_coordinator(f);
}

int fix_restart(fixture *f)
{
    coordinator_stop(f->co);
    f->co = NULL;
    return start_coordinator(f);
}

void fix_stop(fixture *f)
{
    coordinator_stop(f->co);
    f->co = NULL;
    char cmd[400];
    if (f->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", f->dir);
    }
}

birdie_rpc_channel *fix_channel(const fixture *f, const char *token)
{
    birdie_rpc_channel *ch = NULL;
    char err[256];
    if (birdie_rpc_channel_open(f->addr, token, &ch, err, sizeof(err)))
        fprintf(stderr, "channel: %s\n", err);
    return ch;
}

int64_t fix_count(const fixture *f, const char *table, const char *where)
{
    sqlite3 *db = NULL;
    int64_t n = -1;
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s%s%s", table, where ? " WHERE " : "", where ? where : "");
    if (sqlite3_open_v2(f->db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        sqlite3_busy_timeout(db, 2000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        else
            fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

int fix_run(char *const argv[], const char *out_path, int timeout_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    for (int waited = 0;; waited += 10) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0)
            return -1;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "%s killed after %d ms\n", argv[0], timeout_ms);
            return -1;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

const char *fix_slurp(const char *path)
{
    static char buf[65536];
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

int fix_http_get(const fixture *f, const char *method, const char *path, char **body, char *ctype, size_t ctlen)
{
    *body = NULL;
    if (ctype && ctlen)
        ctype[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->metrics_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while (buf && (got = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)got;
        if (len == cap) {
            char *p = realloc(buf, 2 * cap + 1);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    close(fd);
    if (!buf)
        return 0;
    buf[len] = '\0';
    int status = 0;
    char *head_end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !head_end) {
        free(buf);
        return 0;
    }
    *head_end = '\0';
    const char *ct = strcasestr(buf, "\r\nContent-Type: ");
    if (ct && ctype && ctlen) {
        ct += strlen("\r\nContent-Type: ");
        size_t k = strcspn(ct, "\r");
        snprintf(ctype, ctlen, "%.*s", (int)k, ct);
    }
    *body = strdup(head_end + 4);
    free(buf);
    return status;
}

double fix_metric(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, sample, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    return NAN;
}
