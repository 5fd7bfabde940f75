/* daemon/finetune_record.c: fine-tune curve points into the store (finetune_record.h). */
#include "daemon/finetune_record.h"

#include <string.h>

#include "daemon/store_eval.h"
#include "worker/error.h"

static int recorder_open(void *ctx, const char *db_path, char *err, size_t errlen)
{
    birdie_finetune_recorder *r = ctx;
    char why[512];
    int rc = birdie_store_open(db_path, 0, &r->store, why, sizeof why);
    return rc < 0 ? birdie_fail(err, errlen, birdie_error_tag(rc, BIRDIE_EXIT_DATA), "--db %s: %s", db_path, why) : 0;
}

static int recorder_point(void *ctx, const char *run, int64_t source_step, double lr, const birdie_finetune_point *p,
                          char *err, size_t errlen)
{
    birdie_finetune_recorder *r = ctx;
    birdie_store_finetune_point sp = {.task = "phonebook",
                                      .source_step = source_step,
                                      .lr = lr,
                                      .step = p->step,
                                      .k = p->k,
                                      .items = p->items,
                                      .digit_accuracy = p->digit_accuracy,
                                      .exact_rate = p->exact_rate,
                                      .answer_loss = p->answer_loss,
                                      .train_loss = p->train_loss};
    int rc = birdie_store_record_finetune_point(r->store, run, &sp, err, errlen);
    return rc < 0 ? birdie_error_tag(rc, BIRDIE_EXIT_DATA) : 0;
}

static void recorder_close(void *ctx)
{
    birdie_finetune_recorder *r = ctx;
    birdie_store_close(r->store);
    r->store = NULL;
}

birdie_finetune_hooks birdie_finetune_recorder_hooks(birdie_finetune_recorder *r)
{
    memset(r, 0, sizeof *r);
    return (birdie_finetune_hooks){.ctx = r, .open = recorder_open, .point = recorder_point, .close = recorder_close};
}
