/* ctl_table: see ctl_table.h. */
#include "ctl/ctl_table.h"

#include "ctl/ctl_bars.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void print_mixture_line(const char *label, const Birdie__V1__Mixture *m)
{
    if (!m) {
        printf("%-10s (none)\n", label);
        return;
    }
    printf("%-10s version %" PRId64 " (%s, step %" PRId64 ")\n", label, m->version, m->source, m->step);
}

static void print_weights(const Birdie__V1__Mixture *m)
{
    for (size_t i = 0; m && i < m->n_weights; i++)
        printf("  %-32s %.6f\n", m->weights[i]->arm, m->weights[i]->weight);
}

static void print_eval(const Birdie__V1__EvalSummary *e)
{
    if (!e || e->step < 0) {
        printf("last eval  none\n");
        return;
    }
    printf("last eval  step %" PRId64 "\n", e->step);
    printf("  %-32s %12s %14s\n", "ARM", "MEAN LOSS", "TOKENS");
    for (size_t i = 0; i < e->n_evals; i++) {
        const Birdie__V1__ArmEval *a = e->evals[i];
        printf("  %-32s %12.5f %14.0f\n", a->arm, a->tokens > 0 ? a->loss_sum / a->tokens : NAN, a->tokens);
    }
}

static void print_checkpoint(const Birdie__V1__CheckpointRecord *c)
{
    if (!c || !c->path[0]) {
        printf("last ckpt  none\n");
        return;
    }
    printf("last ckpt  step %" PRId64 " (incarnation %" PRId64 ", rank %d) %s\n", c->step, c->incarnation, c->rank,
           c->path);
}

void ctl_table_status(const Birdie__V1__GetStatusResponse *s)
{
    printf("run        %s (id %" PRId64 ", incarnation %" PRId64 ")\n", s->run_name, s->run_id, s->incarnation);
    printf("state      %s\n", s->state);
    printf("step       %" PRId64 "\n", s->step);
    printf("tokens/s   %.1f\n", s->tokens_per_s);
    if (s->last_error[0])
        printf("last error %s\n", s->last_error);
    print_mixture_line("mixture", s->mixture);
    ctl_print_class_bars(stdout, s->mixture, s->arms, s->n_arms);
    print_weights(s->mixture);
    print_eval(s->last_eval);
    printf("ckpt seq   %" PRId64 "\n", s->checkpoint_seq);
    print_checkpoint(s->last_checkpoint);
    printf("%-6s %-10s %10s %10s %12s %12s %10s  %s\n", "RANK", "REGISTERED", "STEP", "VERSION", "APPLIED@", "TOKENS/S",
           "HB AGE(s)", "HOST/PID");
    for (size_t i = 0; i < s->n_ranks; i++) {
        const Birdie__V1__RankStatus *r = s->ranks[i];
        char age[32];
        if (r->heartbeat_age_s < 0)
            snprintf(age, sizeof(age), "-");
        else
            snprintf(age, sizeof(age), "%.1f", r->heartbeat_age_s);
        printf("%-6d %-10s %10" PRId64 " %10" PRId64 " %12" PRId64 " %12.1f %10s  %s/%" PRId64 "%s\n", r->rank,
               r->registered ? "yes" : "no", r->step, r->applied_version, r->applied_step, r->tokens_per_s, age,
               r->hostname && r->hostname[0] ? r->hostname : "-", r->pid, r->stalled ? "  STALLED" : "");
    }
}

void ctl_table_set_mixture(const Birdie__V1__SetMixtureResponse *r)
{
    const Birdie__V1__Mixture *old = r->previous, *neu = r->mixture;
    if (!neu)
        return;
    printf("mixture version %" PRId64 " -> %" PRId64 "%s\n", old ? old->version : -1, neu->version,
           r->replayed ? " (request already applied; nothing changed)" : "");
    printf("  %-32s %10s    %10s\n", "ARM", "OLD", "NEW");
    for (size_t i = 0; i < neu->n_weights; i++) {
        double before = NAN;
        for (size_t k = 0; old && k < old->n_weights; k++)
            if (strcmp(old->weights[k]->arm, neu->weights[i]->arm) == 0)
                before = old->weights[k]->weight;
        printf("  %-32s %10.6f -> %10.6f\n", neu->weights[i]->arm, before, neu->weights[i]->weight);
    }
}

static void ctl_table_state_changes(const Birdie__V1__GetHistoryResponse *h);

void ctl_table_history(const Birdie__V1__GetHistoryResponse *h)
{
    printf("evals (%zu)\n  %-4s %8s %-32s %14s %14s\n", h->n_evals, "INC", "STEP", "ARM", "LOSS SUM", "TOKENS");
    for (size_t i = 0; i < h->n_evals; i++) {
        const Birdie__V1__EvalRecord *e = h->evals[i];
        printf("  %-4" PRId64 " %8" PRId64 " %-32s %14.5f %14.0f\n", e->incarnation, e->step, e->arm, e->loss_sum,
               e->tokens);
    }
    printf("rewards (%zu)\n  %-4s %8s %-32s %12s\n", h->n_rewards, "INC", "STEP", "ARM", "REWARD");
    for (size_t i = 0; i < h->n_rewards; i++) {
        const Birdie__V1__RewardRecord *r = h->rewards[i];
        printf("  %-4" PRId64 " %8" PRId64 " %-32s %12.6f\n", r->incarnation, r->step, r->arm, r->reward);
    }
    printf("decisions (%zu)\n  %-4s %8s %-10s %8s %8s %12s %12s %12s\n", h->n_decisions, "INC", "STEP", "SOURCE",
           "VERSION", "EXPLORE", "PREDICTED", "OBSERVED", "FIT ERR");
    for (size_t i = 0; i < h->n_decisions; i++) {
        const Birdie__V1__DecisionRecord *d = h->decisions[i];
        printf("  %-4" PRId64 " %8" PRId64 " %-10s %8" PRId64 " %8s %12.6f %12.6f %12.6f\n", d->incarnation, d->step,
               d->source, d->mixture_version, d->explore ? "yes" : "no", d->predicted_reward, d->observed_reward,
               d->fit_error);
    }
    printf("mixtures (%zu)\n", h->n_mixtures);
    for (size_t i = 0; i < h->n_mixtures; i++) {
        const Birdie__V1__MixtureRecord *m = h->mixtures[i];
        if (!m->mixture)
            continue;
        printf("  incarnation %" PRId64 " version %" PRId64 " %s step %" PRId64 " applied@%" PRId64 "%s%s\n",
               m->incarnation, m->mixture->version, m->mixture->source, m->mixture->step, m->applied_step,
               m->request_id[0] ? " request " : "", m->request_id);
        print_weights(m->mixture);
    }
    printf("checkpoints (%zu)\n  %-4s %8s %4s %12s %-16s %s\n", h->n_checkpoints, "INC", "STEP", "RANK", "BYTES",
           "CHECKSUM", "PATH");
    for (size_t i = 0; i < h->n_checkpoints; i++) {
        const Birdie__V1__CheckpointRecord *c = h->checkpoints[i];
        printf("  %-4" PRId64 " %8" PRId64 " %4d %12" PRIu64 " %-16s %s\n", c->incarnation, c->step, c->rank, c->bytes,
               c->checksum, c->path);
    }
    printf("model evals (%zu)\n  %-5s %8s %-14s %3s %7s %7s %5s %6s %-15s %10s  %s\n", h->n_model_evals, "EVAL", "STEP",
           "TASK", "K", "ENTRIES", "CONTEXT", "SPAN", "ITEMS", "METRIC", "VALUE", "CHECKPOINT");
    for (size_t i = 0; i < h->n_model_evals; i++) {
        const Birdie__V1__ModelEvalRecord *e = h->model_evals[i];
        printf("  %-5" PRId64 " %8" PRId64 " %-14s %3d %7d %7d %5d %6d %-15s %10.6f  %s\n", e->evaluation_id, e->step,
               e->task, e->k, e->entries, e->context_len, e->span_len, e->items, e->metric, e->value, e->checkpoint);
    }
    printf("finetune points (%zu)\n  %-10s %8s %10s %8s %3s %6s %10s %10s %12s %12s\n", h->n_finetune_points, "TASK",
           "FROM", "LR", "STEP", "K", "ITEMS", "DIGIT ACC", "EXACT", "ANSWER LOSS", "TRAIN LOSS");
    for (size_t i = 0; i < h->n_finetune_points; i++) {
        const Birdie__V1__FinetunePointRecord *f = h->finetune_points[i];
        printf("  %-10s %8" PRId64 " %10.3g %8" PRId64 " %3d %6d %10.6f %10.6f %12.6f %12.6f\n", f->task,
               f->source_step, f->lr, f->step, f->k, f->items, f->digit_accuracy, f->exact_rate, f->answer_loss,
               f->train_loss);
    }
    ctl_table_state_changes(h);
}

/* Who paused, resumed or stopped the run, when and why, and how it ended (migration 0004). */
static void ctl_table_state_changes(const Birdie__V1__GetHistoryResponse *h)
{
    printf("state changes (%zu)\n  %-4s %8s %-20s %-9s %s\n", h->n_state_changes, "INC", "STEP", "TIME (UTC)", "STATE",
           "REASON");
    for (size_t i = 0; i < h->n_state_changes; i++) {
        const Birdie__V1__StateChangeRecord *c = h->state_changes[i];
        char when[32] = "", step[24] = "-";
        time_t t = (time_t)(c->unix_ms / 1000);
        struct tm utc;
        if (gmtime_r(&t, &utc))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
        if (c->step >= 0)
            snprintf(step, sizeof step, "%" PRId64, c->step);
        printf("  %-4" PRId64 " %8s %-20s %-9s %s\n", c->incarnation, step, when, c->state, c->reason);
    }
}

void ctl_table_event(const Birdie__V1__Event *e)
{
    if (strcmp(e->kind, "step") == 0) {
        printf("step     %" PRId64 " loss %.5f tokens/s %.1f\n", e->step, e->loss, e->tokens_per_s);
    } else if (strcmp(e->kind, "eval") == 0) {
        printf("eval     step %" PRId64 "\n", e->step);
        if (e->eval)
            for (size_t i = 0; i < e->eval->n_evals; i++) {
                const Birdie__V1__ArmEval *a = e->eval->evals[i];
                printf("  %-32s %12.5f\n", a->arm, a->tokens > 0 ? a->loss_sum / a->tokens : NAN);
            }
    } else if (strcmp(e->kind, "checkpoint") == 0 && e->checkpoint) {
        printf("ckpt     step %" PRId64 " %s (%" PRIu64 " bytes, rank %d)\n", e->step, e->checkpoint->path,
               e->checkpoint->bytes, e->checkpoint->rank);
    } else if (strcmp(e->kind, "checkpoint_requested") == 0) {
        printf("ckpt-req seq %" PRId64 " at step %" PRId64 "%s%s\n", e->checkpoint_seq, e->step,
               e->detail[0] ? ": " : "", e->detail);
    } else if (strcmp(e->kind, "mixture") == 0) {
        print_mixture_line("mixture", e->mixture);
        print_weights(e->mixture);
    } else {
        printf("%-8s %s%s%s\n", e->kind, e->state, e->detail[0] ? ": " : "", e->detail);
    }
    fflush(stdout);
}

void ctl_table_checkpoint(const Birdie__V1__CheckpointResponse *r)
{
    printf("checkpoint requested: checkpoint_seq %" PRId64 "%s\n", r->checkpoint_seq,
           r->replayed ? " (request already applied; nothing changed)" : "");
}

void ctl_table_control(const char *verb, const Birdie__V1__ControlResponse *r)
{
    printf("%s: run is now %s\n", verb, r->state);
}
