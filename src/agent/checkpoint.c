/* The agent's checkpoints in SQLite. One connection, in WAL mode with
 * exclusive locking (no other process reads it while the agent runs, so no
 * shared-memory index and no file locks per transaction) and
 * synchronous=NORMAL: a commit is one write to the WAL, which survives the
 * agent's death (the failure it guards against); only the WAL's checkpoints
 * into the main file wait for the disk. Rows are keyed by a sequence number
 * the agent keeps with the object, so every update and delete is by rowid
 * and no secondary index costs a write. */
#include "agent/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

#define SCHEMA_VERSION 1
/* Group commit: a transaction opened this soon after the last commit waits
 * out the rest of this time, gathering the writes of the turns between
 * (under load, an executor's updates arrive one per turn). */
static double group_commit_secs = 0.0005;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS agent (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS frameworks (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,"
    " info BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS executors (seq INTEGER PRIMARY KEY, framework_id TEXT NOT NULL,"
    " id TEXT NOT NULL, info BLOB NOT NULL, container_id TEXT NOT NULL, directory TEXT,"
    " pid INTEGER NOT NULL, command_executor INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tasks (seq INTEGER PRIMARY KEY, framework_id TEXT NOT NULL,"
    " id TEXT NOT NULL, executor_id TEXT NOT NULL, info BLOB NOT NULL,"
    " launched INTEGER NOT NULL, state INTEGER NOT NULL, task_group TEXT);"
    /* A rowid is one more than the largest live one: the order of the
     * updates kept is the order they were made, without AUTOINCREMENT's
     * extra write. */
    "CREATE TABLE IF NOT EXISTS updates (seq INTEGER PRIMARY KEY,"
    " framework_id TEXT NOT NULL, task_id TEXT NOT NULL, status BLOB NOT NULL);";

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_AGENT_SET,
    S_FRAMEWORK_INSERT,
    S_FRAMEWORK_UPDATE,
    S_FRAMEWORK_DELETE,
    S_EXECUTOR_INSERT,
    S_EXECUTOR_UPDATE,
    S_EXECUTOR_DELETE,
    S_TASK_INSERT,
    S_TASK_LAUNCHED,
    S_TASK_STATE,
    S_TASK_DELETE,
    S_UPDATE_INSERT,
    S_UPDATE_DELETE,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_AGENT_SET] = "INSERT OR REPLACE INTO agent (key, value) VALUES (?1, ?2)",
    [S_FRAMEWORK_INSERT] = "INSERT INTO frameworks (id, info) VALUES (?1, ?2)",
    [S_FRAMEWORK_UPDATE] = "UPDATE frameworks SET info = ?2 WHERE seq = ?1",
    [S_FRAMEWORK_DELETE] = "DELETE FROM frameworks WHERE seq = ?1",
    [S_EXECUTOR_INSERT] = "INSERT INTO executors (framework_id, id, info, container_id, directory,"
                          " pid, command_executor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_EXECUTOR_UPDATE] = "UPDATE executors SET directory = ?2, pid = ?3 WHERE seq = ?1",
    [S_EXECUTOR_DELETE] = "DELETE FROM executors WHERE seq = ?1",
    [S_TASK_INSERT] = "INSERT INTO tasks (framework_id, id, executor_id, info, launched, state,"
                      " task_group) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_TASK_LAUNCHED] = "UPDATE tasks SET launched = 1 WHERE seq = ?1",
    [S_TASK_STATE] = "UPDATE tasks SET state = ?2 WHERE seq = ?1",
    [S_TASK_DELETE] = "DELETE FROM tasks WHERE seq = ?1",
    [S_UPDATE_INSERT] = "INSERT INTO updates (framework_id, task_id, status) VALUES (?1, ?2, ?3)",
    [S_UPDATE_DELETE] = "DELETE FROM updates WHERE seq = ?1",
};

struct after_commit {
    void (*fn)(void *arg);
    void *arg;
};

struct checkpoint {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[S_COUNT];
    int in_txn;
    struct event *commit_ev;          /* the commit, at the turn's end or a little later */
    double last_commit;               /* clock_mono() */
    struct after_commit *after;
    size_t n_after, cap_after;
    struct buf pack;                  /* scratch for packed messages */
};

/* As Mesos: an agent that cannot write its checkpoint must not go on
 * acknowledging what it would forget. */
static void ckpt_fatal(struct checkpoint *c, const char *what)
{
    log_error("cannot write the checkpoint %s (%s): %s; the agent stops", c->path, what,
              sqlite3_errmsg(c->db));
    abort();
}

const char *ckpt_path(const struct agent *a)
{
    return a->ckpt != NULL ? a->ckpt->path : "";
}

void ckpt_read_boot_id(char *out, size_t n)
{
    out[0] = '\0';
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t r = read(fd, out, n - 1);
    close(fd);
    if (r < 0)
        r = 0;
    out[r] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

/* ---- opening ---- */

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ckpt_sync(arg);
}

static int exec_sql(sqlite3 *db, const char *sql, struct error *err, const char *path)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    error_set(err, -EIO, "checkpoint %s: %s", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -EIO;
}

static void close_db(struct checkpoint *c)
{
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static int open_db(struct checkpoint *c, struct error *err)
{
    int rc = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        error_set(err, -EIO, "cannot open the checkpoint %s: %s", c->path,
                  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        close_db(c);
        return -EIO;
    }
    /* WAL first: locking_mode only takes hold with the first read. */
    if (exec_sql(c->db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
                        " PRAGMA synchronous=NORMAL;", err, c->path) != 0 ||
        exec_sql(c->db, schema, err, c->path) != 0) {
        close_db(c);
        return -EIO;
    }
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (exec_sql(c->db, pragma, err, c->path) != 0) {
        close_db(c);
        return -EIO;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[i],
                               NULL) != SQLITE_OK) {
            error_set(err, -EIO, "checkpoint %s: %s", c->path, sqlite3_errmsg(c->db));
            close_db(c);
            return -EIO;
        }
    }
    return 0;
}

int ckpt_open(struct agent *a, struct error *err)
{
    char *dir = xasprintf("%s/meta", a->flags.work_dir);
    int rc = fs_mkdirs(dir);
    if (rc != 0) {
        error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
        free(dir);
        return rc;
    }
    struct checkpoint *c = XNEW(struct checkpoint);
    c->path = xasprintf("%s/agent.db", dir);
    free(dir);
    c->commit_ev = event_new(a->base, -1, 0, commit_cb, a);
    a->ckpt = c;
    if (getenv("TEPUI_GROUP_COMMIT") != NULL)
        group_commit_secs = atof(getenv("TEPUI_GROUP_COMMIT"));
    return open_db(c, err);
}

void ckpt_close(struct agent *a)
{
    struct checkpoint *c = a->ckpt;
    if (c == NULL)
        return;
    if (c->db != NULL)
        ckpt_sync(a);
    close_db(c);
    if (c->commit_ev != NULL)
        event_free(c->commit_ev);
    free(c->after);
    buf_free(&c->pack);
    free(c->path);
    free(c);
    a->ckpt = NULL;
}

int ckpt_reset(struct agent *a, int set_aside, struct error *err)
{
    struct checkpoint *c = a->ckpt;
    if (c->db != NULL)
        ckpt_sync(a);
    close_db(c);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char stamp[32];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
    for (size_t i = 0; i < 3; i++) {
        char *from = xasprintf("%s%s", c->path, suffixes[i]);
        if (set_aside) {
            char *to = xasprintf("%s.broken-%s%s", c->path, stamp, suffixes[i]);
            if (rename(from, to) != 0 && errno != ENOENT)
                log_warn("cannot move %s aside: %s", from, strerror(errno));
            else if (i == 0)
                log_warn("the damaged checkpoint is kept as %s", to);
            free(to);
        } else if (unlink(from) != 0 && errno != ENOENT) {
            log_warn("cannot remove %s: %s", from, strerror(errno));
        }
        free(from);
    }
    return open_db(c, err);
}

/* ---- writing ---- */

int ckpt_pending(const struct agent *a)
{
    return a->ckpt != NULL && a->ckpt->in_txn;
}

/* The statement, reset, inside the turn's transaction. */
static sqlite3_stmt *stmt(struct agent *a, enum stmt_id id)
{
    struct checkpoint *c = a->ckpt;
    if (!c->in_txn) {
        sqlite3_stmt *b = c->stmts[S_BEGIN];
        if (sqlite3_step(b) != SQLITE_DONE)
            ckpt_fatal(c, "BEGIN");
        sqlite3_reset(b);
        c->in_txn = 1;
        double wait = c->last_commit + group_commit_secs - clock_mono();
        if (wait <= 0) {
            event_active(c->commit_ev, EV_TIMEOUT, 0);
        } else {
            struct timeval tv = clock_timeval(wait);
            evtimer_add(c->commit_ev, &tv);
        }
    }
    return c->stmts[id];
}

static void run(struct agent *a, sqlite3_stmt *s, const char *what)
{
    if (sqlite3_step(s) != SQLITE_DONE)
        ckpt_fatal(a->ckpt, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static void bind_message(struct agent *a, sqlite3_stmt *s, int col, const void *m)
{
    struct buf *b = &a->ckpt->pack;
    buf_reset(b);
    pb_pack_buf((const ProtobufCMessage *)m, b);
    sqlite3_bind_blob(s, col, b->data ? b->data : "", (int)b->len, SQLITE_STATIC);
}

static void bind_text(sqlite3_stmt *s, int col, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, col);
    else
        sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
}

void ckpt_sync(struct agent *a)
{
    struct checkpoint *c = a->ckpt;
    if (c == NULL || !c->in_txn)
        return;
    sqlite3_stmt *s = c->stmts[S_COMMIT];
    if (sqlite3_step(s) != SQLITE_DONE)
        ckpt_fatal(c, "COMMIT");
    sqlite3_reset(s);
    c->in_txn = 0;
    c->last_commit = clock_mono();
    event_del(c->commit_ev);
    /* What waited may write again (a new transaction): run a copy. */
    size_t n = c->n_after;
    struct after_commit *list = c->after;
    c->after = NULL;
    c->n_after = c->cap_after = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].fn != NULL)
            list[i].fn(list[i].arg);
    free(list);
}

void ckpt_after_commit(struct agent *a, void (*fn)(void *arg), void *arg)
{
    struct checkpoint *c = a->ckpt;
    if (c == NULL || !c->in_txn) {
        fn(arg);
        return;
    }
    if (c->n_after == c->cap_after) {
        c->cap_after = c->cap_after ? c->cap_after * 2 : 16;
        c->after = xrealloc(c->after, c->cap_after * sizeof(*c->after));
    }
    c->after[c->n_after++] = (struct after_commit){fn, arg};
}

void ckpt_cancel(struct agent *a, void *arg)
{
    struct checkpoint *c = a->ckpt;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_after; i++)
        if (c->after[i].arg == arg)
            c->after[i].fn = NULL;
}

void ckpt_agent(struct agent *a)
{
    if (a->ckpt == NULL || a->id == NULL)
        return;
    char boot_id[64];
    ckpt_read_boot_id(boot_id, sizeof(boot_id));
    sqlite3_stmt *s = stmt(a, S_AGENT_SET);
    bind_text(s, 1, "id");
    sqlite3_bind_blob(s, 2, a->id, (int)strlen(a->id), SQLITE_STATIC);
    run(a, s, "the agent's id");
    bind_text(s, 1, "info");
    bind_message(a, s, 2, a->info);
    run(a, s, "the agent's info");
    bind_text(s, 1, "boot_id");
    sqlite3_bind_blob(s, 2, boot_id, (int)strlen(boot_id), SQLITE_STATIC);
    run(a, s, "the boot id");
    Tepui__Internal__CheckpointedResources cr = TEPUI__INTERNAL__CHECKPOINTED_RESOURCES__INIT;
    cr.resources = resources_to_proto(&a->total, &cr.n_resources);
    bind_text(s, 1, "resources");
    bind_message(a, s, 2, &cr);
    run(a, s, "the agent's resources");
    resources_proto_free(cr.resources, cr.n_resources);
}

void ckpt_framework(struct agent *a, struct agent_framework *f)
{
    if (a->ckpt == NULL)
        return;
    if (f->ckpt_seq == 0) {
        sqlite3_stmt *s = stmt(a, S_FRAMEWORK_INSERT);
        bind_text(s, 1, f->id);
        bind_message(a, s, 2, f->info);
        run(a, s, "a framework");
        f->ckpt_seq = sqlite3_last_insert_rowid(a->ckpt->db);
    } else {
        sqlite3_stmt *s = stmt(a, S_FRAMEWORK_UPDATE);
        sqlite3_bind_int64(s, 1, f->ckpt_seq);
        bind_message(a, s, 2, f->info);
        run(a, s, "a framework");
    }
}

void ckpt_framework_remove(struct agent *a, struct agent_framework *f)
{
    if (a->ckpt == NULL || f->ckpt_seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_FRAMEWORK_DELETE);
    sqlite3_bind_int64(s, 1, f->ckpt_seq);
    run(a, s, "a framework's removal");
    f->ckpt_seq = 0;
}

void ckpt_executor(struct agent *a, struct agent_executor *e)
{
    if (a->ckpt == NULL)
        return;
    sqlite3_stmt *s;
    if (e->ckpt_seq == 0) {
        s = stmt(a, S_EXECUTOR_INSERT);
        bind_text(s, 1, e->framework->id);
        bind_text(s, 2, e->id);
        bind_message(a, s, 3, e->info);
        bind_text(s, 4, e->container_id);
        bind_text(s, 5, e->directory);
        sqlite3_bind_int64(s, 6, e->pid);
        sqlite3_bind_int(s, 7, e->command_executor);
        run(a, s, "an executor");
        e->ckpt_seq = sqlite3_last_insert_rowid(a->ckpt->db);
        return;
    }
    s = stmt(a, S_EXECUTOR_UPDATE);
    sqlite3_bind_int64(s, 1, e->ckpt_seq);
    bind_text(s, 2, e->directory);
    sqlite3_bind_int64(s, 3, e->pid);
    run(a, s, "an executor");
}

void ckpt_executor_remove(struct agent *a, struct agent_executor *e)
{
    if (a->ckpt == NULL)
        return;
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        ckpt_task_remove(a, t);
    }
    if (e->ckpt_seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_EXECUTOR_DELETE);
    sqlite3_bind_int64(s, 1, e->ckpt_seq);
    run(a, s, "an executor's removal");
    e->ckpt_seq = 0;
}

void ckpt_task(struct agent *a, struct agent_executor *e, struct agent_task *t, const char *group)
{
    if (a->ckpt == NULL)
        return;
    sqlite3_stmt *s = stmt(a, S_TASK_INSERT);
    bind_text(s, 1, e->framework->id);
    bind_text(s, 2, t->id);
    bind_text(s, 3, e->id);
    bind_message(a, s, 4, t->info);
    sqlite3_bind_int(s, 5, t->launched);
    sqlite3_bind_int(s, 6, (int)t->state);
    bind_text(s, 7, group);
    run(a, s, "a task");
    t->ckpt_seq = sqlite3_last_insert_rowid(a->ckpt->db);
}

void ckpt_task_launched(struct agent *a, struct agent_task *t)
{
    if (a->ckpt == NULL || t->ckpt_seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_TASK_LAUNCHED);
    sqlite3_bind_int64(s, 1, t->ckpt_seq);
    run(a, s, "a task's launch");
}

void ckpt_task_state(struct agent *a, struct agent_task *t, int state)
{
    if (a->ckpt == NULL || t->ckpt_seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_TASK_STATE);
    sqlite3_bind_int64(s, 1, t->ckpt_seq);
    sqlite3_bind_int(s, 2, state);
    run(a, s, "a task's state");
}

void ckpt_task_remove(struct agent *a, struct agent_task *t)
{
    if (a->ckpt == NULL || t->ckpt_seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_TASK_DELETE);
    sqlite3_bind_int64(s, 1, t->ckpt_seq);
    run(a, s, "a task's removal");
    t->ckpt_seq = 0;
}

int64_t ckpt_update(struct agent *a, const char *framework_id, const Tepui__TaskStatus *status)
{
    if (a->ckpt == NULL)
        return 0;
    sqlite3_stmt *s = stmt(a, S_UPDATE_INSERT);
    bind_text(s, 1, framework_id);
    bind_text(s, 2, status->task_id->value);
    bind_message(a, s, 3, status);
    run(a, s, "a status update");
    return sqlite3_last_insert_rowid(a->ckpt->db);
}

void ckpt_update_remove(struct agent *a, int64_t seq)
{
    if (a->ckpt == NULL || seq == 0)
        return;
    sqlite3_stmt *s = stmt(a, S_UPDATE_DELETE);
    sqlite3_bind_int64(s, 1, seq);
    run(a, s, "a status update's acknowledgement");
}


/* ---- loading ---- */

void ckpt_state_add_problem(struct ckpt_state *st, const char *fmt, ...)
{
    va_list ap;
    struct buf b = BUF_INIT;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    st->problems = xrealloc(st->problems, (st->n_problems + 1) * sizeof(char *));
    st->problems[st->n_problems++] = buf_steal(&b);
}

static char *column_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t != NULL ? xstrdup((const char *)t) : NULL;
}

/* Unpacks a blob column; NULL when it is not a message of that type. */
static void *column_message(sqlite3_stmt *s, int col, const ProtobufCMessageDescriptor *d)
{
    const void *data = sqlite3_column_blob(s, col);
    int n = sqlite3_column_bytes(s, col);
    return protobuf_c_message_unpack(d, NULL, (size_t)(n > 0 ? n : 0),
                                     data ? data : (const void *)"");
}

/* Runs a query row by row; a failure midway is damage. */
static int query(struct checkpoint *c, struct ckpt_state *st, const char *sql, const char *what,
                 void (*row)(sqlite3_stmt *s, struct ckpt_state *st))
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        ckpt_state_add_problem(st, "cannot read the %s: %s", what, sqlite3_errmsg(c->db));
        st->unreadable = 1;
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        row(s, st);
    if (rc != SQLITE_DONE) {
        ckpt_state_add_problem(st, "cannot read all of the %s: %s", what, sqlite3_errmsg(c->db));
        st->unreadable = 1;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void agent_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *key = (const char *)sqlite3_column_text(s, 0);
    if (key == NULL)
        return;
    if (strcmp(key, "id") == 0 || strcmp(key, "boot_id") == 0) {
        const char *v = sqlite3_column_blob(s, 1);
        int n = sqlite3_column_bytes(s, 1);
        char *text = xstrndup(v ? v : "", (size_t)(n > 0 ? n : 0));
        if (strlen(text) != (size_t)n || (key[0] == 'i' && n == 0)) {
            ckpt_state_add_problem(st, "the agent's %s is not readable text", key);
            free(text);
            return;
        }
        free(key[0] == 'i' ? st->agent_id : st->boot_id);
        if (key[0] == 'i')
            st->agent_id = text;
        else
            st->boot_id = text;
    } else if (strcmp(key, "info") == 0) {
        Tepui__AgentInfo *info = column_message(s, 1, &tepui__agent_info__descriptor);
        if (info == NULL) {
            ckpt_state_add_problem(st, "the agent's AgentInfo cannot be decoded");
            return;
        }
        pb_free(st->agent_info);
        st->agent_info = info;
    } else if (strcmp(key, "resources") == 0) {
        Tepui__Internal__CheckpointedResources *r =
            column_message(s, 1, &tepui__internal__checkpointed_resources__descriptor);
        if (r == NULL) {
            ckpt_state_add_problem(st, "the agent's checkpointed resources cannot be decoded");
            return;
        }
        pb_free(st->resources);
        st->resources = r;
    }
}

static void framework_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *id = (const char *)sqlite3_column_text(s, 1);
    Tepui__FrameworkInfo *info = column_message(s, 2, &tepui__framework_info__descriptor);
    if (info == NULL || info->id == NULL || id == NULL || strcmp(info->id->value, id) != 0) {
        ckpt_state_add_problem(st, "the FrameworkInfo of framework %s cannot be decoded",
                               id ? id : "?");
        pb_free(info);
        return;
    }
    st->frameworks = xrealloc(st->frameworks, (st->n_frameworks + 1) * sizeof(*st->frameworks));
    st->frameworks[st->n_frameworks++] = (struct ckpt_framework){sqlite3_column_int64(s, 0), info};
}

static void executor_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *fid = (const char *)sqlite3_column_text(s, 1);
    const char *id = (const char *)sqlite3_column_text(s, 2);
    Tepui__ExecutorInfo *info = column_message(s, 3, &tepui__executor_info__descriptor);
    const char *cid = (const char *)sqlite3_column_text(s, 4);
    if (info == NULL || info->executor_id == NULL || id == NULL || fid == NULL || cid == NULL ||
        strcmp(info->executor_id->value, id) != 0 || strlen(cid) >= 40) {
        ckpt_state_add_problem(st, "the ExecutorInfo of executor %s of framework %s cannot be "
                               "decoded", id ? id : "?", fid ? fid : "?");
        pb_free(info);
        return;
    }
    st->executors = xrealloc(st->executors, (st->n_executors + 1) * sizeof(*st->executors));
    st->executors[st->n_executors++] = (struct ckpt_executor){
        .seq = sqlite3_column_int64(s, 0),
        .framework_id = xstrdup(fid),
        .info = info,
        .container_id = xstrdup(cid),
        .directory = column_text(s, 5),
        .pid = (pid_t)sqlite3_column_int64(s, 6),
        .command_executor = sqlite3_column_int(s, 7),
    };
}

static void task_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *fid = (const char *)sqlite3_column_text(s, 1);
    const char *id = (const char *)sqlite3_column_text(s, 2);
    const char *eid = (const char *)sqlite3_column_text(s, 3);
    Tepui__TaskInfo *info = column_message(s, 4, &tepui__task_info__descriptor);
    int state = sqlite3_column_int(s, 6);
    if (info == NULL || info->task_id == NULL || id == NULL || fid == NULL || eid == NULL ||
        strcmp(info->task_id->value, id) != 0 ||
        protobuf_c_enum_descriptor_get_value(&tepui__task_state__descriptor, state) == NULL) {
        ckpt_state_add_problem(st, "the TaskInfo of task %s of framework %s cannot be decoded",
                               id ? id : "?", fid ? fid : "?");
        pb_free(info);
        return;
    }
    st->tasks = xrealloc(st->tasks, (st->n_tasks + 1) * sizeof(*st->tasks));
    st->tasks[st->n_tasks++] = (struct ckpt_task){
        .seq = sqlite3_column_int64(s, 0),
        .framework_id = xstrdup(fid),
        .executor_id = xstrdup(eid),
        .info = info,
        .launched = sqlite3_column_int(s, 5),
        .state = state,
        .group = column_text(s, 7),
    };
}

static void update_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *fid = (const char *)sqlite3_column_text(s, 1);
    const char *tid = (const char *)sqlite3_column_text(s, 2);
    Tepui__TaskStatus *status = column_message(s, 3, &tepui__task_status__descriptor);
    if (status == NULL || fid == NULL || tid == NULL || status->task_id == NULL ||
        strcmp(status->task_id->value, tid) != 0 || !status->has_uuid || status->uuid.len != 16) {
        ckpt_state_add_problem(st, "a status update of task %s of framework %s cannot be decoded",
                               tid ? tid : "?", fid ? fid : "?");
        pb_free(status);
        return;
    }
    st->updates = xrealloc(st->updates, (st->n_updates + 1) * sizeof(*st->updates));
    st->updates[st->n_updates++] = (struct ckpt_update){sqlite3_column_int64(s, 0), xstrdup(fid),
                                                         status};
}

static void check_row(sqlite3_stmt *s, struct ckpt_state *st)
{
    const char *line = (const char *)sqlite3_column_text(s, 0);
    if (line != NULL && strcmp(line, "ok") != 0) {
        ckpt_state_add_problem(st, "the file is damaged: %s", line);
        st->unreadable = 1;
    }
}

void ckpt_load(struct agent *a, struct ckpt_state *st)
{
    struct checkpoint *c = a->ckpt;
    memset(st, 0, sizeof(*st));
    ckpt_sync(a);
    query(c, st, "PRAGMA quick_check(20)", "file's integrity", check_row);
    query(c, st, "SELECT key, value FROM agent", "agent's id and info", agent_row);
    query(c, st, "SELECT seq, id, info FROM frameworks ORDER BY seq", "frameworks", framework_row);
    query(c, st, "SELECT seq, framework_id, id, info, container_id, directory, pid,"
                 " command_executor FROM executors ORDER BY seq", "executors", executor_row);
    query(c, st, "SELECT seq, framework_id, id, executor_id, info, launched, state, task_group"
                 " FROM tasks ORDER BY seq", "tasks", task_row);
    query(c, st, "SELECT seq, framework_id, task_id, status FROM updates ORDER BY seq",
          "status updates", update_row);
}

void ckpt_state_free(struct ckpt_state *st)
{
    free(st->agent_id);
    pb_free(st->agent_info);
    pb_free(st->resources);
    free(st->boot_id);
    for (size_t i = 0; i < st->n_frameworks; i++)
        pb_free(st->frameworks[i].info);
    free(st->frameworks);
    for (size_t i = 0; i < st->n_executors; i++) {
        free(st->executors[i].framework_id);
        pb_free(st->executors[i].info);
        free(st->executors[i].container_id);
        free(st->executors[i].directory);
    }
    free(st->executors);
    for (size_t i = 0; i < st->n_tasks; i++) {
        free(st->tasks[i].framework_id);
        free(st->tasks[i].executor_id);
        pb_free(st->tasks[i].info);
        free(st->tasks[i].group);
    }
    free(st->tasks);
    for (size_t i = 0; i < st->n_updates; i++) {
        free(st->updates[i].framework_id);
        pb_free(st->updates[i].status);
    }
    free(st->updates);
    for (size_t i = 0; i < st->n_problems; i++)
        free(st->problems[i]);
    free(st->problems);
    memset(st, 0, sizeof(*st));
}
