/* tests/worker/eval/test_eval_tasks.c: the model-independent evaluation tasks (worker/eval/): the
 * byte codec; phonebook generation (unique entries, asked names in the book, answers, the exact
 * layout of a hand-written case, fixed by seed), its scoring and the phonebook-line detector; the
 * synthetic corpus never writing a phonebook line; held-out infilling items and their scoring; bits
 * per character on tiny cases. No model runs here. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/data/corpus.h"
#include "worker/eval/bpc.h"
#include "worker/eval/eval_text.h"
#include "worker/eval/infill.h"
#include "worker/eval/phonebook.h"
#include "worker/objectives/arm.h"
#include "worker/vocab.h"

static char err[512];

static birdie_corpus *open_corpus(uint64_t seed)
{
    birdie_corpus *c = NULL;
    int rc = birdie_corpus_open(&c, seed, err, sizeof err);
    if (rc != 0)
        fail_msg("birdie_corpus_open: %d %s", rc, err);
    return c;
}

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* ---- codec ------------------------------------------------------------------------------------ */

static void test_codec(void **state)
{
    (void)state;
    int32_t ids[16];
    assert_int_equal(birdie_eval_encode("Ab: 1-\n", 7, ids, err, sizeof err), 7);
    assert_int_equal(ids[0], 'A');
    assert_int_equal(ids[6], '\n');
    assert_int_equal(birdie_eval_encode("a\0b", 3, ids, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "PAD"));
    assert_false(birdie_eval_encodable("a\0b", 3));
    assert_true(birdie_eval_encodable("\xff\x01", 2));

    int32_t gen[] = {'h', 'i', BIRDIE_EOS, 'x'};
    char out[8];
    int stop = -1;
    assert_int_equal(birdie_eval_decode(gen, 4, out, sizeof out, &stop), 2);
    assert_string_equal(out, "hi");
    assert_int_equal(stop, 2);
    int32_t all[] = {'a', 'b', 'c'};
    assert_int_equal(birdie_eval_decode(all, 3, out, sizeof out, &stop), 3);
    assert_int_equal(stop, 3);
    assert_int_equal(birdie_eval_decode(all, 3, out, 3, &stop), 2); /* room for 2 bytes and the NUL */
    assert_string_equal(out, "ab");
    assert_int_equal(stop, 2);
    int32_t pad[] = {'a', BIRDIE_PAD};
    assert_int_equal(birdie_eval_decode(pad, 2, out, sizeof out, NULL), 1);
}

/* ---- phonebook: layout ------------------------------------------------------------------------ */

static void test_phonebook_layout_hand(void **state)
{
    (void)state;
    birdie_phonebook_entry book[3] = {
        {"Leo Ford", "123-456-7890"}, {"Ada Moreno", "555-010-9999"}, {"Zoe Kim", "000-000-0001"}};
    birdie_phonebook_item it;
    int asked1[1] = {1};
    assert_int_equal(birdie_phonebook_item_from(&it, book, 2, asked1, 1, err, sizeof err), 0);
    assert_string_equal(it.prompt, "Look up: Ada Moreno\n\nLeo Ford: 123-456-7890\nAda Moreno: 555-010-9999\n\n"
                                   "Look up: Ada Moreno\nNumbers:\n");
    assert_string_equal(it.answer, "555-010-9999\n");
    assert_int_equal(it.prompt_len, strlen(it.prompt));
    assert_int_equal(it.n_prompt_tokens, (int)it.prompt_len);
    assert_int_equal(it.n_answer_tokens, 13);
    for (size_t i = 0; i < it.prompt_len; i++)
        assert_int_equal(it.prompt_tokens[i], (int32_t)(uint8_t)it.prompt[i]);
    for (int i = 0; i < it.n_answer_tokens; i++)
        assert_int_equal(it.answer_tokens[i], (int32_t)(uint8_t)it.answer[i]);
    birdie_phonebook_item_free(&it);

    int asked2[2] = {2, 0};
    assert_int_equal(birdie_phonebook_item_from(&it, book, 3, asked2, 2, err, sizeof err), 0);
    assert_string_equal(it.prompt, "Look up: Zoe Kim, Leo Ford\n\n"
                                   "Leo Ford: 123-456-7890\nAda Moreno: 555-010-9999\nZoe Kim: 000-000-0001\n\n"
                                   "Look up: Zoe Kim, Leo Ford\nNumbers:\n");
    assert_string_equal(it.answer, "000-000-0001\n123-456-7890\n");
    assert_true(it.prompt_len <= birdie_phonebook_prompt_bound(2, 3));
    birdie_phonebook_item_free(&it);

    /* Bad books are refused. */
    birdie_phonebook_entry bad[2] = {{"Leo Ford", "123-456-789"}, {"Ada Moreno", "555-010-9999"}};
    assert_int_equal(birdie_phonebook_item_from(&it, bad, 2, asked1, 1, err, sizeof err), -EINVAL);
    birdie_phonebook_entry bad_name[2] = {{"Leo  Ford", "123-456-7890"}, {"Ada9", "555-010-9999"}};
    assert_int_equal(birdie_phonebook_item_from(&it, bad_name, 2, asked1, 1, err, sizeof err), -EINVAL);
    int twice[2] = {1, 1};
    assert_int_equal(birdie_phonebook_item_from(&it, book, 3, twice, 2, err, sizeof err), -EINVAL);
    int outside[1] = {2};
    assert_int_equal(birdie_phonebook_item_from(&it, book, 2, outside, 1, err, sizeof err), -EINVAL);
}

/* ---- phonebook: generator invariants ---------------------------------------------------------- */

static void check_item(const birdie_phonebook_item *it, int k, int entries)
{
    assert_int_equal(it->k, k);
    assert_int_equal(it->entries, entries);
    /* Entries unique in names and numbers, each well formed. */
    for (int e = 0; e < entries; e++) {
        assert_int_equal(strlen(it->book[e].number), 12);
        assert_int_equal(birdie_phonebook_line_at(it->book[e].number, 12, 1), 0);
        assert_true(strlen(it->book[e].name) <= BIRDIE_PHONEBOOK_NAME_MAX);
        for (int f = 0; f < e; f++) {
            assert_string_not_equal(it->book[e].name, it->book[f].name);
            assert_string_not_equal(it->book[e].number, it->book[f].number);
        }
    }
    /* Asked names distinct, in the book; the answer is their numbers in asked order. */
    char expect[BIRDIE_PHONEBOOK_K_MAX * 13 + 1] = "";
    for (int i = 0; i < k; i++) {
        assert_true(it->asked[i] >= 0 && it->asked[i] < entries);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(it->asked[i], it->asked[j]);
        strcat(expect, it->book[it->asked[i]].number);
        strcat(expect, "\n");
        char line[64];
        snprintf(line, sizeof line, "\n%s: %s\n", it->book[it->asked[i]].name, it->book[it->asked[i]].number);
        assert_non_null(strstr(it->prompt, line)); /* the asked entry is a line of the book */
    }
    assert_string_equal(it->answer, expect);
    /* The layout: the question twice, around the book, then "Numbers:\n". Re-rendering the same book
     * gives the same bytes. */
    assert_int_equal(strncmp(it->prompt, "Look up: ", 9), 0);
    size_t q = strcspn(it->prompt, "\n");
    char question[256];
    assert_true(q + 2 < sizeof question);
    memcpy(question, it->prompt, q + 1);
    question[q + 1] = '\0';
    assert_int_equal(count_occurrences(it->prompt, question), 2);
    assert_true(it->prompt_len > 9 && strcmp(it->prompt + it->prompt_len - 9, "Numbers:\n") == 0);
    birdie_phonebook_item again;
    assert_int_equal(birdie_phonebook_item_from(&again, it->book, entries, it->asked, k, err, sizeof err), 0);
    assert_string_equal(again.prompt, it->prompt);
    birdie_phonebook_item_free(&again);
    /* Sizes and characters: every byte printable ASCII or '\n', so encodable; tokens are the bytes. */
    assert_true(it->prompt_len <= birdie_phonebook_prompt_bound(k, entries));
    assert_int_equal(it->answer_len, birdie_phonebook_answer_len(k));
    assert_int_equal(it->n_prompt_tokens, (int)it->prompt_len);
    for (size_t i = 0; i < it->prompt_len; i++) {
        char c = it->prompt[i];
        assert_true(c == '\n' || (c >= 0x20 && c < 0x7f));
        assert_int_equal(it->prompt_tokens[i], (int32_t)(uint8_t)c);
    }
    assert_true(birdie_phonebook_line_at(it->prompt, it->prompt_len, 0) >= 0);
    /* The item answers itself exactly. */
    birdie_phonebook_score s;
    assert_int_equal(birdie_phonebook_score_text(it, it->answer, it->answer_len, &s), 0);
    assert_true(s.all_exact);
    assert_true(s.mean_digit_accuracy == 1.0);
}

static void test_phonebook_invariants(void **state)
{
    (void)state;
    const int ks[] = {1, 2, 4, 8};
    const int sizes[] = {8, 20, 150};
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 3; b++) {
            birdie_phonebook_set set;
            assert_int_equal(birdie_phonebook_set_make(&set, 11, ks[a], 6, sizes[b], err, sizeof err), 0);
            assert_int_equal(set.n_items, 6);
            for (int i = 0; i < set.n_items; i++)
                check_item(&set.items[i], ks[a], sizes[b]);
            birdie_phonebook_set_free(&set);
        }
    }
    /* The largest book: all 2048 names and numbers distinct. */
    birdie_phonebook_item big;
    assert_int_equal(birdie_phonebook_item_make(&big, 3, 8, BIRDIE_PHONEBOOK_MAX_ENTRIES, 0, err, sizeof err), 0);
    check_item(&big, 8, BIRDIE_PHONEBOOK_MAX_ENTRIES);
    birdie_phonebook_item_free(&big);
}

static void test_phonebook_fixed_by_seed(void **state)
{
    (void)state;
    birdie_phonebook_set a, b, c, d;
    assert_int_equal(birdie_phonebook_set_make(&a, 42, 4, 10, 30, err, sizeof err), 0);
    assert_int_equal(birdie_phonebook_set_make(&b, 42, 4, 10, 30, err, sizeof err), 0);
    assert_int_equal(birdie_phonebook_set_make(&c, 43, 4, 10, 30, err, sizeof err), 0);
    assert_int_equal(birdie_phonebook_set_make(&d, 42, 4, 3, 30, err, sizeof err), 0);
    int differ = 0;
    for (int i = 0; i < 10; i++) {
        assert_string_equal(a.items[i].prompt, b.items[i].prompt);
        assert_string_equal(a.items[i].answer, b.items[i].answer);
        differ += strcmp(a.items[i].prompt, c.items[i].prompt) != 0;
        if (i > 0) /* items of one set differ from each other */
            assert_string_not_equal(a.items[i].prompt, a.items[i - 1].prompt);
    }
    assert_int_equal(differ, 10);
    for (int i = 0; i < 3; i++) /* item i does not depend on the set's size */
        assert_string_equal(a.items[i].prompt, d.items[i].prompt);
    birdie_phonebook_item one;
    assert_int_equal(birdie_phonebook_item_make(&one, 42, 4, 30, 7, err, sizeof err), 0);
    assert_string_equal(one.prompt, a.items[7].prompt);
    birdie_phonebook_item_free(&one);
    birdie_phonebook_set_free(&a);
    birdie_phonebook_set_free(&b);
    birdie_phonebook_set_free(&c);
    birdie_phonebook_set_free(&d);
}

/* Asked positions spread over the whole book, names over the whole lists, digits over 0-9. */
static void test_phonebook_spread(void **state)
{
    (void)state;
    birdie_phonebook_set set;
    assert_int_equal(birdie_phonebook_set_make(&set, 8, 2, 200, 20, err, sizeof err), 0);
    int asked_at[20] = {0}, digit[10] = {0}, first_slot[20] = {0};
    char firsts[64][12];
    int nfirst = 0;
    for (int i = 0; i < set.n_items; i++) {
        const birdie_phonebook_item *it = &set.items[i];
        first_slot[it->asked[0]]++;
        for (int j = 0; j < 2; j++)
            asked_at[it->asked[j]]++;
        for (int e = 0; e < it->entries; e++) {
            for (const char *p = it->book[e].number; *p; p++)
                if (*p != '-')
                    digit[*p - '0']++;
            char f[12];
            size_t n = strcspn(it->book[e].name, " ");
            assert_true(n < sizeof f);
            memcpy(f, it->book[e].name, n);
            f[n] = '\0';
            int seen = 0;
            for (int q = 0; q < nfirst && !seen; q++)
                seen = strcmp(firsts[q], f) == 0;
            if (!seen && nfirst < 64)
                strcpy(firsts[nfirst++], f);
        }
    }
    for (int e = 0; e < 20; e++) { /* 400 asks over 20 positions: about 20 each */
        assert_true(asked_at[e] >= 5);
        assert_true(first_slot[e] >= 1);
    }
    for (int d = 0; d < 10; d++) /* 40000 digits: about 4000 each */
        assert_true(digit[d] > 3500 && digit[d] < 4500);
    assert_int_equal(nfirst, 64);
    birdie_phonebook_set_free(&set);
}

static void test_phonebook_args_and_sizes(void **state)
{
    (void)state;
    birdie_phonebook_set set;
    assert_int_equal(birdie_phonebook_set_make(&set, 1, 3, 2, 10, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "k in {1, 2, 4, 8}"));
    assert_int_equal(birdie_phonebook_set_make(&set, 1, 8, 2, 7, err, sizeof err), -EINVAL);
    assert_int_equal(birdie_phonebook_set_make(&set, 1, 1, 2, BIRDIE_PHONEBOOK_MAX_ENTRIES + 1, err, sizeof err),
                     -EINVAL);
    assert_int_equal(birdie_phonebook_set_make(&set, 1, 1, 0, 10, err, sizeof err), -EINVAL);
    assert_null(set.items);

    /* The book that fits a 1024-token context, and the long (length generalisation) variant. Eight
     * worst-case names twice leave no room in 512 tokens. */
    const int ks[] = {1, 2, 4, 8};
    for (int a = 0; a < 4; a++) {
        int k = ks[a];
        int n = birdie_phonebook_entries_fitting(1024, k);
        assert_true(n >= k);
        assert_true(birdie_phonebook_prompt_bound(k, n) + 1 + birdie_phonebook_answer_len(k) <= 1024);
        assert_true(birdie_phonebook_prompt_bound(k, n + 1) + 1 + birdie_phonebook_answer_len(k) > 1024);
        birdie_phonebook_set in_ctx, longer;
        assert_int_equal(birdie_phonebook_set_make(&in_ctx, 5, k, 4, n, err, sizeof err), 0);
        assert_int_equal(birdie_phonebook_set_make(&longer, 5, k, 4, BIRDIE_PHONEBOOK_LONG_FACTOR * n, err, sizeof err),
                         0);
        for (int i = 0; i < 4; i++) {
            assert_true(in_ctx.items[i].n_prompt_tokens + 1 + in_ctx.items[i].n_answer_tokens <= 1024);
            assert_true(longer.items[i].n_prompt_tokens > 2 * in_ctx.items[i].n_prompt_tokens);
            check_item(&longer.items[i], k, BIRDIE_PHONEBOOK_LONG_FACTOR * n);
        }
        birdie_phonebook_set_free(&in_ctx);
        birdie_phonebook_set_free(&longer);
    }
    assert_int_equal(birdie_phonebook_entries_fitting(40, 1), 0);
    assert_int_equal(birdie_phonebook_entries_fitting(1 << 30, 1), BIRDIE_PHONEBOOK_MAX_ENTRIES);
}

/* ---- phonebook: scoring ----------------------------------------------------------------------- */

static birdie_phonebook_score score2(const char *text)
{
    const char *answers[2] = {"555-123-4567", "800-000-1234"};
    birdie_phonebook_score s;
    assert_int_equal(birdie_phonebook_score_numbers(answers, 2, text, strlen(text), &s), 0);
    return s;
}

static void test_phonebook_scoring(void **state)
{
    (void)state;
    /* Exact digits. */
    birdie_phonebook_score s = score2("555-123-4567\n800-000-1234\n");
    assert_true(s.all_exact);
    assert_true(s.exact[0] && s.exact[1]);
    assert_true(s.digit_accuracy[0] == 1.0 && s.digit_accuracy[1] == 1.0);
    assert_true(s.exact_rate == 1.0 && s.mean_digit_accuracy == 1.0);
    /* Partial digits: digits count in position. */
    s = score2("555-123-4568\n800-999-1234\n");
    assert_false(s.exact[0] || s.exact[1] || s.all_exact);
    assert_true(fabs(s.digit_accuracy[0] - 0.9) < 1e-12);
    assert_true(fabs(s.digit_accuracy[1] - 0.7) < 1e-12);
    assert_true(fabs(s.mean_digit_accuracy - 0.8) < 1e-12);
    s = score2("555-12\n8\n"); /* a short answer keeps the digits it has, in position */
    assert_true(fabs(s.digit_accuracy[0] - 0.5) < 1e-12);
    assert_true(fabs(s.digit_accuracy[1] - 0.1) < 1e-12);
    s = score2("5551234567\n"); /* dashes dropped: every digit right, but not the exact number */
    assert_true(s.digit_accuracy[0] == 1.0);
    assert_false(s.exact[0]);
    s = score2("555-123-45678\n"); /* a digit too many */
    assert_true(s.digit_accuracy[0] == 1.0);
    assert_false(s.exact[0]);
    s = score2("123-4567\n"); /* shifted digits score by position */
    assert_true(fabs(s.digit_accuracy[0] - 0.0) < 1e-12);
    /* Extra text after an answer is ignored up to the separator; other separators and spaces. */
    s = score2("555-123-4567 is Ada's number, 800-000-1234 (office)\nand more text 999-999-9999\n");
    assert_true(s.all_exact);
    s = score2("  555-123-4567;\t800-000-1234");
    assert_true(s.all_exact);
    s = score2("555-123-4567\n800-000-1234\n111-111-1111\nEOS garbage");
    assert_true(s.all_exact); /* text after the k-th slot is ignored */
    /* Missing answers score 0. */
    s = score2("555-123-4567");
    assert_true(s.exact[0]);
    assert_false(s.exact[1]);
    assert_true(s.digit_accuracy[1] == 0.0);
    assert_true(fabs(s.exact_rate - 0.5) < 1e-12);
    s = score2("");
    assert_true(s.digit_accuracy[0] == 0.0 && s.digit_accuracy[1] == 0.0 && s.exact_rate == 0.0);
    s = score2("\n800-000-1234\n"); /* an empty first slot */
    assert_false(s.exact[0]);
    assert_true(s.exact[1]);
    s = score2("I do not know\n800-000-1234\n"); /* words instead of a number */
    assert_true(s.digit_accuracy[0] == 0.0);
    assert_true(s.exact[1]);
    /* Answers in the wrong order score as wrong. */
    s = score2("800-000-1234\n555-123-4567\n");
    assert_false(s.exact[0] || s.exact[1]);
    /* Not NUL-terminated: only len bytes count. */
    const char *answers[1] = {"555-123-4567"};
    assert_int_equal(birdie_phonebook_score_numbers(answers, 1, "555-123-4567", 8, &s), 0);
    assert_false(s.exact[0]);
    assert_true(fabs(s.digit_accuracy[0] - 0.6) < 1e-12);
    /* Bad references and k. */
    const char *bad[1] = {"555-1234567"};
    assert_int_equal(birdie_phonebook_score_numbers(bad, 1, "x", 1, &s), -EINVAL);
    assert_int_equal(birdie_phonebook_score_numbers(answers, 0, "x", 1, &s), -EINVAL);
    assert_int_equal(birdie_phonebook_score_numbers(answers, 9, "x", 1, &s), -EINVAL);

    /* Totals over items. */
    birdie_phonebook_tally t = {0};
    assert_true(birdie_phonebook_tally_exact_rate(&t) == 0.0);
    birdie_phonebook_score a = score2("555-123-4567\n800-000-1234\n"), b = score2("555-123-4568\n");
    birdie_phonebook_tally_add(&t, &a);
    birdie_phonebook_tally_add(&t, &b);
    assert_int_equal(t.items, 2);
    assert_int_equal(t.names, 4);
    assert_int_equal(t.exact_items, 1);
    assert_true(fabs(birdie_phonebook_tally_exact_rate(&t) - 0.5) < 1e-12);
    assert_true(fabs(birdie_phonebook_tally_digit_accuracy(&t) - (1.0 + 1.0 + 0.9 + 0.0) / 4) < 1e-12);

    /* Scoring a generated item through its tokens. */
    birdie_phonebook_item it;
    assert_int_equal(birdie_phonebook_item_make(&it, 9, 2, 12, 0, err, sizeof err), 0);
    int32_t gen[64];
    int n = 0;
    for (int i = 0; i < it.n_answer_tokens; i++)
        gen[n++] = it.answer_tokens[i];
    gen[n++] = BIRDIE_EOS;
    gen[n++] = '9';
    char text[64];
    size_t len = birdie_eval_decode(gen, n, text, sizeof text, NULL);
    assert_int_equal(len, it.answer_len);
    assert_int_equal(birdie_phonebook_score_text(&it, text, len, &s), 0);
    assert_true(s.all_exact);
    birdie_phonebook_item_free(&it);
}

static void test_phonebook_line_detector(void **state)
{
    (void)state;
    const char *yes[] = {"Ada Moreno: 555-010-9999\n", "x\nTov: 123-456-7890", "note, Ab Cd Ef: 000-000-0000 and",
                         "Zoe: 123-456-7890.", "the melons: 123-456-7890"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        assert_true(birdie_phonebook_line_at(yes[i], strlen(yes[i]), 0) >= 0);
    assert_int_equal(birdie_phonebook_line_at("Ada Moreno: 555-010-9999", 24, 0), 0);
    assert_int_equal(birdie_phonebook_line_at("x\nTov: 123-456-7890", 19, 0), 2);
    const char *no[] = {"Ada Moreno: 555-010-999",   "Ada Moreno: 1555-010-9999", "Ada Moreno: 555-010-99990",
                        "Ada Moreno 555-010-9999",   "Ada Moreno:555-010-9999",   "- melons: 12\n- tarns: 3-40\n",
                        "At 7:45, it took 3-9 days", "Ada: 555-0109-999",         ""};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_int_equal(birdie_phonebook_line_at(no[i], strlen(no[i]), 0), -1);
    assert_int_equal(birdie_phonebook_line_at("Ada Moreno 555-010-9999", 23, 1), 11); /* bare */
    assert_int_equal(birdie_phonebook_line_at("x 1555-010-9999", 15, 1), -1);
}

/* A line "Capitalised words: <digit>...": looser than the phonebook format, and also absent. */
static long name_colon_digit_line(const char *t, size_t n)
{
    size_t line = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && t[i] != '\n')
            continue;
        const char *s = t + line;
        size_t len = i - line, j = 0;
        if (len > 0 && s[0] >= 'A' && s[0] <= 'Z') {
            while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == ' '))
                j++;
            if (j + 2 < len && s[j] == ':' && s[j + 1] == ' ' && s[j + 2] >= '0' && s[j + 2] <= '9')
                return (long)line;
        }
        line = i + 1;
    }
    return -1;
}

static void test_corpus_never_phonebook(void **state)
{
    (void)state;
    uint8_t *buf = malloc(BIRDIE_CORPUS_DOC_MAX);
    assert_non_null(buf);
    const uint64_t seeds[] = {1, 1234};
    long docs = 0, bytes = 0;
    for (int s = 0; s < 2; s++) {
        birdie_corpus *c = open_corpus(seeds[s]);
        for (int split = 0; split < 2; split++) {
            for (uint64_t k = 0; k < 400; k++) {
                uint64_t index = k * 2654435761ull % BIRDIE_CORPUS_DOCS;
                size_t n = birdie_corpus_document(c, (birdie_split)split, index, buf, BIRDIE_CORPUS_DOC_MAX);
                long at = birdie_phonebook_line_at((const char *)buf, n, 1);
                if (at >= 0)
                    fail_msg("seed %llu split %d doc %llu: phone number at %ld: %.40s", (unsigned long long)seeds[s],
                             split, (unsigned long long)index, at, (const char *)buf + at);
                at = name_colon_digit_line((const char *)buf, n);
                if (at >= 0)
                    fail_msg("seed %llu split %d doc %llu: 'Name: digits' line at %ld: %.40s",
                             (unsigned long long)seeds[s], split, (unsigned long long)index, at,
                             (const char *)buf + at);
                docs++;
                bytes += (long)n;
            }
        }
        birdie_corpus_close(c);
    }
    /* The checks do find what they look for. */
    assert_true(name_colon_digit_line("ab\nTov Brenik: 4 melons\n", 24) == 3);
    assert_true(name_colon_digit_line("- melons: 12\nNote: Tov said\n", 29) == -1);
    assert_int_equal(docs, 1600);
    assert_true(bytes > 1600L * BIRDIE_CORPUS_LEN_MIN);
    free(buf);
}

/* ---- infilling -------------------------------------------------------------------------------- */

static void test_infill_tiny(void **state)
{
    (void)state;
    const char *text = "The cat sat.";
    birdie_infill_item it;
    assert_int_equal(birdie_infill_item_from(&it, text, 12, 4, 3, BIRDIE_INFILL_PARADIGM_FIRST, err, sizeof err), 0);
    const int32_t par = BIRDIE_PARADIGM0 + BIRDIE_OBJ_INFILLING, s0 = BIRDIE_SENTINEL0;
    const int32_t prompt[] = {par, 'T', 'h', 'e', ' ', s0, ' ', 's', 'a', 't', '.'};
    const int32_t answer[] = {'c', 'a', 't', s0};
    assert_int_equal(it.n_prompt_tokens, 11);
    assert_memory_equal(it.prompt_tokens, prompt, sizeof prompt);
    assert_int_equal(it.n_answer_tokens, 4);
    assert_memory_equal(it.answer_tokens, answer, sizeof answer);
    assert_string_equal(it.span, "cat");
    assert_string_equal(it.window, text);

    birdie_infill_score s;
    const int32_t exact[] = {'c', 'a', 't', s0, 'x'};
    assert_int_equal(birdie_infill_score_tokens(&it, exact, 5, &s), 0);
    assert_true(s.exact && s.closed && s.token_accuracy == 1.0);
    assert_int_equal(s.generated, 3);
    const int32_t unclosed[] = {'c', 'a', 't'};
    assert_int_equal(birdie_infill_score_tokens(&it, unclosed, 3, &s), 0);
    assert_true(s.exact && !s.closed);
    const int32_t partial[] = {'c', 'o', 't', s0};
    assert_int_equal(birdie_infill_score_tokens(&it, partial, 4, &s), 0);
    assert_false(s.exact);
    assert_true(fabs(s.token_accuracy - 2.0 / 3.0) < 1e-12);
    const int32_t longer[] = {'c', 'a', 't', 's', s0};
    assert_int_equal(birdie_infill_score_tokens(&it, longer, 5, &s), 0);
    assert_false(s.exact);
    assert_true(s.token_accuracy == 1.0);
    const int32_t shorter[] = {'c', BIRDIE_EOS, 'a', 't'};
    assert_int_equal(birdie_infill_score_tokens(&it, shorter, 4, &s), 0);
    assert_false(s.exact || s.closed);
    assert_true(fabs(s.token_accuracy - 1.0 / 3.0) < 1e-12);
    assert_int_equal(birdie_infill_score_tokens(&it, NULL, 0, &s), 0); /* nothing generated */
    assert_true(s.token_accuracy == 0.0 && !s.exact);
    birdie_infill_tally t = {0};
    birdie_infill_score one = {1, 1.0, 3, 1}, half = {0, 0.5, 2, 0};
    birdie_infill_tally_add(&t, &one);
    birdie_infill_tally_add(&t, &half);
    assert_true(fabs(birdie_infill_tally_exact_rate(&t) - 0.5) < 1e-12);
    assert_true(fabs(birdie_infill_tally_token_accuracy(&t) - 0.75) < 1e-12);
    birdie_infill_item_free(&it);

    /* The other placements of the paradigm. */
    assert_int_equal(birdie_infill_item_from(&it, text, 12, 4, 3, BIRDIE_INFILL_PARADIGM_LAST, err, sizeof err), 0);
    assert_int_equal(it.prompt_tokens[0], 'T');
    assert_int_equal(it.prompt_tokens[it.n_prompt_tokens - 1], par);
    birdie_infill_item_free(&it);
    assert_int_equal(birdie_infill_item_from(&it, text, 12, 4, 3, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err), 0);
    assert_int_equal(it.n_prompt_tokens, 10);
    assert_memory_equal(it.prompt_tokens, prompt + 1, sizeof prompt - sizeof *prompt);
    birdie_infill_item_free(&it);
    /* A span needs context on both sides. */
    assert_int_equal(birdie_infill_item_from(&it, text, 12, 0, 3, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err),
                     -EINVAL);
    assert_int_equal(birdie_infill_item_from(&it, text, 12, 9, 3, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err),
                     -EINVAL);
    assert_int_equal(birdie_infill_item_from(&it, "a\0bcd", 5, 1, 1, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err),
                     -EINVAL);
}

static void test_infill_set(void **state)
{
    (void)state;
    birdie_corpus *c = open_corpus(7);
    birdie_infill_set a, b, d;
    assert_int_equal(birdie_infill_set_make(&a, c, 100, 12, 256, 8, BIRDIE_INFILL_PARADIGM_FIRST, err, sizeof err), 0);
    assert_int_equal(birdie_infill_set_make(&b, c, 100, 12, 256, 8, BIRDIE_INFILL_PARADIGM_FIRST, err, sizeof err), 0);
    assert_int_equal(birdie_infill_set_make(&d, c, 101, 12, 256, 8, BIRDIE_INFILL_PARADIGM_FIRST, err, sizeof err), 0);
    uint8_t *doc = malloc(BIRDIE_CORPUS_DOC_MAX);
    int differ = 0;
    for (int i = 0; i < a.n_items; i++) {
        const birdie_infill_item *it = &a.items[i];
        assert_int_equal(it->context_len, 256);
        assert_int_equal(it->span_len, 8);
        assert_true(it->span_start >= 1 && it->span_start + 8 <= 255);
        /* The window is the validation document's text at its offset. */
        size_t n = birdie_corpus_document(c, BIRDIE_SPLIT_VAL, it->doc, doc, BIRDIE_CORPUS_DOC_MAX);
        assert_true(it->offset + 256 <= n);
        assert_memory_equal(it->window, doc + it->offset, 256);
        assert_memory_equal(it->span, it->window + it->span_start, 8);
        /* P and T reassemble the window: the sentinel of P replaced by T without its sentinel. */
        assert_int_equal(it->prompt_tokens[0], BIRDIE_PARADIGM0 + BIRDIE_OBJ_INFILLING);
        assert_int_equal(it->n_prompt_tokens, 1 + 256 - 8 + 1);
        assert_int_equal(it->n_answer_tokens, 9);
        assert_int_equal(it->answer_tokens[8], BIRDIE_SENTINEL0);
        int32_t whole[256];
        int w = 0;
        for (int j = 1; j < it->n_prompt_tokens; j++) {
            if (it->prompt_tokens[j] == BIRDIE_SENTINEL0) {
                for (int q = 0; q < it->n_answer_tokens - 1; q++)
                    whole[w++] = it->answer_tokens[q];
            } else {
                assert_true(it->prompt_tokens[j] > 0 && it->prompt_tokens[j] < 256);
                assert_true(w < 256);
                whole[w++] = it->prompt_tokens[j];
            }
        }
        assert_int_equal(w, 256);
        for (int j = 0; j < 256; j++)
            assert_int_equal(whole[j], (int32_t)(uint8_t)it->window[j]);
        /* Same seed, same set; another seed, another set. */
        assert_true(b.items[i].doc == it->doc && b.items[i].offset == it->offset);
        assert_int_equal(b.items[i].span_start, it->span_start);
        assert_memory_equal(b.items[i].prompt_tokens, it->prompt_tokens, sizeof(int32_t) * (size_t)it->n_prompt_tokens);
        differ += d.items[i].doc != it->doc;
        /* The reference answers itself. */
        birdie_infill_score s;
        assert_int_equal(birdie_infill_score_tokens(it, it->answer_tokens, it->n_answer_tokens, &s), 0);
        assert_true(s.exact && s.closed);
    }
    assert_int_equal(differ, a.n_items);
    birdie_infill_set_free(&a);
    birdie_infill_set_free(&b);
    birdie_infill_set_free(&d);
    /* Arguments, and the longest window a document can guarantee. */
    assert_int_equal(birdie_infill_set_make(&a, c, 1, 2, 9, 8, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err), -EINVAL);
    assert_int_equal(
        birdie_infill_set_make(&a, c, 1, 2, BIRDIE_CORPUS_LEN_MAX + 1, 8, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err),
        -EINVAL);
    assert_int_equal(birdie_infill_set_make(&a, NULL, 1, 2, 64, 8, BIRDIE_INFILL_PARADIGM_NONE, err, sizeof err),
                     -EINVAL);
    assert_int_equal(
        birdie_infill_set_make(&a, c, 1, 2, BIRDIE_CORPUS_LEN_MAX, 24, BIRDIE_INFILL_PARADIGM_LAST, err, sizeof err),
        0);
    assert_int_equal(a.items[1].context_len, BIRDIE_CORPUS_LEN_MAX);
    birdie_infill_set_free(&a);
    free(doc);
    birdie_corpus_close(c);
}

/* ---- bits per character ----------------------------------------------------------------------- */

static void test_bpc_tiny(void **state)
{
    (void)state;
    const double ln2 = log(2.0);
    birdie_bpc acc = {0};
    assert_true(isnan(birdie_bpc_value(&acc)));
    /* Four bytes at one bit each: 1 bit/char. */
    const float l1[] = {(float)ln2, (float)ln2, (float)ln2, (float)ln2};
    const int32_t t1[] = {'a', 'b', 'c', 'd'};
    assert_int_equal(birdie_bpc_add_tokens(&acc, l1, t1, 4, err, sizeof err), 0);
    assert_true(fabs(birdie_bpc_value(&acc) - 1.0) < 1e-6);
    assert_int_equal(acc.chars, 4);
    assert_int_equal(acc.tokens, 4);
    /* Ignored positions count for nothing; EOS's loss counts but adds no character. */
    birdie_bpc b = {0};
    const float l2[] = {2.0f, 100.0f, 1.0f, 3.0f};
    const int32_t t2[] = {'x', -1, 'y', BIRDIE_EOS};
    assert_int_equal(birdie_bpc_add_tokens(&b, l2, t2, 4, err, sizeof err), 0);
    assert_true(fabs(b.nats - 6.0) < 1e-12);
    assert_int_equal(b.chars, 2);
    assert_int_equal(b.tokens, 3);
    assert_true(fabs(birdie_bpc_value(&b) - 6.0 / ln2 / 2.0) < 1e-12);
    /* UTF-8: "é" is two byte tokens but one character. */
    birdie_bpc u = {0};
    const float l3[] = {1.0f, 1.0f, 1.0f};
    const int32_t t3[] = {0xC3, 0xA9, 'e'};
    assert_int_equal(birdie_bpc_add_tokens(&u, l3, t3, 3, err, sizeof err), 0);
    assert_int_equal(u.chars, 2);
    assert_true(fabs(birdie_bpc_value(&u) - 3.0 / ln2 / 2.0) < 1e-12);
    assert_int_equal(birdie_bpc_chars("caf\xc3\xa9", 5), 4);
    /* Bad input adds nothing. */
    birdie_bpc bad = {0};
    const int32_t t4[] = {'a', BIRDIE_VOCAB};
    assert_int_equal(birdie_bpc_add_tokens(&bad, l3, t4, 2, err, sizeof err), -EINVAL);
    const float l5[] = {1.0f, NAN};
    assert_int_equal(birdie_bpc_add_tokens(&bad, l5, t1, 2, err, sizeof err), -EINVAL);
    const float l6[] = {-0.5f};
    assert_int_equal(birdie_bpc_add_tokens(&bad, l6, t1, 1, err, sizeof err), -EINVAL);
    assert_true(bad.nats == 0.0 && bad.chars == 0 && bad.tokens == 0);
    /* Only special targets: a loss but no character. */
    const float l7[] = {1.0f};
    const int32_t t7[] = {BIRDIE_EOS};
    assert_int_equal(birdie_bpc_add_tokens(&bad, l7, t7, 1, err, sizeof err), 0);
    assert_true(isnan(birdie_bpc_value(&bad)));
    /* From text: 1 + 1 + 2 bits over the 2 characters "ab": 2 bits/char. */
    birdie_bpc x = {0};
    const double l8[] = {ln2, ln2, 2 * ln2};
    assert_int_equal(birdie_bpc_add_text(&x, l8, 3, "ab", 2, err, sizeof err), 0);
    assert_true(fabs(birdie_bpc_value(&x) - 2.0) < 1e-12);
    const double l9[] = {INFINITY};
    assert_int_equal(birdie_bpc_add_text(&x, l9, 1, "a", 1, err, sizeof err), -EINVAL);
    assert_true(fabs(birdie_bpc_of(4 * ln2, 8) - 0.5) < 1e-12);
    assert_true(isnan(birdie_bpc_of(1.0, 0)));
}

static void test_bpc_docs(void **state)
{
    (void)state;
    birdie_corpus *c = open_corpus(7);
    assert_true(birdie_bpc_doc_index(5, 0) == birdie_bpc_doc_index(5, 0));
    assert_true(birdie_bpc_doc_index(5, 0) != birdie_bpc_doc_index(5, 1));
    assert_true(birdie_bpc_doc_index(5, 0) != birdie_bpc_doc_index(6, 0));
    int32_t *tok = malloc(BIRDIE_CORPUS_DOC_MAX * sizeof *tok);
    uint8_t *doc = malloc(BIRDIE_CORPUS_DOC_MAX);
    int n = birdie_bpc_doc_tokens(c, 5, 3, tok, BIRDIE_CORPUS_DOC_MAX, err, sizeof err);
    size_t len = birdie_corpus_document(c, BIRDIE_SPLIT_VAL, birdie_bpc_doc_index(5, 3), doc, BIRDIE_CORPUS_DOC_MAX);
    assert_int_equal(n, (int)len);
    for (int i = 0; i < n; i++)
        assert_int_equal(tok[i], doc[i]);
    assert_int_equal(birdie_bpc_doc_tokens(c, 5, 3, tok, 50, err, sizeof err), 50);
    assert_int_equal(birdie_bpc_doc_tokens(c, 5, 3, tok, 0, err, sizeof err), -EINVAL);
    free(tok);
    free(doc);
    birdie_corpus_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_phonebook_layout_hand),
        cmocka_unit_test(test_phonebook_invariants),
        cmocka_unit_test(test_phonebook_fixed_by_seed),
        cmocka_unit_test(test_phonebook_spread),
        cmocka_unit_test(test_phonebook_args_and_sizes),
        cmocka_unit_test(test_phonebook_scoring),
        cmocka_unit_test(test_phonebook_line_detector),
        cmocka_unit_test(test_corpus_never_phonebook),
        cmocka_unit_test(test_infill_tiny),
        cmocka_unit_test(test_infill_set),
        cmocka_unit_test(test_bpc_tiny),
        cmocka_unit_test(test_bpc_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
