/* tests/worker/test_checkpoint.c: the checkpoint file and its manifest (worker/checkpoint.c)
 * against the format, not against the writer: the checksum is 64-bit FNV-1a (its published test
 * vectors and an implementation of our own), a fixed checkpoint must produce exactly the bytes and
 * the checksum worked out here, every single-byte corruption anywhere in the file is refused with a
 * message naming the file, truncation, trailing bytes, a foreign magic or version each get their own
 * reason, the manifest's checksum and file list are checked against the files, and resuming takes the
 * newest listed checkpoint that verifies. Not covered here: when training writes checkpoints
 * (tests/worker/test_train.c) and the coordinator's record of them (tests/daemon/test_coord_checkpoint.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/checkpoint.h"

#define HEADER_BYTES 64

/* FNV-1a 64 written from its definition (offset basis 14695981039346656037, prime 2^40 + 2^8 + 0xb3),
 * so the library's function is checked against something it does not share code with. */
static uint64_t ref_fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- a scratch directory and file helpers ---- */

typedef struct scratch {
    char dir[64];
} scratch;

static int setup_dir(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/birdie-ckfile-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    *state = s;
    return 0;
}

static int teardown_dir(void **state)
{
    scratch *s = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    int rc = system(cmd);
    free(s);
    return rc == 0 ? 0 : -1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0; /* text files can be read as strings */
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void expect_substr(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' does not contain '%s'", text, needle);
}

/* ---- the fixed checkpoint used by the golden tests ---- */

static float g_params[3] = {1.0f, -2.5f, 0.125f}, g_m[3] = {0.5f, 0.0f, -0.0f}, g_v[3] = {1e-8f, 2.0f, 3.0f};
static double g_weights[2] = {0.25, 0.75};
static uint8_t g_sched[5] = {'B', 'I', 'R', 'D', '!'};

static birdie_checkpoint golden_ckpt(void)
{
    return (birdie_checkpoint){.step = 1234,
                               .n_params = 3,
                               .params = g_params,
                               .m = g_m,
                               .v = g_v,
                               .n_arms = 2,
                               .mixture_version = 7,
                               .weights = g_weights,
                               .sched_state = g_sched,
                               .sched_len = 5,
                               .config_hash = 0x0123456789abcdefull};
}

/* Checksum of golden_ckpt's bytes, computed once outside this code base (Python, FNV-1a 64 over the
 * 121 bytes laid out as in expected_bytes below) and recorded here: it pins the layout and the hash
 * together, so a change to either is a format change that must be made on purpose. */
#define GOLDEN_SUM 0x8e3193c9fbe63389ull
#define GOLDEN_BYTES 129

static void put(uint8_t **p, const void *src, size_t n)
{
    memcpy(*p, src, n); /* the format stores values as in memory; the test runs little-endian only */
    *p += n;
}

/* The file golden_ckpt must produce: header (magic, u32 version 1, u32 reserved 0, i64 step, u64
 * n_params, config_hash, mixture_version, sched_len, i32 n_arms, i32 has_sched), params, m, v, the
 * weights, the scheduler state, then the u64 FNV-1a of everything before it. */
static size_t expected_bytes(uint8_t *out)
{
    birdie_checkpoint c = golden_ckpt();
    uint8_t *p = out;
    uint32_t version = 1, reserved = 0;
    uint64_t n_params = c.n_params, sched_len = c.sched_len;
    int32_t n_arms = c.n_arms, has_sched = 1;
    put(&p, "BIRDCKPT", 8);
    put(&p, &version, 4);
    put(&p, &reserved, 4);
    put(&p, &c.step, 8);
    put(&p, &n_params, 8);
    put(&p, &c.config_hash, 8);
    put(&p, &c.mixture_version, 8);
    put(&p, &sched_len, 8);
    put(&p, &n_arms, 4);
    put(&p, &has_sched, 4);
    put(&p, c.params, 3 * sizeof(float));
    put(&p, c.m, 3 * sizeof(float));
    put(&p, c.v, 3 * sizeof(float));
    put(&p, c.weights, 2 * sizeof(double));
    put(&p, c.sched_state, c.sched_len);
    uint64_t sum = ref_fnv1a(out, (size_t)(p - out));
    put(&p, &sum, 8);
    return (size_t)(p - out);
}

/* Writes golden_ckpt into dir; returns its path in path. */
static void write_golden(const char *dir, char *path, size_t pathlen, birdie_checkpoint_info *info)
{
    birdie_checkpoint c = golden_ckpt();
    char err[512];
    if (birdie_checkpoint_write(dir, &c, 0, info, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    snprintf(path, pathlen, "%s/ckpt_000001234.bin", dir);
}

/* ---- the checksum function ---- */

static void test_fnv1a_published_vectors(void **state)
{
    (void)state;
    /* FNV-1a 64 test vectors from the FNV reference (Fowler/Noll/Vo, test_fnv.c) */
    assert_true(birdie_fnv1a(BIRDIE_FNV_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    assert_true(birdie_fnv1a(BIRDIE_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(birdie_fnv1a(BIRDIE_FNV_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
    /* and the 32-bit variant (arm names, the corpus lexicon) */
    assert_true(birdie_fnv1a32(BIRDIE_FNV32_OFFSET, "", 0) == 0x811c9dc5u);
    assert_true(birdie_fnv1a32(BIRDIE_FNV32_OFFSET, "a", 1) == 0xe40c292cu);
    assert_true(birdie_fnv1a32(BIRDIE_FNV32_OFFSET, "foobar", 6) == 0xbf9cf968u);
    assert_true(birdie_fnv1a32(birdie_fnv1a32(BIRDIE_FNV32_OFFSET, "foo", 3), "bar", 3) == 0xbf9cf968u);
    /* continuing a hash over pieces equals hashing the whole (the writer hashes section by section) */
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131u + 7u);
    uint64_t whole = birdie_fnv1a(BIRDIE_FNV_OFFSET, buf, sizeof buf);
    assert_true(whole == ref_fnv1a(buf, sizeof buf));
    uint64_t pieces = birdie_fnv1a(BIRDIE_FNV_OFFSET, buf, 1);
    pieces = birdie_fnv1a(pieces, buf + 1, 498);
    pieces = birdie_fnv1a(pieces, buf + 499, 501);
    assert_true(pieces == whole);
}

/* ---- golden file ---- */

static void test_golden_file_bytes_and_checksum(void **state)
{
    if (!little_endian())
        skip();
    scratch *s = *state;
    char path[256];
    birdie_checkpoint_info info;
    write_golden(s->dir, path, sizeof path, &info);
    uint8_t want[GOLDEN_BYTES + 16];
    assert_int_equal(expected_bytes(want), GOLDEN_BYTES);
    size_t len;
    uint8_t *got = slurp(path, &len);
    assert_int_equal(len, GOLDEN_BYTES);
    for (size_t i = 0; i < len; i++)
        if (got[i] != want[i])
            fail_msg("byte %zu of %s is 0x%02x, the format says 0x%02x", i, path, got[i], want[i]);
    uint64_t stored;
    memcpy(&stored, got + len - 8, 8);
    assert_true(stored == GOLDEN_SUM);
    assert_true(ref_fnv1a(got, len - 8) == GOLDEN_SUM);
    /* what the coordinator is told */
    assert_string_equal(info.path, path);
    assert_int_equal(info.bytes, GOLDEN_BYTES);
    assert_string_equal(info.checksum, "8e3193c9fbe63389");
    free(got);
    /* and the manifest lists the same size and checksum */
    char mpath[256];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", s->dir);
    uint8_t *manifest = slurp(mpath, &len);
    manifest[len] = 0;
    expect_substr((char *)manifest, "\"checksum\": \"8e3193c9fbe63389\"");
    expect_substr((char *)manifest, "\"bytes\": 129");
    expect_substr((char *)manifest, "\"file\": \"ckpt_000001234.bin\"");
    expect_substr((char *)manifest, "\"step\": 1234");
    free(manifest);
}

/* ---- round trip ---- */

static void test_round_trip_is_bit_exact(void **state)
{
    scratch *s = *state;
    enum { N = 1000, ARMS = 7, SCHED = 333 };
    float *p = malloc(N * sizeof(float)), *m = malloc(N * sizeof(float)), *v = malloc(N * sizeof(float));
    double w[ARMS];
    uint8_t sched[SCHED];
    /* every bit pattern class: NaN payloads, -0, denormals, infinities, ordinary values */
    for (uint32_t i = 0; i < N; i++) {
        uint32_t a = i * 2654435761u, b = a ^ 0x7fc00001u, c = (i % 4 == 0) ? 0x80000000u : (i % 4 == 1 ? 1u : a >> 3);
        memcpy(&p[i], &a, 4);
        memcpy(&m[i], &b, 4);
        memcpy(&v[i], &c, 4);
    }
    v[5] = INFINITY;
    v[6] = -INFINITY;
    /* weights of a real mixture (they must sum to 1), each a different binary exponent */
    for (int i = 0; i < ARMS; i++)
        w[i] = ldexp(1.0, -(i + 1));
    w[ARMS - 1] *= 2;
    for (int i = 0; i < SCHED; i++)
        sched[i] = (uint8_t)(i * 37 + 11);
    birdie_checkpoint c = {.step = ((int64_t)1 << 40) + 5,
                           .n_params = N,
                           .params = p,
                           .m = m,
                           .v = v,
                           .n_arms = ARMS,
                           .mixture_version = ((uint64_t)1 << 53) - 3, /* the largest accepted, less 3 */
                           .weights = w,
                           .sched_state = sched,
                           .sched_len = SCHED,
                           .config_hash = 0xfedcba9876543210ull};
    char err[512], path[256];
    birdie_checkpoint_info info;
    if (birdie_checkpoint_write(s->dir, &c, 3, &info, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    birdie_checkpoint back;
    if (birdie_checkpoint_load_file(info.path, &back, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    assert_true(back.step == c.step && back.n_params == N && back.n_arms == ARMS);
    assert_true(back.mixture_version == c.mixture_version && back.config_hash == c.config_hash);
    assert_memory_equal(back.params, p, N * sizeof(float));
    assert_memory_equal(back.m, m, N * sizeof(float));
    assert_memory_equal(back.v, v, N * sizeof(float));
    assert_memory_equal(back.weights, w, sizeof w);
    assert_int_equal(back.sched_len, SCHED);
    assert_memory_equal(back.sched_state, sched, SCHED);
    birdie_checkpoint_free(&back);
    /* the recorded size and checksum are those of the file on disk */
    size_t len;
    uint8_t *bytes = slurp(info.path, &len);
    assert_int_equal(info.bytes, len);
    assert_int_equal(len, HEADER_BYTES + 3 * N * 4 + ARMS * 8 + SCHED + 8);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ref_fnv1a(bytes, len - 8));
    assert_string_equal(info.checksum, hex);
    free(bytes);
    /* without a scheduler state: none comes back, and the file has no room for one */
    c.sched_state = NULL;
    c.sched_len = 99; /* ignored without a state */
    c.step = 7;
    assert_int_equal(birdie_checkpoint_write(s->dir, &c, 3, &info, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/ckpt_000000007.bin", s->dir);
    assert_int_equal(birdie_checkpoint_load_file(path, &back, err, sizeof err), 0);
    assert_null(back.sched_state);
    assert_int_equal(back.sched_len, 0);
    assert_memory_equal(back.v, v, N * sizeof(float));
    birdie_checkpoint_free(&back);
    assert_int_equal(info.bytes, HEADER_BYTES + 3 * N * 4 + ARMS * 8 + 8);
    free(p);
    free(m);
    free(v);
}

/* ---- corruption ---- */

/* The header fields whose change alters the sizes the loader expects (n_params, sched_len, n_arms,
 * has_sched) may be caught as a size problem rather than by the checksum; every other byte must be caught by
 * the checksum itself, and the magic and version by their own checks. */
static const char *reason_for_offset(size_t off)
{
    if (off < 8)
        return "bad magic";
    if (off < 12)
        return "unsupported version";
    if ((off >= 24 && off < 32) || (off >= 48 && off < 64))
        return NULL; /* n_params, sched_len, n_arms, has_sched: a size reason or the checksum */
    return "checksum mismatch";
}

static void test_every_single_byte_corruption_is_refused(void **state)
{
    scratch *s = *state;
    char path[256], err[1024];
    write_golden(s->dir, path, sizeof path, NULL);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    uint8_t *bad = malloc(len);
    for (size_t off = 0; off < len; off++) {
        /* two corruptions per byte: all bits, and the lowest bit alone (the smallest change) */
        for (int k = 0; k < 2; k++) {
            memcpy(bad, orig, len);
            bad[off] ^= k == 0 ? 0xff : 0x01;
            spit(path, bad, len);
            birdie_checkpoint c;
            err[0] = 0;
            int rc = birdie_checkpoint_load_file(path, &c, err, sizeof err);
            if (rc >= 0)
                fail_msg("byte %zu ^ 0x%02x of %zu was not detected", off, k == 0 ? 0xff : 0x01, len);
            assert_null(c.params); /* nothing half-loaded is handed back */
            expect_substr(err, path);
            const char *why = reason_for_offset(off);
            if (why) {
                if (!strstr(err, why))
                    fail_msg("byte %zu: '%s' does not say '%s'", off, err, why);
            } else if (!strstr(err, "checksum mismatch") && !strstr(err, "truncated") &&
                       !strstr(err, "trailing bytes") && !strstr(err, "implausible")) {
                fail_msg("byte %zu: '%s' gives no reason", off, err);
            }
        }
    }
    /* the mismatch message carries both values, the stored one first */
    memcpy(bad, orig, len);
    bad[HEADER_BYTES] ^= 0x40;
    spit(path, bad, len);
    birdie_checkpoint c;
    assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
    char want[80];
    snprintf(want, sizeof want, "stored %016llx, computed %016llx", (unsigned long long)GOLDEN_SUM,
             (unsigned long long)ref_fnv1a(bad, len - 8));
    expect_substr(err, want);
    /* the pristine file still loads: the failures above were the corruption's */
    spit(path, orig, len);
    assert_int_equal(birdie_checkpoint_load_file(path, &c, err, sizeof err), 0);
    birdie_checkpoint_free(&c);
    free(orig);
    free(bad);
}

static void test_truncated_trailing_magic_version(void **state)
{
    scratch *s = *state;
    char path[256], err[1024];
    write_golden(s->dir, path, sizeof path, NULL);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    birdie_checkpoint c;
    /* every truncation point: inside the header it is a header problem, after it "truncated" */
    for (size_t keep = 0; keep < len; keep++) {
        spit(path, orig, keep);
        assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
        expect_substr(err, path);
        expect_substr(err, keep < HEADER_BYTES ? "truncated header" : "truncated");
    }
    /* one byte too many, or a whole second checksum */
    uint8_t *longer = malloc(len + 8);
    memcpy(longer, orig, len);
    memcpy(longer + len, orig + len - 8, 8);
    for (size_t extra = 1; extra <= 8; extra += 7) {
        spit(path, longer, len + extra);
        assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
        expect_substr(err, path);
        expect_substr(err, "trailing bytes");
    }
    /* a foreign magic, with a correct checksum over it: refused for the magic, not the checksum */
    memcpy(longer, orig, len);
    memcpy(longer, "BIRDCKPU", 8);
    uint64_t sum = ref_fnv1a(longer, len - 8);
    memcpy(longer + len - 8, &sum, 8);
    spit(path, longer, len);
    assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
    expect_substr(err, "not a birdie checkpoint");
    /* version 2 with a correct checksum: a future format is refused by name */
    memcpy(longer, orig, len);
    uint32_t v2 = 2;
    memcpy(longer + 8, &v2, 4);
    sum = ref_fnv1a(longer, len - 8);
    memcpy(longer + len - 8, &sum, 8);
    spit(path, longer, len);
    assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
    expect_substr(err, "unsupported version 2");
    /* a reserved field set with a correct checksum is still a valid version-1 file */
    memcpy(longer, orig, len);
    longer[12] = 1;
    sum = ref_fnv1a(longer, len - 8);
    memcpy(longer + len - 8, &sum, 8);
    spit(path, longer, len);
    assert_int_equal(birdie_checkpoint_load_file(path, &c, err, sizeof err), 0);
    assert_true(c.step == 1234 && c.weights[1] == 0.75);
    birdie_checkpoint_free(&c);
    /* a missing file names the file */
    snprintf(path, sizeof path, "%s/no-such.bin", s->dir);
    assert_true(birdie_checkpoint_load_file(path, &c, err, sizeof err) < 0);
    expect_substr(err, "no-such.bin");
    free(orig);
    free(longer);
}

/* ---- the manifest and resume ---- */

static void write_step(const char *dir, int64_t step, int keep, float p0, birdie_checkpoint_info *info)
{
    float p[2] = {p0, (float)step}, m[2] = {0}, v[2] = {0};
    double w[1] = {1.0};
    birdie_checkpoint c = {.step = step,
                           .n_params = 2,
                           .params = p,
                           .m = m,
                           .v = v,
                           .n_arms = 1,
                           .mixture_version = (uint64_t)step,
                           .weights = w,
                           .config_hash = 9};
    char err[512];
    if (birdie_checkpoint_write(dir, &c, keep, info, err, sizeof err) != 0)
        fail_msg("write step %lld: %s", (long long)step, err);
}

static int load_latest(const char *dir, int64_t *step, char *notes, size_t noteslen, char *err, size_t errlen)
{
    birdie_checkpoint c;
    int rc = birdie_checkpoint_load_latest(dir, &c, notes, noteslen, err, errlen);
    if (rc == 1) {
        *step = c.step;
        assert_true(c.params[1] == (float)c.step && c.mixture_version == (uint64_t)c.step);
        birdie_checkpoint_free(&c);
    }
    return rc;
}

static void replace_in_file(const char *path, const char *from, const char *to)
{
    size_t len;
    char *text = (char *)slurp(path, &len);
    text[len] = 0;
    char *at = strstr(text, from);
    if (!at)
        fail_msg("'%s' not in %s", from, path);
    size_t fl = strlen(from), tl = strlen(to);
    char *out = malloc(len - fl + tl + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, len - head - fl);
    spit(path, out, len - fl + tl);
    free(out);
    free(text);
}

static void test_resume_takes_newest_that_verifies(void **state)
{
    scratch *s = *state;
    char notes[4096], err[8192], path[256], mpath[256];
    int64_t step = -1;
    snprintf(mpath, sizeof mpath, "%s/manifest.json", s->dir);
    /* an empty directory is a fresh run, not an error */
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 0);
    /* written out of order: "newest" is the highest step, not the last written */
    birdie_checkpoint_info i30, i10, i20;
    write_step(s->dir, 30, 0, 1.0f, &i30);
    write_step(s->dir, 10, 0, 1.0f, &i10);
    write_step(s->dir, 20, 0, 1.0f, &i20);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 30);
    assert_string_equal(notes, "");

    /* the manifest's checksum for 30 differs from the file's: 30 is skipped, 20 is taken */
    char other[17];
    snprintf(other, sizeof other, "%016llx", (unsigned long long)(strtoull(i30.checksum, NULL, 16) ^ 1));
    replace_in_file(mpath, i30.checksum, other);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 20);
    expect_substr(notes, "ckpt_000000030.bin");
    expect_substr(notes, "differs from the manifest's");
    expect_substr(notes, other);

    /* 20 is listed but its file is gone: skipped with a note naming it, 10 is taken */
    snprintf(path, sizeof path, "%s/ckpt_000000020.bin", s->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 10);
    expect_substr(notes, "ckpt_000000020.bin");
    expect_substr(notes, "ckpt_000000030.bin");

    /* 10 corrupt as well: an error naming the manifest and every rejected file, never a fresh start */
    snprintf(path, sizeof path, "%s/ckpt_000000010.bin", s->dir);
    size_t len;
    uint8_t *bytes = slurp(path, &len);
    bytes[HEADER_BYTES + 1] ^= 0x10;
    spit(path, bytes, len);
    free(bytes);
    int rc = load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err);
    assert_true(rc < 0);
    expect_substr(err, "none of the 3 checkpoints");
    expect_substr(err, "manifest.json");
    expect_substr(err, "ckpt_000000010.bin: checksum mismatch");
    expect_substr(err, "ckpt_000000020.bin");
    expect_substr(err, "ckpt_000000030.bin");
    /* the same with no notes buffer */
    assert_true(load_latest(s->dir, &step, NULL, 0, err, sizeof err) < 0);
    expect_substr(err, "none of the 3 checkpoints");
}

/* A FIFO where the newest checkpoint should be, or as the manifest, is refused at once (it would block
 * open() forever); a manifest entry naming a file outside its directory is skipped with a note. */
static void test_fifos_and_outside_names_are_refused(void **state)
{
    scratch *s = *state;
    char notes[4096], err[8192], path[256], mpath[256];
    int64_t step = -1;
    birdie_checkpoint_info i10, i20;
    write_step(s->dir, 10, 0, 1.0f, &i10);
    write_step(s->dir, 20, 0, 1.0f, &i20);
    snprintf(path, sizeof path, "%s/ckpt_000000020.bin", s->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 10);
    expect_substr(notes, "ckpt_000000020.bin: not a regular file");
    /* an entry that names a file elsewhere (through ../) is not this directory's */
    snprintf(mpath, sizeof mpath, "%s/manifest.json", s->dir);
    replace_in_file(mpath, "\"ckpt_000000010.bin\"", "\"../x/ckpt_000000010.bin\"");
    assert_true(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err) < 0);
    expect_substr(err, "names '../x/ckpt_000000010.bin', not a file of");
    /* the manifest itself a FIFO */
    assert_int_equal(unlink(mpath), 0);
    assert_int_equal(mkfifo(mpath, 0600), 0);
    assert_true(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err) < 0);
    expect_substr(err, "manifest.json: not a regular file");
    assert_int_equal(unlink(mpath), 0);
    assert_int_equal(unlink(path), 0);
}

/* Through the writer with keep = 2: a corrupt newest checkpoint (one byte flipped mid-payload) is skipped
 * with a note naming it and the checksum, and the one before it is used; once that one is truncated too,
 * the error says none of the 2 checkpoints verifies and names the truncation, never a silent fresh
 * start. A directory with no manifest at all is a fresh run. */
static void test_corrupt_newest_then_all_corrupt(void **state)
{
    const char *dir = ((scratch *)*state)->dir;
    float p[5] = {1, 2, 3, 4, 5}, m[5] = {0}, v[5] = {0};
    double w[2] = {0.25, 0.75};
    char err[4096], notes[4096], path[600];
    for (int64_t step = 10; step <= 30; step += 10) {
        birdie_checkpoint ck = {.step = step,
                                .n_params = 5,
                                .params = p,
                                .m = m,
                                .v = v,
                                .n_arms = 2,
                                .mixture_version = (uint64_t)step,
                                .weights = w,
                                .config_hash = 42};
        birdie_checkpoint_info info;
        assert_int_equal(birdie_checkpoint_write(dir, &ck, 2, &info, err, sizeof err), 0);
        assert_non_null(strstr(info.path, "ckpt_0000000"));
        assert_int_equal(strlen(info.checksum), 16);
    }
    snprintf(path, sizeof path, "%s/ckpt_000000010.bin", dir);
    assert_int_not_equal(access(path, F_OK), 0); /* keep = 2 removed the oldest */
    snprintf(path, sizeof path, "%s/ckpt_000000030.bin", dir);
    /* one flipped byte in the middle of the payload (not past the end: that would test trailing bytes) */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, st.st_size / 2, SEEK_SET), 0);
    int byte = fgetc(f);
    assert_int_equal(fseek(f, st.st_size / 2, SEEK_SET), 0);
    fputc(byte ^ 0x5a, f);
    fclose(f);
    birdie_checkpoint ck;
    assert_int_equal(birdie_checkpoint_load_latest(dir, &ck, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(ck.step, 20);
    assert_non_null(strstr(notes, "ckpt_000000030.bin"));
    assert_non_null(strstr(notes, "checksum"));
    assert_true(ck.params[4] == 5.0f && ck.weights[1] == 0.75);
    birdie_checkpoint_free(&ck);
    snprintf(path, sizeof path, "%s/ckpt_000000020.bin", dir);
    assert_int_equal(truncate(path, 100), 0);
    assert_true(birdie_checkpoint_load_latest(dir, &ck, notes, sizeof notes, err, sizeof err) < 0);
    assert_non_null(strstr(err, "none of the 2 checkpoints"));
    assert_non_null(strstr(err, "truncated"));
    /* no manifest at all: a fresh run */
    assert_int_equal(birdie_checkpoint_load_latest("/nonexistent-birdie-dir", &ck, NULL, 0, err, sizeof err), 0);
}

static void test_manifest_entries_and_keep(void **state)
{
    scratch *s = *state;
    char notes[2048], err[4096], path[256], mpath[256];
    int64_t step = -1;
    snprintf(mpath, sizeof mpath, "%s/manifest.json", s->dir);
    birdie_checkpoint_info info[4];
    for (int k = 0; k < 4; k++)
        write_step(s->dir, 100 * (k + 1), 2, 1.0f, &info[k]);
    /* keep = 2: the two oldest left the manifest and the disk */
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/ckpt_%09d.bin", s->dir, 100 * (k + 1));
        assert_int_equal(access(path, F_OK) == 0, k >= 2);
    }
    size_t len;
    char *text = (char *)slurp(mpath, &len);
    text[len] = 0;
    assert_null(strstr(text, "ckpt_000000100.bin"));
    assert_null(strstr(text, "ckpt_000000200.bin"));
    expect_substr(text, info[2].checksum);
    expect_substr(text, info[3].checksum);
    free(text);
    /* rewriting a step replaces its entry (one entry, the new checksum) */
    birdie_checkpoint_info again;
    write_step(s->dir, 400, 2, 5.0f, &again);
    assert_string_not_equal(again.checksum, info[3].checksum);
    text = (char *)slurp(mpath, &len);
    text[len] = 0;
    assert_null(strstr(text, info[3].checksum));
    expect_substr(text, again.checksum);
    const char *first = strstr(text, "ckpt_000000400.bin");
    assert_non_null(first);
    assert_null(strstr(first + 1, "ckpt_000000400.bin"));
    free(text);
    birdie_checkpoint c;
    assert_int_equal(birdie_checkpoint_load_latest(s->dir, &c, notes, sizeof notes, err, sizeof err), 1);
    assert_true(c.step == 400 && c.params[0] == 5.0f);
    birdie_checkpoint_free(&c);
    /* an entry without a checksum is skipped with a note; the one before it is used */
    replace_in_file(mpath, again.checksum, "");
    replace_in_file(mpath, "\"checksum\": \"\"", "\"nochecksum\": 0");
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 300);
    expect_substr(notes, "has no file or checksum");
    /* a manifest that is not JSON (or not ours) is an error naming it, for load and for write */
    spit(mpath, "{\"checkpoints\": [", 17);
    assert_true(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err) < 0);
    expect_substr(err, "manifest.json is not a birdie manifest");
    spit(mpath, "{\"format\": 1}", 13);
    assert_true(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err) < 0);
    expect_substr(err, "not a birdie manifest");
    float p[1] = {0}, m[1] = {0}, v[1] = {0};
    birdie_checkpoint w = {.step = 500, .n_params = 1, .params = p, .m = m, .v = v};
    assert_true(birdie_checkpoint_write(s->dir, &w, 2, NULL, err, sizeof err) < 0);
    expect_substr(err, "not a birdie manifest");
}

/* A valid checksum proves the bytes are what was written, not that they make sense: a step below 0, a
 * mixture version no run reaches, or weights that are not a mixture are refused by name (one such
 * file resumed at step -5, and version 2^63 overflowed the control all-reduce). */
static void test_absurd_fields_with_a_valid_checksum_are_refused(void **state)
{
    scratch *s = *state;
    float p[2] = {1, 2}, m[2] = {0}, v[2] = {0};
    double ok[2] = {0.25, 0.75}, neg[2] = {-0.25, 1.25}, short_sum[2] = {0.25, 0.5};
    struct {
        int64_t step;
        uint64_t version;
        double *w;
        const char *named;
    } cases[] = {
        {-5, 1, ok, "step is out of range"},
        {((int64_t)1 << 50) + 1, 1, ok, "step is out of range"},
        {7, (uint64_t)1 << 63, ok, "mixture version is out of range"},
        {7, 1, neg, "not in [0, 1]"},
        {7, 1, short_sum, "do not sum to 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        birdie_checkpoint c = {.step = cases[i].step,
                               .n_params = 2,
                               .params = p,
                               .m = m,
                               .v = v,
                               .n_arms = 2,
                               .mixture_version = cases[i].version,
                               .weights = cases[i].w,
                               .config_hash = 9};
        char err[512];
        birdie_checkpoint_info info;
        if (birdie_checkpoint_write(s->dir, &c, 0, &info, err, sizeof err) != 0)
            fail_msg("write: %s", err);
        birdie_checkpoint back;
        assert_true(birdie_checkpoint_load_file(info.path, &back, err, sizeof err) < 0);
        expect_substr(err, "the checksum matches but");
        expect_substr(err, cases[i].named);
        unlink(info.path);
    }
}

/* A lost manifest.json with the checkpoint files intact: the files check themselves, so the manifest
 * is rebuilt from those that verify (and written back) and the newest is resumed, instead of a new
 * run starting over them; a corrupt file is left out and named. */
static void test_lost_manifest_is_rebuilt_from_the_files(void **state)
{
    scratch *s = *state;
    char notes[4096], err[8192], path[256];
    int64_t step = -1;
    birdie_checkpoint_info i10, i20, i30;
    write_step(s->dir, 10, 0, 1.0f, &i10);
    write_step(s->dir, 20, 0, 1.0f, &i20);
    write_step(s->dir, 30, 0, 1.0f, &i30);
    snprintf(path, sizeof path, "%s/manifest.json", s->dir);
    assert_int_equal(unlink(path), 0);
    /* the newest file is corrupt: 20 is the newest that verifies */
    size_t len;
    uint8_t *bytes = slurp(i30.path, &len);
    bytes[HEADER_BYTES + 1] ^= 0x10;
    spit(i30.path, bytes, len);
    free(bytes);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 20);
    expect_substr(notes, "manifest.json was missing: rebuilt from the 2 of 3 checkpoint files that verify");
    expect_substr(notes, "ckpt_000000030.bin");
    /* written back: the next load reads it as any manifest, with the checksums of the files */
    assert_int_equal(access(path, F_OK), 0);
    size_t mlen;
    char *manifest = (char *)slurp(path, &mlen);
    expect_substr(manifest, i10.checksum);
    expect_substr(manifest, i20.checksum);
    assert_null(strstr(manifest, "ckpt_000000030.bin"));
    free(manifest);
    assert_int_equal(load_latest(s->dir, &step, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(step, 20);
    assert_string_equal(notes, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_published_vectors),
        cmocka_unit_test_setup_teardown(test_golden_file_bytes_and_checksum, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_round_trip_is_bit_exact, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_every_single_byte_corruption_is_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_truncated_trailing_magic_version, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_fifos_and_outside_names_are_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_resume_takes_newest_that_verifies, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_corrupt_newest_then_all_corrupt, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_manifest_entries_and_keep, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_absurd_fields_with_a_valid_checksum_are_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_lost_manifest_is_rebuilt_from_the_files, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
