/* ctl_explain: see ctl_explain.h. */
#include "ctl/ctl_explain.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl/ctl_json.h"
#include "daemon/scheduler/scheduler.h"
#include "daemon/store_explain.h"
#include "worker/checkpoint.h"
#include "worker/error.h"

#define TOP_SHOWN 5 /* candidates printed in the text form (JSON has all of them) */
#define TOP_ARMS 3 /* heaviest arms of each candidate printed in the text form */

/* What explain knows about one decision: the store's view and, when recorded, the scheduler's record. */
typedef struct explained {
    store_explained e;
    char **classes; /* [n_arms] */
    int has_record;
    birdie_decision rec;
} explained;

/* The result of a replay. */
typedef struct replay_result {
    int status; /* CTL_EXPLAIN_REPLAY_* */
    char checkpoint[4096];
    int64_t from_eval, to_eval; /* evaluations replayed */
    int64_t differs_at; /* the first evaluation whose recomputation differs, -1 none */
    char field[64]; /* the first field that differs there */
} replay_result;

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void print_real(const char *fmt, double v)
{
    if (isnan(v))
        printf("%s", "-");
    else
        printf(fmt, v);
}

/* One right-aligned table cell after a space: "-" for NaN. */
static void column(double v, int width, int precision, int sign)
{
    if (isnan(v))
        printf(" %*s", width, "-");
    else
        printf(sign ? " %+*.*f" : " %*.*f", width, precision, v);
}

static double mean_loss(const store_explained *e, int a)
{
    return e->tokens[a] > 0 ? e->loss_sum[a] / e->tokens[a] : NAN;
}

/* ---- replay ------------------------------------------------------------------------------------ */

/* The first field of a record that differs from the stored one ("" when identical). */
static const char *first_difference(const birdie_decision *a, const birdie_decision *b)
{
    size_t N = (size_t)a->n_arms, k = (size_t)a->top_k;
    if (a->n_arms != b->n_arms || a->top_k != b->top_k)
        return "shape";
    if (a->kind != b->kind)
        return "kind";
    if (memcmp(&a->explore_draw, &b->explore_draw, sizeof(double)) ||
        memcmp(&a->explore_prob, &b->explore_prob, sizeof(double)))
        return "exploration draw";
    if (memcmp(a->reward, b->reward, N * sizeof(double)))
        return "reward";
    if (memcmp(&a->fit_mse_clean, &b->fit_mse_clean, sizeof(double)) ||
        memcmp(&a->fit_mse_first, &b->fit_mse_first, sizeof(double)) ||
        memcmp(&a->fit_mse_last, &b->fit_mse_last, sizeof(double)))
        return "fit error";
    if (memcmp(a->top_index, b->top_index, k * sizeof(int)) || memcmp(a->top_score, b->top_score, k * sizeof(double)))
        return "top candidates";
    if (memcmp(a->mixture_out, b->mixture_out, N * sizeof(double)))
        return "chosen mixture";
    if (memcmp(a->predicted_out, b->predicted_out, N * sizeof(double)) ||
        memcmp(&a->predicted_out_score, &b->predicted_out_score, sizeof(double)))
        return "predicted reward";
    return birdie_decision_equal(a, b) ? "" : "other fields";
}

/* The scheduler state in one checkpoint file: 1 loaded (*state, *len, *eval_count), 0 the file holds
 * none or cannot be read (why in note), < 0 out of memory. */
static int state_of(const char *path, uint8_t **state, size_t *len, uint64_t *eval_count, char *note, size_t notelen)
{
    birdie_checkpoint ck;
    memset(&ck, 0, sizeof(ck));
    char err[256];
    if (birdie_checkpoint_load_file(path, &ck, err, sizeof(err)) < 0) {
        snprintf(note, notelen, "%s", err);
        return 0;
    }
    int rc = 0;
    birdie_sched *s = NULL;
    if (!ck.sched_state) {
        snprintf(note, notelen, "%s: no scheduler state (a rank other than 0, or a fixed mixture)", path);
    } else if (birdie_sched_load(ck.sched_state, ck.sched_len, NULL, &s, err, sizeof(err)) < 0) {
        snprintf(note, notelen, "%s: %s", path, err);
    } else {
        *eval_count = birdie_sched_eval_count(s);
        *state = ck.sched_state;
        *len = ck.sched_len;
        ck.sched_state = NULL;
        rc = 1;
    }
    birdie_sched_free(s);
    birdie_checkpoint_free(&ck);
    return rc;
}

/* Candidate checkpoint files: --checkpoint (a file, or every ckpt_*.bin of a folder) or the store's. */
static int candidate_paths(birdie_store *store, const ctl_explain_args *a, int64_t incarnation, char ***paths, int *n,
                           char *err, size_t errlen)
{
    struct stat st;
    if (!a->checkpoint)
        return store_checkpoint_paths(store, incarnation, paths, n, err, errlen);
    *paths = NULL;
    *n = 0;
    if (stat(a->checkpoint, &st) != 0)
        return birdie_fail(err, errlen, -ENOENT, "--checkpoint %s: %s", a->checkpoint, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        *paths = malloc(sizeof(char *));
        if (!*paths || !((*paths)[0] = strdup(a->checkpoint)))
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
        *n = 1;
        return 0;
    }
    DIR *dir = opendir(a->checkpoint);
    if (!dir)
        return birdie_fail(err, errlen, -EIO, "--checkpoint %s: %s", a->checkpoint, strerror(errno));
    struct dirent *ent;
    int cap = 0, rc = 0;
    while (rc == 0 && (ent = readdir(dir)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (strncmp(ent->d_name, "ckpt_", 5) != 0 || len < 9 || strcmp(ent->d_name + len - 4, ".bin") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(*paths, (size_t)cap * sizeof(char *));
            if (!grown) {
                rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
                break;
            }
            *paths = grown;
        }
        size_t plen = strlen(a->checkpoint) + len + 2;
        (*paths)[*n] = malloc(plen);
        if (!(*paths)[*n]) {
            rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
            break;
        }
        snprintf((*paths)[*n], plen, "%s/%s", a->checkpoint, ent->d_name);
        (*n)++;
    }
    closedir(dir);
    if (rc) {
        store_paths_free(*paths, *n);
        *paths = NULL;
        *n = 0;
    }
    return rc;
}

/* Replays evaluations from..target from `state` with the stored records, comparing each. */
static int replay_chain(birdie_store *store, const uint8_t *state, size_t len, int64_t incarnation, int64_t from,
                        int64_t target, replay_result *r, char *err, size_t errlen)
{
    uint8_t **recs = NULL;
    size_t *lens = NULL;
    int64_t missing = -1;
    int rc = store_decision_records(store, incarnation, from, target, &recs, &lens, &missing, err, errlen);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return birdie_fail(err, errlen, -ENOENT,
                           "replay: the store holds no record of evaluation %" PRId64
                           " (between the checkpoint and the decision), so the scheduler cannot be brought forward",
                           missing);
    birdie_sched *s = NULL;
    rc = birdie_sched_load(state, len, NULL, &s, err, errlen);
    r->from_eval = from;
    r->to_eval = target;
    r->differs_at = -1;
    for (int64_t i = 0; rc == 0 && i <= target - from; i++) {
        birdie_decision stored = {0}, again = {0};
        rc = birdie_decision_decode(recs[i], lens[i], &stored, err, errlen);
        if (rc == 0) {
            birdie_sched_input in = {.step = stored.step,
                                     .n_arms = stored.n_arms,
                                     .loss_sum = stored.loss_sum,
                                     .tokens = stored.tokens,
                                     .mixture = stored.mixture_in,
                                     .mixture_version = stored.mixture_version_in};
            rc = birdie_sched_observe(s, &in, &again, err, errlen);
            if (rc == 0 && !birdie_decision_equal(&stored, &again)) {
                r->differs_at = from + i;
                snprintf(r->field, sizeof(r->field), "%s", first_difference(&again, &stored));
            }
        }
        birdie_decision_free(&stored);
        birdie_decision_free(&again);
        if (r->differs_at >= 0)
            break;
    }
    birdie_sched_free(s);
    store_records_free(recs, lens, target - from + 1);
    if (rc == 0)
        r->status = r->differs_at >= 0 ? CTL_EXPLAIN_REPLAY_DIFFERS : CTL_EXPLAIN_REPLAY_MATCH;
    return rc;
}

static int replay(birdie_store *store, const ctl_explain_args *a, const explained *x, replay_result *r, char *err,
                  size_t errlen)
{
    if (!x->has_record)
        return birdie_fail(err, errlen, -ENOENT,
                           "replay: the decision of step %" PRId64
                           " has no scheduler record (an operator's decision, a fixed mixture, or a database "
                           "written before migration 0005)",
                           x->e.step);
    int64_t target = (int64_t)x->rec.eval_index;
    char **paths = NULL;
    int n = 0;
    int rc = candidate_paths(store, a, x->e.incarnation, &paths, &n, err, errlen);
    if (rc < 0)
        return rc;
    /* the newest state from before the decision: the most evaluations done, at most `target` */
    uint8_t *best = NULL;
    size_t best_len = 0;
    int64_t best_count = -1, oldest = -1;
    char notes[2048] = "";
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t *state = NULL;
        size_t len = 0;
        uint64_t count = 0;
        char note[1024] = "";
        int got = state_of(paths[i], &state, &len, &count, note, sizeof(note));
        if (got < 0)
            rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
        else if (got == 0 && strlen(notes) + strlen(note) + 3 < sizeof(notes))
            snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), "; %s", note);
        if (got == 1 && (oldest < 0 || (int64_t)count < oldest))
            oldest = (int64_t)count;
        if (got == 1 && (int64_t)count <= target && (int64_t)count > best_count) {
            free(best);
            best = state;
            best_len = len;
            best_count = (int64_t)count;
            snprintf(r->checkpoint, sizeof(r->checkpoint), "%s", paths[i]);
        } else {
            free(state);
        }
    }
    store_paths_free(paths, n);
    if (rc == 0 && !best && oldest > target)
        rc = birdie_fail(err, errlen, -ENOENT,
                         "replay: every checkpoint is later than evaluation %" PRId64
                         " (the oldest holds the scheduler after %" PRId64 " evaluations); keep more checkpoints "
                         "([checkpoint] keep) to replay early decisions",
                         target, oldest);
    else if (rc == 0 && !best)
        rc = birdie_fail(err, errlen, -ENOENT,
                         "replay: none of %d checkpoint file(s) holds a scheduler state from before evaluation %" PRId64
                         "%s%s%s",
                         n, target, notes[0] ? " (" : "", notes[0] ? notes + 2 : "", notes[0] ? ")" : "");
    if (rc == 0)
        rc = replay_chain(store, best, best_len, x->e.incarnation, best_count, target, r, err, errlen);
    free(best);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------------ */

static const char *kind_of(const explained *x)
{
    if (x->has_record)
        return birdie_decision_kind_name(x->rec.kind);
    if (!strcmp(x->e.source, "operator"))
        return "operator";
    return x->e.explore ? "explore" : "none";
}

/* The per-class total of w. */
static double class_total(const explained *x, const double *w, const char *cls)
{
    double t = 0;
    for (int a = 0; a < x->e.n_arms; a++)
        if (!strcmp(x->classes[a], cls))
            t += w[a];
    return t;
}

/* Index of the first arm of each class (a class listed once, in arm order); returns the count. */
static int class_heads(const explained *x, int *heads)
{
    int n = 0;
    for (int a = 0; a < x->e.n_arms; a++) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++)
            seen = !strcmp(x->classes[heads[k]], x->classes[a]);
        if (!seen)
            heads[n++] = a;
    }
    return n;
}

static void print_text(birdie_store *store, const explained *x, const replay_result *r)
{
    const store_explained *e = &x->e;
    printf("decision at step %" PRId64 " (incarnation %" PRId64 ", %s", e->step, e->incarnation, e->source);
    if (x->has_record)
        printf(", evaluation %" PRIu64, x->rec.eval_index);
    printf("): %s\n", kind_of(x));
    printf("mixture    version %" PRId64 " -> %" PRId64 "%s\n", e->version_before, e->mixture_version,
           e->version_before == e->mixture_version ? " (kept)" : "");
    if (x->has_record) {
        const birdie_decision *d = &x->rec;
        if (isnan(d->explore_prob))
            printf("choice     none: %s keeps the class-uniform mixture\n",
                   d->kind == BIRDIE_DECISION_INITIAL ? "the first evaluation" : "warm-up");
        else
            printf("choice     E(step) = %.4f, draw u = %.4f: %s (u %s E); %d candidates scored, the mean of the top "
                   "%d chosen\n",
                   d->explore_prob, d->explore_draw, d->explore_draw < d->explore_prob ? "explore" : "exploit",
                   d->explore_draw < d->explore_prob ? "<" : ">=", d->n_candidates, d->top_k);
        printf("model      %d intervals of history; fit MSE first ", d->history_len);
        print_real("%.6g", d->fit_mse_first);
        printf(", last ");
        print_real("%.6g", d->fit_mse_last);
        printf(", clean ");
        print_real("%.6g", d->fit_mse_clean);
        printf("\n");
    } else {
        printf("model      fit error ");
        print_real("%.6g", e->fit_error);
        printf(" (no scheduler record: %s)\n",
               strcmp(e->source, "operator") ? "fixed mixture or older database" : "an operator's mixture");
    }
    printf("previous   observed reward of the mixture in force ");
    print_real("%.6f", e->observed_reward);
    printf(", predicted for it ");
    print_real("%.6f", e->predicted_reward);
    printf("\nchosen     predicted reward ");
    print_real("%.6f", x->has_record && x->rec.history_len > 0 ? x->rec.predicted_out_score : NAN);
    if (e->has_next) {
        printf(", observed ");
        print_real("%.6f", e->next_observed);
        printf(" at the next decision (step %" PRId64 ")\n", e->next_step);
    } else {
        printf(", not observed yet (no later decision)\n");
    }
    printf("  %-28s %-18s %10s %12s %10s %10s %10s %10s %10s\n", "ARM", "CLASS", "VAL LOSS", "TOKENS", "REWARD",
           "BEFORE", "AFTER", "CHANGE", "PREDICTED");
    for (int a = 0; a < e->n_arms; a++) {
        printf("  %-28s %-18s", store_arm_name(store, a), x->classes[a]);
        column(mean_loss(e, a), 10, 5, 0);
        column(e->tokens[a], 12, 0, 0);
        column(e->rewards[a], 10, 6, 0);
        column(e->weights_before[a], 10, 6, 0);
        column(e->weights_after[a], 10, 6, 0);
        column(e->weights_after[a] - e->weights_before[a], 10, 6, 1);
        column(x->has_record && x->rec.history_len > 0 ? x->rec.predicted_out[a] : NAN, 10, 6, 0);
        printf("\n");
    }
    int heads[e->n_arms > 0 ? e->n_arms : 1];
    int nc = class_heads(x, heads);
    printf("  %-47s %10s %10s %10s\n", "CLASS", "BEFORE", "AFTER", "CHANGE");
    for (int k = 0; k < nc; k++) {
        const char *c = x->classes[heads[k]];
        double b = class_total(x, e->weights_before, c), af = class_total(x, e->weights_after, c);
        printf("  %-47s %10.6f %10.6f %+10.6f\n", c, b, af, af - b);
    }
    if (x->has_record && x->rec.n_candidates > 0) {
        const birdie_decision *d = &x->rec;
        printf("top candidates (of %d; explore copies have index >= %d)\n", d->n_candidates, d->n_candidates / 2);
        for (int j = 0; j < d->top_k && j < TOP_SHOWN; j++) {
            printf("  #%d candidate %5d score %.6f:", j + 1, d->top_index[j], d->top_score[j]);
            const double *w = d->top_candidates + (size_t)j * d->n_arms;
            int used[TOP_ARMS] = {-1, -1, -1};
            for (int t = 0; t < TOP_ARMS && t < d->n_arms; t++) {
                int best = -1;
                for (int a = 0; a < d->n_arms; a++)
                    if ((t < 1 || a != used[0]) && (t < 2 || a != used[1]) && (best < 0 || w[a] > w[best]))
                        best = a;
                used[t] = best;
                printf(" %s %.3f", store_arm_name(store, best), w[best]);
            }
            printf("\n");
        }
    }
    if (r->status == CTL_EXPLAIN_REPLAY_MATCH)
        printf("replay     matches bit for bit: evaluations %" PRId64 "..%" PRId64 " recomputed from %s\n",
               r->from_eval, r->to_eval, r->checkpoint);
    else if (r->status == CTL_EXPLAIN_REPLAY_DIFFERS)
        printf("replay     DIFFERS at evaluation %" PRId64 " (%s) when recomputed from %s\n", r->differs_at, r->field,
               r->checkpoint);
}

static json_t *array_of(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, real_or_null(v[i]));
    return a;
}

static json_t *to_json(birdie_store *store, const explained *x, const replay_result *r)
{
    const store_explained *e = &x->e;
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(e->step));
    json_object_set_new(o, "incarnation", json_integer(e->incarnation));
    json_object_set_new(o, "source", json_string(e->source));
    json_object_set_new(o, "kind", json_string(kind_of(x)));
    json_object_set_new(o, "explore", json_boolean(e->explore));
    json_object_set_new(o, "mixture_version", json_integer(e->mixture_version));
    json_object_set_new(o, "previous_mixture_version", json_integer(e->version_before));
    json_object_set_new(o, "fit_error", real_or_null(e->fit_error));
    json_object_set_new(o, "observed_reward", real_or_null(e->observed_reward));
    json_object_set_new(o, "predicted_reward", real_or_null(e->predicted_reward));
    json_t *chosen = json_object();
    json_object_set_new(chosen, "predicted_reward",
                        real_or_null(x->has_record && x->rec.history_len > 0 ? x->rec.predicted_out_score : NAN));
    json_object_set_new(chosen, "observed_reward", e->has_next ? real_or_null(e->next_observed) : json_null());
    json_object_set_new(chosen, "observed_at_step", e->has_next ? json_integer(e->next_step) : json_null());
    json_object_set_new(o, "chosen", chosen);
    json_t *arms = json_array();
    for (int a = 0; a < e->n_arms; a++) {
        json_t *arm = json_object();
        json_object_set_new(arm, "arm", json_string(store_arm_name(store, a)));
        json_object_set_new(arm, "class", json_string(x->classes[a]));
        json_object_set_new(arm, "val_loss", real_or_null(mean_loss(e, a)));
        json_object_set_new(arm, "loss_sum", real_or_null(e->loss_sum[a]));
        json_object_set_new(arm, "tokens", real_or_null(e->tokens[a]));
        json_object_set_new(arm, "reward", real_or_null(e->rewards[a]));
        json_object_set_new(arm, "weight_before", real_or_null(e->weights_before[a]));
        json_object_set_new(arm, "weight_after", real_or_null(e->weights_after[a]));
        json_object_set_new(arm, "predicted_reward",
                            real_or_null(x->has_record && x->rec.history_len > 0 ? x->rec.predicted_out[a] : NAN));
        json_array_append_new(arms, arm);
    }
    json_object_set_new(o, "arms", arms);
    json_t *classes = json_array();
    int heads[e->n_arms > 0 ? e->n_arms : 1];
    int nc = class_heads(x, heads);
    for (int k = 0; k < nc; k++) {
        const char *c = x->classes[heads[k]];
        json_array_append_new(classes, json_pack("{s:s,s:o,s:o}", "class", c, "weight_before",
                                                 real_or_null(class_total(x, e->weights_before, c)), "weight_after",
                                                 real_or_null(class_total(x, e->weights_after, c))));
    }
    json_object_set_new(o, "classes", classes);
    if (x->has_record) {
        const birdie_decision *d = &x->rec;
        json_t *s = json_object();
        json_object_set_new(s, "eval_index", json_integer((json_int_t)d->eval_index));
        json_object_set_new(s, "explore_prob", real_or_null(d->explore_prob));
        json_object_set_new(s, "explore_draw", real_or_null(d->explore_draw));
        json_object_set_new(s, "history_len", json_integer(d->history_len));
        json_object_set_new(s, "fit_mse_first", real_or_null(d->fit_mse_first));
        json_object_set_new(s, "fit_mse_last", real_or_null(d->fit_mse_last));
        json_object_set_new(s, "fit_mse_clean", real_or_null(d->fit_mse_clean));
        json_object_set_new(s, "n_candidates", json_integer(d->n_candidates));
        json_t *top = json_array();
        for (int j = 0; j < d->top_k && d->n_candidates > 0; j++)
            json_array_append_new(top, json_pack("{s:i,s:o,s:o}", "candidate", d->top_index[j], "score",
                                                 real_or_null(d->top_score[j]), "weights",
                                                 array_of(d->top_candidates + (size_t)j * d->n_arms, d->n_arms)));
        json_object_set_new(s, "top_candidates", top);
        json_object_set_new(o, "scheduler", s);
    } else {
        json_object_set_new(o, "scheduler", json_null());
    }
    if (r->status != CTL_EXPLAIN_REPLAY_NONE) {
        json_t *rj = json_object();
        json_object_set_new(rj, "matches", json_boolean(r->status == CTL_EXPLAIN_REPLAY_MATCH));
        json_object_set_new(rj, "checkpoint", json_string(r->checkpoint));
        json_object_set_new(rj, "from_eval", json_integer(r->from_eval));
        json_object_set_new(rj, "to_eval", json_integer(r->to_eval));
        json_object_set_new(rj, "differs_at", r->differs_at >= 0 ? json_integer(r->differs_at) : json_null());
        json_object_set_new(rj, "differs_in", r->differs_at >= 0 ? json_string(r->field) : json_null());
        json_object_set_new(o, "replay", rj);
    }
    return o;
}

int ctl_explain(const ctl_explain_args *a, int *replay_status, char *err, size_t errlen)
{
    *replay_status = CTL_EXPLAIN_REPLAY_NONE;
    birdie_store *store = NULL;
    int64_t run_id;
    explained x;
    memset(&x, 0, sizeof(x));
    replay_result r;
    memset(&r, 0, sizeof(r));
    int rc = birdie_store_open(a->db, 1, &store, err, errlen);
    if (rc == 0)
        rc = birdie_store_select_run(store, a->run, &run_id, err, errlen);
    if (rc == 0) {
        rc = a->by_decision ? store_explain_eval(store, a->step, &x.e, err, errlen)
                            : store_explain_step(store, a->step, &x.e, err, errlen);
        if (rc == 0)
            rc = a->by_decision
                     ? birdie_fail(err, errlen, -ENOENT, "no scheduler decision %" PRId64 " in this run", a->step)
                     : birdie_fail(err, errlen, -ENOENT, "no decision at step %" PRId64 " in this run", a->step);
        else if (rc == 1)
            rc = 0;
    }
    if (rc == 0)
        rc = store_arm_classes(store, &x.classes, err, errlen);
    if (rc == 0 && x.e.has_detail) {
        rc = birdie_decision_decode(x.e.detail.record, x.e.detail.record_len, &x.rec, err, errlen);
        if (rc == 0 && x.rec.n_arms != x.e.n_arms)
            rc = birdie_fail(err, errlen, -EIO, "the decision's record has %d arms, the run %d", x.rec.n_arms,
                             x.e.n_arms);
        x.has_record = rc == 0;
    }
    if (rc == 0 && a->replay)
        rc = replay(store, a, &x, &r, err, errlen);
    if (rc == 0) {
        if (a->json)
            ctl_print_json(to_json(store, &x, &r), 0);
        else
            print_text(store, &x, &r);
        *replay_status = r.status;
    }
    birdie_decision_free(&x.rec);
    if (x.classes)
        store_paths_free(x.classes, x.e.n_arms);
    store_explained_free(&x.e);
    birdie_store_close(store);
    return rc;
}
