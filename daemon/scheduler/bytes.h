/* daemon/scheduler/bytes.h: little-endian writing and bounds-checked reading of a byte buffer, for
 * the scheduler's saved state. Floats travel as their IEEE-754 bit patterns, so a round trip is
 * bit-exact. A writer that ran out of memory, or a reader that ran past the end, stays failed and
 * remembers the first field it could not handle, for the error message. */
#ifndef BIRDIE_SCHED_BYTES_H
#define BIRDIE_SCHED_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct byte_writer {
    uint8_t *buf;
    size_t len, cap;
    int failed;
} byte_writer;

void bw_bytes(byte_writer *w, const void *src, size_t n);
void bw_u32(byte_writer *w, uint32_t v);
void bw_u64(byte_writer *w, uint64_t v);
void bw_i64(byte_writer *w, int64_t v);
void bw_f64(byte_writer *w, double v);
void bw_f64s(byte_writer *w, const double *v, size_t n);
void bw_f32s(byte_writer *w, const float *v, size_t n);
void bw_str(byte_writer *w, const char *s); /* u32 length, then the bytes, no NUL */

typedef struct byte_reader {
    const uint8_t *buf;
    size_t len, pos;
    const char *failed_at; /* NULL while every read fit */
} byte_reader;

/* Each returns 0, or -1 (and records field) when fewer bytes remain than the value needs. */
int br_u32(byte_reader *r, uint32_t *v, const char *field);
int br_u64(byte_reader *r, uint64_t *v, const char *field);
int br_i64(byte_reader *r, int64_t *v, const char *field);
int br_f64(byte_reader *r, double *v, const char *field);
int br_f64s(byte_reader *r, double *v, size_t n, const char *field);
int br_f32s(byte_reader *r, float *v, size_t n, const char *field);
/* A string of at most max_len bytes into dst (max_len + 1 bytes); -1 when longer, cut short or holding a
 * NUL byte. */
int br_str(byte_reader *r, char *dst, size_t max_len, const char *field);

#endif
