/* ctl_weights: see ctl_weights.h. */
#include "ctl/ctl_weights.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

static int add(ctl_weights *w, const char *arm, size_t arm_len, double value)
{
    char **arms = realloc(w->arms, (w->n + 1) * sizeof(char *));
    if (!arms)
        return -ENOMEM;
    w->arms = arms;
    double *ws = realloc(w->weights, (w->n + 1) * sizeof(double));
    if (!ws)
        return -ENOMEM;
    w->weights = ws;
    w->arms[w->n] = strndup(arm, arm_len);
    if (!w->arms[w->n])
        return -ENOMEM;
    w->weights[w->n++] = value;
    return 0;
}

/* Parses "arm=w" or "arm w" (sep given) into w. */
static int parse_pair(const char *text, const char *where, ctl_weights *w, char *err, size_t errlen)
{
    const char *sep = strpbrk(text, "= \t");
    if (!sep || sep == text)
        return birdie_fail(err, errlen, -EINVAL, "%s: expected arm=weight, got '%s'", where, text);
    const char *num = sep;
    while (*num == '=' || *num == ' ' || *num == '\t')
        num++;
    char *end = NULL;
    errno = 0;
    double v = strtod(num, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    if (end == num || !end || *end || errno == ERANGE)
        return birdie_fail(err, errlen, -EINVAL, "%s: the weight of '%.*s' is not a number: '%s'", where,
                           (int)(sep - text), text, num);
    int rc = add(w, text, (size_t)(sep - text), v);
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int ctl_weights_from_args(int argc, char **argv, ctl_weights *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < argc; i++) {
        if (!strchr(argv[i], '=')) {
            snprintf(err, errlen, "argument '%s': expected arm=weight", argv[i]);
            ctl_weights_free(out);
            return -EINVAL;
        }
        char where[64];
        snprintf(where, sizeof(where), "argument %d", i + 1);
        int rc = parse_pair(argv[i], where, out, err, errlen);
        if (rc) {
            ctl_weights_free(out);
            return rc;
        }
    }
    return 0;
}

static int from_json(json_t *root, const char *path, ctl_weights *out, char *err, size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (!json_is_number(value))
            return birdie_fail(err, errlen, -EINVAL, "%s: the weight of '%s' is not a number", path, key);
        if (add(out, key, strlen(key), json_number_value(value)))
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    return 0;
}

static int from_lines(FILE *f, const char *path, ctl_weights *out, char *err, size_t errlen)
{
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        size_t n = strlen(p);
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            p[--n] = 0;
        if (!*p)
            continue;
        char where[600];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        int rc = parse_pair(p, where, out, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int ctl_weights_from_file(const char *path, ctl_weights *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "r");
    if (!f)
        return birdie_fail(err, errlen, -ENOENT, "%s: %s", path, strerror(errno));
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c)) {
    }
    int rc;
    if (c == '{') {
        rewind(f);
        json_error_t jerr;
        json_t *root = json_loadf(f, 0, &jerr);
        if (!root || !json_is_object(root)) {
            snprintf(err, errlen, "%s:%d: not a JSON object of arm weights: %s", path, jerr.line,
                     root ? "not an object" : jerr.text);
            rc = -EINVAL;
        } else {
            rc = from_json(root, path, out, err, errlen);
        }
        json_decref(root);
    } else {
        rewind(f);
        rc = from_lines(f, path, out, err, errlen);
    }
    fclose(f);
    if (rc == 0 && out->n == 0) {
        snprintf(err, errlen, "%s: no weights in the file", path);
        rc = -EINVAL;
    }
    if (rc)
        ctl_weights_free(out);
    return rc;
}

void ctl_weights_free(ctl_weights *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->arms[i]);
    free(w->arms);
    free(w->weights);
    memset(w, 0, sizeof(*w));
}
