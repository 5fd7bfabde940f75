/* daemon/eval_report.c: the table, the JSON object and the store rows of an evaluation
 * (eval_report.h). Not here: the measurements themselves (eval_main.c). */
#include "daemon/eval_report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

void birdie_eval_escape(char *out, size_t cap, const char *text, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char piece[8];
        if (c == '\n')
            snprintf(piece, sizeof piece, "\\n");
        else if (c == '\\')
            snprintf(piece, sizeof piece, "\\\\");
        else if (c == '"') /* the table quotes the text */
            snprintf(piece, sizeof piece, "\\\"");
        else if (c < 0x20 || c > 0x7e)
            snprintf(piece, sizeof piece, "\\x%02x", c);
        else
            snprintf(piece, sizeof piece, "%c", c);
        size_t n = strlen(piece);
        if (o + n + 4 > cap) { /* room for "..." and the NUL */
            snprintf(out + o, cap - o, "...");
            return;
        }
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = '\0';
}

static void print_phonebook(FILE *to, const char *title, const birdie_eval_phonebook_row *rows)
{
    fprintf(to, "%s\n  %2s %8s %6s %10s %10s\n", title, "K", "ENTRIES", "ITEMS", "DIGIT ACC", "EXACT");
    for (int i = 0; i < BIRDIE_EVAL_KS; i++)
        fprintf(to, "  %2d %8d %6d %10.4f %10.4f\n", rows[i].k, rows[i].entries, rows[i].items, rows[i].digit_accuracy,
                rows[i].exact_rate);
    for (int i = 0; i < BIRDIE_EVAL_KS; i++) {
        fprintf(to, "  examples, K=%d:\n", rows[i].k);
        for (int s = 0; s < rows[i].n_samples; s++) {
            const birdie_eval_sample *x = &rows[i].samples[s];
            fprintf(to, "    asked %s\n      want \"%s\"\n      got  \"%s\"\n", x->asked, x->want, x->got);
        }
    }
}

void birdie_eval_print_table(FILE *to, const birdie_eval_report *r)
{
    fprintf(to, "checkpoint %s (step %lld), run %s\n", r->checkpoint, (long long)r->step, r->run);
    fprintf(to, "model      %s D=%d N=%d L=%d%s, %zu parameters, rows of %d\n", r->size, r->d_model, r->d_state,
            r->n_layers, r->bidirectional ? " bidirectional" : "", r->params, r->seq_len);
    fprintf(to, "sets       seed %llu, greedy decoding, batches of %d\n", (unsigned long long)r->seed, r->batch);
    if (r->has_phonebook)
        print_phonebook(to, "phonebook (digit accuracy: digits right in place; exact: whole numbers right)",
                        r->phonebook);
    if (r->has_long)
        print_phonebook(to, "phonebook, long books (length generalisation)", r->phonebook_long);
    if (r->has_infill) {
        fprintf(to, "infill     %d items, context %d bytes, span %d, paradigm %s: exact %.4f, token accuracy %.4f\n",
                r->infill.items, r->infill.context_len, r->infill.span_len, r->infill.paradigm, r->infill.exact_rate,
                r->infill.token_accuracy);
        for (int s = 0; s < r->infill.n_samples; s++)
            fprintf(to, "  around \"%s\"\n    want \"%s\"\n    got  \"%s\"\n", r->infill.samples[s].asked,
                    r->infill.samples[s].want, r->infill.samples[s].got);
    }
    if (r->has_bpc)
        fprintf(to, "bpc        %d documents, %llu characters (%llu tokens): %.4f bits/char\n", r->bpc.documents,
                (unsigned long long)r->bpc.chars, (unsigned long long)r->bpc.tokens, r->bpc.bits_per_char);
    fprintf(to, "seconds    %.2f\n", r->seconds);
}

static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *phonebook_json(const birdie_eval_phonebook_row *rows)
{
    json_t *a = json_array();
    for (int i = 0; a && i < BIRDIE_EVAL_KS; i++)
        json_array_append_new(a,
                              json_pack("{s:i, s:i, s:i, s:o, s:o}", "k", rows[i].k, "entries", rows[i].entries,
                                        "items", rows[i].items, "digit_accuracy", real_or_null(rows[i].digit_accuracy),
                                        "exact_rate", real_or_null(rows[i].exact_rate)));
    return a;
}

int birdie_eval_print_json(FILE *to, const birdie_eval_report *r, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:s, s:I, s:s}", "checkpoint", r->checkpoint, "step", (json_int_t)r->step, "run", r->run);
    if (o) {
        json_object_set_new(o, "model",
                            json_pack("{s:s, s:i, s:i, s:i, s:b, s:i, s:I, s:i}", "size", r->size, "d_model",
                                      r->d_model, "d_state", r->d_state, "n_layers", r->n_layers, "bidirectional",
                                      r->bidirectional, "vocab", r->vocab, "params", (json_int_t)r->params, "seq_len",
                                      r->seq_len));
        json_object_set_new(o, "seed", json_integer((json_int_t)r->seed)); /* the flag keeps it <= INT64_MAX */
        json_object_set_new(o, "batch", json_integer(r->batch));
        json_object_set_new(o, "decoding", json_string("greedy"));
        if (r->has_phonebook)
            json_object_set_new(o, "phonebook", phonebook_json(r->phonebook));
        if (r->has_long)
            json_object_set_new(o, "phonebook_long", phonebook_json(r->phonebook_long));
        if (r->has_infill)
            json_object_set_new(o, "infill",
                                json_pack("{s:i, s:i, s:i, s:s, s:o, s:o}", "items", r->infill.items, "context_len",
                                          r->infill.context_len, "span_len", r->infill.span_len, "paradigm",
                                          r->infill.paradigm, "exact_rate", real_or_null(r->infill.exact_rate),
                                          "token_accuracy", real_or_null(r->infill.token_accuracy)));
        if (r->has_bpc)
            json_object_set_new(o, "bpc",
                                json_pack("{s:i, s:I, s:I, s:o}", "documents", r->bpc.documents, "chars",
                                          (json_int_t)r->bpc.chars, "tokens", (json_int_t)r->bpc.tokens,
                                          "bits_per_char", real_or_null(r->bpc.bits_per_char)));
        json_object_set_new(o, "seconds", json_real(r->seconds));
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    if (!s)
        return birdie_fail(err, errlen, -ENOMEM, "eval: out of memory for the JSON report");
    fprintf(to, "%s\n", s);
    free(s);
    return 0;
}

static int phonebook_rows(const char *task, const birdie_eval_phonebook_row *rows, birdie_store_eval_result *out)
{
    int n = 0;
    for (int i = 0; i < BIRDIE_EVAL_KS; i++) {
        birdie_store_eval_result base = {
            .task = task, .k = rows[i].k, .entries = rows[i].entries, .items = rows[i].items};
        out[n] = base;
        out[n].metric = "digit_accuracy";
        out[n++].value = rows[i].digit_accuracy;
        out[n] = base;
        out[n].metric = "exact_rate";
        out[n++].value = rows[i].exact_rate;
    }
    return n;
}

int birdie_eval_store_rows(const birdie_eval_report *r, birdie_store_eval_result *out)
{
    int n = 0;
    if (r->has_phonebook)
        n += phonebook_rows("phonebook", r->phonebook, out + n);
    if (r->has_long)
        n += phonebook_rows("phonebook_long", r->phonebook_long, out + n);
    if (r->has_infill) {
        birdie_store_eval_result base = {.task = "infill",
                                         .context_len = r->infill.context_len,
                                         .span_len = r->infill.span_len,
                                         .items = r->infill.items};
        out[n] = base;
        out[n].metric = "exact_rate";
        out[n++].value = r->infill.exact_rate;
        out[n] = base;
        out[n].metric = "token_accuracy";
        out[n++].value = r->infill.token_accuracy;
    }
    if (r->has_bpc)
        out[n++] = (birdie_store_eval_result){
            .task = "bpc", .items = r->bpc.documents, .metric = "bits_per_char", .value = r->bpc.bits_per_char};
    return n;
}
