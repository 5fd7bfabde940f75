/* daemon/scheduler/bytes.c: see bytes.h. */
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/bytes.h"

static int reserve(byte_writer *w, size_t n)
{
    if (w->failed)
        return -1;
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *p = realloc(w->buf, cap);
    if (!p) {
        w->failed = 1;
        return -1;
    }
    w->buf = p;
    w->cap = cap;
    return 0;
}

void bw_bytes(byte_writer *w, const void *src, size_t n)
{
    if (reserve(w, n) != 0)
        return;
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void put_le(byte_writer *w, uint64_t v, int width)
{
    uint8_t b[8];
    for (int i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    bw_bytes(w, b, (size_t)width);
}

void bw_u32(byte_writer *w, uint32_t v)
{
    put_le(w, v, 4);
}
void bw_u64(byte_writer *w, uint64_t v)
{
    put_le(w, v, 8);
}
void bw_i64(byte_writer *w, int64_t v)
{
    put_le(w, (uint64_t)v, 8);
}

void bw_f64(byte_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    put_le(w, bits, 8);
}

void bw_f64s(byte_writer *w, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bw_f64(w, v[i]);
}

void bw_f32s(byte_writer *w, const float *v, size_t n)
{
    if (reserve(w, 4 * n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof(bits));
        put_le(w, bits, 4);
    }
}

void bw_str(byte_writer *w, const char *s)
{
    size_t n = strlen(s);
    bw_u32(w, (uint32_t)n);
    bw_bytes(w, s, n);
}

static int br_bytes(byte_reader *r, void *dst, size_t n, const char *field)
{
    if (r->failed_at)
        return -1;
    if (r->len - r->pos < n) {
        r->failed_at = field;
        return -1;
    }
    memcpy(dst, r->buf + r->pos, n);
    r->pos += n;
    return 0;
}

static int get_le(byte_reader *r, uint64_t *v, int width, const char *field)
{
    uint8_t b[8];
    if (br_bytes(r, b, (size_t)width, field) != 0)
        return -1;
    uint64_t x = 0;
    for (int i = 0; i < width; i++)
        x |= (uint64_t)b[i] << (8 * i);
    *v = x;
    return 0;
}

int br_u32(byte_reader *r, uint32_t *v, const char *field)
{
    uint64_t x;
    if (get_le(r, &x, 4, field) != 0)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

int br_u64(byte_reader *r, uint64_t *v, const char *field)
{
    return get_le(r, v, 8, field);
}

int br_i64(byte_reader *r, int64_t *v, const char *field)
{
    uint64_t x;
    if (get_le(r, &x, 8, field) != 0)
        return -1;
    *v = (int64_t)x;
    return 0;
}

int br_f64(byte_reader *r, double *v, const char *field)
{
    uint64_t x;
    if (get_le(r, &x, 8, field) != 0)
        return -1;
    memcpy(v, &x, sizeof(*v));
    return 0;
}

int br_f64s(byte_reader *r, double *v, size_t n, const char *field)
{
    if (r->len - r->pos < 8 * n) { /* check once so a huge n cannot walk past the end */
        r->failed_at = r->failed_at ? r->failed_at : field;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (br_f64(r, &v[i], field) != 0)
            return -1;
    return 0;
}

int br_f32s(byte_reader *r, float *v, size_t n, const char *field)
{
    if (r->failed_at || r->len - r->pos < 4 * n) {
        r->failed_at = r->failed_at ? r->failed_at : field;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        get_le(r, &x, 4, field); /* cannot fail: the length was checked above */
        uint32_t bits = (uint32_t)x;
        memcpy(&v[i], &bits, sizeof(bits));
    }
    return 0;
}

int br_str(byte_reader *r, char *dst, size_t max_len, const char *field)
{
    uint32_t n;
    if (br_u32(r, &n, field) != 0)
        return -1;
    if (n > max_len) {
        r->failed_at = field;
        return -1;
    }
    if (br_bytes(r, dst, n, field) != 0)
        return -1;
    /* a NUL inside would make a shorter C string than the stored length: a name that saves back as
     * other bytes (found by tests/fuzz/fuzz_sched_state.c) */
    if (memchr(dst, '\0', n)) {
        r->failed_at = field;
        return -1;
    }
    dst[n] = '\0';
    return 0;
}
