/* tests/fuzz/make_seeds.c: writes the binary seed inputs of tests/fuzz/corpus/ with birdie's own
 * writers (a shard, checkpoints, scheduler states, manifests and RPC call sequences), so that the
 * fuzzers start from well-formed files and mutate from there. The text seeds (configs, arm specs) are
 * written by hand. Run it after a format changes:
 *   ninja -C build tests/fuzz/fuzz_make_seeds && build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
 * It is not a test; nothing here checks anything. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/coordinator_internal.h"
#include "daemon/scheduler/scheduler.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tests/fuzz/manifest_good.h"
#include "worker/checkpoint.h"
#include "worker/data/shard.h"

static const char *root;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, detail);
    exit(1);
}

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write", path);
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot read", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *buf = malloc(*len + 1);
    if (!buf || fread(buf, 1, *len, f) != *len)
        die("cannot read", path);
    fclose(f);
    return buf;
}

static void shards(const char *tmp)
{
    uint16_t tokens[64];
    for (int i = 0; i < 64; i++)
        tokens[i] = (uint16_t)(i < 60 ? 'a' + i % 26 : 256 + i - 60);
    char path[4096], err[512];
    const uint64_t counts[] = {0, 1, 64};
    for (int c = 0; c < 3; c++) {
        snprintf(path, sizeof path, "%s/s.bin", tmp);
        if (birdie_shard_write(path, tokens, counts[c], err, sizeof err) != 0)
            die("shard", err);
        size_t len;
        void *buf = slurp(path, &len);
        char name[64];
        snprintf(name, sizeof name, "tokens_%llu.bin", (unsigned long long)counts[c]);
        put("shard", name, buf, len);
        free(buf);
    }
}

static uint8_t *sched_state(int observe, size_t *len)
{
    static const char *const names[3] = {"ntp", "infill", "plm"};
    static const int classes[3] = {0, 1, 2};
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    cfg.n_arms = 3;
    cfg.arm_names = names;
    cfg.arm_class = classes;
    cfg.n_classes = 3;
    cfg.hidden = 4;
    cfg.layers = 1;
    cfg.fit_iters = 2;
    cfg.candidates = 8;
    cfg.top_k = 2;
    cfg.warmup_step = 0;
    birdie_sched *s;
    char err[512];
    if (birdie_sched_create(&cfg, &s, err, sizeof err) != 0)
        die("scheduler", err);
    for (int e = 0; e < observe; e++) {
        double loss[3] = {3.0 - 0.1 * e, 2.5, 2.0 + 0.05 * e}, tok[3] = {100, 120, 90};
        birdie_sched_input in = {
            .step = 10 * (e + 1), .n_arms = 3, .loss_sum = loss, .tokens = tok, .mixture = NULL, .mixture_version = 0};
        for (int i = 0; i < 3; i++)
            loss[i] *= tok[i];
        birdie_decision d;
        memset(&d, 0, sizeof d);
        if (birdie_sched_observe(s, &in, &d, err, sizeof err) != 0)
            die("scheduler observe", err);
        birdie_decision_free(&d);
    }
    uint8_t *buf;
    if (birdie_sched_save(s, &buf, len, err, sizeof err) != 0)
        die("scheduler save", err);
    birdie_sched_free(s);
    return buf;
}

static void checkpoints(const char *tmp)
{
    for (int with_sched = 0; with_sched < 2; with_sched++) {
        char dir[4096], err[512];
        snprintf(dir, sizeof dir, "%s/ck%d", tmp, with_sched);
        float params[5] = {0.5f, -1, 2, 0, 3}, m[5] = {0.1f}, v[5] = {0.01f};
        double weights[3] = {0.2, 0.3, 0.5};
        birdie_checkpoint ck = {.step = 7,
                                .n_params = 5,
                                .params = params,
                                .m = m,
                                .v = v,
                                .n_arms = 3,
                                .mixture_version = 2,
                                .weights = weights,
                                .config_hash = 0x1234};
        if (with_sched)
            ck.sched_state = sched_state(0, &ck.sched_len);
        birdie_checkpoint_info info;
        if (birdie_checkpoint_write(dir, &ck, 0, &info, err, sizeof err) != 0)
            die("checkpoint", err);
        free(ck.sched_state);
        size_t len;
        void *buf = slurp(info.path, &len);
        put("checkpoint", with_sched ? "with_scheduler.bin" : "plain.bin", buf, len);
        free(buf);
    }
}

static void manifests(const char *tmp)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/mf", tmp);
    fuzz_write_good_checkpoint(dir, 1);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t len;
    void *buf = slurp(path, &len);
    put("manifest", "one.json", buf, len);
    free(buf);
    fuzz_write_good_checkpoint(dir, 2);
    buf = slurp(path, &len);
    put("manifest", "two.json", buf, len);
    free(buf);
}

/* ---- RPC call sequences in fuzz_rpc.c's framing ---- */

typedef struct seq {
    uint8_t buf[4096];
    size_t len;
} seq;

static size_t method_index(const char *path)
{
    size_t n;
    const method_entry *m = coord_methods(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].path, path) == 0)
            return i;
    die("no such method", path);
    return 0;
}

static void add_call(seq *s, const char *path, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > 255 || s->len + 2 + n > sizeof s->buf)
        die("call too long", path);
    s->buf[s->len++] = (uint8_t)method_index(path);
    s->buf[s->len++] = (uint8_t)n;
    s->len += protobuf_c_message_pack(msg, s->buf + s->len);
}

static void add_eval(seq *s, int rank, int64_t step, const char *const *arms)
{
    Birdie__V1__ArmEval e[3], *ep[3];
    for (int i = 0; i < 3; i++) {
        birdie__v1__arm_eval__init(&e[i]);
        e[i].arm = (char *)arms[i];
        e[i].loss_sum = 100.0 + 10 * i + rank;
        e[i].tokens = 50.0;
        ep[i] = &e[i];
    }
    Birdie__V1__ReportEvalRequest r = BIRDIE__V1__REPORT_EVAL_REQUEST__INIT;
    r.rank = rank;
    r.step = step;
    r.n_evals = 3;
    r.evals = ep;
    add_call(s, "/birdie.v1.Coordinator/ReportEval", &r.base);
}

static void rpc_seeds(void)
{
    static const char *const arms[3] = {"ntp", "infill.l64-128.r15.w8", "plm.l64-1024.s75"};
    seq s = {.len = 0};
    /* every method once, before the ranks registered */
    s.buf[s.len++] = 0;
    Birdie__V1__RegisterRequest reg = BIRDIE__V1__REGISTER_REQUEST__INIT;
    reg.world_size = 2;
    reg.hostname = "host-a";
    reg.pid = 42;
    add_call(&s, "/birdie.v1.Coordinator/Register", &reg.base);
    Birdie__V1__GetStatusRequest gs = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
    add_call(&s, "/birdie.v1.Control/GetStatus", &gs.base);
    Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    hc.service = "birdie.v1.Control";
    add_call(&s, "/grpc.health.v1.Health/Check", &hc.base);
    Birdie__V1__WatchRequest w = BIRDIE__V1__WATCH_REQUEST__INIT;
    add_call(&s, "/birdie.v1.Control/Watch", &w.base);
    Birdie__V1__WatchMixtureRequest wm = BIRDIE__V1__WATCH_MIXTURE_REQUEST__INIT;
    add_call(&s, "/birdie.v1.Coordinator/WatchMixture", &wm.base);
    put("rpc", "starting.bin", s.buf, s.len);

    /* a running run: heartbeats, an evaluation round from both ranks, an operator's mixture, a
     * checkpoint request and its report, history, pause, resume, stop, finish */
    s.len = 0;
    s.buf[s.len++] = 1;
    for (int r = 0; r < 2; r++) {
        Birdie__V1__HeartbeatRequest hb = BIRDIE__V1__HEARTBEAT_REQUEST__INIT;
        hb.rank = r;
        hb.step = 5;
        hb.tokens_per_s = 1000;
        hb.loss = 3.5;
        hb.lr = 1e-3;
        hb.grad_norm = 0.5;
        add_call(&s, "/birdie.v1.Coordinator/Heartbeat", &hb.base);
    }
    add_eval(&s, 0, 10, arms);
    add_eval(&s, 1, 10, arms);
    Birdie__V1__ArmWeight aw[2], *awp[2];
    for (int i = 0; i < 2; i++) {
        birdie__v1__arm_weight__init(&aw[i]);
        aw[i].arm = (char *)arms[i];
        aw[i].weight = 1 + i;
        awp[i] = &aw[i];
    }
    Birdie__V1__SetMixtureRequest sm = BIRDIE__V1__SET_MIXTURE_REQUEST__INIT;
    sm.n_weights = 2;
    sm.weights = awp;
    sm.request_id = "op-1";
    sm.reason = "more infilling";
    add_call(&s, "/birdie.v1.Control/SetMixture", &sm.base);
    add_call(&s, "/birdie.v1.Control/SetMixture", &sm.base);
    Birdie__V1__CheckpointRequest cr = BIRDIE__V1__CHECKPOINT_REQUEST__INIT;
    cr.request_id = "ck-1";
    cr.reason = "before the holiday";
    add_call(&s, "/birdie.v1.Control/Checkpoint", &cr.base);
    Birdie__V1__ReportCheckpointRequest rc = BIRDIE__V1__REPORT_CHECKPOINT_REQUEST__INIT;
    rc.step = 12;
    rc.path = "ckpt/ckpt_000000012.bin";
    rc.bytes = 4096;
    rc.checksum = "0123456789abcdef";
    add_call(&s, "/birdie.v1.Coordinator/ReportCheckpoint", &rc.base);
    Birdie__V1__GetHistoryRequest gh = BIRDIE__V1__GET_HISTORY_REQUEST__INIT;
    gh.limit = 10;
    add_call(&s, "/birdie.v1.Control/GetHistory", &gh.base);
    add_call(&s, "/birdie.v1.Control/GetStatus", &gs.base);
    Birdie__V1__ControlRequest ctl = BIRDIE__V1__CONTROL_REQUEST__INIT;
    ctl.reason = "maintenance";
    add_call(&s, "/birdie.v1.Control/Pause", &ctl.base);
    add_call(&s, "/birdie.v1.Control/Resume", &ctl.base);
    add_call(&s, "/birdie.v1.Control/Watch", &w.base);
    add_call(&s, "/birdie.v1.Control/Stop", &ctl.base);
    for (int r = 0; r < 2; r++) {
        Birdie__V1__FinishRequest fin = BIRDIE__V1__FINISH_REQUEST__INIT;
        fin.rank = r;
        fin.step = 20;
        fin.reason = "";
        add_call(&s, "/birdie.v1.Coordinator/Finish", &fin.base);
    }
    add_call(&s, "/grpc.health.v1.Health/Check", &hc.base);
    put("rpc", "running.bin", s.buf, s.len);

    /* a rank that fails */
    s.len = 0;
    s.buf[s.len++] = 1;
    Birdie__V1__FinishRequest fail = BIRDIE__V1__FINISH_REQUEST__INIT;
    fail.rank = 1;
    fail.step = 3;
    fail.failed = 1;
    fail.reason = "non-finite loss";
    add_call(&s, "/birdie.v1.Coordinator/Finish", &fail.base);
    add_call(&s, "/birdie.v1.Coordinator/WatchMixture", &wm.base);
    put("rpc", "failed.bin", s.buf, s.len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/fuzz/corpus\n", argv[0]);
        return 2;
    }
    root = argv[1];
    char tmp[] = "/tmp/birdie-seeds-XXXXXX";
    if (!mkdtemp(tmp))
        die("mkdtemp", strerror(errno));
    shards(tmp);
    checkpoints(tmp);
    manifests(tmp);
    for (int observe = 0; observe <= 3; observe += 3) {
        size_t len;
        uint8_t *buf = sched_state(observe, &len);
        put("sched_state", observe ? "after_3_evals.bin" : "new.bin", buf, len);
        free(buf);
    }
    rpc_seeds();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : 1;
}
