/* tests/worker/data/test_corpus.c: the synthetic corpus is deterministic, splits are disjoint, the text is
 * clean bytes, prefixes are consistent, words are Zipf-like and names recur inside documents. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/data/corpus.h"

typedef struct doc_buf {
    uint8_t b[BIRDIE_CORPUS_DOC_MAX + 1];
    size_t n;
} doc_buf;

static birdie_corpus *open_corpus(uint64_t seed)
{
    char err[256] = "";
    birdie_corpus *c = NULL;
    int rc = birdie_corpus_open(&c, seed, err, sizeof err);
    if (rc != 0)
        fail_msg("birdie_corpus_open: %d %s", rc, err);
    return c;
}

static void whole(const birdie_corpus *c, birdie_split s, uint64_t k, doc_buf *d)
{
    d->n = birdie_corpus_document(c, s, k, d->b, BIRDIE_CORPUS_DOC_MAX);
    d->b[d->n] = '\0';
}

static int same_doc(const doc_buf *a, const doc_buf *b)
{
    return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Documents sampled far apart in the index space, so tests also cover large k. */
static uint64_t sample_index(int i)
{
    return (uint64_t)i * 1000003ull % BIRDIE_CORPUS_DOCS;
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    birdie_corpus *a = open_corpus(7), *b = open_corpus(7);
    doc_buf *x = malloc(sizeof *x), *y = malloc(sizeof *y);
    for (int i = 0; i < 40; i++) {
        for (int s = 0; s < 2; s++) {
            whole(a, (birdie_split)s, sample_index(i), x);
            whole(b, (birdie_split)s, sample_index(i), y);
            assert_true(same_doc(x, y));
        }
    }
    /* A document does not depend on which ones were generated before it. */
    whole(a, BIRDIE_SPLIT_TRAIN, 12345, x);
    birdie_corpus *fresh = open_corpus(7);
    whole(fresh, BIRDIE_SPLIT_TRAIN, 12345, y);
    assert_true(same_doc(x, y));
    birdie_corpus_close(fresh);
    free(x), free(y);
    birdie_corpus_close(a), birdie_corpus_close(b);
}

static void test_seed_and_split_change_documents(void **state)
{
    (void)state;
    birdie_corpus *a = open_corpus(7), *b = open_corpus(8);
    doc_buf *x = malloc(sizeof *x), *y = malloc(sizeof *y);
    int seed_same = 0, split_same = 0;
    for (int i = 0; i < 40; i++) {
        whole(a, BIRDIE_SPLIT_TRAIN, (uint64_t)i, x);
        whole(b, BIRDIE_SPLIT_TRAIN, (uint64_t)i, y);
        seed_same += same_doc(x, y);
        whole(a, BIRDIE_SPLIT_VAL, (uint64_t)i, y);
        split_same += same_doc(x, y);
    }
    assert_int_equal(seed_same, 0);
    assert_int_equal(split_same, 0);
    free(x), free(y);
    birdie_corpus_close(a), birdie_corpus_close(b);
}

/* No validation document equals a training document (over a sample of 1500 each), compared by
 * hash; distinct documents within a split too. */
static void test_train_val_disjoint(void **state)
{
    (void)state;
    enum { N = 1500 };
    birdie_corpus *c = open_corpus(42);
    doc_buf *d = malloc(sizeof *d);
    uint64_t *train = malloc(N * sizeof *train), *val = malloc(N * sizeof *val);
    for (int i = 0; i < N; i++) {
        whole(c, BIRDIE_SPLIT_TRAIN, (uint64_t)i, d);
        train[i] = fnv64(d->b, d->n);
        whole(c, BIRDIE_SPLIT_VAL, (uint64_t)i, d);
        val[i] = fnv64(d->b, d->n);
    }
    qsort(train, N, sizeof *train, cmp_u64);
    qsort(val, N, sizeof *val, cmp_u64);
    for (int i = 1; i < N; i++) {
        assert_true(train[i] != train[i - 1]);
        assert_true(val[i] != val[i - 1]);
    }
    for (int i = 0, j = 0; i < N && j < N;) {
        assert_true(train[i] != val[j]);
        if (train[i] < val[j])
            i++;
        else
            j++;
    }
    free(train), free(val), free(d);
    birdie_corpus_close(c);
}

/* Printable ASCII and '\n' only (so never byte 0), no double spaces, no space before a newline,
 * length between the promised minimum and the buffer size, a final newline; and no
 * phonebook-style "First Last: 555..." anywhere (docs/algorithm.md §4.1). */
static void test_text_is_clean(void **state)
{
    (void)state;
    birdie_corpus *c = open_corpus(3);
    doc_buf *d = malloc(sizeof *d);
    for (int i = 0; i < 300; i++) {
        uint64_t k = sample_index(i);
        whole(c, BIRDIE_SPLIT_TRAIN, k, d);
        assert_true(d->n >= birdie_corpus_doc_min_len(c, BIRDIE_SPLIT_TRAIN, k));
        assert_true(d->n <= BIRDIE_CORPUS_DOC_MAX);
        assert_int_equal(d->b[d->n - 1], '\n');
        for (size_t j = 0; j < d->n; j++) {
            uint8_t ch = d->b[j];
            assert_true(ch == '\n' || (ch >= 0x20 && ch < 0x7f));
            if (j > 0 && ch == ' ')
                assert_true(d->b[j - 1] != ' ');
            if (j > 0 && ch == '\n')
                assert_true(d->b[j - 1] != ' ');
            if (ch == ':' && j + 2 < d->n && d->b[j + 1] == ' ' && isdigit(d->b[j + 2])) {
                size_t w = j; /* start of the word before the colon */
                while (w > 0 && isalpha(d->b[w - 1]))
                    w--;
                assert_false(isupper(d->b[w]));
            }
        }
    }
    free(d);
    birdie_corpus_close(c);
}

/* Generating with stop_after gives a prefix of the whole document, at least stop_after long
 * unless the document is shorter. */
static void test_prefix_generation(void **state)
{
    (void)state;
    birdie_corpus *c = open_corpus(5);
    doc_buf *full = malloc(sizeof *full), *part = malloc(sizeof *part);
    const size_t stops[] = {1, 64, 300, 1000, 2599, 5000};
    int shorter = 0;
    for (int i = 0; i < 40; i++) {
        whole(c, BIRDIE_SPLIT_VAL, (uint64_t)i, full);
        for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
            part->n = birdie_corpus_document(c, BIRDIE_SPLIT_VAL, (uint64_t)i, part->b, stops[s]);
            assert_true(part->n <= full->n);
            assert_memory_equal(part->b, full->b, part->n);
            assert_true(part->n >= (stops[s] < full->n ? stops[s] : full->n));
            shorter += part->n < full->n;
        }
    }
    assert_true(shorter > 0); /* the early stop really stops early */
    free(full), free(part);
    birdie_corpus_close(c);
}

/* ---- word statistics ---------------------------------------------------------------------------- */

typedef struct word_count {
    char w[32];
    unsigned n;
} word_count;

typedef struct counter {
    word_count *slots;
    size_t cap, used;
} counter;

static void count_word(counter *c, const char *w, size_t n)
{
    if (n >= sizeof c->slots[0].w)
        n = sizeof c->slots[0].w - 1;
    size_t i = fnv64((const uint8_t *)w, n) & (c->cap - 1);
    while (c->slots[i].n && !(strlen(c->slots[i].w) == n && memcmp(c->slots[i].w, w, n) == 0))
        i = (i + 1) & (c->cap - 1);
    if (!c->slots[i].n) {
        memcpy(c->slots[i].w, w, n);
        c->slots[i].w[n] = '\0';
        c->used++;
        assert_true(c->used < c->cap / 2);
    }
    c->slots[i].n++;
}

static int by_count_desc(const void *a, const void *b)
{
    const word_count *x = a, *y = b;
    return (x->n < y->n) - (x->n > y->n);
}

/* Counts of lower-cased letter runs over 400 documents: the head is much heavier than the tail. */
static void test_zipf_like_frequencies(void **state)
{
    (void)state;
    birdie_corpus *c = open_corpus(11);
    doc_buf *d = malloc(sizeof *d);
    counter cnt = {calloc(1 << 16, sizeof(word_count)), 1 << 16, 0};
    for (int i = 0; i < 400; i++) {
        whole(c, BIRDIE_SPLIT_TRAIN, (uint64_t)i, d);
        char w[64];
        size_t n = 0;
        for (size_t j = 0; j <= d->n; j++) {
            if (j < d->n && isalpha(d->b[j])) {
                if (n < sizeof w)
                    w[n++] = (char)tolower(d->b[j]);
            } else if (n) {
                count_word(&cnt, w, n);
                n = 0;
            }
        }
    }
    qsort(cnt.slots, cnt.cap, sizeof *cnt.slots, by_count_desc);
    print_message("# distinct words %zu; counts at ranks 1, 10, 100, 1000: %u %u %u %u\n", cnt.used, cnt.slots[0].n,
                  cnt.slots[9].n, cnt.slots[99].n, cnt.slots[999].n);
    assert_true(cnt.used > 1500); /* a real vocabulary, not a handful of words */
    assert_true(cnt.slots[0].n > 10 * cnt.slots[99].n);
    assert_true(cnt.slots[9].n > 3 * cnt.slots[99].n);
    assert_true(cnt.slots[99].n > 3 * cnt.slots[999].n);
    free(cnt.slots);
    free(d);
    birdie_corpus_close(c);
}

/* A capitalised word in the middle of a sentence is a name (the grammar capitalises nothing else
 * there). Names of a document recur inside it, and are rare in other documents. */
static int is_name_at(const doc_buf *d, size_t j)
{
    if (!isupper(d->b[j]) || j < 2 || d->b[j - 1] != ' ')
        return 0;
    uint8_t before = d->b[j - 2];
    return isalnum(before) || before == ',';
}

/* Whole-word occurrences of w[0..n) in a document. */
static unsigned occurrences(const doc_buf *d, const char *w, size_t n)
{
    unsigned count = 0;
    for (size_t j = 0; j + n <= d->n; j++)
        if (memcmp(d->b + j, w, n) == 0 && (j == 0 || !isalpha(d->b[j - 1])) &&
            (j + n == d->n || !isalpha(d->b[j + n])))
            count++;
    return count;
}

static void test_names_recur_within_documents(void **state)
{
    (void)state;
    enum { DOCS = 120 };
    birdie_corpus *c = open_corpus(13);
    doc_buf *docs = malloc(DOCS * sizeof *docs);
    for (int i = 0; i < DOCS; i++)
        whole(c, BIRDIE_SPLIT_TRAIN, (uint64_t)i, &docs[i]);
    double within = 0, elsewhere = 0;
    int names = 0;
    for (int i = 0; i < DOCS; i++) {
        const doc_buf *d = &docs[i];
        for (size_t j = 0; j < d->n; j++) {
            if (!is_name_at(d, j))
                continue;
            size_t n = 0;
            while (j + n < d->n && isalpha(d->b[j + n]))
                n++;
            const char *w = (const char *)d->b + j;
            within += occurrences(d, w, n);
            int other = 0;
            for (int o = 0; o < DOCS; o++)
                other += o != i && occurrences(&docs[o], w, n) > 0;
            elsewhere += (double)other / (DOCS - 1);
            names++;
            break; /* the first name of each document */
        }
    }
    within /= names, elsewhere /= names;
    print_message("# %d documents with names: mean occurrences in its document %.2f, share of other "
                  "documents holding it %.3f\n",
                  names, within, elsewhere);
    assert_true(names > DOCS * 9 / 10);
    assert_true(within >= 3.0);
    assert_true(elsewhere < 0.1);
    free(docs);
    birdie_corpus_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_seed_and_split_change_documents),
        cmocka_unit_test(test_train_val_disjoint),
        cmocka_unit_test(test_text_is_clean),
        cmocka_unit_test(test_prefix_generation),
        cmocka_unit_test(test_zipf_like_frequencies),
        cmocka_unit_test(test_names_recur_within_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
