/* worker/eval/eval_text.c: the byte-level codec of the evaluation tasks (see eval_text.h). It knows
 * nothing about any task; ids are those of worker/vocab.h. */
#include "worker/eval/eval_text.h"

#include <errno.h>

#include "worker/error.h"
#include "worker/vocab.h"

int birdie_eval_encodable(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0')
            return 0;
    return 1;
}

int birdie_eval_encode(const char *text, size_t len, int32_t *out, char *err, size_t errlen)
{
    if (len > INT32_MAX)
        return birdie_fail(err, errlen, -EINVAL, "eval text: %zu bytes do not fit a token sequence", len);
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)text[i];
        if (b == BIRDIE_PAD)
            return birdie_fail(err, errlen, -EINVAL, "eval text: byte %zu is 0 (PAD), which no text may hold", i);
        out[i] = (int32_t)b;
    }
    return (int)len;
}

size_t birdie_eval_decode(const int32_t *ids, int n, char *out, size_t cap, int *stop_at)
{
    size_t w = 0;
    int i = 0;
    for (; i < n; i++) {
        if (ids[i] <= BIRDIE_PAD || ids[i] > 255)
            break;
        if (w + 1 >= cap)
            break;
        out[w++] = (char)(uint8_t)ids[i];
    }
    if (cap)
        out[w] = '\0';
    if (stop_at)
        *stop_at = i;
    return w;
}
