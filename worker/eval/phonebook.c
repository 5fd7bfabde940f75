/* worker/eval/phonebook.c: phonebook generation, the prompt layout, the phonebook-line detector and
 * the scoring of answers (contract and exact layout in phonebook.h).
 *
 * An item draws, in order from its own stream: `entries` distinct names (a partial Fisher-Yates
 * shuffle of the 64 x 64 name pairs), one number per entry (ten uniform digits, redrawn while equal
 * to an earlier entry's), then k distinct asked entries (a partial shuffle of the book's indices).
 * Not here: generation from a model, token sequences beyond one id per byte (eval_text.h).
 */
#include "worker/eval/phonebook.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/eval/eval_text.h"
#include "worker/rng.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The fixed name lists: ASCII letters, at most 10 bytes each, no repeats (the tests check). */
static const char *const first_names[] = {
    "Ada",  "Alan",  "Alice", "Amir",   "Anna",  "Ben",  "Carla", "Chen", "Clara", "Dan",   "Diego", "Dora",  "Elena",
    "Eli",  "Emma",  "Farah", "Felix",  "Gina",  "Hana", "Hugo",  "Ian",  "Ines",  "Ivan",  "Jade",  "Jonas", "Julia",
    "Kai",  "Kara",  "Lars",  "Lea",    "Leo",   "Lina", "Luca",  "Maya", "Milo",  "Nadia", "Nina",  "Noah",  "Omar",
    "Olga", "Oscar", "Paula", "Pedro",  "Quinn", "Rosa", "Ravi",  "Rita", "Sam",   "Sara",  "Sofia", "Tara",  "Theo",
    "Tom",  "Uma",   "Vera",  "Victor", "Wendy", "Will", "Xena",  "Yara", "Yusuf", "Zoe",   "Zane",  "Mia"};
static const char *const last_names[] = {
    "Abbott", "Baker",   "Bell",    "Brooks", "Campbell", "Carter", "Chavez", "Cole",   "Cruz",   "Diaz",   "Dixon",
    "Ellis",  "Evans",   "Fischer", "Ford",   "Foster",   "Garcia", "Gray",   "Hale",   "Hayes",  "Hughes", "Ito",
    "Jensen", "Khan",    "Kim",     "Klein",  "Lopez",    "Mason",  "Meyer",  "Moreno", "Murphy", "Nash",   "Novak",
    "Olsen",  "Ortiz",   "Park",    "Patel",  "Perez",    "Price",  "Quist",  "Reed",   "Reyes",  "Rossi",  "Ruiz",
    "Sato",   "Schmidt", "Shaw",    "Silva",  "Stone",    "Suzuki", "Tanaka", "Torres", "Turner", "Vargas", "Wagner",
    "Walsh",  "Ward",    "Weber",   "West",   "Wolfe",    "Wong",   "Young",  "Zhang",  "Ziegler"};

enum { NAMES_SIDE = 64, NAME_PAIRS = NAMES_SIDE * NAMES_SIDE, WORD_MAX = 10 };

_Static_assert(COUNT_OF(first_names) == NAMES_SIDE, "64 first names");
_Static_assert(COUNT_OF(last_names) == NAMES_SIDE, "64 last names");
_Static_assert(2 * WORD_MAX + 1 <= BIRDIE_PHONEBOOK_NAME_MAX, "a name fits its field");
_Static_assert((int)BIRDIE_PHONEBOOK_MAX_ENTRIES <= (int)NAME_PAIRS, "enough distinct names");

static const char question[] = "Look up: ";
static const char numbers_line[] = "Numbers:\n";

/* ---- checks ----------------------------------------------------------------------------------- */

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* DDD-DDD-DDDD at p (12 bytes available). */
static int is_number_at(const char *p)
{
    for (int i = 0; i < BIRDIE_PHONEBOOK_NUMBER_LEN; i++) {
        int dash = i == 3 || i == 7;
        if (dash ? p[i] != '-' : !is_digit(p[i]))
            return 0;
    }
    return 1;
}

static int valid_name(const char *s)
{
    size_t n = strnlen(s, BIRDIE_PHONEBOOK_NAME_MAX + 1);
    if (n == 0 || n > BIRDIE_PHONEBOOK_NAME_MAX || !is_letter(s[0]) || !is_letter(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_letter(s[i]) && !(s[i] == ' ' && is_letter(s[i + 1])))
            return 0;
    return 1;
}

static int valid_number(const char *s)
{
    return strnlen(s, BIRDIE_PHONEBOOK_NUMBER_LEN + 1) == BIRDIE_PHONEBOOK_NUMBER_LEN && is_number_at(s);
}

/* ---- sizes ------------------------------------------------------------------------------------ */

static size_t question_bound(int k)
{
    return sizeof question - 1 + (size_t)k * BIRDIE_PHONEBOOK_NAME_MAX + 2 * (size_t)(k - 1) + 1;
}

static size_t entry_bound(void)
{
    return BIRDIE_PHONEBOOK_NAME_MAX + 2 + BIRDIE_PHONEBOOK_NUMBER_LEN + 1;
}

size_t birdie_phonebook_prompt_bound(int k, int entries)
{
    if (k < 1 || entries < 0)
        return 0;
    return 2 * question_bound(k) + 1 + (size_t)entries * entry_bound() + 1 + (sizeof numbers_line - 1);
}

size_t birdie_phonebook_answer_len(int k)
{
    return k < 1 ? 0 : (size_t)k * (BIRDIE_PHONEBOOK_NUMBER_LEN + 1);
}

int birdie_phonebook_entries_fitting(int max_tokens, int k)
{
    if (k < 1 || k > BIRDIE_PHONEBOOK_K_MAX || max_tokens <= 0)
        return 0;
    size_t fixed = birdie_phonebook_prompt_bound(k, 0) + 1 + birdie_phonebook_answer_len(k);
    if ((size_t)max_tokens < fixed)
        return 0;
    size_t n = ((size_t)max_tokens - fixed) / entry_bound();
    if (n > BIRDIE_PHONEBOOK_MAX_ENTRIES)
        n = BIRDIE_PHONEBOOK_MAX_ENTRIES;
    return n < (size_t)k ? 0 : (int)n;
}

/* ---- rendering -------------------------------------------------------------------------------- */

static char *put(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

static char *put_str(char *w, const char *s)
{
    return put(w, s, strlen(s));
}

static char *put_question(char *w, const birdie_phonebook_entry *book, const int *asked, int k)
{
    w = put(w, question, sizeof question - 1);
    for (int i = 0; i < k; i++) {
        if (i)
            w = put(w, ", ", 2);
        w = put_str(w, book[asked[i]].name);
    }
    return put(w, "\n", 1);
}

void birdie_phonebook_item_free(birdie_phonebook_item *item)
{
    if (!item)
        return;
    free(item->book);
    free(item->prompt);
    free(item->answer);
    free(item->prompt_tokens);
    free(item->answer_tokens);
    memset(item, 0, sizeof *item);
}

/* Renders prompt, answer and tokens of an item whose book, k, entries and asked are set. */
static int render(birdie_phonebook_item *item, char *err, size_t errlen)
{
    int k = item->k, entries = item->entries;
    size_t pcap = birdie_phonebook_prompt_bound(k, entries) + 1, acap = birdie_phonebook_answer_len(k) + 1;
    item->prompt = malloc(pcap);
    item->answer = malloc(acap);
    item->prompt_tokens = malloc(pcap * sizeof *item->prompt_tokens);
    item->answer_tokens = malloc(acap * sizeof *item->answer_tokens);
    if (!item->prompt || !item->answer || !item->prompt_tokens || !item->answer_tokens)
        return birdie_fail(err, errlen, -ENOMEM, "phonebook: out of memory for a book of %d entries", entries);
    char *w = put_question(item->prompt, item->book, item->asked, k);
    w = put(w, "\n", 1);
    for (int e = 0; e < entries; e++) {
        w = put_str(w, item->book[e].name);
        w = put(w, ": ", 2);
        w = put(w, item->book[e].number, BIRDIE_PHONEBOOK_NUMBER_LEN);
        w = put(w, "\n", 1);
    }
    w = put(w, "\n", 1);
    w = put_question(w, item->book, item->asked, k);
    w = put(w, numbers_line, sizeof numbers_line - 1);
    *w = '\0';
    item->prompt_len = (size_t)(w - item->prompt);
    w = item->answer;
    for (int i = 0; i < k; i++) {
        w = put(w, item->book[item->asked[i]].number, BIRDIE_PHONEBOOK_NUMBER_LEN);
        w = put(w, "\n", 1);
    }
    *w = '\0';
    item->answer_len = (size_t)(w - item->answer);
    int np = birdie_eval_encode(item->prompt, item->prompt_len, item->prompt_tokens, err, errlen);
    if (np < 0)
        return np;
    int na = birdie_eval_encode(item->answer, item->answer_len, item->answer_tokens, err, errlen);
    if (na < 0)
        return na;
    item->n_prompt_tokens = np;
    item->n_answer_tokens = na;
    return 0;
}

int birdie_phonebook_item_from(birdie_phonebook_item *item, const birdie_phonebook_entry *book, int entries,
                               const int *asked, int k, char *err, size_t errlen)
{
    memset(item, 0, sizeof *item);
    if (k < 1 || k > BIRDIE_PHONEBOOK_K_MAX || entries < k || entries > BIRDIE_PHONEBOOK_MAX_ENTRIES)
        return birdie_fail(err, errlen, -EINVAL, "phonebook: need 1 <= k (%d) <= %d and k <= entries (%d) <= %d", k,
                           BIRDIE_PHONEBOOK_K_MAX, entries, BIRDIE_PHONEBOOK_MAX_ENTRIES);
    for (int e = 0; e < entries; e++) {
        if (!valid_name(book[e].name))
            return birdie_fail(err, errlen, -EINVAL, "phonebook: entry %d's name is not letters and single spaces", e);
        if (!valid_number(book[e].number))
            return birdie_fail(err, errlen, -EINVAL, "phonebook: entry %d's number is not DDD-DDD-DDDD", e);
    }
    for (int i = 0; i < k; i++) {
        if (asked[i] < 0 || asked[i] >= entries)
            return birdie_fail(err, errlen, -EINVAL, "phonebook: asked index %d is outside the book", asked[i]);
        for (int j = 0; j < i; j++)
            if (asked[j] == asked[i])
                return birdie_fail(err, errlen, -EINVAL, "phonebook: entry %d is asked twice", asked[i]);
    }
    item->k = k;
    item->entries = entries;
    memcpy(item->asked, asked, (size_t)k * sizeof *asked);
    item->book = malloc((size_t)entries * sizeof *item->book);
    if (!item->book)
        return birdie_fail(err, errlen, -ENOMEM, "phonebook: out of memory for a book of %d entries", entries);
    memcpy(item->book, book, (size_t)entries * sizeof *book);
    int rc = render(item, err, errlen);
    if (rc < 0)
        birdie_phonebook_item_free(item);
    return rc;
}

/* ---- generation ------------------------------------------------------------------------------- */

static int valid_k(int k)
{
    return k == 1 || k == 2 || k == 4 || k == 8;
}

/* Ten digits of v (< 10^10) as DDD-DDD-DDDD. */
static void format_number(char *out, uint64_t v)
{
    for (int i = BIRDIE_PHONEBOOK_NUMBER_LEN - 1; i >= 0; i--) {
        if (i == 3 || i == 7) {
            out[i] = '-';
            continue;
        }
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[BIRDIE_PHONEBOOK_NUMBER_LEN] = '\0';
}

/* Open-addressing set of numbers (stored + 1, so 0 is empty); size a power of two > 2 x entries. */
static int insert_number(uint64_t *table, size_t mask, uint64_t v)
{
    for (size_t h = (size_t)birdie_mix64(v) & mask;; h = (h + 1) & mask) {
        if (table[h] == 0) {
            table[h] = v + 1;
            return 1;
        }
        if (table[h] == v + 1)
            return 0;
    }
}

int birdie_phonebook_item_make(birdie_phonebook_item *item, uint64_t seed, int k, int entries, uint64_t index,
                               char *err, size_t errlen)
{
    memset(item, 0, sizeof *item);
    if (!valid_k(k) || entries < k || entries > BIRDIE_PHONEBOOK_MAX_ENTRIES)
        return birdie_fail(err, errlen, -EINVAL,
                           "phonebook: need k in {1, 2, 4, 8} (got %d) and k <= entries (%d) <= %d", k, entries,
                           BIRDIE_PHONEBOOK_MAX_ENTRIES);
    birdie_rng rng = birdie_rng_stream(seed, ((uint64_t)k << 32) | (uint64_t)entries, index, BIRDIE_RNG_EVAL_PHONEBOOK);
    size_t tsize = 1;
    while (tsize <= 2 * (size_t)entries)
        tsize <<= 1;
    uint16_t *pairs = malloc(NAME_PAIRS * sizeof *pairs);
    int *order = malloc((size_t)entries * sizeof *order);
    uint64_t *table = calloc(tsize, sizeof *table);
    birdie_phonebook_entry *book = malloc((size_t)entries * sizeof *book);
    int rc = 0;
    if (!pairs || !order || !table || !book) {
        rc = birdie_fail(err, errlen, -ENOMEM, "phonebook: out of memory for a book of %d entries", entries);
        goto out;
    }
    for (int i = 0; i < NAME_PAIRS; i++)
        pairs[i] = (uint16_t)i;
    for (int e = 0; e < entries; e++) {
        int j = e + (int)birdie_rng_below(&rng, (uint64_t)(NAME_PAIRS - e));
        uint16_t t = pairs[e];
        pairs[e] = pairs[j];
        pairs[j] = t;
        const char *first = first_names[pairs[e] / NAMES_SIDE], *last = last_names[pairs[e] % NAMES_SIDE];
        size_t nf = strlen(first), nl = strlen(last);
        memcpy(book[e].name, first, nf);
        book[e].name[nf] = ' ';
        memcpy(book[e].name + nf + 1, last, nl);
        book[e].name[nf + 1 + nl] = '\0';
    }
    for (int e = 0; e < entries; e++) {
        uint64_t v;
        do
            v = birdie_rng_below(&rng, UINT64_C(10000000000));
        while (!insert_number(table, tsize - 1, v));
        format_number(book[e].number, v);
    }
    for (int e = 0; e < entries; e++)
        order[e] = e;
    int asked[BIRDIE_PHONEBOOK_K_MAX];
    for (int i = 0; i < k; i++) {
        int j = i + (int)birdie_rng_below(&rng, (uint64_t)(entries - i));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
        asked[i] = order[i];
    }
    rc = birdie_phonebook_item_from(item, book, entries, asked, k, err, errlen);
out:
    free(pairs);
    free(order);
    free(table);
    free(book);
    return rc;
}

int birdie_phonebook_set_make(birdie_phonebook_set *set, uint64_t seed, int k, int n_items, int entries, char *err,
                              size_t errlen)
{
    memset(set, 0, sizeof *set);
    if (n_items < 1 || n_items > 1 << 20)
        return birdie_fail(err, errlen, -EINVAL, "phonebook: need 1 <= items (%d) <= %d", n_items, 1 << 20);
    set->items = calloc((size_t)n_items, sizeof *set->items);
    if (!set->items)
        return birdie_fail(err, errlen, -ENOMEM, "phonebook: out of memory for %d items", n_items);
    set->seed = seed;
    set->k = k;
    set->entries = entries;
    for (int i = 0; i < n_items; i++) {
        int rc = birdie_phonebook_item_make(&set->items[i], seed, k, entries, (uint64_t)i, err, errlen);
        if (rc < 0) {
            birdie_phonebook_set_free(set);
            return rc;
        }
        set->n_items = i + 1;
    }
    return 0;
}

void birdie_phonebook_set_free(birdie_phonebook_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n_items; i++)
        birdie_phonebook_item_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* ---- the phonebook-line detector -------------------------------------------------------------- */

long birdie_phonebook_line_at(const char *text, size_t len, int bare)
{
    for (size_t p = 0; p + BIRDIE_PHONEBOOK_NUMBER_LEN <= len; p++) {
        if (!is_number_at(text + p))
            continue;
        if (p + BIRDIE_PHONEBOOK_NUMBER_LEN < len && is_digit(text[p + BIRDIE_PHONEBOOK_NUMBER_LEN]))
            continue;
        if (p > 0 && is_digit(text[p - 1]))
            continue;
        if (bare)
            return (long)p;
        if (p < 3 || text[p - 1] != ' ' || text[p - 2] != ':' || !is_letter(text[p - 3]))
            continue;
        size_t q = p - 2; /* the colon; walk back over words separated by single spaces */
        while (q > 0 && is_letter(text[q - 1]))
            q--;
        while (q >= 2 && text[q - 1] == ' ' && is_letter(text[q - 2])) {
            q--;
            while (q > 0 && is_letter(text[q - 1]))
                q--;
        }
        return (long)q;
    }
    return -1;
}

/* ---- scoring ---------------------------------------------------------------------------------- */

static int is_separator(char c)
{
    return c == '\n' || c == ',' || c == ';';
}

int birdie_phonebook_score_numbers(const char *const *answers, int k, const char *text, size_t len,
                                   birdie_phonebook_score *out)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > BIRDIE_PHONEBOOK_K_MAX)
        return -EINVAL;
    for (int i = 0; i < k; i++)
        if (!answers[i] || !valid_number(answers[i]))
            return -EINVAL;
    out->k = k;
    size_t p = 0;
    for (int i = 0; i < k; i++) {
        if (i > 0) { /* skip to the next slot: past the separator that ended the previous one */
            while (p < len && !is_separator(text[p]))
                p++;
            if (p >= len)
                break; /* the remaining names are missing: 0 */
            p++;
        }
        while (p < len && (text[p] == ' ' || text[p] == '\t'))
            p++;
        size_t f = p;
        while (p < len && (is_digit(text[p]) || text[p] == '-'))
            p++;
        const char *ref = answers[i];
        char ref_digits[BIRDIE_PHONEBOOK_DIGITS];
        for (int j = 0, d = 0; j < BIRDIE_PHONEBOOK_NUMBER_LEN; j++)
            if (is_digit(ref[j]))
                ref_digits[d++] = ref[j];
        int correct = 0, d = 0;
        for (size_t j = f; j < p && d < BIRDIE_PHONEBOOK_DIGITS; j++) {
            if (text[j] == '-')
                continue;
            correct += text[j] == ref_digits[d];
            d++;
        }
        out->digit_accuracy[i] = (double)correct / BIRDIE_PHONEBOOK_DIGITS;
        out->exact[i] = p - f == BIRDIE_PHONEBOOK_NUMBER_LEN && memcmp(text + f, ref, BIRDIE_PHONEBOOK_NUMBER_LEN) == 0;
    }
    double acc = 0.0;
    int exact = 0;
    for (int i = 0; i < k; i++) {
        acc += out->digit_accuracy[i];
        exact += out->exact[i];
    }
    out->mean_digit_accuracy = acc / k;
    out->exact_rate = (double)exact / k;
    out->all_exact = exact == k;
    return 0;
}

int birdie_phonebook_score_text(const birdie_phonebook_item *item, const char *text, size_t len,
                                birdie_phonebook_score *out)
{
    const char *answers[BIRDIE_PHONEBOOK_K_MAX];
    if (!item || item->k < 1 || item->k > BIRDIE_PHONEBOOK_K_MAX || !item->book) {
        memset(out, 0, sizeof *out);
        return -EINVAL;
    }
    for (int i = 0; i < item->k; i++)
        answers[i] = item->book[item->asked[i]].number;
    return birdie_phonebook_score_numbers(answers, item->k, text, len, out);
}

void birdie_phonebook_tally_add(birdie_phonebook_tally *t, const birdie_phonebook_score *s)
{
    t->items++;
    t->names += s->k;
    for (int i = 0; i < s->k; i++) {
        t->digit_sum += s->digit_accuracy[i];
        t->exact_names += s->exact[i];
    }
    t->exact_items += s->all_exact;
}

double birdie_phonebook_tally_digit_accuracy(const birdie_phonebook_tally *t)
{
    return t->names ? t->digit_sum / (double)t->names : 0.0;
}

double birdie_phonebook_tally_exact_rate(const birdie_phonebook_tally *t)
{
    return t->names ? (double)t->exact_names / (double)t->names : 0.0;
}
