/* worker/cli_flags.c: flag values and strict number parsing (cli_flags.h). */
#include "worker/cli_flags.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

const char *birdie_flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return a[n] == '\0' ? "" : NULL;
}

int birdie_flag_is_override(const char *a)
{
    const char *eq = strchr(a, '='), *dot = strchr(a, '.');
    return strncmp(a, "--", 2) == 0 && eq && dot && dot < eq;
}

int birdie_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int birdie_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int birdie_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || !(v >= lo) || !(v <= hi))
        return -1;
    *out = v;
    return 0;
}

int birdie_subcommand_exit(const char *name, int rc, const char *err)
{
    if (rc == 0)
        return 0;
    fprintf(stderr, "birdied %s: %s\n", name, err);
    int exit_class = birdie_error_exit_class(rc);
    return exit_class ? exit_class : BIRDIE_EXIT_INTERNAL;
}
