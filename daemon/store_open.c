/* store_open: opening, migrating and closing the store; selecting or creating the run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/migrations.h"
#include "daemon/store_internal.h"
#include "worker/error.h"

int store_known_version(void)
{
    return birdie_migration_count;
}

int store_prepare(birdie_store *s, const char *sql, sqlite3_stmt **st, const char *what, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
        *st = NULL;
        return -EIO;
    }
    return 0;
}

int store_step_done(birdie_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    int out = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
        out = -EIO;
    }
    sqlite3_finalize(st);
    return out;
}

int store_exec(birdie_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

void store_bind_real(sqlite3_stmt *st, int idx, double v)
{
    if (v != v)
        sqlite3_bind_null(st, idx);
    else
        sqlite3_bind_double(st, idx, v);
}

void store_bind_text_or_null(sqlite3_stmt *st, int idx, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, idx);
}

static int pragma_int(birdie_store *s, const char *sql, int64_t *value, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, sql, err, errlen);
    if (rc)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -EIO;
    }
    *value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int store_user_version(birdie_store *s, int *version, char *err, size_t errlen)
{
    int64_t v = 0;
    int rc = pragma_int(s, "PRAGMA user_version", &v, err, errlen);
    if (rc == 0)
        *version = (int)v;
    return rc;
}

/* Refuses files that are not birdie databases, or newer than this binary. */
static int check_identity(birdie_store *s, const char *path, int64_t *version, char *err, size_t errlen)
{
    int64_t app_id = 0, n_objects = 0;
    int rc = pragma_int(s, "PRAGMA user_version", version, err, errlen);
    if (rc == 0)
        rc = pragma_int(s, "PRAGMA application_id", &app_id, err, errlen);
    if (rc == 0)
        rc = pragma_int(s, "SELECT count(*) FROM sqlite_master", &n_objects, err, errlen);
    if (rc)
        return rc;
    if (app_id != 0 && app_id != STORE_APPLICATION_ID)
        return birdie_fail(err, errlen, -EINVAL, "%s is not a birdie database (application_id 0x%08" PRIx64 ")", path,
                           app_id);
    if (*version == 0 && n_objects > 0)
        return birdie_fail(err, errlen, -EINVAL, "%s holds tables but no birdie schema version; refusing to touch it",
                           path);
    if (*version > birdie_migration_count)
        return birdie_fail(err, errlen, -EPROTO,
                           "%s has schema version %" PRId64
                           ", newer than this binary's %d; use a newer birdie to open it",
                           path, *version, birdie_migration_count);
    return 0;
}

static int migrate(birdie_store *s, int64_t from, char *err, size_t errlen)
{
    for (int64_t v = from; v < birdie_migration_count; v++) {
        char what[64], bump[96];
        snprintf(what, sizeof(what), "migration %04" PRId64, v + 1);
        int rc = store_exec(s, "BEGIN IMMEDIATE", what, err, errlen);
        if (rc)
            return rc;
        /* Re-read inside the write lock: another process may have migrated meanwhile. */
        int64_t now_version = 0;
        rc = pragma_int(s, "PRAGMA user_version", &now_version, err, errlen);
        if (rc == 0 && now_version != v) {
            store_exec(s, "ROLLBACK", what, err, errlen);
            if (now_version > v) {
                v = now_version - 1;
                continue;
            }
            return birdie_fail(err, errlen, -EIO, "%s: schema version went back to %" PRId64, what, now_version);
        }
        snprintf(bump, sizeof(bump), "PRAGMA user_version=%" PRId64 "; PRAGMA application_id=%d;", v + 1,
                 STORE_APPLICATION_ID);
        if (rc == 0)
            rc = store_exec(s, birdie_migrations[v], what, err, errlen);
        if (rc == 0)
            rc = store_exec(s, bump, what, err, errlen);
        if (rc == 0)
            rc = store_exec(s, "COMMIT", what, err, errlen);
        if (rc) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

static int set_wal(birdie_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, "PRAGMA journal_mode=WAL", &st, "PRAGMA journal_mode=WAL", err, errlen);
    if (rc)
        return rc;
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!ok)
        return birdie_fail(err, errlen, -EIO, "cannot switch the database to WAL mode (a network filesystem?)");
    return 0;
}

int birdie_store_open(const char *path, int read_only, birdie_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path)
        return birdie_fail(err, errlen, -EINVAL, "empty database path");
    birdie_store *s = calloc(1, sizeof(*s));
    if (!s)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    s->read_only = read_only;
    int flags = SQLITE_OPEN_FULLMUTEX | (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = 0;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = -EIO;
    }
    int64_t version = 0;
    if (rc == 0) {
        sqlite3_busy_handler(s->db, store_busy_retry, s);
        rc = check_identity(s, path, &version, err, errlen);
    }
    if (rc == 0 && read_only && version == 0) {
        snprintf(err, errlen, "%s is empty (no birdie schema)", path);
        rc = -EINVAL;
    }
    if (rc == 0 && !read_only) {
        rc = set_wal(s, err, errlen);
        if (rc == 0)
            rc = store_exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "pragmas", err, errlen);
        if (rc == 0)
            rc = migrate(s, version, err, errlen);
    }
    if (rc == 0 && read_only)
        rc = store_exec(s, "PRAGMA query_only=ON", "pragmas", err, errlen);
    s->schema_version = read_only ? (int)version : birdie_migration_count;
    if (rc) {
        birdie_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void free_arms(birdie_store *s)
{
    for (int i = 0; i < s->n_arms; i++)
        free(s->arm_names[i]);
    free(s->arm_names);
    s->arm_names = NULL;
    s->n_arms = 0;
}

void birdie_store_close(birdie_store *s)
{
    if (!s)
        return;
    free_arms(s);
    sqlite3_close_v2(s->db);
    free(s);
}

const char *store_arm_name(const birdie_store *s, int arm_index)
{
    return arm_index >= 0 && arm_index < s->n_arms ? s->arm_names[arm_index] : "?";
}

/* Loads the arm list (names and classes) of run_id; classes are returned only for comparison. */
static int load_arms(birdie_store *s, int64_t run_id, char ***classes_out, char *err, size_t errlen)
{
    free_arms(s);
    sqlite3_stmt *st;
    int rc = store_prepare(s, "SELECT name, class FROM arms WHERE run_id = ? ORDER BY arm_index", &st, "reading arms",
                           err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    int cap = 0;
    char **classes = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (s->n_arms == cap) {
            cap = cap ? 2 * cap : 16;
            char **names = realloc(s->arm_names, (size_t)cap * sizeof(char *));
            if (names)
                s->arm_names = names;
            char **cls = realloc(classes, (size_t)cap * sizeof(char *));
            if (cls)
                classes = cls;
            if (!names || !cls)
                break;
        }
        s->arm_names[s->n_arms] = strdup((const char *)sqlite3_column_text(st, 0));
        classes[s->n_arms] = strdup((const char *)sqlite3_column_text(st, 1));
        s->n_arms++;
    }
    sqlite3_finalize(st);
    int ok = rc == SQLITE_DONE;
    for (int i = 0; ok && i < s->n_arms; i++)
        ok = s->arm_names[i] && classes[i];
    if (!ok || !classes_out) {
        for (int i = 0; classes && i < s->n_arms; i++)
            free(classes[i]);
        free(classes);
        classes = NULL;
    }
    if (!ok) {
        free_arms(s);
        return birdie_fail(err, errlen, -EIO, "reading arms of run %" PRId64 ": %s", run_id,
                           rc == SQLITE_DONE ? "out of memory" : sqlite3_errmsg(s->db));
    }
    if (classes_out)
        *classes_out = classes;
    return 0;
}

static int find_run(birdie_store *s, const char *name, int64_t *run_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    const char *sql = name ? "SELECT run_id FROM runs WHERE name = ?"
                           : "SELECT run_id FROM runs ORDER BY created_unix_ms DESC, run_id DESC LIMIT 1";
    int rc = store_prepare(s, sql, &st, "finding the run", err, errlen);
    if (rc)
        return rc;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found)
        *run_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "finding the run: %s", sqlite3_errmsg(s->db));
    return found;
}

int birdie_store_select_run(birdie_store *s, const char *name, int64_t *run_id, char *err, size_t errlen)
{
    int rc = find_run(s, name, run_id, err, errlen);
    if (rc < 0)
        return rc;
    if (rc == 0 && name)
        return birdie_fail(err, errlen, -ENOENT, "no run named '%s' in the database", name);
    if (rc == 0)
        return birdie_fail(err, errlen, -ENOENT, "the database holds no run");
    rc = load_arms(s, *run_id, NULL, err, errlen);
    if (rc == 0)
        s->run_id = *run_id;
    return rc;
}

static int check_same_arms(birdie_store *s, const char *name, int n_arms, const char *const *arm_names,
                           const char *const *arm_classes, char **classes, char *err, size_t errlen)
{
    if (s->n_arms != n_arms)
        return birdie_fail(err, errlen, -EINVAL, "run '%s' was created with %d arms; this config has %d", name,
                           s->n_arms, n_arms);
    for (int i = 0; i < n_arms; i++) {
        if (strcmp(s->arm_names[i], arm_names[i]) != 0 || strcmp(classes[i], arm_classes[i]) != 0)
            return birdie_fail(
                err, errlen, -EINVAL,
                "run '%s': arm %d is '%s' (class '%s') in the database but '%s' (class '%s') in the config", name, i,
                s->arm_names[i], classes[i], arm_names[i], arm_classes[i]);
    }
    return 0;
}

static int insert_arms(birdie_store *s, int64_t run_id, int n_arms, const char *const *arm_names,
                       const char *const *arm_classes, char *err, size_t errlen);

static int insert_run(birdie_store *s, const char *name, int world_size, int n_arms, const char *const *arm_names,
                      const char *const *arm_classes, int64_t now_ms, int64_t *run_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, "INSERT INTO runs(name, created_unix_ms, world_size) VALUES (?, ?, ?)", &st,
                           "creating the run", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int(st, 3, world_size);
    rc = store_step_done(s, st, "creating the run", err, errlen);
    if (rc)
        return rc;
    *run_id = sqlite3_last_insert_rowid(s->db);
    return insert_arms(s, *run_id, n_arms, arm_names, arm_classes, err, errlen);
}

static int insert_arms(birdie_store *s, int64_t run_id, int n_arms, const char *const *arm_names,
                       const char *const *arm_classes, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_arms; i++) {
        rc = store_prepare(s, "INSERT INTO arms(run_id, arm_index, name, class) VALUES (?, ?, ?, ?)", &st,
                           "recording the arms", err, errlen);
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_text(st, 3, arm_names[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, arm_classes[i], -1, SQLITE_TRANSIENT);
        rc = store_step_done(s, st, "recording the arms", err, errlen);
    }
    return rc;
}

/* An incarnation that never recorded its end was killed or lost with its host: say so, with the last
 * step it recorded, instead of leaving it looking like it is still running. */
static int mark_lost_incarnations(birdie_store *s, int64_t run_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "UPDATE incarnations SET end_state = 'lost', "
                           "ended_unix_ms = COALESCE((SELECT MAX(unix_ms) FROM steps s WHERE s.run_id = "
                           "incarnations.run_id AND s.incarnation = incarnations.incarnation), started_unix_ms), "
                           "end_reason = 'no end was recorded (killed or lost); last step seen ' || "
                           "COALESCE((SELECT MAX(step) FROM steps s WHERE s.run_id = incarnations.run_id AND "
                           "s.incarnation = incarnations.incarnation), 'none') "
                           "WHERE run_id = ?1 AND end_state IS NULL",
                           &st, "marking lost incarnations", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    return store_step_done(s, st, "marking lost incarnations", err, errlen);
}

static int insert_incarnation(birdie_store *s, int64_t run_id, int world_size, int64_t now_ms, int64_t *incarnation,
                              char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = mark_lost_incarnations(s, run_id, err, errlen);
    if (rc)
        return rc;
    rc = store_prepare(s,
                       "INSERT INTO incarnations(run_id, incarnation, started_unix_ms, world_size) "
                       "SELECT ?1, COALESCE(MAX(incarnation), 0) + 1, ?2, ?3 FROM incarnations WHERE run_id = ?1 "
                       "RETURNING incarnation",
                       &st, "opening an incarnation", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int(st, 3, world_size);
    if (sqlite3_step(st) == SQLITE_ROW)
        *incarnation = sqlite3_column_int64(st, 0);
    else
        rc = -EIO;
    if (rc)
        snprintf(err, errlen, "opening an incarnation: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

/* Gives a run created without arms the arms and world size of the training run that takes it. */
static int adopt_run(birdie_store *s, int64_t run_id, int world_size, int n_arms, const char *const *arm_names,
                     const char *const *arm_classes, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, "UPDATE runs SET world_size = ?, state = 'starting' WHERE run_id = ?", &st,
                           "adopting the run", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, world_size);
    sqlite3_bind_int64(st, 2, run_id);
    rc = store_step_done(s, st, "adopting the run", err, errlen);
    return rc ? rc : insert_arms(s, run_id, n_arms, arm_names, arm_classes, err, errlen);
}

int store_begin_run(birdie_store *s, const char *name, int world_size, int n_arms, const char *const *arm_names,
                    const char *const *arm_classes, int64_t now_ms, int64_t *run_id, int64_t *incarnation, char *err,
                    size_t errlen)
{
    if (s->read_only)
        return birdie_fail(err, errlen, -EPERM, "the database is open read-only");
    int rc = store_exec(s, "BEGIN IMMEDIATE", "starting the run", err, errlen);
    if (rc)
        return rc;
    rc = find_run(s, name, run_id, err, errlen);
    if (rc == 1) {
        char **classes = NULL;
        rc = load_arms(s, *run_id, &classes, err, errlen);
        /* A run that `birdied eval` or `finetune` created by name (store_eval.h) has no arms yet: the
         * first training run under that name gives them. */
        if (rc == 0 && s->n_arms == 0 && n_arms > 0) {
            rc = adopt_run(s, *run_id, world_size, n_arms, arm_names, arm_classes, err, errlen);
            if (rc == 0)
                rc = load_arms(s, *run_id, &classes, err, errlen);
        }
        if (rc == 0)
            rc = check_same_arms(s, name, n_arms, arm_names, arm_classes, classes, err, errlen);
        for (int i = 0; classes && i < s->n_arms; i++)
            free(classes[i]);
        free(classes);
    } else if (rc == 0) {
        rc = insert_run(s, name, world_size, n_arms, arm_names, arm_classes, now_ms, run_id, err, errlen);
        if (rc == 0)
            rc = load_arms(s, *run_id, NULL, err, errlen);
    }
    if (rc == 0)
        rc = insert_incarnation(s, *run_id, world_size, now_ms, incarnation, err, errlen);
    if (rc == 0)
        rc = store_exec(s, "COMMIT", "starting the run", err, errlen);
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        free_arms(s);
        return rc;
    }
    s->run_id = *run_id;
    s->incarnation = *incarnation;
    return 0;
}
