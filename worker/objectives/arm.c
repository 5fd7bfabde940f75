/* worker/objectives/arm.c: arm parameters — parsing of arm specs (grammar in arm.h), validation,
 * generated names, canonical descriptions, and the space an arm needs in a row.
 * It does not build samples (the per-class files) nor hold the default grid (grid.c). */
#include "worker/objectives/arm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/fnv.h"
#include "worker/vocab.h"
#include "worker/error.h"

#define LEN_LIMIT 65536

static const struct {
    const char *name, *short_name;
} class_names[BIRDIE_NUM_OBJECTIVE_CLASSES] = {
    [BIRDIE_OBJ_NTP] = {"ntp", "ntp"},
    [BIRDIE_OBJ_PREFIX_LM] = {"prefix_lm", "plm"},
    [BIRDIE_OBJ_COPYING] = {"copying", "copy"},
    [BIRDIE_OBJ_DESHUFFLING] = {"deshuffling", "deshuffle"},
    [BIRDIE_OBJ_INFILLING] = {"infilling", "infill"},
    [BIRDIE_OBJ_AUTOENCODING] = {"autoencoding", "ae"},
    [BIRDIE_OBJ_SELECTIVE_COPYING] = {"selective_copying", "selcopy"},
};

_Static_assert((int)BIRDIE_NUM_OBJECTIVE_CLASSES == (int)BIRDIE_NUM_PARADIGMS, "one paradigm id per class");

const char *birdie_objective_class_name(birdie_objective_class cls)
{
    return (unsigned)cls < BIRDIE_NUM_OBJECTIVE_CLASSES ? class_names[cls].name : "?";
}

const char *birdie_objective_class_short(birdie_objective_class cls)
{
    return (unsigned)cls < BIRDIE_NUM_OBJECTIVE_CLASSES ? class_names[cls].short_name : "?";
}

static int class_from_name(const char *s, size_t len)
{
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++) {
        if ((strlen(class_names[c].name) == len && !strncmp(s, class_names[c].name, len)) ||
            (strlen(class_names[c].short_name) == len && !strncmp(s, class_names[c].short_name, len)))
            return c;
    }
    if (len == 10 && !strncmp(s, "autoencode", len))
        return BIRDIE_OBJ_AUTOENCODING;
    return -1;
}

/* Class defaults; the default grid (docs/algorithm.md §2.10) overrides lengths and the class parameters it varies. */
static void arm_defaults(birdie_arm *arm, birdie_objective_class cls)
{
    memset(arm, 0, sizeof *arm);
    arm->cls = cls;
    arm->paradigm = cls != BIRDIE_OBJ_NTP;
    arm->min_len = 32;
    arm->max_len = cls == BIRDIE_OBJ_NTP || cls == BIRDIE_OBJ_PREFIX_LM ? 512 : 64;
    arm->split = 0.75;
    arm->share = 1.0;
    arm->rate = 0.15;
    arm->width = 8;
    arm->spans = 1;
    arm->span_min = 12;
    arm->span_max = 48;
    arm->delim_min = 3;
    arm->delim_max = 24;
    if (cls == BIRDIE_OBJ_SELECTIVE_COPYING) {
        arm->min_len = 96;
        arm->max_len = 192;
    }
}

/* ---- validation ---- */

static int range_error(char *err, size_t errlen, const birdie_arm *arm, const char *what, double value,
                       const char *range)
{
    return birdie_fail(err, errlen, -EINVAL, "arm '%s' (%s): %s %g out of range %s", arm->name,
                       birdie_objective_class_name(arm->cls), what, value, range);
}

#define CHECK_RANGE(cond, what, value, range)                                   \
    do {                                                                        \
        if (!(cond))                                                            \
            return range_error(err, errlen, arm, what, (double)(value), range); \
    } while (0)

static int class_min_len(birdie_objective_class cls)
{
    switch (cls) {
    case BIRDIE_OBJ_PREFIX_LM: return 8; /* |P| >= 4 and |T| >= 4 (v1 clamp) */
    case BIRDIE_OBJ_DESHUFFLING: return 2;
    default: return 1;
    }
}

static int name_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= BIRDIE_ARM_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}

/* Percent with no trailing zeros: 0.15 -> "15", 0.125 -> "12.5". */
static void percent(char *buf, size_t len, double f)
{
    snprintf(buf, len, "%.6g", f * 100.0);
}

static void generate_name(birdie_arm *arm)
{
    char b[256];
    size_t len = sizeof b;
    char pct[32];
    int w = snprintf(b, len, "%s.l%d-%d", birdie_objective_class_short(arm->cls), arm->min_len, arm->max_len);
    switch (arm->cls) {
    case BIRDIE_OBJ_PREFIX_LM:
        percent(pct, sizeof pct, arm->split);
        w += snprintf(b + w, len - (size_t)w, ".s%s", pct);
        break;
    case BIRDIE_OBJ_DESHUFFLING:
        percent(pct, sizeof pct, arm->share);
        w += snprintf(b + w, len - (size_t)w, ".p%s", pct);
        break;
    case BIRDIE_OBJ_INFILLING:
    case BIRDIE_OBJ_AUTOENCODING:
        percent(pct, sizeof pct, arm->rate);
        w += snprintf(b + w, len - (size_t)w, ".r%s.w%d%s%s", pct, arm->width,
                      arm->cls == BIRDIE_OBJ_AUTOENCODING && arm->shuffle ? ".shuf" : "",
                      arm->random_sentinels ? ".rnd" : "");
        break;
    case BIRDIE_OBJ_SELECTIVE_COPYING:
        w += snprintf(b + w, len - (size_t)w, ".k%d.%s", arm->spans, arm->layout_append ? "app" : "pre");
        if (arm->span_min != 12 || arm->span_max != 48 || arm->delim_min != 3 || arm->delim_max != 24)
            w += snprintf(b + w, len - (size_t)w, ".s%d-%d.d%d-%d", arm->span_min, arm->span_max, arm->delim_min,
                          arm->delim_max);
        break;
    default: break;
    }
    (void)w;
    /* An over-long name is cut and made unique again by a hash of the full one, so that two arms
     * differing only in the cut part keep different names. */
    if (strlen(b) < sizeof arm->name)
        strcpy(arm->name, b);
    else
        snprintf(arm->name, sizeof arm->name, "%.38s.%08x", b,
                 (unsigned)birdie_fnv1a32(BIRDIE_FNV32_OFFSET, b, strlen(b)));
}

/* Standard normal CDF. */
static double phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* v1 draws l = max(1, trunc(Normal(w, 1))) and masks with probability min(1, rate / l). The table
 * holds the distribution of l among masked spans, and mask_prob the unconditional mask chance. */
static void span_table(birdie_arm *arm)
{
    int lo = arm->width - BIRDIE_SPAN_TABLE / 2;
    if (lo < 1)
        lo = 1;
    double total = 0.0;
    for (int i = 0; i < BIRDIE_SPAN_TABLE; i++) {
        int l = lo + i;
        double below = i == 0 ? 0.0 : phi((double)l - arm->width);
        double above = i == BIRDIE_SPAN_TABLE - 1 ? 1.0 : phi((double)l + 1 - arm->width);
        if (i == 0 && l == 1)
            above = phi(2.0 - arm->width); /* trunc(x) <= 1 for every x < 2, negatives clamp to 1 */
        double p_l = above - below;
        double p_mask = arm->rate / l < 1.0 ? arm->rate / l : 1.0;
        total += p_l * p_mask;
        arm->span_cdf[i] = total;
    }
    arm->span_lo = lo;
    arm->mask_prob = total;
    for (int i = 0; i < BIRDIE_SPAN_TABLE; i++)
        arm->span_cdf[i] /= total;
}

int birdie_arm_finalize(birdie_arm *arm, char *err, size_t errlen)
{
    if ((unsigned)arm->cls >= BIRDIE_NUM_OBJECTIVE_CLASSES) {
        return birdie_fail(err, errlen, -EINVAL, "arm '%s': unknown objective class %d", arm->name, (int)arm->cls);
    }
    if (arm->name[0] && !name_is_valid(arm->name)) {
        return birdie_fail(err, errlen, -EINVAL, "arm '%.47s': a name has 1..%d chars of [A-Za-z0-9._-]", arm->name,
                           BIRDIE_ARM_NAME_MAX - 1);
    }
    if (!arm->name[0])
        generate_name(arm);
    int lmin = class_min_len(arm->cls);
    char range[64];
    snprintf(range, sizeof range, "[%d, %d]", lmin, LEN_LIMIT);
    CHECK_RANGE(arm->min_len >= lmin && arm->min_len <= LEN_LIMIT, "minimum length", arm->min_len, range);
    snprintf(range, sizeof range, "[%d (minimum length), %d]", arm->min_len, LEN_LIMIT);
    CHECK_RANGE(arm->max_len >= arm->min_len && arm->max_len <= LEN_LIMIT, "maximum length", arm->max_len, range);
    if (arm->cls == BIRDIE_OBJ_NTP)
        arm->paradigm = 0;
    CHECK_RANGE(arm->paradigm == 0 || arm->paradigm == 1, "paradigm", arm->paradigm, "{0, 1}");
    switch (arm->cls) {
    case BIRDIE_OBJ_PREFIX_LM: CHECK_RANGE(arm->split > 0.0 && arm->split < 1.0, "split", arm->split, "(0, 1)"); break;
    case BIRDIE_OBJ_DESHUFFLING:
        CHECK_RANGE(arm->share > 0.0 && arm->share <= 1.0, "share", arm->share, "(0, 1]");
        break;
    case BIRDIE_OBJ_INFILLING:
    case BIRDIE_OBJ_AUTOENCODING:
        CHECK_RANGE(arm->rate > 0.0 && arm->rate <= 1.0, "rate", arm->rate, "(0, 1]");
        CHECK_RANGE(arm->width >= 1 && arm->width <= 256, "width", arm->width, "[1, 256]");
        span_table(arm);
        break;
    case BIRDIE_OBJ_SELECTIVE_COPYING:
        CHECK_RANGE(arm->spans >= 1 && arm->spans <= 8, "spans", arm->spans, "[1, 8]");
        CHECK_RANGE(arm->span_min >= 1 && arm->span_min <= 1024, "span minimum", arm->span_min, "[1, 1024]");
        snprintf(range, sizeof range, "[%d (span minimum), 1024]", arm->span_min);
        CHECK_RANGE(arm->span_max >= arm->span_min && arm->span_max <= 1024, "span maximum", arm->span_max, range);
        CHECK_RANGE(arm->delim_min >= 1 && arm->delim_min <= 256, "delimiter minimum", arm->delim_min, "[1, 256]");
        snprintf(range, sizeof range, "[%d (delimiter minimum), 256]", arm->delim_min);
        CHECK_RANGE(arm->delim_max >= arm->delim_min && arm->delim_max <= 256, "delimiter maximum", arm->delim_max,
                    range);
        {
            int need = arm->spans * (2 * arm->delim_min + arm->span_min);
            snprintf(range, sizeof range, "[%d (spans x (2 x delimiter + span minimum)), %d]", need, LEN_LIMIT);
            CHECK_RANGE(arm->min_len >= need, "minimum context length", arm->min_len, range);
        }
        break;
    default: break;
    }
    return 0;
}

/* ---- parsing ---- */

static int parse_int(const char *v, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < -2147483647L || x > 2147483647L)
        return -1;
    *out = (int)x;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* "A-B" or "A". */
static int parse_range(const char *v, int *lo, int *hi)
{
    char buf[64];
    if (strlen(v) >= sizeof buf)
        return -1;
    strcpy(buf, v);
    char *dash = strchr(buf + 1, '-'); /* buf + 1: a leading '-' is a sign, rejected below */
    if (!dash)
        return parse_int(buf, lo) ? -1 : (*hi = *lo, 0);
    *dash = 0;
    return parse_int(buf, lo) || parse_int(dash + 1, hi) ? -1 : 0;
}

static int parse_switch(const char *v, const char *off, const char *on, int *out)
{
    if (!strcmp(v, off) || !strcmp(v, "0"))
        *out = 0;
    else if (!strcmp(v, on) || !strcmp(v, "1"))
        *out = 1;
    else
        return -1;
    return 0;
}

/* Keys, with the classes that accept them (-1: every class). */
enum key_id {
    K_NAME,
    K_LEN,
    K_PARADIGM,
    K_SPLIT,
    K_SHARE,
    K_RATE,
    K_WIDTH,
    K_SENTINELS,
    K_SHUFFLE,
    K_SPANS,
    K_LAYOUT,
    K_SPAN,
    K_DELIM,
    K_COUNT
};
static const struct {
    const char *key;
    int cls, cls2;
} keys[K_COUNT] = {
    [K_NAME] = {"name", -1, -1},
    [K_LEN] = {"len", -1, -1},
    [K_PARADIGM] = {"paradigm", -1, -1},
    [K_SPLIT] = {"split", BIRDIE_OBJ_PREFIX_LM, -2},
    [K_SHARE] = {"share", BIRDIE_OBJ_DESHUFFLING, -2},
    [K_RATE] = {"rate", BIRDIE_OBJ_INFILLING, BIRDIE_OBJ_AUTOENCODING},
    [K_WIDTH] = {"width", BIRDIE_OBJ_INFILLING, BIRDIE_OBJ_AUTOENCODING},
    [K_SENTINELS] = {"sentinels", BIRDIE_OBJ_INFILLING, BIRDIE_OBJ_AUTOENCODING},
    [K_SHUFFLE] = {"shuffle", BIRDIE_OBJ_AUTOENCODING, -2},
    [K_SPANS] = {"spans", BIRDIE_OBJ_SELECTIVE_COPYING, -2},
    [K_LAYOUT] = {"layout", BIRDIE_OBJ_SELECTIVE_COPYING, -2},
    [K_SPAN] = {"span", BIRDIE_OBJ_SELECTIVE_COPYING, -2},
    [K_DELIM] = {"delim", BIRDIE_OBJ_SELECTIVE_COPYING, -2},
};

/* Applies one key=value; returns 0, or -1 with the reason in *why. */
static int apply_key(birdie_arm *arm, enum key_id k, const char *v, const char **why)
{
    int rc = 0;
    *why = "malformed value";
    switch (k) {
    case K_NAME:
        if (!name_is_valid(v)) {
            *why = "a name has 1..47 chars of [A-Za-z0-9._-]";
            return -1;
        }
        strcpy(arm->name, v);
        break;
    case K_LEN: rc = parse_range(v, &arm->min_len, &arm->max_len); break;
    case K_PARADIGM: rc = parse_switch(v, "off", "on", &arm->paradigm); break;
    case K_SPLIT: rc = parse_double(v, &arm->split); break;
    case K_SHARE: rc = parse_double(v, &arm->share); break;
    case K_RATE: rc = parse_double(v, &arm->rate); break;
    case K_WIDTH: rc = parse_int(v, &arm->width); break;
    case K_SENTINELS: rc = parse_switch(v, "sequential", "random", &arm->random_sentinels); break;
    case K_SHUFFLE: rc = parse_switch(v, "off", "on", &arm->shuffle); break;
    case K_SPANS: rc = parse_int(v, &arm->spans); break;
    case K_LAYOUT: rc = parse_switch(v, "prepend", "append", &arm->layout_append); break;
    case K_SPAN: rc = parse_range(v, &arm->span_min, &arm->span_max); break;
    case K_DELIM: rc = parse_range(v, &arm->delim_min, &arm->delim_max); break;
    default: rc = -1; break;
    }
    return rc;
}

static const char *SPACE = " \t\r\n";

int birdie_arm_parse(birdie_arm *arm, const char *spec, char *err, size_t errlen)
{
    char buf[512];
    if (!spec || strlen(spec) >= sizeof buf) {
        return birdie_fail(err, errlen, -EINVAL, "arm spec '%.60s...': longer than %zu chars", spec ? spec : "(null)",
                           sizeof buf - 1);
    }
    strcpy(buf, spec);
    char *save = NULL;
    char *tok = strtok_r(buf, SPACE, &save);
    if (!tok) {
        return birdie_fail(err, errlen, -EINVAL, "arm spec '%s': empty (expected a class such as 'infill')", spec);
    }
    int cls = class_from_name(tok, strlen(tok));
    if (cls < 0) {
        snprintf(err, errlen,
                 "arm spec '%s': unknown objective class '%s' (known: ntp, prefix_lm, copying, deshuffling, "
                 "infilling, autoencoding, selective_copying)",
                 spec, tok);
        return -EINVAL;
    }
    arm_defaults(arm, (birdie_objective_class)cls);
    unsigned seen = 0;
    while ((tok = strtok_r(NULL, SPACE, &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            return birdie_fail(err, errlen, -EINVAL, "arm spec '%s': '%s' is not key=value", spec, tok);
        }
        *eq = 0;
        int k;
        for (k = 0; k < K_COUNT; k++)
            if (!strcmp(tok, keys[k].key))
                break;
        if (k == K_COUNT || (keys[k].cls >= 0 && keys[k].cls != cls && keys[k].cls2 != cls)) {
            return birdie_fail(err, errlen, -EINVAL, "arm spec '%s': unknown key '%s' for class %s", spec, tok,
                               birdie_objective_class_name((birdie_objective_class)cls));
        }
        if (seen & (1u << k)) {
            return birdie_fail(err, errlen, -EINVAL, "arm spec '%s': key '%s' given twice", spec, tok);
        }
        seen |= 1u << k;
        const char *why;
        if (apply_key(arm, (enum key_id)k, eq + 1, &why)) {
            return birdie_fail(err, errlen, -EINVAL, "arm spec '%s': %s=%s: %s", spec, tok, eq + 1, why);
        }
    }
    char inner[256];
    int rc = birdie_arm_finalize(arm, inner, sizeof inner);
    if (rc) {
        return birdie_fail(err, errlen, rc, "arm spec '%s': %s", spec, inner);
    }
    return 0;
}

int birdie_arm_describe(const birdie_arm *arm, char *buf, size_t len)
{
    int w = snprintf(buf, len, "%s name=%s len=%d-%d paradigm=%s", birdie_objective_class_name(arm->cls), arm->name,
                     arm->min_len, arm->max_len, arm->paradigm ? "on" : "off");
    size_t off = w < 0 ? 0 : (size_t)w < len ? (size_t)w : len;
    int more = 0;
    switch (arm->cls) {
    case BIRDIE_OBJ_PREFIX_LM: more = snprintf(buf + off, len - off, " split=%.17g", arm->split); break;
    case BIRDIE_OBJ_DESHUFFLING: more = snprintf(buf + off, len - off, " share=%.17g", arm->share); break;
    case BIRDIE_OBJ_INFILLING:
    case BIRDIE_OBJ_AUTOENCODING:
        more = snprintf(buf + off, len - off, " rate=%.17g width=%d sentinels=%s", arm->rate, arm->width,
                        arm->random_sentinels ? "random" : "sequential");
        if (arm->cls == BIRDIE_OBJ_AUTOENCODING) {
            size_t o2 = off + ((size_t)more < len - off ? (size_t)more : len - off);
            more += snprintf(buf + o2, len - o2, " shuffle=%s", arm->shuffle ? "on" : "off");
        }
        break;
    case BIRDIE_OBJ_SELECTIVE_COPYING:
        more = snprintf(buf + off, len - off, " spans=%d layout=%s span=%d-%d delim=%d-%d", arm->spans,
                        arm->layout_append ? "append" : "prepend", arm->span_min, arm->span_max, arm->delim_min,
                        arm->delim_max);
        break;
    default: break;
    }
    return w + more;
}

/* ---- space in a row ---- */

/* Fixed part of a sample beyond its chunk tokens, at the smallest draws (objective.h sizes). */
static int fixed_overhead(const birdie_arm *arm)
{
    int p = arm->paradigm;
    switch (arm->cls) {
    case BIRDIE_OBJ_NTP: return 0;
    case BIRDIE_OBJ_PREFIX_LM: return p;
    case BIRDIE_OBJ_INFILLING: return 2 + p; /* one span: a sentinel in P and one in T */
    case BIRDIE_OBJ_AUTOENCODING: return 1 + p;
    case BIRDIE_OBJ_SELECTIVE_COPYING:
        /* [CONTEXT] [COPY], per span [START] sd [END] ed, the span, and [SEP]/[DONE] */
        return 2 + arm->spans * (2 + 2 * arm->delim_min + arm->span_min + 1) + p;
    default: return p; /* copying, deshuffling: doubled, see below */
    }
}

static int doubles_chunk(const birdie_arm *arm)
{
    return arm->cls == BIRDIE_OBJ_COPYING || arm->cls == BIRDIE_OBJ_DESHUFFLING;
}

int birdie_arm_min_size(const birdie_arm *arm)
{
    return (doubles_chunk(arm) ? 2 : 1) * arm->min_len + fixed_overhead(arm);
}

int birdie_arm_chunk_cap(const birdie_arm *arm, int space)
{
    int cap = space - fixed_overhead(arm);
    if (doubles_chunk(arm))
        cap /= 2;
    if (cap > arm->max_len)
        cap = arm->max_len;
    return cap < 0 ? 0 : cap;
}

/* ---- sets ---- */

void birdie_arm_set_init(birdie_arm_set *set)
{
    memset(set, 0, sizeof *set);
}

void birdie_arm_set_free(birdie_arm_set *set)
{
    free(set->arms);
    memset(set, 0, sizeof *set);
}

int birdie_arm_set_find(const birdie_arm_set *set, const char *name)
{
    for (int i = 0; i < set->n; i++)
        if (!strcmp(set->arms[i].name, name))
            return i;
    return -1;
}

int birdie_arm_set_add(birdie_arm_set *set, const birdie_arm *arm, char *err, size_t errlen)
{
    if (birdie_arm_set_find(set, arm->name) >= 0) {
        return birdie_fail(err, errlen, -EINVAL, "arm '%s': the name is used twice in the arm set", arm->name);
    }
    if (set->n >= BIRDIE_MAX_ARMS) {
        return birdie_fail(err, errlen, -ENOSPC, "arm '%s': more than %d arms", arm->name, BIRDIE_MAX_ARMS);
    }
    if (set->n == set->cap) {
        int cap = set->cap ? 2 * set->cap : 64;
        birdie_arm *arms = realloc(set->arms, (size_t)cap * sizeof *arms);
        if (!arms) {
            return birdie_fail(err, errlen, -ENOMEM, "arm '%s': out of memory", arm->name);
        }
        set->arms = arms;
        set->cap = cap;
    }
    set->arms[set->n++] = *arm;
    return 0;
}

int birdie_arm_set_from_specs(birdie_arm_set *set, const char *const *specs, int nspecs, char *err, size_t errlen)
{
    birdie_arm_set_init(set);
    for (int i = 0; i < nspecs; i++) {
        const char *s = specs[i];
        while (*s && strchr(SPACE, *s))
            s++;
        int rc;
        if (!strncmp(s, "default", 7) && (!s[7] || strspn(s + 7, SPACE) == strlen(s + 7))) {
            rc = birdie_arm_set_add_default(set, err, errlen);
        } else {
            birdie_arm arm;
            rc = birdie_arm_parse(&arm, specs[i], err, errlen);
            if (!rc)
                rc = birdie_arm_set_add(set, &arm, err, errlen);
        }
        if (rc) {
            birdie_arm_set_free(set);
            return rc;
        }
    }
    if (set->n == 0) {
        return birdie_fail(err, errlen, -EINVAL, "arm set: no arms given");
    }
    return 0;
}

void birdie_arm_set_paradigm(birdie_arm_set *set, int on)
{
    for (int i = 0; i < set->n; i++)
        set->arms[i].paradigm = on && set->arms[i].cls != BIRDIE_OBJ_NTP;
}
