/* Harness additions for several masters (harness_ha.h): ZooKeeper's Java
 * server from Debian's zookeeper package, run as ZooKeeperServerMain with a
 * generated standalone configuration bound to loopback; masters and agents
 * pointed at it. */
#include "harness_ha.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The client's blocking calls (zoo_get) come with the threaded library. */
#define THREADED
#include <zookeeper/zookeeper.h>

#include "common/clock.h"
#include "common/xalloc.h"

#define ZK_JAR "/usr/share/java/zookeeper.jar"
/* A logging binding for ZooKeeper's slf4j, so that its warnings reach its log. */
#define SLF4J_SIMPLE_JAR "/usr/share/java/slf4j-simple.jar"
#define JAVA "/usr/bin/java"

static pid_t started[32];
static size_t n_started;
static int atexit_done;

static void kill_started(void)
{
    for (size_t i = 0; i < n_started; i++)
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
    n_started = 0;
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < n_started; i++)
        if (started[i] == pid)
            started[i] = 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int h_zk_available(void)
{
    return access(JAVA, X_OK) == 0 && access(ZK_JAR, R_OK) == 0;
}

void h_ha_init(struct h_ha *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->root, sizeof(c->root), "/tmp/tepui-ha-XXXXXX");
    assert_non_null(mkdtemp(c->root));
    if (!atexit_done) {
        atexit(kill_started);
        atexit_done = 1;
    }
    signal(SIGPIPE, SIG_IGN);
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], argv);
        _exit(127);
    }
    if (n_started < sizeof(started) / sizeof(started[0]))
        started[n_started++] = pid;
    return pid;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ZooKeeper's four-letter "ruok": "imok" once it serves. */
static int zk_ruok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, "ruok", 4) == 4) {
        char buf[16] = {0};
        size_t n = 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        while (n < 4 && poll(&pfd, 1, 1000) > 0) {
            ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        ok = n >= 4 && memcmp(buf, "imok", 4) == 0;
    }
    close(fd);
    return ok;
}

static void read_port_file(struct h_proc *p, const char *path, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (clock_mono() < deadline) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            int port = 0;
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                p->port = port;
                return;
            }
        }
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
            break;
        sleep_ms(10);
    }
    p->port = -1;
}

void h_zk_start(struct h_ha *c, int port, int tick_ms)
{
    struct h_proc *p = &c->zk;
    char root[sizeof(c->root)];
    memcpy(root, c->root, sizeof(root));
    snprintf(p->dir, sizeof(p->dir), "%s/zk", root);
    mkdir(p->dir, 0755);
    snprintf(p->log, sizeof(p->log), "%s/zk.log", root);
    if (port <= 0)
        port = c->zk.port > 0 ? c->zk.port : free_port();
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/zoo.cfg", root);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    /* maxClientCnxns=0: every agent, master and scheduler of a test comes
     * from 127.0.0.1 (the default allows 60 per address). Sessions may be
     * short (two ticks) so that failovers are quick. */
    fprintf(f,
            "tickTime=%d\n"
            "dataDir=%s\n"
            "clientPort=%d\n"
            "clientPortAddress=127.0.0.1\n"
            "maxClientCnxns=0\n"
            "minSessionTimeout=%d\n"
            "maxSessionTimeout=60000\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr\n",
            tick_ms, p->dir, port, 2 * tick_ms);
    fclose(f);
    char cp[300];
    snprintf(cp, sizeof(cp), "%s:%s", ZK_JAR, SLF4J_SIMPLE_JAR);
    char *argv[] = {JAVA, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp,
                    "org.apache.zookeeper.server.ZooKeeperServerMain", cfg, NULL};
    p->pid = spawn(argv, p->log);
    p->port = port;
    snprintf(c->zk_url, sizeof(c->zk_url), "zk://127.0.0.1:%d/tepui", port);
    double deadline = clock_mono() + 30;
    while (!zk_ruok(port)) {
        if (clock_mono() > deadline || waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            h_ha_dump_logs(c);
            fail_msg("ZooKeeper did not start on port %d (see %s)", port, p->log);
        }
        sleep_ms(20);
    }
}

void h_zk_stop(struct h_ha *c)
{
    pid_t pid = c->zk.pid;
    int port = c->zk.port;
    h_stop(&c->zk, SIGKILL);
    forget(pid);
    c->zk.port = port;   /* restarted on the same port */
}

int h_ha_start_master(struct h_ha *c, const char *const *flags)
{
    assert_true(c->n_masters < HA_MAX_MASTERS);
    int i = c->n_masters++;
    struct h_proc *p = &c->masters[i];
    char root[sizeof(c->root)];
    memcpy(root, c->root, sizeof(root));
    snprintf(p->dir, sizeof(p->dir), "%s/master%d", root, i);
    mkdir(p->dir, 0755);
    snprintf(p->log, sizeof(p->log), "%s/master%d.log", root, i);
    char port_file[600], pf[700], wd[700], zk[200];
    snprintf(port_file, sizeof(port_file), "%s/master%d.port", root, i);
    unlink(port_file);
    snprintf(pf, sizeof(pf), "--port_file=%s", port_file);
    snprintf(wd, sizeof(wd), "--work_dir=%s", p->dir);
    snprintf(zk, sizeof(zk), "--zk=%s", c->zk_url);
    char *argv[64] = {(char *)h_bin("tepui-master"), "--ip=127.0.0.1", "--port=0", pf, wd, zk,
                      "--allocation_interval=100ms"};
    size_t n = 7;
    for (const char *const *f = flags; f != NULL && *f != NULL && n < 62; f++)
        argv[n++] = (char *)*f;
    argv[n] = NULL;
    p->pid = spawn(argv, p->log);
    read_port_file(p, port_file, 20);
    if (p->port <= 0)
        h_ha_dump_logs(c);
    assert_true(p->port > 0);
    return i;
}

static void start_agent(struct h_ha *c, int i, const char *const *flags);

int h_ha_start_agent(struct h_ha *c, const char *const *flags)
{
    assert_true(c->n_agents < HA_MAX_AGENTS);
    int i = c->n_agents++;
    start_agent(c, i, flags);
    return i;
}

void h_ha_restart_agent(struct h_ha *c, int i, const char *const *flags)
{
    assert_true(i < c->n_agents && c->agents[i].pid <= 0);
    /* On its port again: an agent that recovers must keep its info. */
    char port[32];
    snprintf(port, sizeof(port), "--port=%d", c->agents[i].port);
    const char *argv[48] = {port};
    size_t n = 1;
    for (const char *const *f = flags; f != NULL && *f != NULL && n < 47; f++)
        argv[n++] = *f;
    argv[n] = NULL;
    start_agent(c, i, argv);
}

static void start_agent(struct h_ha *c, int i, const char *const *flags)
{
    struct h_proc *p = &c->agents[i];
    char root[sizeof(c->root)];
    memcpy(root, c->root, sizeof(root));
    snprintf(p->dir, sizeof(p->dir), "%s/agent%d", root, i);
    mkdir(p->dir, 0755);
    snprintf(p->log, sizeof(p->log), "%s/agent%d.log", root, i);
    char port_file[600], pf[700], wd[700], master[200];
    snprintf(port_file, sizeof(port_file), "%s/agent%d.port", root, i);
    unlink(port_file);
    snprintf(pf, sizeof(pf), "--port_file=%s", port_file);
    snprintf(wd, sizeof(wd), "--work_dir=%s", p->dir);
    snprintf(master, sizeof(master), "--master=%s", c->zk_url);
    char *argv[64] = {(char *)h_bin("tepui-agent"), "--ip=127.0.0.1", "--port=0", pf, wd, master,
                      "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31099]",
                      "--registration_backoff_factor=100ms"};
    size_t n = 8;
    for (const char *const *f = flags; f != NULL && *f != NULL && n < 62; f++)
        argv[n++] = (char *)*f;
    argv[n] = NULL;
    p->pid = spawn(argv, p->log);
    read_port_file(p, port_file, 20);
    if (p->port <= 0)
        h_ha_dump_logs(c);
    assert_true(p->port > 0);
}

int h_ha_wait_exit(struct h_proc *p, double timeout)
{
    double deadline = clock_mono() + timeout;
    int status = 0;
    while (p->pid > 0 && clock_mono() < deadline) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            forget(p->pid);
            p->pid = 0;
            return status;
        }
        sleep_ms(20);
    }
    return -1;
}

/* master/elected of a running master; -1 when it does not answer. */
static double elected(const struct h_proc *p)
{
    if (p->pid <= 0)
        return -1;
    struct h_response r;
    if (h_http(p->port, "GET", "/metrics/snapshot", NULL, NULL, 0, &r) != 0)
        return -1;
    double v = -1;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "master/elected");
    if (json_is_number(e))
        v = json_number_value(e);
    json_decref(j);
    h_response_free(&r);
    return v;
}

int h_ha_wait_leader(struct h_ha *c, double timeout)
{
    double deadline = clock_mono() + timeout;
    do {
        int leader = -1, n = 0;
        for (int i = 0; i < c->n_masters; i++)
            if (elected(&c->masters[i]) == 1) {
                leader = i;
                n++;
            }
        if (n == 1)
            return leader;
        assert_true(n <= 1);   /* never two leaders at once */
        sleep_ms(20);
    } while (clock_mono() < deadline);
    return -1;
}

char *h_zk_get(const struct h_ha *c, const char *path, size_t *len)
{
    char hosts[64];
    snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", c->zk.port);
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zhandle_t *zh = zookeeper_init(hosts, NULL, 10000, NULL, NULL, 0);
    if (zh == NULL)
        return NULL;
    double deadline = clock_mono() + 10;
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && clock_mono() < deadline)
        sleep_ms(10);
    char *out = NULL;
    if (zoo_state(zh) == ZOO_CONNECTED_STATE) {
        char buf[65536];
        int n = sizeof(buf) - 1;
        if (zoo_get(zh, path, 0, buf, &n, NULL) == ZOK && n >= 0) {
            out = xmalloc((size_t)n + 1);
            memcpy(out, buf, (size_t)n);
            out[n] = '\0';
            *len = (size_t)n;
        }
    }
    zookeeper_close(zh);
    return out;
}

int h_location_port(const char *location)
{
    if (location == NULL || strncmp(location, "//", 2) != 0)
        return -1;
    const char *slash = strchr(location + 2, '/');
    const char *colon = memrchr(location + 2, ':',
                                slash ? (size_t)(slash - location - 2) : strlen(location + 2));
    return colon != NULL ? atoi(colon + 1) : -1;
}

static int clean_exit(const char *name, const struct h_proc *p, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    fprintf(stderr, "harness: %s did not exit cleanly (%s %d); see %s\n", name,
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), p->log);
    return 0;
}

void h_ha_destroy(struct h_ha *c)
{
    int clean = 1;
    for (int i = 0; i < c->n_agents; i++) {
        pid_t pid = c->agents[i].pid;
        if (pid <= 0)
            continue;
        clean &= clean_exit("an agent", &c->agents[i], h_stop(&c->agents[i], SIGTERM));
        forget(pid);
    }
    for (int i = 0; i < c->n_masters; i++) {
        pid_t pid = c->masters[i].pid;
        if (pid <= 0)
            continue;
        clean &= clean_exit("a master", &c->masters[i], h_stop(&c->masters[i], SIGTERM));
        forget(pid);
    }
    if (c->zk.pid > 0)
        h_zk_stop(c);
    if (!clean) {
        h_ha_dump_logs(c);
        setenv("TEPUI_KEEP_TEST_DIRS", "1", 1);
    }
    if (c->root[0] != '\0' && getenv("TEPUI_KEEP_TEST_DIRS") == NULL) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->root);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: cannot remove %s\n", c->root);
    }
    assert_true(clean);
}

static void dump_one(const char *name, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > 5000 ? size - 5000 : 0;
    fseek(f, start, SEEK_SET);
    fprintf(stderr, "---- %s (%s, last %ld bytes) ----\n", name, path, size - start);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

void h_ha_dump_logs(const struct h_ha *c)
{
    dump_one("zookeeper", c->zk.log);
    for (int i = 0; i < c->n_masters; i++)
        dump_one("master", c->masters[i].log);
    for (int i = 0; i < c->n_agents; i++)
        dump_one("agent", c->agents[i].log);
}
