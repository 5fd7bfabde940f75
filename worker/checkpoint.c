/* worker/checkpoint.c: checkpoint files and their manifest (format in checkpoint.h). */
#include "worker/checkpoint.h"
#include "worker/error.h"
#include "worker/fault.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAGIC "BIRDCKPT"
#define CKPT_VERSION 1u
#define MANIFEST "manifest.json"

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, reserved;
    int64_t step;
    uint64_t n_params, config_hash, mixture_version, sched_len;
    int32_t n_arms, has_sched;
} ckpt_header;

/* ---- writing ---- */

typedef struct hashed_writer {
    FILE *f;
    uint64_t hash;
    uint64_t bytes;
    int failed;
} hashed_writer;

static void hw_write(hashed_writer *w, const void *data, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(data, 1, n, w->f) != n)
        w->failed = errno ? errno : EIO;
    w->hash = birdie_fnv1a(w->hash, data, n);
    w->bytes += n;
}

/* Flushes, fsyncs and closes f, then renames tmp over path and fsyncs the directory. */
static int commit_file(FILE *f, const char *tmp, const char *path, const char *dir, char *err, size_t errlen)
{
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (rc == 0 && birdie_fault_fire(BIRDIE_FAULT_FAIL_FSYNC, -1))
        rc = -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && birdie_fault_fire(BIRDIE_FAULT_KILL_BEFORE_RENAME, -1))
        birdie_fault_kill();
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "checkpoint: writing %s: %s", path, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { /* the rename itself must survive a crash */
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int write_ckpt_file(const char *dir, const char *name, const birdie_checkpoint *c, uint64_t *bytes,
                           uint64_t *hash, char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "checkpoint: cannot create %s: %s", tmp, strerror(errno));
        return -errno;
    }
    ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.step = c->step;
    h.n_params = c->n_params;
    h.config_hash = c->config_hash;
    h.mixture_version = c->mixture_version;
    h.sched_len = c->sched_state ? c->sched_len : 0;
    h.n_arms = c->n_arms;
    h.has_sched = c->sched_state != NULL;
    hashed_writer w = {f, BIRDIE_FNV_OFFSET, 0, 0};
    errno = 0;
    hw_write(&w, &h, sizeof h);
    hw_write(&w, c->params, c->n_params * sizeof(float));
    hw_write(&w, c->m, c->n_params * sizeof(float));
    hw_write(&w, c->v, c->n_params * sizeof(float));
    hw_write(&w, c->weights, (size_t)c->n_arms * sizeof(double));
    if (c->sched_state)
        hw_write(&w, c->sched_state, c->sched_len);
    uint64_t sum = w.hash;
    if (!w.failed && fwrite(&sum, sizeof sum, 1, f) != 1)
        w.failed = errno ? errno : EIO;
    if (w.failed) {
        fclose(f);
        unlink(tmp);
        snprintf(err, errlen, "checkpoint: writing %s: %s", tmp, strerror(w.failed));
        return -w.failed;
    }
    *bytes = w.bytes + sizeof sum;
    *hash = sum;
    return commit_file(f, tmp, path, dir, err, errlen);
}

/* Opens path for reading only if it is a regular file: a FIFO (or a device) named by a manifest or put
 * where a checkpoint should be would otherwise block open() or read() forever. NULL with errno set
 * (EINVAL for a file that is not regular). */
static FILE *open_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) != 0) {
        int e = S_ISREG(st.st_mode) ? errno : EINVAL;
        close(fd);
        errno = e;
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f)
        close(fd);
    return f;
}

/* ---- the manifest ---- */

/* The manifest's entries (an empty array when there is no manifest); NULL with err on a broken one. */
static json_t *read_manifest(const char *dir, int *exists, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    *exists = access(path, F_OK) == 0;
    if (!*exists)
        return json_array();
    json_error_t je;
    FILE *f = open_regular(path);
    if (!f) {
        snprintf(err, errlen, "checkpoint: %s: %s", path, errno == EINVAL ? "not a regular file" : strerror(errno));
        return NULL;
    }
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    json_t *list = root ? json_object_get(root, "checkpoints") : NULL;
    if (!root || !json_is_array(list)) {
        snprintf(err, errlen, "checkpoint: %s is not a birdie manifest%s%s", path, root ? "" : ": ",
                 root ? "" : je.text);
        json_decref(root);
        return NULL;
    }
    json_incref(list);
    json_decref(root);
    return list;
}

static int write_manifest(const char *dir, json_t *list, char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, MANIFEST);
    json_t *root = json_pack("{s:i, s:O}", "format", 1, "checkpoints", list);
    FILE *f = root ? fopen(tmp, "w") : NULL;
    if (!f || json_dumpf(root, f, JSON_INDENT(2)) != 0) {
        snprintf(err, errlen, "checkpoint: cannot write %s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        json_decref(root);
        return -EIO;
    }
    json_decref(root);
    return commit_file(f, tmp, path, dir, err, errlen);
}

int birdie_checkpoint_write(const char *dir, const birdie_checkpoint *ckpt, int keep, birdie_checkpoint_info *info,
                            char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "checkpoint: cannot create directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    int exists, rc;
    json_t *list = read_manifest(dir, &exists, err, errlen);
    if (!list)
        return -EINVAL;
    char name[64];
    snprintf(name, sizeof name, "ckpt_%09lld.bin", (long long)ckpt->step);
    uint64_t bytes = 0, hash = 0;
    if ((rc = write_ckpt_file(dir, name, ckpt, &bytes, &hash, err, errlen)) < 0) {
        json_decref(list);
        return rc;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    /* replace an entry of the same step, keep the list sorted by step */
    size_t i = 0;
    while (i < json_array_size(list) &&
           json_integer_value(json_object_get(json_array_get(list, i), "step")) < ckpt->step)
        i++;
    json_t *entry = json_pack("{s:I, s:s, s:I, s:s}", "step", (json_int_t)ckpt->step, "file", name, "bytes",
                              (json_int_t)bytes, "checksum", hex);
    if (i < json_array_size(list) && json_integer_value(json_object_get(json_array_get(list, i), "step")) == ckpt->step)
        json_array_set_new(list, i, entry);
    else
        json_array_insert_new(list, i, entry);
    /* the oldest beyond `keep` leave the manifest first, then the disk */
    char doomed[64][64];
    int n_doomed = 0;
    while (keep > 0 && json_array_size(list) > (size_t)keep) {
        const char *old = json_string_value(json_object_get(json_array_get(list, 0), "file"));
        if (old && n_doomed < 64)
            snprintf(doomed[n_doomed++], sizeof doomed[0], "%s", old);
        json_array_remove(list, 0);
    }
    rc = write_manifest(dir, list, err, errlen);
    json_decref(list);
    if (rc == 0 && info) {
        snprintf(info->path, sizeof info->path, "%s/%s", dir, name);
        info->bytes = bytes;
        memcpy(info->checksum, hex, sizeof info->checksum);
    }
    for (int d = 0; rc == 0 && d < n_doomed; d++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, doomed[d]);
        unlink(path);
    }
    return rc;
}

/* ---- loading ---- */

static int read_hashed(FILE *f, void *dst, size_t n, uint64_t *hash)
{
    if (n && fread(dst, 1, n, f) != n)
        return -1;
    *hash = birdie_fnv1a(*hash, dst, n);
    return 0;
}

/* Loads and verifies path; *sum gets the file's checksum (what a manifest records). */
/* A checksum proves the file is what was written, not that what was written makes sense: a step or
 * version no run reaches, or a mixture that is not one, is refused rather than resumed. */
static const char *header_fault(const ckpt_header *h, const birdie_checkpoint *c)
{
    if (h->step < 0 || h->step > ((int64_t)1 << 50))
        return "its step is out of range [0, 2^50]";
    if (h->mixture_version > ((uint64_t)1 << 53))
        return "its mixture version is out of range [0, 2^53]";
    if (h->has_sched != 0 && h->has_sched != 1)
        return "its scheduler flag is neither 0 nor 1";
    double total = 0;
    for (int a = 0; a < c->n_arms; a++) {
        if (!(c->weights[a] >= 0 && c->weights[a] <= 1))
            return "a mixture weight is not in [0, 1]";
        total += c->weights[a];
    }
    if (c->n_arms > 0 && fabs(total - 1.0) > 1e-6)
        return "its mixture weights do not sum to 1";
    return NULL;
}

static int load_verified(const char *path, birdie_checkpoint *c, uint64_t *sum, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    FILE *f = open_regular(path);
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, e == EINVAL ? "not a regular file" : strerror(e));
        return -e;
    }
    ckpt_header h;
    uint64_t hash = BIRDIE_FNV_OFFSET, stored;
    int rc = -EBADMSG;
    if (read_hashed(f, &h, sizeof h, &hash) < 0 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a birdie checkpoint (bad magic or truncated header)", path);
        goto fail;
    }
    if (h.version != CKPT_VERSION || h.n_arms < 0 || h.n_params > ((uint64_t)1 << 40) || h.n_arms > 1 << 20 ||
        h.sched_len > ((uint64_t)1 << 34)) {
        snprintf(err, errlen, "%s: unsupported version %u or implausible sizes", path, h.version);
        goto fail;
    }
    /* The sizes are not verified yet: compare them with the file before allocating anything, or one
     * flipped bit in n_params asks malloc for terabytes. */
    uint64_t declared = sizeof h + 3 * h.n_params * sizeof(float) + (uint64_t)h.n_arms * sizeof(double) +
                        (h.has_sched ? h.sched_len : 0) + sizeof stored;
    struct stat st = {0};
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size < declared) {
        snprintf(err, errlen, "%s: truncated (the header declares %llu bytes, the file has %lld)", path,
                 (unsigned long long)declared, (long long)st.st_size);
        goto fail;
    }
    if ((uint64_t)st.st_size > declared) {
        snprintf(err, errlen,
                 "%s: trailing bytes after the checksum (the header declares %llu bytes, the file has "
                 "%lld)",
                 path, (unsigned long long)declared, (long long)st.st_size);
        goto fail;
    }
    c->step = h.step;
    c->n_params = (size_t)h.n_params;
    c->config_hash = h.config_hash;
    c->mixture_version = h.mixture_version;
    c->n_arms = h.n_arms;
    c->params = malloc(c->n_params * sizeof(float) + 1);
    c->m = malloc(c->n_params * sizeof(float) + 1);
    c->v = malloc(c->n_params * sizeof(float) + 1);
    c->weights = malloc((size_t)c->n_arms * sizeof(double) + 1);
    if (h.has_sched) {
        c->sched_len = (size_t)h.sched_len;
        c->sched_state = malloc(c->sched_len + 1);
    }
    if (!c->params || !c->m || !c->v || !c->weights || (h.has_sched && !c->sched_state)) {
        snprintf(err, errlen, "%s: out of memory for %zu parameters", path, c->n_params);
        rc = -ENOMEM;
        goto fail;
    }
    if (read_hashed(f, c->params, c->n_params * sizeof(float), &hash) < 0 ||
        read_hashed(f, c->m, c->n_params * sizeof(float), &hash) < 0 ||
        read_hashed(f, c->v, c->n_params * sizeof(float), &hash) < 0 ||
        read_hashed(f, c->weights, (size_t)c->n_arms * sizeof(double), &hash) < 0 ||
        (h.has_sched && read_hashed(f, c->sched_state, c->sched_len, &hash) < 0) ||
        fread(&stored, sizeof stored, 1, f) != 1) {
        snprintf(err, errlen, "%s: truncated", path);
        goto fail;
    }
    if (fgetc(f) != EOF) {
        snprintf(err, errlen, "%s: trailing bytes after the checksum", path);
        goto fail;
    }
    if (stored != hash) {
        snprintf(err, errlen, "%s: checksum mismatch (stored %016llx, computed %016llx)", path,
                 (unsigned long long)stored, (unsigned long long)hash);
        goto fail;
    }
    const char *fault = header_fault(&h, c);
    if (fault) {
        snprintf(err, errlen, "%s: the checksum matches but %s", path, fault);
        goto fail;
    }
    fclose(f);
    *sum = stored;
    return 0;
fail:
    fclose(f);
    birdie_checkpoint_free(c);
    return rc;
}

int birdie_checkpoint_load_file(const char *path, birdie_checkpoint *ckpt, char *err, size_t errlen)
{
    uint64_t sum;
    return load_verified(path, ckpt, &sum, err, errlen);
}

static int by_step(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* A directory whose manifest is lost but whose checkpoint files are intact: every file checks itself
 * (its own checksum), so the manifest is rebuilt from the files that verify and written back, rather
 * than starting a new run over them. Files that do not verify are left alone and named in notes. */
static json_t *rebuild_manifest(const char *dir, char *notes, size_t noteslen, size_t *used, char *err, size_t errlen)
{
    json_t *list = json_array();
    DIR *d = opendir(dir);
    if (!list || !d) {
        if (d)
            closedir(d);
        return list;
    }
    long long steps[4096];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < sizeof steps / sizeof steps[0];) {
        long long step;
        char tail;
        if (strlen(e->d_name) == 18 && sscanf(e->d_name, "ckpt_%9lld.bi%c", &step, &tail) == 2 && tail == 'n')
            steps[n++] = step;
    }
    closedir(d);
    if (n == 0)
        return list;
    qsort(steps, n, sizeof steps[0], by_step);
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64], path[4200], msg[4600], hex[17];
        snprintf(name, sizeof name, "ckpt_%09lld.bin", steps[i]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        birdie_checkpoint c;
        uint64_t sum;
        struct stat st;
        if (load_verified(path, &c, &sum, msg, sizeof msg) < 0 || stat(path, &st) != 0) {
            if (notes && *used < noteslen)
                *used += (size_t)snprintf(notes + *used, noteslen - *used, "%snot listed: %s", *used ? "; " : "", msg);
            continue;
        }
        birdie_checkpoint_free(&c);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sum);
        json_array_append_new(list, json_pack("{s:I, s:s, s:I, s:s}", "step", (json_int_t)steps[i], "file", name,
                                              "bytes", (json_int_t)st.st_size, "checksum", hex));
        good++;
    }
    if (good && write_manifest(dir, list, err, errlen) < 0) {
        json_decref(list);
        return NULL;
    }
    if (notes && *used < noteslen)
        *used += (size_t)snprintf(notes + *used, noteslen - *used,
                                  "%s%s was missing: rebuilt from the %zu of %zu checkpoint files that verify",
                                  *used ? "; " : "", MANIFEST, good, n);
    return list;
}

int birdie_checkpoint_load_latest(const char *dir, birdie_checkpoint *ckpt, char *notes, size_t noteslen, char *err,
                                  size_t errlen)
{
    int exists;
    size_t used = 0;
    if (notes && noteslen)
        notes[0] = '\0';
    json_t *list = read_manifest(dir, &exists, err, errlen);
    if (list && !exists) {
        json_decref(list);
        list = rebuild_manifest(dir, notes, noteslen, &used, err, errlen);
    }
    if (!list)
        return -EINVAL;
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *e = json_array_get(list, i);
        const char *file = json_string_value(json_object_get(e, "file"));
        const char *sum = json_string_value(json_object_get(e, "checksum"));
        char path[4200], msg[4600];
        snprintf(path, sizeof path, "%s/%s", dir, file ? file : "(no file)");
        uint64_t stored = 0;
        /* the manifest names files of its own directory: a path elsewhere is not this run's */
        int inside = file && file[0] && file[0] != '.' && !strchr(file, '/');
        int rc = file && sum && inside ? load_verified(path, ckpt, &stored, msg, sizeof msg) : -EINVAL;
        if (rc == 0) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)stored);
            if (strcmp(hex, sum) == 0) {
                json_decref(list);
                return 1;
            }
            snprintf(msg, sizeof msg, "%s: checksum %s differs from the manifest's %s", path, hex, sum);
            birdie_checkpoint_free(ckpt);
        } else if (!file || !sum) {
            snprintf(msg, sizeof msg, "manifest entry %zu has no file or checksum", i);
        } else if (!inside) {
            snprintf(msg, sizeof msg, "manifest entry %zu names '%s', not a file of %s", i, file, dir);
        }
        if (notes && used < noteslen)
            used += (size_t)snprintf(notes + used, noteslen - used, "%sskipped %s", used ? "; " : "", msg);
    }
    size_t n = json_array_size(list);
    json_decref(list);
    if (n == 0)
        return 0;
    return birdie_fail(err, errlen, -EBADMSG, "checkpoint: none of the %zu checkpoints in %s/%s verifies (%s)", n, dir,
                       MANIFEST, notes ? notes : "");
}

void birdie_checkpoint_free(birdie_checkpoint *c)
{
    free(c->params);
    free(c->m);
    free(c->v);
    free(c->weights);
    free(c->sched_state);
    memset(c, 0, sizeof *c);
}
