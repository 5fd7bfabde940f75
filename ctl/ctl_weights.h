/* ctl_weights: the weights of `birdiectl set-mixture`, from `arm=w` arguments or a file (a JSON
 * object {"arm": w, ...}, or lines "arm=w" / "arm w" with # comments). It only parses; the server
 * validates arms and values (so both paths report the same INVALID_ARGUMENT messages). */
#ifndef BIRDIE_CTL_WEIGHTS_H
#define BIRDIE_CTL_WEIGHTS_H

#include <stddef.h>

typedef struct ctl_weights {
    size_t n;
    char **arms;
    double *weights;
} ctl_weights;

/* Each argument must be "arm=w" with w a number (nan/inf are passed through for the server to
 * reject). -EINVAL with a message naming the argument otherwise. */
int ctl_weights_from_args(int argc, char **argv, ctl_weights *out, char *err, size_t errlen);
int ctl_weights_from_file(const char *path, ctl_weights *out, char *err, size_t errlen);
void ctl_weights_free(ctl_weights *w);

#endif
