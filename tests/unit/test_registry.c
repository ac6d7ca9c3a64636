/* The registry backends (in memory and SQLite): changes apply in order and
 * load back, callbacks run after registry_apply returns and once the turn's
 * batch is durable, the SQLite file survives a reopen (and a free with
 * changes still queued), one master holds it at a time, and a corrupt file
 * is refused with what can and cannot be recovered, then salvaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "master/registry.h"
#include "wire/pb.h"

struct fixture {
    struct event_base *base;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    snprintf(f->dir, sizeof(f->dir), "/tmp/tepui-registry-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    event_base_free(f->base);
    free(f);
    return 0;
}

static Tepui__AgentInfo *info_new(const char *id, const char *hostname)
{
    Tepui__AgentInfo *info = xmalloc(sizeof(*info));
    tepui__agent_info__init(info);
    info->hostname = xstrdup(hostname);
    info->id = xmalloc(sizeof(*info->id));
    tepui__agent_id__init(info->id);
    info->id->value = xstrdup(id);
    return info;
}

/* Callbacks record their order and results. */
struct calls {
    int order[512];
    int rc[512];
    int n;
};

struct call_arg {
    struct calls *calls;
    int tag;
};

static void record(void *arg, int rc, const struct error *err)
{
    struct call_arg *a = arg;
    (void)err;
    a->calls->order[a->calls->n] = a->tag;
    a->calls->rc[a->calls->n] = rc;
    a->calls->n++;
}

static void apply(struct registry *r, enum registry_op_type type, const char *id,
                  const char *hostname, double time, registry_done_fn done, void *arg)
{
    Tepui__AgentInfo *info = hostname ? info_new(id, hostname) : NULL;
    struct registry_op op = {.type = type, .agent_id = id, .info = info, .time = time};
    registry_apply(r, &op, done, arg);
    pb_free(info);
}

static void run_turn(struct fixture *f)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static const struct registry_agent *find(const struct registry_state *s, const char *id)
{
    for (size_t i = 0; i < s->n_agents; i++)
        if (strcmp(s->agents[i].id, id) == 0)
            return &s->agents[i];
    return NULL;
}

static struct registry *open_backend(struct fixture *f, int sqlite)
{
    struct error err = {0};
    struct registry *r = sqlite ? registry_sqlite_new(f->base, f->dir, &err)
                                : registry_memory_new(f->base);
    if (r == NULL)
        fprintf(stderr, "%s\n", err.msg);
    assert_non_null(r);
    return r;
}

/* ---- both backends ---- */

static void changes_apply_in_order_and_load_back(struct fixture *f, int sqlite)
{
    struct registry *r = open_backend(f, sqlite);
    apply(r, REGISTRY_ADMIT, "a", "host-a", 0, NULL, NULL);
    apply(r, REGISTRY_ADMIT, "b", "host-b", 0, NULL, NULL);
    apply(r, REGISTRY_ADMIT, "c", "host-c", 0, NULL, NULL);
    apply(r, REGISTRY_MARK_UNREACHABLE, "a", NULL, 5.5, NULL, NULL);
    apply(r, REGISTRY_MARK_GONE, "b", NULL, 6.25, NULL, NULL);
    apply(r, REGISTRY_REMOVE, "c", NULL, 0, NULL, NULL);
    apply(r, REGISTRY_ADMIT, "d", "host-d", 0, NULL, NULL);
    apply(r, REGISTRY_MARK_UNREACHABLE, "d", NULL, 7, NULL, NULL);
    apply(r, REGISTRY_MARK_REACHABLE, "d", "host-d2", 0, NULL, NULL);
    /* An admitted agent's info is replaced. */
    apply(r, REGISTRY_ADMIT, "e", "host-e", 0, NULL, NULL);
    apply(r, REGISTRY_ADMIT, "e", "host-e2", 0, NULL, NULL);
    run_turn(f);

    struct registry_state s = {0};
    struct error err = {0};
    assert_int_equal(registry_load(r, &s, &err), 0);
    assert_int_equal(s.n_agents, 4);
    const struct registry_agent *a = find(&s, "a"), *b = find(&s, "b"), *d = find(&s, "d"),
                                *e = find(&s, "e");
    assert_non_null(a);
    assert_int_equal(a->state, REGISTRY_UNREACHABLE);
    assert_true(a->time == 5.5);
    /* The info it was admitted with stays with an unreachable agent. */
    assert_non_null(a->info);
    assert_string_equal(a->info->hostname, "host-a");
    assert_non_null(b);
    assert_int_equal(b->state, REGISTRY_GONE);
    assert_true(b->time == 6.25);
    assert_null(find(&s, "c"));
    assert_non_null(d);
    assert_int_equal(d->state, REGISTRY_ADMITTED);
    assert_string_equal(d->info->hostname, "host-d2");
    assert_string_equal(d->info->id->value, "d");
    assert_non_null(e);
    assert_string_equal(e->info->hostname, "host-e2");
    /* Entries keep the order they were first admitted in. */
    assert_string_equal(s.agents[0].id, "a");
    assert_string_equal(s.agents[1].id, "b");
    assert_string_equal(s.agents[2].id, "d");
    assert_string_equal(s.agents[3].id, "e");
    registry_state_free(&s);
    registry_free(r);
}

static void memory_changes_apply_in_order_and_load_back(void **state)
{
    changes_apply_in_order_and_load_back(*state, 0);
}

static void sqlite_changes_apply_in_order_and_load_back(void **state)
{
    changes_apply_in_order_and_load_back(*state, 1);
}

/* A callback that queues another change: it goes into the next batch. */
static struct registry *chained_registry;
static void chain(void *arg, int rc, const struct error *err)
{
    record(arg, rc, err);
    static struct call_arg next;
    next = *(struct call_arg *)arg;
    next.tag = 1000;
    apply(chained_registry, REGISTRY_ADMIT, "chained", "h", 0, record, &next);
}

static void callbacks_run_after_apply_in_order(struct fixture *f, int sqlite)
{
    struct registry *r = open_backend(f, sqlite);
    struct calls calls = {0};
    struct call_arg args[100];
    for (int i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof(id), "agent-%d", i);
        args[i] = (struct call_arg){&calls, i};
        apply(r, REGISTRY_ADMIT, id, "h", 0, i == 99 ? chain : record, &args[i]);
        /* Never from inside registry_apply. */
        assert_int_equal(calls.n, 0);
    }
    chained_registry = r;
    run_turn(f);
    run_turn(f);
    assert_int_equal(calls.n, 101);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(calls.order[i], i);
        assert_int_equal(calls.rc[i], 0);
    }
    assert_int_equal(calls.order[100], 1000);
    struct registry_state s = {0};
    assert_int_equal(registry_load(r, &s, NULL), 0);
    assert_int_equal(s.n_agents, 101);
    registry_state_free(&s);
    registry_free(r);
}

static void memory_callbacks_run_after_apply_in_order(void **state)
{
    callbacks_run_after_apply_in_order(*state, 0);
}

static void sqlite_callbacks_run_after_apply_in_order(void **state)
{
    callbacks_run_after_apply_in_order(*state, 1);
}

/* ---- SQLite ---- */

static void sqlite_registry_survives_a_reopen(void **state)
{
    struct fixture *f = *state;
    struct registry *r = open_backend(f, 1);
    apply(r, REGISTRY_ADMIT, "a", "host-a", 0, NULL, NULL);
    apply(r, REGISTRY_MARK_GONE, "g", NULL, 42, NULL, NULL);
    run_turn(f);
    /* Queued but not yet committed when it is freed: still written, with
     * no callback run. */
    struct calls calls = {0};
    struct call_arg arg = {&calls, 1};
    apply(r, REGISTRY_MARK_UNREACHABLE, "a", NULL, 43, record, &arg);
    registry_free(r);
    assert_int_equal(calls.n, 0);

    r = open_backend(f, 1);
    struct registry_state s = {0};
    assert_int_equal(registry_load(r, &s, NULL), 0);
    assert_int_equal(s.n_agents, 2);
    assert_int_equal(find(&s, "a")->state, REGISTRY_UNREACHABLE);
    assert_true(find(&s, "a")->time == 43);
    assert_int_equal(find(&s, "g")->state, REGISTRY_GONE);
    assert_null(find(&s, "g")->info);
    registry_state_free(&s);
    registry_free(r);
}

static void sqlite_registry_has_one_master_at_a_time(void **state)
{
    struct fixture *f = *state;
    struct registry *r = open_backend(f, 1);
    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBUSY);
    assert_non_null(strstr(err.msg, "in use by another process"));
    registry_free(r);
    r = open_backend(f, 1);
    registry_free(r);
}

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static int count_aside(const struct fixture *f)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "%s/registry.db.corrupt-*", f->dir);
    glob_t g;
    int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (n > 0)
        globfree(&g);
    return n;
}

static void sqlite_file_that_is_not_a_database_is_refused_then_salvaged(void **state)
{
    struct fixture *f = *state;
    char *path = registry_sqlite_path(f->dir);
    char junk[8192];
    memset(junk, 'x', sizeof(junk));
    write_file(path, junk, sizeof(junk));
    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBADMSG);
    assert_non_null(strstr(err.msg, "not a SQLite database"));
    assert_non_null(strstr(err.msg, "none of it can be recovered"));

    assert_int_equal(registry_sqlite_salvage(f->dir, &err), 0);
    assert_int_equal(count_aside(f), 1);
    struct registry *r = open_backend(f, 1);
    struct registry_state s = {0};
    assert_int_equal(registry_load(r, &s, NULL), 0);
    assert_int_equal(s.n_agents, 0);
    registry_state_free(&s);
    registry_free(r);
    free(path);
}

/* The number after "can be recovered: " in a report. */
static long recoverable_in(const char *msg)
{
    const char *p = strstr(msg, "can be recovered: ");
    assert_non_null(p);
    return strtol(p + strlen("can be recovered: "), NULL, 10);
}

static void sqlite_corrupt_page_is_refused_with_what_it_loses_then_salvaged(void **state)
{
    struct fixture *f = *state;
    struct registry *r = open_backend(f, 1);
    char host[200];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof(id), "agent-%03d", i);
        apply(r, REGISTRY_ADMIT, id, host, 0, NULL, NULL);
    }
    run_turn(f);
    registry_free(r);

    /* A leaf of the agents table from the middle of it is overwritten. */
    char *path = registry_sqlite_path(f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT pageno FROM dbstat WHERE name = 'agents' AND "
                                        "pagetype = 'leaf' ORDER BY path",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int pages[64], n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < 64)
        pages[n++] = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int page_size = 4096;
    sqlite3_close(db);
    assert_true(n >= 4);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(pages[n / 2] - 1) * page_size),
                     (ssize_t)sizeof(junk));
    close(fd);

    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBADMSG);
    assert_non_null(strstr(err.msg, "is corrupt"));
    assert_non_null(strstr(err.msg, "cannot be recovered: "));
    long kept = recoverable_in(err.msg);
    assert_true(kept > 0);
    assert_true(kept < 300);

    assert_int_equal(registry_sqlite_salvage(f->dir, &err), kept);
    assert_int_equal(count_aside(f), 1);
    r = open_backend(f, 1);
    struct registry_state s = {0};
    assert_int_equal(registry_load(r, &s, NULL), 0);
    assert_int_equal((long)s.n_agents, kept);
    /* Both sides of the damage, in the order they were written. */
    assert_string_equal(s.agents[0].id, "agent-000");
    assert_int_equal(s.agents[0].state, REGISTRY_ADMITTED);
    assert_string_equal(s.agents[s.n_agents - 1].id, "agent-299");
    for (size_t i = 1; i < s.n_agents; i++)
        assert_true(strcmp(s.agents[i - 1].id, s.agents[i].id) < 0);
    registry_state_free(&s);
    registry_free(r);
    free(path);
}

static void sqlite_half_written_file_keeps_what_its_intact_pages_hold(void **state)
{
    struct fixture *f = *state;
    struct registry *r = open_backend(f, 1);
    char host[200];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof(id), "agent-%03d", i);
        apply(r, REGISTRY_ADMIT, id, host, 0, NULL, NULL);
    }
    run_turn(f);
    registry_free(r);
    char *path = registry_sqlite_path(f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);

    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBADMSG);
    assert_non_null(strstr(err.msg, "the file was cut short"));
    long kept = recoverable_in(err.msg);
    assert_true(kept > 0);
    assert_true(kept < 300);
    assert_int_equal(registry_sqlite_salvage(f->dir, &err), kept);
    r = open_backend(f, 1);
    struct registry_state s = {0};
    assert_int_equal(registry_load(r, &s, NULL), 0);
    assert_int_equal((long)s.n_agents, kept);
    registry_state_free(&s);
    registry_free(r);
    free(path);
}

static void sqlite_database_of_another_program_is_refused(void **state)
{
    struct fixture *f = *state;
    char *path = registry_sqlite_path(f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE other (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBADMSG);
    assert_non_null(strstr(err.msg, "not a tepui registry"));
    free(path);
}

static void sqlite_entry_that_does_not_decode_is_reported(void **state)
{
    struct fixture *f = *state;
    struct registry *r = open_backend(f, 1);
    apply(r, REGISTRY_ADMIT, "good", "h", 0, NULL, NULL);
    apply(r, REGISTRY_ADMIT, "bad", "h", 0, NULL, NULL);
    run_turn(f);
    registry_free(r);
    char *path = registry_sqlite_path(f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE agents SET info = x'ffff01' WHERE id = 'bad'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct error err = {0};
    assert_null(registry_sqlite_new(f->base, f->dir, &err));
    assert_int_equal(err.code, -EBADMSG);
    assert_int_equal(recoverable_in(err.msg), 1);
    assert_non_null(strstr(err.msg, "1 entries that do not decode"));
    assert_int_equal(registry_sqlite_salvage(f->dir, &err), 1);
    free(path);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(memory_changes_apply_in_order_and_load_back),
        T(sqlite_changes_apply_in_order_and_load_back),
        T(memory_callbacks_run_after_apply_in_order),
        T(sqlite_callbacks_run_after_apply_in_order),
        T(sqlite_registry_survives_a_reopen),
        T(sqlite_registry_has_one_master_at_a_time),
        T(sqlite_file_that_is_not_a_database_is_refused_then_salvaged),
        T(sqlite_corrupt_page_is_refused_with_what_it_loses_then_salvaged),
        T(sqlite_half_written_file_keeps_what_its_intact_pages_hold),
        T(sqlite_database_of_another_program_is_refused),
        T(sqlite_entry_that_does_not_decode_is_reported),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
