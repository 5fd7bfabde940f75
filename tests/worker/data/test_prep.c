/* tests/worker/data/test_prep.c: `birdied prep` turns text and JSONL files into shards that read back to
 * the original bytes, splits train/validation and shard sizes as documented, and reports bad
 * input with file and line (or offset) and a non-zero exit code, writing nothing. */
#include <dirent.h>
#include <fcntl.h>
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

#include "tests/worker/data/data_test_util.h"
#include "worker/data/prep.h"
#include "worker/data/shard.h"
#include "worker/vocab.h"

typedef struct prep_run {
    int rc;
    char *out, *err; /* what it printed */
} prep_run;

static void free_run(prep_run *r)
{
    free(r->out), free(r->err);
}

/* Runs birdie_prep_main on a NULL-terminated argument list with stdout and stderr captured into
 * files of dir (so the summary does not mix with the TAP stream). */
static prep_run run_prep(const char *dir, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, dir);
    argv[argc++] = "prep";
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    char *out_path = test_path(dir, "captured_stdout"), *err_path = test_path(dir, "captured_stderr");
    fflush(stdout), fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved_out >= 0 && saved_err >= 0 && out_fd >= 0 && err_fd >= 0);
    dup2(out_fd, 1), dup2(err_fd, 2);
    prep_run r = {.rc = birdie_prep_main(argc, argv)};
    fflush(stdout), fflush(stderr);
    dup2(saved_out, 1), dup2(saved_err, 2);
    close(saved_out), close(saved_err), close(out_fd), close(err_fd);
    size_t n;
    r.out = test_read_file(out_path, &n);
    r.err = test_read_file(err_path, &n);
    unlink(out_path), unlink(err_path);
    free(out_path), free(err_path);
    return r;
}

/* The token stream of documents: each one's bytes then EOS. */
typedef struct stream {
    uint16_t *t;
    size_t n;
} stream;

static stream docs_stream(const char *const *docs, const size_t *lens, int ndocs)
{
    stream s = {malloc(4096 * sizeof(uint16_t)), 0};
    for (int d = 0; d < ndocs; d++) {
        for (size_t i = 0; i < lens[d]; i++)
            s.t[s.n++] = (uint8_t)docs[d][i];
        s.t[s.n++] = BIRDIE_EOS;
        assert_true(s.n < 4096);
    }
    return s;
}

/* Concatenates dir/split_000000.bin, _000001, ... (validated by the reader) and checks each holds
 * at most max_tokens; returns the number of files. */
static int read_split(const char *dir, const char *split, size_t max_tokens, stream *out)
{
    out->t = malloc(4096 * sizeof(uint16_t));
    out->n = 0;
    int files = 0;
    for (;; files++) {
        char name[64], err[512];
        snprintf(name, sizeof name, "%s_%06d.bin", split, files);
        char *path = test_path(dir, name);
        birdie_shard sh;
        int rc = access(path, F_OK) == 0 ? birdie_shard_open(&sh, path, err, sizeof err) : -1;
        free(path);
        if (rc != 0)
            break;
        assert_true(sh.count >= 1 && sh.count <= max_tokens);
        assert_true(out->n + sh.count < 4096);
        memcpy(out->t + out->n, sh.tokens, sh.count * sizeof(uint16_t));
        out->n += sh.count;
        birdie_shard_close(&sh);
    }
    return files;
}

static void expect_stream(const stream *got, const stream *want)
{
    assert_int_equal(got->n, want->n);
    assert_memory_equal(got->t, want->t, want->n * sizeof(uint16_t));
}

static int count_bin_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".bin") != NULL;
    closedir(d);
    return n;
}

static void test_text_and_jsonl(void **state)
{
    const char *dir = *state;
    static const char text[] = "A text file.\nWith lines, caf\xc3\xa9 and a raw \xff byte.\n";
    char *txt = test_path(dir, "a.txt"), *jsonl = test_path(dir, "b.jsonl"), *out = test_path(dir, "out");
    test_write_file(txt, text, sizeof text - 1);
    static const char lines[] = "{\"text\": \"first doc\"}\n"
                                "\n"
                                "{\"id\": 2, \"text\": \"second \\\"quoted\\\"\\nline\"}\n"
                                "{\"text\": \"\"}\n"
                                "{\"text\": \"unicode \\u00e9 \\ud83d\\ude00\"}"; /* no final newline */
    test_write_file(jsonl, lines, sizeof lines - 1);
    prep_run r = run_prep(dir, "--out", out, txt, jsonl, NULL);
    if (r.rc != 0)
        fail_msg("prep failed: %s", r.err);
    assert_non_null(strstr(r.out, "4 documents"));
    assert_non_null(strstr(r.out, "1 empty"));
    const char *docs[] = {text, "first doc", "second \"quoted\"\nline", "unicode \xc3\xa9 \xf0\x9f\x98\x80"};
    size_t lens[] = {sizeof text - 1, strlen(docs[1]), strlen(docs[2]), strlen(docs[3])};
    /* 0.01 of 4 documents rounds down to none: the last document becomes validation anyway. */
    stream want_train = docs_stream(docs, lens, 3), want_val = docs_stream(docs + 3, lens + 3, 1);
    stream got_train, got_val;
    assert_int_equal(read_split(out, "train", 100000000, &got_train), 1);
    assert_int_equal(read_split(out, "val", 100000000, &got_val), 1);
    expect_stream(&got_train, &want_train);
    expect_stream(&got_val, &want_val);
    /* A second run into the same directory refuses to mix with the shards already there. */
    prep_run again = run_prep(dir, "--out", out, txt, NULL);
    assert_int_equal(again.rc, 2); /* the --out flag names an unusable directory: usage */
    assert_non_null(strstr(again.err, "already holds shards"));
    free_run(&again);
    free(want_train.t), free(want_val.t), free(got_train.t), free(got_val.t);
    free_run(&r);
    free(txt), free(jsonl), free(out);
}

static void test_shard_size_and_val_fraction(void **state)
{
    const char *dir = *state;
    const char *docs[] = {"alpha", "bravo charlie", "d", "echo foxtrot golf", "hotel"};
    size_t lens[5];
    char *paths[5];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "doc%d.txt", i);
        paths[i] = test_path(dir, name);
        lens[i] = strlen(docs[i]);
        test_write_file(paths[i], docs[i], lens[i]);
    }
    char *out = test_path(dir, "shards");
    prep_run r = run_prep(dir, paths[0], paths[1], "--shard-tokens", "7", paths[2], "--val-fraction=0.4", paths[3],
                          paths[4], "--out", out, NULL);
    if (r.rc != 0)
        fail_msg("prep failed: %s", r.err);
    stream want_train = docs_stream(docs, lens, 3), want_val = docs_stream(docs + 3, lens + 3, 2);
    stream got_train, got_val;
    int train_files = read_split(out, "train", 7, &got_train);
    int val_files = read_split(out, "val", 7, &got_val);
    assert_int_equal(train_files, (int)((want_train.n + 6) / 7));
    assert_int_equal(val_files, (int)((want_val.n + 6) / 7));
    expect_stream(&got_train, &want_train);
    expect_stream(&got_val, &want_val);
    assert_int_equal(count_bin_files(out), train_files + val_files);
    free(want_train.t), free(want_val.t), free(got_train.t), free(got_val.t);
    free_run(&r);
    /* --val-fraction 0: everything is training data. */
    char *out0 = test_path(dir, "noval");
    r = run_prep(dir, "--val-fraction", "0", "--out", out0, paths[0], paths[1], NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_bin_files(out0), 1);
    free_run(&r);
    for (int i = 0; i < 5; i++)
        free(paths[i]);
    free(out), free(out0);
}

/* Runs prep on one input that must be rejected: exit code 3 (data), the message holds `what`, and no
 * shard was written. */
static void expect_input_error(const char *dir, const char *name, const char *content, size_t n, const char *what)
{
    char *input = test_path(dir, name), *out = test_path(dir, "err_out");
    if (content)
        test_write_file(input, content, n);
    prep_run r = run_prep(dir, "--out", out, input, NULL);
    if (r.rc != 3 || !strstr(r.err, what))
        fail_msg("%s: rc %d, stderr '%s', want '%s'", name, r.rc, r.err, what);
    assert_int_equal(count_bin_files(out), 0);
    free_run(&r);
    free(input), free(out);
}

static void test_bad_input(void **state)
{
    const char *dir = *state;
    static const char bad_json[] = "{\"text\": \"ok\"}\n{\"text\": \"ok too\"}\n{\"text\": \"broken}\n";
    expect_input_error(dir, "bad.jsonl", bad_json, sizeof bad_json - 1, "bad.jsonl:3: invalid JSON");
    static const char no_key[] = "{\"text\": \"ok\"}\n{\"body\": \"no text here\"}\n";
    expect_input_error(dir, "nokey.jsonl", no_key, sizeof no_key - 1, "nokey.jsonl:2: missing the \"text\" key");
    static const char not_string[] = "{\"text\": 42}\n";
    expect_input_error(dir, "num.jsonl", not_string, sizeof not_string - 1, "num.jsonl:1: \"text\" is an integer");
    static const char not_object[] = "[\"text\"]\n";
    expect_input_error(dir, "arr.jsonl", not_object, sizeof not_object - 1, "arr.jsonl:1: expected an object");
    static const char nul_json[] = "\n\n{\"text\": \"ab\\u0000c\"}\n";
    expect_input_error(dir, "nul.jsonl", nul_json, sizeof nul_json - 1,
                       "nul.jsonl:3: \"text\" contains byte 0 at offset 2");
    static const char nul_text[] = "hello\0world";
    expect_input_error(dir, "zero.txt", nul_text, sizeof nul_text - 1, "zero.txt: byte 0 at offset 5");
    expect_input_error(dir, "absent.txt", NULL, 0, "absent.txt: cannot open");
    expect_input_error(dir, "empty.txt", "", 0, "no documents");
    /* a directory and a FIFO are not documents; a FIFO must not block prep waiting for a writer */
    char *sub = test_path(dir, "a_dir"), *fifo = test_path(dir, "a_fifo");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_input_error(dir, "a_dir", NULL, 0, "a_dir: not a regular file (a directory)");
    expect_input_error(dir, "a_fifo", NULL, 0, "a_fifo: not a regular file");
    free(sub), free(fifo);
}

static void test_usage_errors(void **state)
{
    const char *dir = *state;
    char *txt = test_path(dir, "u.txt");
    test_write_file(txt, "x", 1);
    const char *cases[][3] = {
        {"--val-fraction", "1.5", "--val-fraction"},  {"--val-fraction", "nan", "--val-fraction"},
        {"--shard-tokens", "0", "--shard-tokens"},    {"--shard-tokens", "12abc", "--shard-tokens"},
        {"--bogus", "1", "unknown option '--bogus'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prep_run r = run_prep(dir, cases[i][0], cases[i][1], txt, NULL);
        if (r.rc != BIRDIE_PREP_USAGE || !strstr(r.err, cases[i][2]) || !strstr(r.err, "usage"))
            fail_msg("%s %s: rc %d, stderr '%s'", cases[i][0], cases[i][1], r.rc, r.err);
        free_run(&r);
    }
    prep_run r = run_prep(dir, NULL);
    assert_int_equal(r.rc, BIRDIE_PREP_USAGE);
    assert_non_null(strstr(r.err, "no input FILE"));
    free_run(&r);
    r = run_prep(dir, "--out", NULL);
    assert_int_equal(r.rc, BIRDIE_PREP_USAGE);
    free_run(&r);
    /* an --out that cannot be created is the flag's fault: usage, not data */
    r = run_prep(dir, "--out", "/proc/birdie-no-such-dir/out", txt, NULL);
    assert_int_equal(r.rc, BIRDIE_PREP_USAGE);
    assert_non_null(strstr(r.err, "cannot create the directory"));
    free_run(&r);
    r = run_prep(dir, "--help", NULL);
    assert_int_equal(r.rc, BIRDIE_PREP_OK);
    assert_non_null(strstr(r.out, "usage: birdied prep"));
    free_run(&r);
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_and_jsonl, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_shard_size_and_val_fraction, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_bad_input, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_usage_errors, test_setup_tmpdir, test_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
