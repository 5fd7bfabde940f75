/* token: loading the bearer token; see token.h. */
#include "daemon/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

static int token_check(const char *what, char *tok, size_t outcap, char *err, size_t errlen)
{
    size_t n = strlen(tok);
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
        tok[--n] = 0;
    if (n == 0)
        return birdie_fail(err, errlen, -EINVAL, "%s: the token is empty", what);
    if (n >= outcap || n >= BIRDIE_TOKEN_MAX)
        return birdie_fail(err, errlen, -EINVAL, "%s: the token is longer than %d characters", what,
                           BIRDIE_TOKEN_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0x21 || tok[i] > 0x7e)
            return birdie_fail(err, errlen, -EINVAL,
                               "%s: the token has a character outside printable ASCII at offset %zu", what, i);
    }
    return 0;
}

int birdie_token_load(const char *token_file, char *out, size_t outcap, char *err, size_t errlen)
{
    if (outcap == 0)
        return -EINVAL;
    out[0] = 0;
    char buf[BIRDIE_TOKEN_MAX + 2];
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        if (!f) {
            int e = errno;
            return birdie_fail(err, errlen, -ENOENT, "token file %s: %s", token_file, strerror(e));
        }
        char *line = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (!line)
            buf[0] = 0;
        int rc = token_check(token_file, buf, outcap, err, errlen);
        if (rc)
            return rc;
    } else {
        const char *env = getenv("BIRDIE_TOKEN");
        if (!env || !*env)
            return 0;
        if (strlen(env) >= sizeof(buf))
            return birdie_fail(err, errlen, -EINVAL, "BIRDIE_TOKEN: the token is longer than %d characters",
                               BIRDIE_TOKEN_MAX - 1);
        snprintf(buf, sizeof(buf), "%s", env);
        int rc = token_check("BIRDIE_TOKEN", buf, outcap, err, errlen);
        if (rc)
            return rc;
    }
    snprintf(out, outcap, "%s", buf);
    return 0;
}
