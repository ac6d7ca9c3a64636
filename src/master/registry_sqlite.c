/* The SQLite registry (--registry=sqlite): one file, <work_dir>/registry.db,
 * in WAL mode with synchronous=FULL, locked by its one master. Every change
 * made during a turn of the loop goes into one transaction, committed at the
 * end of the turn, after which the changes' callbacks run (so a burst of
 * re-registrations costs one fsync, not one each).
 *
 * Opening checks the whole file (SQLite's quick_check and every entry), so a
 * corrupt or half-written registry is found before the master acts on it;
 * the error says what can and cannot be recovered, and
 * registry_sqlite_salvage keeps what can. Not here: deciding whether to
 * salvage (the master's --registry_strict). */
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/registry.h"
#include "master/registry_batch.h"
#include "wire/pb.h"

#define LOG_COMPONENT "registry"

#define REGISTRY_FILE "registry.db"
/* Bumped when the schema changes incompatibly. */
#define REGISTRY_FORMAT 1

static const char schema_sql[] =
    "BEGIN;"
    "CREATE TABLE registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE agents (id TEXT PRIMARY KEY NOT NULL, state INTEGER NOT NULL,"
    " time REAL NOT NULL DEFAULT 0, info BLOB);"
    "INSERT INTO registry_meta (key, value) VALUES ('format', '1');"
    "COMMIT;";

static const char admit_sql[] =
    "INSERT INTO agents (id, state, time, info) VALUES (?1, 1, 0, ?2)"
    " ON CONFLICT (id) DO UPDATE SET state = 1, time = 0, info = excluded.info";
/* Unreachable or gone: the info it was admitted with stays. */
static const char mark_sql[] =
    "INSERT INTO agents (id, state, time, info) VALUES (?1, ?2, ?3, NULL)"
    " ON CONFLICT (id) DO UPDATE SET state = excluded.state, time = excluded.time";
static const char remove_sql[] = "DELETE FROM agents WHERE id = ?1";
/* Records (weights, quota, ...): created on open, so that a registry
 * written before records existed gains the table. */
static const char records_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL,"
    " value BLOB NOT NULL, PRIMARY KEY (kind, key))";
static const char put_record_sql[] =
    "INSERT INTO records (kind, key, value) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value";
static const char delete_record_sql[] = "DELETE FROM records WHERE kind = ?1 AND key = ?2";
static const char scan_records_sql[] = "SELECT kind, key, value FROM records";
/* Entries are read in the order they were first written (rowid). */
static const char scan_forward_sql[] =
    "SELECT rowid, id, state, time, info FROM agents ORDER BY rowid";
static const char scan_backward_sql[] =
    "SELECT rowid, id, state, time, info FROM agents WHERE rowid > ?1 ORDER BY rowid DESC";
static const char scan_one_sql[] =
    "SELECT rowid, id, state, time, info FROM agents WHERE rowid = ?1";

struct sqlite_registry {
    struct registry base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *admit, *mark, *remove, *begin, *commit, *rollback;
    sqlite3_stmt *put_record, *delete_record;
    struct registry_batch batch;
    int in_txn;                       /* the batch's transaction has begun */
    int failed;                       /* a change of the batch could not be written */
    struct error failure;
};

char *registry_sqlite_path(const char *dir)
{
    return xasprintf("%s/%s", dir, REGISTRY_FILE);
}

/* ---- reading and checking entries ---- */

/* What a read of the agents table found. */
struct scan {
    size_t by_state[4];               /* good entries, by registry_agent_state */
    size_t bad;                       /* entries that do not make sense */
    int stopped;                      /* some of the table could not be read */
    char stop_why[160];
    struct registry_state *out;       /* good entries are added here when set */
    int64_t *rowids;                  /* beside out->agents */
    size_t cap;
};

static void scan_add(struct scan *sc, int64_t rowid, const char *id, int state, double time,
                     Tepui__AgentInfo *info)
{
    struct registry_state *s = sc->out;
    if (s->n_agents == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        s->agents = xrealloc(s->agents, sc->cap * sizeof(*s->agents));
        sc->rowids = xrealloc(sc->rowids, sc->cap * sizeof(*sc->rowids));
    }
    sc->rowids[s->n_agents] = rowid;
    s->agents[s->n_agents++] = (struct registry_agent){
        .id = xstrdup(id), .state = (enum registry_agent_state)state, .time = time, .info = info};
}

/* Takes the statement's current row; a row is good when its id is text,
 * its state known, and its info (required for an admitted agent) decodes
 * as an AgentInfo of that id. Returns its rowid. */
static int64_t scan_take(sqlite3_stmt *st, struct scan *sc)
{
    int64_t rowid = sqlite3_column_int64(st, 0);
    const char *id = (const char *)sqlite3_column_text(st, 1);
    int state = sqlite3_column_int(st, 2);
    double time = sqlite3_column_double(st, 3);
    Tepui__AgentInfo *info = NULL;
    int ok = sqlite3_column_type(st, 1) == SQLITE_TEXT && id != NULL && id[0] != '\0' &&
             sqlite3_column_type(st, 2) == SQLITE_INTEGER && state >= REGISTRY_ADMITTED &&
             state <= REGISTRY_GONE;
    if (ok && sqlite3_column_type(st, 4) != SQLITE_NULL) {
        const void *blob = sqlite3_column_blob(st, 4);
        size_t len = (size_t)sqlite3_column_bytes(st, 4);
        info = tepui__agent_info__unpack(NULL, len, blob);
        ok = info != NULL && (info->id == NULL || strcmp(info->id->value, id) == 0);
    }
    if (ok && state == REGISTRY_ADMITTED && info == NULL)
        ok = 0;
    if (!ok) {
        sc->bad++;
        pb_free(info);
        return rowid;
    }
    sc->by_state[state]++;
    if (sc->out != NULL)
        scan_add(sc, rowid, id, state, time, info);
    else
        pb_free(info);
    return rowid;
}

static void scan_stop(sqlite3 *db, struct scan *sc)
{
    if (!sc->stopped)
        snprintf(sc->stop_why, sizeof(sc->stop_why), "%s", sqlite3_errmsg(db));
    sc->stopped = 1;
}

static int by_rowid(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return *a < *b ? -1 : *a > *b;
}

/* Puts what was read in rowid order (the backward read and the probes add
 * entries out of order). */
static void scan_sort(struct scan *sc)
{
    struct registry_state *s = sc->out;
    if (s == NULL || s->n_agents < 2)
        return;
    struct keyed {
        int64_t rowid;
        struct registry_agent a;
    } *v = xcalloc(s->n_agents, sizeof(*v));
    for (size_t i = 0; i < s->n_agents; i++)
        v[i] = (struct keyed){sc->rowids[i], s->agents[i]};
    qsort(v, s->n_agents, sizeof(*v), by_rowid);
    for (size_t i = 0; i < s->n_agents; i++)
        s->agents[i] = v[i].a;
    free(v);
}

/* Reads every entry it can. A damaged table is read forward up to the
 * damage, backward down to it, and then row by row across it, so that only
 * what the damaged pages held is lost (a truncated, half-written file keeps
 * what lies on its intact pages). */
static void scan_rows(sqlite3 *db, struct scan *sc)
{
    sqlite3_stmt *st = NULL;
    int64_t low = 0, high = -1;
    int rc = sqlite3_prepare_v2(db, scan_forward_sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            low = scan_take(st, sc);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE)
        goto out;
    scan_stop(db, sc);

    rc = sqlite3_prepare_v2(db, scan_backward_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, low);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            high = scan_take(st, sc);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE && high < 0)
        goto out;               /* nothing beyond the damage */
    if (high < 0) {
        /* The end of the table is damaged too: probe as far as the file
         * could hold entries (an entry takes more than 16 bytes). */
        int64_t pages = 0;
        if (sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            pages = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        high = low + 1 + (pages > 0 && pages < 20000 ? pages : 20000) * 256;
    }
    if (sqlite3_prepare_v2(db, scan_one_sql, -1, &st, NULL) == SQLITE_OK) {
        for (int64_t rowid = low + 1; rowid < high; rowid++) {
            sqlite3_bind_int64(st, 1, rowid);
            if (sqlite3_step(st) == SQLITE_ROW)
                scan_take(st, sc);
            sqlite3_reset(st);
        }
    }
    sqlite3_finalize(st);
out:
    scan_sort(sc);
    free(sc->rowids);
    sc->rowids = NULL;
}

static int corrupt_report(const char *path, const char *why, const struct scan *sc,
                          struct error *err)
{
    size_t good = sc->by_state[REGISTRY_ADMITTED] + sc->by_state[REGISTRY_UNREACHABLE] +
                  sc->by_state[REGISTRY_GONE];
    char lost[320];
    if (sc->stopped && sc->bad > 0)
        snprintf(lost, sizeof(lost),
                 "%zu entries that do not decode, and whatever the damaged pages of the agents "
                 "table held (%s)", sc->bad, sc->stop_why);
    else if (sc->stopped)
        snprintf(lost, sizeof(lost), "whatever the damaged pages of the agents table held (%s)",
                 sc->stop_why);
    else if (sc->bad > 0)
        snprintf(lost, sizeof(lost), "%zu entries that do not decode", sc->bad);
    else
        snprintf(lost, sizeof(lost), "no entry (the damage is in SQLite's own structures)");
    return error_set(err, -EBADMSG,
                     "registry %s is corrupt (%s); can be recovered: %zu agent entries (%zu "
                     "admitted, %zu unreachable, %zu gone); cannot be recovered: %s",
                     path, why, good, sc->by_state[REGISTRY_ADMITTED],
                     sc->by_state[REGISTRY_UNREACHABLE], sc->by_state[REGISTRY_GONE], lost);
}

/* SQLite's own check: 0 when it says "ok", else the first problem in why. */
static int quick_check(sqlite3 *db, char *why, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    int problem = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0) {
            problem = 1;
            snprintf(why, n, "%s", line ? line : "quick_check failed");
        }
    } else {
        problem = 1;
        snprintf(why, n, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return problem;
}

/* Maps a failure of SQLite on the registry to our error. */
static int db_error(sqlite3 *db, int rc, const char *path, const char *doing, struct error *err)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return error_set(err, -EBADMSG,
                         "registry %s is not a SQLite database (%s): none of it can be recovered",
                         path, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return error_set(err, -EBUSY,
                         "registry %s is in use by another process (another master with the same "
                         "work dir?): %s", path, msg);
    default:
        return error_set(err, -EIO, "cannot %s registry %s: %s", doing, path, msg);
    }
}

/* Checks the schema, creating it in an empty file: 0, 1 when it is
 * damaged (why says how), or a negative code with err. */
static int db_schema(sqlite3 *db, const char *path, char *why, size_t n, struct error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT count(*), sum(name = 'agents'), sum(name = 'registry_meta') FROM sqlite_master"
        " WHERE type = 'table'",
        -1, &st, NULL);
    if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW) {
        snprintf(why, n, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc == SQLITE_CORRUPT ? 1 : db_error(db, rc, path, "read", err);
    }
    int tables = sqlite3_column_int(st, 0);
    int agents = sqlite3_column_int(st, 1), meta = sqlite3_column_int(st, 2);
    sqlite3_finalize(st);
    if (tables == 0) {
        char *msg = NULL;
        rc = sqlite3_exec(db, schema_sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            error_set(err, -EIO, "cannot create registry %s: %s", path, msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err != NULL ? err->code : -EIO;
        }
        return 0;
    }
    if (!agents || !meta)
        return error_set(err, -EBADMSG,
                         "registry %s is a SQLite database but not a tepui registry (no agents "
                         "table): none of it can be recovered", path);
    rc = sqlite3_prepare_v2(db, "SELECT value FROM registry_meta WHERE key = 'format'", -1, &st,
                            NULL);
    int format = -1;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
        sqlite3_column_text(st, 0) != NULL)
        format = atoi((const char *)sqlite3_column_text(st, 0));
    if (rc == SQLITE_CORRUPT)
        snprintf(why, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc == SQLITE_CORRUPT)
        return 1;
    if (format > REGISTRY_FORMAT)
        return error_set(err, -EPROTONOSUPPORT,
                         "registry %s has format %d, newer than this master knows (%d)", path,
                         format, REGISTRY_FORMAT);
    if (format < 1) {
        snprintf(why, n, "its format is not recorded");
        return 1;
    }
    return 0;
}

/* A damaged file read as SQLite would have it whole: in memory, cut-off
 * pages (a half-written file) read back as zeros, so that the pages that
 * are intact can be read even where SQLite refuses the file as it is.
 * Scans it into sc (fresh) when that reads more than *best good entries;
 * short says how much of the file is missing. */
static void scan_padded_copy(const char *path, struct scan *sc, size_t best, char *short_why,
                             size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return;
    unsigned char head[100];
    size_t got = fread(head, 1, sizeof(head), fp);
    fseek(fp, 0, SEEK_END);
    long file_size = ftell(fp);
    if (got != sizeof(head) || file_size <= 0 ||
        memcmp(head, "SQLite format 3", 16) != 0) {
        fclose(fp);
        return;
    }
    long page_size = ((long)head[16] << 8) | head[17];
    if (page_size == 1)
        page_size = 65536;
    if (page_size < 512 || (page_size & (page_size - 1)) != 0) {
        fclose(fp);
        return;
    }
    long header_pages = ((long)head[28] << 24) | ((long)head[29] << 16) | ((long)head[30] << 8) |
                        head[31];
    /* The header's size is to be trusted only if written with the change
     * counter it names (offset 92 against 24). */
    if (memcmp(head + 24, head + 92, 4) != 0 || header_pages > (1L << 24))
        header_pages = 0;
    long file_pages = (file_size + page_size - 1) / page_size;
    long pages = header_pages > file_pages ? header_pages : file_pages;
    if (header_pages > file_pages && short_why != NULL)
        snprintf(short_why, n, "the file was cut short: %ld of its %ld pages are missing",
                 header_pages - file_pages, header_pages);
    sqlite3_int64 size = (sqlite3_int64)pages * page_size;
    unsigned char *buf = sqlite3_malloc64((sqlite3_uint64)size);
    if (buf == NULL) {
        fclose(fp);
        return;
    }
    memset(buf, 0, (size_t)size);
    fseek(fp, 0, SEEK_SET);
    size_t len = fread(buf, 1, (size_t)file_size, fp);
    fclose(fp);
    (void)len;
    /* An in-memory database cannot be in WAL mode: read it as a rollback
     * journal one (file format bytes 18 and 19). */
    buf[18] = buf[19] = 1;
    sqlite3 *mem = NULL;
    if (sqlite3_open(":memory:", &mem) != SQLITE_OK ||
        sqlite3_deserialize(mem, "main", buf, size, size,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
            SQLITE_OK) {
        sqlite3_close(mem);
        return;
    }
    struct scan copy = {.out = sc->out ? XNEW(struct registry_state) : NULL};
    scan_rows(mem, &copy);
    sqlite3_close(mem);
    size_t good = copy.by_state[REGISTRY_ADMITTED] + copy.by_state[REGISTRY_UNREACHABLE] +
                  copy.by_state[REGISTRY_GONE];
    if (good > best) {
        struct registry_state *out = sc->out;
        if (out != NULL) {
            registry_state_free(out);
            *out = *copy.out;
        }
        *sc = copy;
        sc->out = out;
    } else if (copy.out != NULL) {
        registry_state_free(copy.out);
    }
    free(copy.out);
}

/* Reads a damaged registry as best it can (see scan_padded_copy). */
static void scan_damaged(sqlite3 *db, const char *path, struct scan *sc, char *short_why,
                         size_t n)
{
    if (db != NULL)
        scan_rows(db, sc);
    if (db == NULL || sc->stopped)
        scan_padded_copy(path, sc,
                         sc->by_state[REGISTRY_ADMITTED] + sc->by_state[REGISTRY_UNREACHABLE] +
                             sc->by_state[REGISTRY_GONE],
                         short_why, n);
}

/* Opens (creating) and checks the registry. */
static int db_open(const char *path, sqlite3 **out, struct error *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        db_error(db, rc, path, "open", err);
        sqlite3_close(db);
        return err != NULL ? err->code : -EIO;
    }
    /* One master per registry: the lock is held from the first read until
     * the master exits (or dies, when the kernel drops it). EXCLUSIVE also
     * keeps the WAL index in memory (no -shm file). */
    rc = sqlite3_exec(db,
                      "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;"
                      " PRAGMA synchronous = FULL;",
                      NULL, NULL, NULL);
    int corrupt = 0;
    char why[200] = "";
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) != SQLITE_CORRUPT) {
            db_error(db, rc, path, "open", err);
            sqlite3_close(db);
            return err != NULL ? err->code : -EIO;
        }
        corrupt = 1;
        snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
    }
    if (!corrupt) {
        rc = db_schema(db, path, why, sizeof(why), err);
        if (rc < 0) {
            sqlite3_close(db);
            return rc;
        }
        corrupt = rc > 0;
    }
    if (!corrupt)
        corrupt = quick_check(db, why, sizeof(why));
    if (!corrupt && (rc = sqlite3_exec(db, records_schema_sql, NULL, NULL, NULL)) != SQLITE_OK) {
        db_error(db, rc, path, "create the records table of", err);
        sqlite3_close(db);
        return err != NULL ? err->code : -EIO;
    }
    struct scan sc = {0};
    char short_why[120] = "";
    if (corrupt)
        scan_damaged(db, path, &sc, short_why, sizeof(short_why));
    else
        scan_rows(db, &sc);
    if (corrupt || sc.stopped || sc.bad > 0) {
        if (short_why[0] != '\0')
            snprintf(why, sizeof(why), "%s", short_why);
        else if (!corrupt)
            snprintf(why, sizeof(why), "%s",
                     sc.stopped ? sc.stop_why : "entries that do not decode");
        corrupt_report(path, why, &sc, err);
        sqlite3_close(db);
        return -EBADMSG;
    }
    *out = db;
    return 0;
}

/* ---- writing ---- */

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static const char *op_name(enum registry_op_type t)
{
    switch (t) {
    case REGISTRY_ADMIT: return "admission";
    case REGISTRY_MARK_UNREACHABLE: return "unreachability";
    case REGISTRY_MARK_REACHABLE: return "re-admission";
    case REGISTRY_MARK_GONE: return "removal (gone)";
    case REGISTRY_REMOVE: return "removal";
    case REGISTRY_PUT_RECORD: return "record";
    case REGISTRY_DELETE_RECORD: return "record removal";
    }
    return "change";
}

static int write_op(struct sqlite_registry *r, const struct registry_op *op)
{
    sqlite3_stmt *st = NULL;
    struct buf info = BUF_INIT;
    switch (op->type) {
    case REGISTRY_ADMIT:
    case REGISTRY_MARK_REACHABLE:
        st = r->admit;
        sqlite3_bind_text(st, 1, op->agent_id, -1, SQLITE_STATIC);
        if (op->info != NULL)
            pb_pack_buf(&op->info->base, &info);
        sqlite3_bind_blob(st, 2, info.data ? info.data : "", (int)info.len, SQLITE_STATIC);
        break;
    case REGISTRY_MARK_UNREACHABLE:
    case REGISTRY_MARK_GONE:
        st = r->mark;
        sqlite3_bind_text(st, 1, op->agent_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, op->type == REGISTRY_MARK_GONE ? REGISTRY_GONE
                                                                 : REGISTRY_UNREACHABLE);
        sqlite3_bind_double(st, 3, op->time);
        break;
    case REGISTRY_REMOVE:
        st = r->remove;
        sqlite3_bind_text(st, 1, op->agent_id, -1, SQLITE_STATIC);
        break;
    case REGISTRY_PUT_RECORD:
        st = r->put_record;
        sqlite3_bind_text(st, 1, op->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, op->len > 0 ? (const void *)op->value : "", (int)op->len,
                          SQLITE_STATIC);
        break;
    case REGISTRY_DELETE_RECORD:
        st = r->delete_record;
        sqlite3_bind_text(st, 1, op->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
        break;
    }
    int rc = step_once(st);
    buf_free(&info);
    return rc == SQLITE_DONE ? 0 : rc;
}

static void sqlite_apply(struct registry *base, const struct registry_op *op,
                         registry_done_fn done, void *arg)
{
    struct sqlite_registry *r = (struct sqlite_registry *)base;
    if (!registry_batch_open(&r->batch)) {
        r->failed = 0;
        int rc = step_once(r->begin);
        r->in_txn = rc == SQLITE_DONE;
        if (!r->in_txn) {
            r->failed = 1;
            db_error(r->db, rc, r->path, "begin a transaction on", &r->failure);
        }
    }
    if (!r->failed) {
        int rc = write_op(r, op);
        if (rc != 0) {
            r->failed = 1;
            if (op->agent_id != NULL)
                error_set(&r->failure, -EIO, "cannot write the %s of agent %s to registry %s: %s",
                          op_name(op->type), op->agent_id, r->path, sqlite3_errmsg(r->db));
            else
                error_set(&r->failure, -EIO, "cannot write the %s %s/%s to registry %s: %s",
                          op_name(op->type), op->kind, op->key, r->path, sqlite3_errmsg(r->db));
        }
    }
    registry_batch_add(&r->batch, done, arg);
}

/* Ends the batch's transaction; returns 0 or the batch's error code. */
static int end_transaction(struct sqlite_registry *r, struct error *err)
{
    int rc = 0;
    if (r->failed) {
        *err = r->failure;
        rc = r->failure.code ? r->failure.code : -EIO;
        if (r->in_txn)
            step_once(r->rollback);
    } else if (r->in_txn && step_once(r->commit) != SQLITE_DONE) {
        rc = error_set(err, -EIO, "cannot commit changes to registry %s: %s", r->path,
                       sqlite3_errmsg(r->db));
        step_once(r->rollback);
    }
    r->in_txn = 0;
    r->failed = 0;
    return rc;
}

static void sqlite_flush(void *arg)
{
    struct sqlite_registry *r = arg;
    struct error err = {0};
    int rc = end_transaction(r, &err);
    if (rc != 0)
        log_error("%s", err.msg);
    registry_batch_finish(&r->batch, rc, &err);
}

/* Appends every record to out; SQLite's code on failure. Rows whose
 * columns are not text, text and blob are skipped (their readers would
 * refuse them anyway). */
static int read_records(sqlite3 *db, struct registry_state *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, scan_records_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *kind = (const char *)sqlite3_column_text(st, 0);
            const char *key = (const char *)sqlite3_column_text(st, 1);
            const void *value = sqlite3_column_blob(st, 2);
            size_t len = (size_t)sqlite3_column_bytes(st, 2);
            if (kind == NULL || key == NULL)
                continue;
            registry_state_add_record(out, kind, key, value, len);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc;
}

static int sqlite_load(struct registry *base, struct registry_state *out, struct error *err)
{
    struct sqlite_registry *r = (struct sqlite_registry *)base;
    memset(out, 0, sizeof(*out));
    struct scan sc = {.out = out};
    scan_rows(r->db, &sc);
    if (sc.stopped || sc.bad > 0) {
        registry_state_free(out);
        return corrupt_report(r->path, sc.stopped ? sc.stop_why : "entries that do not decode",
                              &sc, err);
    }
    if (read_records(r->db, out) != 0) {
        registry_state_free(out);
        return error_set(err, -EBADMSG, "registry %s: cannot read its records: %s", r->path,
                         sqlite3_errmsg(r->db));
    }
    return 0;
}

static void sqlite_free(struct registry *base)
{
    struct sqlite_registry *r = (struct sqlite_registry *)base;
    if (registry_batch_open(&r->batch)) {
        struct error err = {0};
        if (end_transaction(r, &err) != 0)
            log_error("%s", err.msg);
    }
    registry_batch_fini(&r->batch);
    sqlite3_stmt *stmts[] = {r->admit,  r->mark,     r->remove,     r->begin,
                             r->commit, r->rollback, r->put_record, r->delete_record};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    /* Closing checkpoints the WAL into the file and removes it. */
    sqlite3_close(r->db);
    free(r->path);
    free(r);
}

static const struct registry_backend sqlite_backend = {
    .name = "sqlite",
    .load = sqlite_load,
    .apply = sqlite_apply,
    .free = sqlite_free,
};

static int prepare_all(struct sqlite_registry *r, struct error *err)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } v[] = {
        {&r->admit, admit_sql},     {&r->mark, mark_sql},   {&r->remove, remove_sql},
        {&r->begin, "BEGIN IMMEDIATE"}, {&r->commit, "COMMIT"}, {&r->rollback, "ROLLBACK"},
        {&r->put_record, put_record_sql}, {&r->delete_record, delete_record_sql},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int rc = sqlite3_prepare_v3(r->db, v[i].sql, -1, SQLITE_PREPARE_PERSISTENT, v[i].st, NULL);
        if (rc != SQLITE_OK)
            return error_set(err, -EBADMSG,
                             "registry %s is not a tepui registry of this format: %s", r->path,
                             sqlite3_errmsg(r->db));
    }
    return 0;
}

struct registry *registry_sqlite_new(struct event_base *base, const char *dir, struct error *err)
{
    int rc = fs_mkdirs(dir);
    if (rc != 0) {
        error_set(err, rc, "cannot create the registry's directory %s: %s", dir, strerror(-rc));
        return NULL;
    }
    struct sqlite_registry *r = XNEW(struct sqlite_registry);
    r->path = registry_sqlite_path(dir);
    if (db_open(r->path, &r->db, err) != 0 || prepare_all(r, err) != 0) {
        sqlite3_stmt *stmts[] = {r->admit,  r->mark,     r->remove,     r->begin,
                             r->commit, r->rollback, r->put_record, r->delete_record};
        for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
            sqlite3_finalize(stmts[i]);
        sqlite3_close(r->db);
        free(r->path);
        free(r);
        return NULL;
    }
    r->base.backend = &sqlite_backend;
    r->base.base = base;
    registry_batch_init(&r->batch, base, sqlite_flush, r);
    return &r->base;
}

/* ---- salvage ---- */

static int move_aside(const char *path, const char *suffix, struct error *err)
{
    static const char *const parts[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char *from = xasprintf("%s%s", path, parts[i]);
        char *to = xasprintf("%s%s%s", path, suffix, parts[i]);
        int rc = rename(from, to);
        int e = errno;
        free(from);
        free(to);
        if (rc != 0 && !(e == ENOENT && i > 0))
            return error_set(err, -e, "cannot move registry %s aside: %s", path, strerror(e));
    }
    return 0;
}

int registry_sqlite_salvage(const char *dir, struct error *err)
{
    char *path = registry_sqlite_path(dir);
    struct registry_state kept = {0};
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    struct scan sc = {.out = &kept};
    scan_damaged(rc == SQLITE_OK ? db : NULL, path, &sc, NULL, 0);
    /* Records too, as far as they can be read. */
    if (rc == SQLITE_OK)
        read_records(db, &kept);
    sqlite3_close(db);
    db = NULL;

    char suffix[64];
    snprintf(suffix, sizeof(suffix), ".corrupt-%lld", (long long)time(NULL));
    rc = move_aside(path, suffix, err);
    if (rc == 0)
        rc = db_open(path, &db, err);
    if (rc == 0) {
        /* Every entry kept, in one transaction. */
        struct sqlite_registry r = {.db = db, .path = path};
        rc = prepare_all(&r, err);
        if (rc == 0 && step_once(r.begin) != SQLITE_DONE)
            rc = db_error(db, SQLITE_ERROR, path, "write", err);
        for (size_t i = 0; rc == 0 && i < kept.n_agents; i++) {
            const struct registry_agent *a = &kept.agents[i];
            struct registry_op op = {
                .agent_id = a->id, .info = a->info, .time = a->time,
                .type = a->state == REGISTRY_ADMITTED     ? REGISTRY_ADMIT
                        : a->state == REGISTRY_UNREACHABLE ? REGISTRY_MARK_UNREACHABLE
                                                           : REGISTRY_MARK_GONE,
            };
            if (write_op(&r, &op) != 0)
                rc = db_error(db, SQLITE_ERROR, path, "write", err);
        }
        for (size_t i = 0; rc == 0 && i < kept.n_records; i++) {
            const struct registry_record *rec = &kept.records[i];
            struct registry_op op = {.type = REGISTRY_PUT_RECORD, .kind = rec->kind,
                                     .key = rec->key, .value = rec->value, .len = rec->len};
            if (write_op(&r, &op) != 0)
                rc = db_error(db, SQLITE_ERROR, path, "write", err);
        }
        if (rc == 0 && step_once(r.commit) != SQLITE_DONE)
            rc = db_error(db, SQLITE_ERROR, path, "write", err);
        sqlite3_stmt *stmts[] = {r.admit,  r.mark,     r.remove,     r.begin,
                                 r.commit, r.rollback, r.put_record, r.delete_record};
        for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
            sqlite3_finalize(stmts[i]);
        sqlite3_close(db);
    }
    if (rc == 0) {
        log_warn("registry %s salvaged: %zu agent entries kept; the corrupt file is %s%s", path,
                 kept.n_agents, path, suffix);
        rc = (int)kept.n_agents;
    }
    registry_state_free(&kept);
    free(path);
    return rc;
}
