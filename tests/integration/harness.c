/* Integration harness implementation: process management, a small blocking
 * HTTP/1.1 client (with chunked decoding for event streams), and a raw
 * scheduler that speaks the v1 API in either encoding. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "wire/json.h"
#include "wire/pb.h"
#include "wire/recordio.h"

/* Every process we start, so that an aborted test leaves nothing behind. */
static pid_t started[64];
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

const char *h_bin(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    snprintf(b, 512, "%s/bin/%s", dir ? dir : "build", name);
    return b;
}

void h_cluster_init(struct h_cluster *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->root, sizeof(c->root), "/tmp/tepui-test-XXXXXX");
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
        /* A test process that dies (an assertion, a sanitizer abort) takes
         * its daemons with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], argv);
        _exit(127);
    }
    if (n_started < sizeof(started) / sizeof(started[0]))
        started[n_started++] = pid;
    return pid;
}

static int read_port_file(const char *path, pid_t pid, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (clock_mono() < deadline) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            int port = 0;
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0)
                return port;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* A free loopback port below the kernel's ephemeral range. Daemons listen
 * there, not on a port the kernel picks (--port=0), because a restarted
 * daemon takes its old port again: in the ephemeral range, a client
 * retrying its connection meanwhile may have been given that very port
 * as its own (even connected to itself), and the restart would fail. */
static int pick_port(void)
{
    int low = 32768, high = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    /* Below the ephemeral range (so no client's socket takes the port while
     * its daemon restarts) and below the agents' default task ports. */
    int first = 10000, last = low - 1 < 30999 ? low - 1 : 30999;
    if (last - first < 1000) {
        first = high + 1;
        last = 65535;
    }
    if (last - first < 1000)
        return 0;
    static unsigned int seed;
    if (seed == 0)
        seed = (unsigned int)getpid() ^ (unsigned int)clock_mono_ns();
    for (int tries = 0; tries < 100; tries++) {
        int port = first + (int)(rand_r(&seed) % (unsigned int)(last - first + 1));
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}

static void build_argv(char **argv, size_t *n, const char *const *flags)
{
    for (const char *const *f = flags; f != NULL && *f != NULL; f++)
        argv[(*n)++] = (char *)*f;
}

void h_start_master(struct h_cluster *c, const char *const *flags)
{
    struct h_proc *p = &c->master;
    char root[sizeof(c->root)];
    memcpy(root, c->root, sizeof(root));
    snprintf(p->dir, sizeof(p->dir), "%s/master", root);
    mkdir(p->dir, 0755);
    snprintf(p->log, sizeof(p->log), "%s/master.log", root);
    char port_file[600];
    snprintf(port_file, sizeof(port_file), "%s/master.port", c->root);
    unlink(port_file);
    char pf[700], wd[700], port[32];
    snprintf(pf, sizeof(pf), "--port_file=%s", port_file);
    snprintf(wd, sizeof(wd), "--work_dir=%s", p->dir);
    /* A port picked here may be taken before the master binds it: then
     * another (an explicit --port in flags wins over this one). */
    for (int attempt = 0; attempt < 5; attempt++) {
        snprintf(port, sizeof(port), "--port=%d", pick_port());
        char *argv[64] = {(char *)h_bin("tepui-master"), "--ip=127.0.0.1", port, pf, wd,
                          "--allocation_interval=100ms"};
        size_t n = 6;
        build_argv(argv, &n, flags);
        argv[n] = NULL;
        p->pid = spawn(argv, p->log);
        p->port = read_port_file(port_file, p->pid, 20);
        if (p->port > 0 || h_log_count(p, "Address already in use") == 0)
            break;
    }
    if (p->port <= 0)
        h_dump_logs(c);
    assert_true(p->port > 0);
}

void h_start_master_on_port(struct h_cluster *c, int port, const char *const *flags)
{
    /* A later --port overrides h_start_master's --port=0. */
    char port_flag[32];
    snprintf(port_flag, sizeof(port_flag), "--port=%d", port);
    const char *argv[48] = {port_flag};
    size_t n = 1;
    for (const char *const *f = flags; f != NULL && *f != NULL && n < 47; f++)
        argv[n++] = *f;
    argv[n] = NULL;
    h_start_master(c, argv);
    assert_int_equal(c->master.port, port);
}

void h_restart_master(struct h_cluster *c, int sig, const char *const *flags)
{
    int port = c->master.port;
    int status = h_stop(&c->master, sig ? sig : SIGKILL);
    if (sig == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        h_dump_logs(c);
        fail_msg("the master did not exit cleanly on SIGTERM (status %d)", status);
    }
    h_start_master_on_port(c, port, flags);
}

static int agents_registered(struct h_cluster *c)
{
    json_t *st = h_get_json(c->master.port, "/state");
    int n = (int)json_integer_value(json_object_get(st, "activated_slaves"));
    json_decref(st);
    return n;
}

int h_start_agent(struct h_cluster *c, const char *resources, const char *const *flags)
{
    assert_true(c->n_agents < H_MAX_AGENTS);
    int i = c->n_agents++;
    struct h_proc *p = &c->agents[i];
    char root[sizeof(c->root)];
    memcpy(root, c->root, sizeof(root));
    snprintf(p->dir, sizeof(p->dir), "%s/agent%d", root, i);
    mkdir(p->dir, 0755);
    snprintf(p->log, sizeof(p->log), "%s/agent%d.log", root, i);
    char port_file[600];
    snprintf(port_file, sizeof(port_file), "%s/agent%d.port", c->root, i);
    unlink(port_file);
    char pf[700], wd[700], master[128], res[512];
    snprintf(pf, sizeof(pf), "--port_file=%s", port_file);
    snprintf(wd, sizeof(wd), "--work_dir=%s", p->dir);
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", c->master.port);
    snprintf(res, sizeof(res), "--resources=%s",
             resources ? resources : "cpus:4;mem:4096;disk:4096;ports:[31000-31099]");
    int before = agents_registered(c);
    for (int attempt = 0; attempt < 5; attempt++) {
        char port[32];
        snprintf(port, sizeof(port), "--port=%d", pick_port());
        char *argv[64] = {(char *)h_bin("tepui-agent"), "--ip=127.0.0.1", port, pf, wd, master,
                          res, "--registration_backoff_factor=100ms"};
        size_t n = 8;
        build_argv(argv, &n, flags);
        argv[n] = NULL;
        p->pid = spawn(argv, p->log);
        p->port = read_port_file(port_file, p->pid, 20);
        if (p->port > 0 || h_log_count(p, "Address already in use") == 0)
            break;
    }
    if (p->port <= 0)
        h_dump_logs(c);
    assert_true(p->port > 0);
    double deadline = clock_mono() + 20;
    while (agents_registered(c) <= before && clock_mono() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (agents_registered(c) <= before)
        h_dump_logs(c);
    assert_true(agents_registered(c) > before);
    return i;
}

int h_stop(struct h_proc *p, int sig)
{
    int status = 0;
    if (p->pid <= 0)
        return 0;
    kill(p->pid, sig ? sig : SIGKILL);
    /* A graceful stop gets 20 s, then it is killed. */
    double deadline = clock_mono() + 20;
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (clock_mono() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n_started; i++)
        if (started[i] == p->pid)
            started[i] = 0;
    p->pid = 0;
    return status;
}

/* Whether p has exited, without reaping it (h_stop still sees its status). */
static int exited_unreaped(const struct h_proc *p);

int h_restart_agent(struct h_cluster *c, int i, const char *resources, const char *const *flags)
{
    assert_true(i >= 0 && i < c->n_agents);
    struct h_proc *p = &c->agents[i];
    assert_true(p->pid <= 0);
    char port_file[600];
    snprintf(port_file, sizeof(port_file), "%s/agent%d.port", c->root, i);
    unlink(port_file);
    char pf[700], wd[700], master[128], res[512], port[32];
    snprintf(pf, sizeof(pf), "--port_file=%s", port_file);
    snprintf(wd, sizeof(wd), "--work_dir=%s", p->dir);
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", c->master.port);
    snprintf(res, sizeof(res), "--resources=%s",
             resources ? resources : "cpus:4;mem:4096;disk:4096;ports:[31000-31099]");
    snprintf(port, sizeof(port), "--port=%d", p->port);
    char *argv[64] = {(char *)h_bin("tepui-agent"), "--ip=127.0.0.1", port, pf, wd, master, res,
                      "--registration_backoff_factor=100ms"};
    size_t n = 8;
    build_argv(argv, &n, flags);
    argv[n] = NULL;
    p->pid = spawn(argv, p->log);
    double deadline = clock_mono() + 30;
    while (clock_mono() < deadline) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            int got = 0;
            int ok = fscanf(f, "%d", &got) == 1;
            fclose(f);
            if (ok && got > 0) {
                assert_int_equal(got, p->port);
                return 0;
            }
        }
        if (exited_unreaped(p))
            return -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    h_dump_logs(c);
    fail_msg("the restarted agent %d did not serve within 30 s", i);
    return -1;
}

int h_agent_registered(int port)
{
    return h_metric(port, "slave/registered") == 1;
}

/* Whether a process's environment has an entry starting with prefix. */
static int environ_has_prefix(long pid, const char *prefix)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t cap = 1 << 20, n;
    char *buf = malloc(cap + 1);
    n = buf ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    if (buf == NULL)
        return 0;
    buf[n] = '\0';
    int found = 0;
    size_t len = strlen(prefix);
    for (size_t i = 0; i < n && !found; i += strlen(buf + i) + 1)
        found = strncmp(buf + i, prefix, len) == 0;
    free(buf);
    return found;
}

int h_kill_leftovers(const struct h_cluster *c)
{
    if (c->root[0] == '\0')
        return 0;
    char prefix[400];
    snprintf(prefix, sizeof(prefix), "MESOS_DIRECTORY=%s/", c->root);
    int killed = 0;
    /* Passes repeat while they find something: a process may fork while
     * one runs. */
    for (int pass = 0; pass < 10; pass++) {
        int found = 0;
        DIR *d = opendir("/proc");
        if (d == NULL)
            break;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end = NULL;
            long pid = strtol(de->d_name, &end, 10);
            if (end == de->d_name || *end != '\0' || pid <= 1 || pid == (long)getpid())
                continue;
            if (environ_has_prefix(pid, prefix) && kill((pid_t)pid, SIGKILL) == 0) {
                found = 1;
                killed++;
            }
        }
        closedir(d);
        if (!found)
            break;
    }
    return killed;
}

/* A daemon stopped with SIGTERM must exit 0: under the sanitizers a leak or
 * an error found at exit makes the exit status non-zero. */
static int check_clean_exit(const char *name, const struct h_proc *p, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    fprintf(stderr, "harness: %s did not exit cleanly (%s %d); see %s\n", name,
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), p->log);
    return 0;
}

void h_cluster_destroy(struct h_cluster *c)
{
    int clean = 1;
    for (int i = 0; i < c->n_agents; i++) {
        int was_running = c->agents[i].pid > 0;
        int status = h_stop(&c->agents[i], SIGTERM);
        if (was_running)
            clean &= check_clean_exit("an agent", &c->agents[i], status);
    }
    /* Executors of checkpointing frameworks outlive their agent. */
    h_kill_leftovers(c);
    int master_running = c->master.pid > 0;
    int status = h_stop(&c->master, SIGTERM);
    if (master_running)
        clean &= check_clean_exit("the master", &c->master, status);
    if (!clean) {
        h_dump_logs(c);
        setenv("TEPUI_KEEP_TEST_DIRS", "1", 1);
    }
    /* Executors the agents started go with their sessions. */
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
    long start = size > 6000 ? size - 6000 : 0;
    fseek(f, start, SEEK_SET);
    fprintf(stderr, "---- %s (%s, last %ld bytes) ----\n", name, path, size - start);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

void h_dump_logs(const struct h_cluster *c)
{
    dump_one("master", c->master.log);
    for (int i = 0; i < c->n_agents; i++)
        dump_one("agent", c->agents[i].log);
}

/* Whether p has exited, without reaping it (h_stop still sees its status). */
static int exited_unreaped(const struct h_proc *p)
{
    if (p->pid <= 0)
        return 0;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

const char *h_daemon_died(const struct h_cluster *c)
{
    if (exited_unreaped(&c->master))
        return c->master.log;
    for (int i = 0; i < c->n_agents; i++)
        if (exited_unreaped(&c->agents[i]))
            return c->agents[i].log;
    return NULL;
}

int h_log_count(const struct h_proc *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    if (f == NULL)
        return 0;
    int count = 0;
    char line[8192];
    while (fgets(line, sizeof(line), f) != NULL)
        count += strstr(line, needle) != NULL;
    fclose(f);
    return count;
}

int h_run_capture(const char *const *argv, char *out, size_t n, double timeout)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (n_started < sizeof(started) / sizeof(started[0]))
        started[n_started++] = pid;
    size_t len = 0;
    double deadline = clock_mono() + timeout;
    int timed_out = 0;
    for (;;) {
        double left = deadline - clock_mono();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char buf[4096];
        ssize_t r = read(fds[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t keep = n > 0 && len < n - 1 ? n - 1 - len : 0;
        if ((size_t)r < keep)
            keep = (size_t)r;
        memcpy(out + len, buf, keep);
        len += keep;
    }
    close(fds[0]);
    if (n > 0)
        out[len] = '\0';
    /* EOF: the program has exited or closed its output; wait for it. */
    int status = 0;
    while (!timed_out && waitpid(pid, &status, WNOHANG) == 0) {
        if (clock_mono() > deadline) {
            timed_out = 1;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct h_proc p = {.pid = pid};
    if (timed_out) {
        h_stop(&p, SIGKILL);
        return -1;
    }
    for (size_t i = 0; i < n_started; i++)
        if (started[i] == pid)
            started[i] = 0;
    return status;
}

/* ---- blocking HTTP ---- */

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into *buf (growing it); 0 on EOF, -1 on timeout/error. */
static ssize_t read_more(int fd, char **buf, size_t *len, double deadline)
{
    double left = deadline - clock_mono();
    if (left <= 0)
        return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)(left * 1000) + 1);
    if (r <= 0)
        return -1;
    *buf = xrealloc(*buf, *len + 65536 + 1);
    ssize_t n = read(fd, *buf + *len, 65536);
    if (n < 0)
        return -1;
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return n;
}

static int send_request(int fd, int port, const char *method, const char *path,
                        const char *headers, const void *body, size_t len)
{
    char *head = xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %zu\r\n%s\r\n",
                           method, path, port, len, headers ? headers : "");
    int rc = write_all(fd, head, strlen(head));
    free(head);
    if (rc != 0)
        return -1;
    if (len > 0 && write_all(fd, body, len) != 0)
        return -1;
    return 0;
}

/* Splits off the status line and headers; returns the header length or 0. */
static size_t parse_head(const char *buf, size_t len, int *status)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        *status = -1;
    return (size_t)(end - buf) + 4;
}

static const char *find_header(const char *head, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            if (vl >= n)
                vl = n - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
    }
    return NULL;
}

const char *h_header(const struct h_response *r, const char *name, char *out, size_t n)
{
    return r->headers ? find_header(r->headers, name, out, n) : NULL;
}

/* De-chunks as much of raw as is complete into out; returns 1 when the last
 * chunk was seen, 0 when more bytes are needed, -1 on a framing error. */
static int dechunk(char **raw, size_t *n_raw, char **out, size_t *n_out)
{
    size_t pos = 0;
    int done = 0;
    for (;;) {
        const char *nl = memmem(*raw + pos, *n_raw - pos, "\r\n", 2);
        if (nl == NULL)
            break;
        char *end = NULL;
        unsigned long size = strtoul(*raw + pos, &end, 16);
        if (end == *raw + pos)
            return -1;
        size_t data = (size_t)(nl - *raw) + 2;
        if (size == 0) {
            done = 1;
            pos = *n_raw;
            break;
        }
        if (*n_raw < data + size + 2)
            break;
        *out = xrealloc(*out, *n_out + size + 1);
        memcpy(*out + *n_out, *raw + data, size);
        *n_out += size;
        (*out)[*n_out] = '\0';
        pos = data + size + 2;
    }
    memmove(*raw, *raw + pos, *n_raw - pos);
    *n_raw -= pos;
    return done;
}

int h_http(int port, const char *method, const char *path, const char *headers,
           const void *body, size_t len, struct h_response *out)
{
    memset(out, 0, sizeof(*out));
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    /* A server may answer (413) and close before reading a large body, so
     * a failed write still leaves a response to read. */
    (void)send_request(fd, port, method, path, headers, body, len);
    double deadline = clock_mono() + 10;
    char *buf = NULL;
    size_t n = 0, head_len = 0;
    int status = 0;
    while ((head_len = parse_head(buf ? buf : "", n, &status)) == 0)
        if (read_more(fd, &buf, &n, deadline) <= 0)
            goto fail;
    out->status = status;
    out->headers = xstrndup(buf, head_len);
    char value[64];
    if (find_header(out->headers, "Content-Length", value, sizeof(value)) != NULL) {
        size_t want = head_len + strtoul(value, NULL, 10);
        while (n < want)
            if (read_more(fd, &buf, &n, deadline) <= 0)
                goto fail;
        out->len = want - head_len;
        out->body = xmemdup(buf + head_len, out->len + 1);
        out->body[out->len] = '\0';
    } else if (find_header(out->headers, "Transfer-Encoding", value, sizeof(value)) != NULL) {
        char *raw = xmemdup(buf + head_len, n - head_len + 1);
        size_t n_raw = n - head_len;
        char *cbuf = NULL;
        size_t cn = 0;
        int rc;
        while ((rc = dechunk(&raw, &n_raw, &out->body, &out->len)) == 0) {
            if (read_more(fd, &cbuf, &cn, deadline) <= 0) {
                free(raw);
                free(cbuf);
                goto fail;
            }
            raw = xrealloc(raw, n_raw + cn + 1);
            memcpy(raw + n_raw, cbuf, cn);
            n_raw += cn;
            cn = 0;
        }
        free(raw);
        free(cbuf);
    } else {
        while (read_more(fd, &buf, &n, deadline) > 0)
            ;
        out->len = n - head_len;
        out->body = xmemdup(buf + head_len, out->len + 1);
        out->body[out->len] = '\0';
    }
    if (out->body == NULL)
        out->body = xstrdup("");
    free(buf);
    close(fd);
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

size_t h_http_stream_read(int port, const char *path, const char *headers, const char *body,
                          double seconds, char **out)
{
    *out = xstrdup("");
    int fd = connect_port(port);
    if (fd < 0)
        return 0;
    (void)send_request(fd, port, "POST", path, headers, body, body ? strlen(body) : 0);
    double deadline = clock_mono() + seconds;
    size_t n = 0;
    while (read_more(fd, out, &n, deadline) > 0)
        ;
    close(fd);
    return n;
}

void h_response_free(struct h_response *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

json_t *h_get_json(int port, const char *path)
{
    struct h_response r;
    assert_int_equal(h_http(port, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *j = json_loadb(r.body, r.len, 0, &je);
    if (j == NULL)
        fprintf(stderr, "harness: bad JSON from %s: %s\n", path, je.text);
    assert_non_null(j);
    h_response_free(&r);
    return j;
}

/* ---- the raw scheduler ---- */

static const char *media(enum wire_format f)
{
    return f == WIRE_PROTOBUF ? WIRE_MEDIA_PROTOBUF : WIRE_MEDIA_JSON;
}

/* Turns a JSON call into a body in the scheduler's format. */
static void encode_json(const ProtobufCMessageDescriptor *d, const char *json, enum wire_format f,
                        struct buf *out)
{
    if (f == WIRE_JSON) {
        buf_append_str(out, json);
        return;
    }
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(d, json, strlen(json), &err);
    if (m == NULL)
        fprintf(stderr, "harness: cannot encode %s: %s\n", json, err.msg);
    assert_non_null(m);
    pb_pack_buf(m, out);
    pb_free(m);
}

static void queue_events(struct h_sched *s)
{
    /* RecordIO over the de-chunked bytes. */
    for (;;) {
        const char *nl = memchr(s->pending, '\n', s->n_pending);
        if (nl == NULL)
            return;
        size_t size = strtoul(s->pending, NULL, 10);
        size_t start = (size_t)(nl - s->pending) + 1;
        if (s->n_pending < start + size)
            return;
        struct error err = {0};
        Tepui__Scheduler__Event *ev = (Tepui__Scheduler__Event *)wire_decode(
            &tepui__scheduler__event__descriptor, s->format, s->pending + start, size, &err);
        if (ev == NULL)
            fprintf(stderr, "harness: undecodable event: %s\n", err.msg);
        assert_non_null(ev);
        s->queue = xrealloc(s->queue, (s->n_queue + 1) * sizeof(*s->queue));
        s->queue[s->n_queue++] = ev;
        memmove(s->pending, s->pending + start + size, s->n_pending - start - size);
        s->n_pending -= start + size;
    }
}

static int pump(struct h_sched *s, double deadline)
{
    if (s->closed)
        return -1;
    char *tmp = NULL;
    size_t n = 0;
    ssize_t r = read_more(s->fd, &tmp, &n, deadline);
    if (r <= 0) {
        free(tmp);
        if (r == 0)
            s->closed = 1;
        return -1;
    }
    s->raw = xrealloc(s->raw, s->n_raw + n + 1);
    memcpy(s->raw + s->n_raw, tmp, n);
    s->n_raw += n;
    free(tmp);
    int rc = dechunk(&s->raw, &s->n_raw, &s->pending, &s->n_pending);
    if (rc != 0)
        s->closed = 1;
    queue_events(s);
    return 0;
}

int h_sched_subscribe(struct h_sched *s, int port, enum wire_format fmt,
                      const char *framework_info_json)
{
    memset(s, 0, sizeof(*s));
    s->port = port;
    s->format = fmt;
    s->fd = connect_port(port);
    assert_true(s->fd >= 0);
    char *call = xasprintf("{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":%s}}",
                           framework_info_json);
    struct buf body = BUF_INIT;
    encode_json(&tepui__scheduler__call__descriptor, call, fmt, &body);
    free(call);
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nAccept: %s\r\n", media(fmt), media(fmt));
    assert_int_equal(send_request(s->fd, port, "POST", "/api/v1/scheduler", headers, body.data,
                                  body.len), 0);
    buf_free(&body);
    double deadline = clock_mono() + 10;
    char *buf = NULL;
    size_t n = 0, head_len;
    int status = 0;
    while ((head_len = parse_head(buf ? buf : "", n, &status)) == 0)
        if (read_more(s->fd, &buf, &n, deadline) <= 0) {
            free(buf);
            return -1;
        }
    char *head = xstrndup(buf, head_len);
    find_header(head, "Mesos-Stream-Id", s->stream_id, sizeof(s->stream_id));
    find_header(head, "Location", s->location, sizeof(s->location));
    free(head);
    s->raw = xmemdup(buf + head_len, n - head_len + 1);
    s->n_raw = n - head_len;
    free(buf);
    if (status != 200)
        return status;
    if (dechunk(&s->raw, &s->n_raw, &s->pending, &s->n_pending) != 0)
        s->closed = 1;
    queue_events(s);
    Tepui__Scheduler__Event *ev = h_sched_next(s, TEPUI__SCHEDULER__EVENT__TYPE__SUBSCRIBED, 10);
    if (ev == NULL)
        return -1;
    snprintf(s->framework_id, sizeof(s->framework_id), "%s",
             ev->subscribed->framework_id->value);
    pb_free(ev);
    return 200;
}

Tepui__Scheduler__Event *h_sched_next(struct h_sched *s, int type, double timeout)
{
    double deadline = clock_mono() + timeout;
    for (;;) {
        for (size_t i = 0; i < s->n_queue; i++) {
            Tepui__Scheduler__Event *ev = s->queue[i];
            if (type == 0 || (ev->has_type && (int)ev->type == type)) {
                memmove(&s->queue[i], &s->queue[i + 1], (s->n_queue - i - 1) * sizeof(*s->queue));
                s->n_queue--;
                return ev;
            }
        }
        if (pump(s, deadline) != 0)
            return NULL;
    }
}

int h_sched_call(struct h_sched *s, const char *call_json, struct h_response *out)
{
    json_error_t je;
    json_t *j = json_loads(call_json, 0, &je);
    assert_non_null(j);
    if (json_object_get(j, "framework_id") == NULL)
        json_object_set_new(j, "framework_id", json_pack("{s:s}", "value", s->framework_id));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct buf body = BUF_INIT;
    encode_json(&tepui__scheduler__call__descriptor, text, s->format, &body);
    free(text);
    char headers[512];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nMesos-Stream-Id: %s\r\n",
             media(s->format), s->stream_id);
    struct h_response r;
    int rc = h_http(s->port, "POST", "/api/v1/scheduler", headers, body.data, body.len, &r);
    buf_free(&body);
    if (rc != 0)
        return -1;
    int status = r.status;
    if (out != NULL)
        *out = r;
    else
        h_response_free(&r);
    return status;
}

int h_sched_launch(struct h_sched *s, const Tepui__Offer *offer, const char *task_id,
                   const char *command, const char *resources_json)
{
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"%s\","
        "\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"resources\":%s,"
        "\"command\":{\"value\":\"%s\"}}]}}],\"filters\":{\"refuse_seconds\":0}}}",
        offer->id->value, task_id, task_id, offer->agent_id->value,
        resources_json ? resources_json
                       : "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
                         "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]",
        command);
    int status = h_sched_call(s, call, NULL);
    free(call);
    return status;
}

Tepui__TaskStatus *h_sched_wait_state(struct h_sched *s, const char *task_id, int state,
                                      double timeout)
{
    double deadline = clock_mono() + timeout;
    for (;;) {
        double left = deadline - clock_mono();
        if (left <= 0)
            return NULL;
        Tepui__Scheduler__Event *ev = h_sched_next(s, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, left);
        if (ev == NULL)
            return NULL;
        Tepui__TaskStatus *st = ev->update->status;
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        if (strcmp(st->task_id->value, task_id) == 0 && (int)st->state == state) {
            Tepui__TaskStatus *copy = PB_COPY(Tepui__TaskStatus, st);
            pb_free(ev);
            return copy;
        }
        pb_free(ev);
    }
}

int h_sched_ack(struct h_sched *s, const Tepui__TaskStatus *st)
{
    if (!st->has_uuid)
        return 0;
    Tepui__Scheduler__Call__Acknowledge ack = TEPUI__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    ack.agent_id = st->agent_id;
    ack.task_id = st->task_id;
    ack.uuid = st->uuid;
    struct buf json = BUF_INIT;
    wire_json_encode(&ack.base, &json);
    char *call = xasprintf("{\"type\":\"ACKNOWLEDGE\",\"acknowledge\":%s}", buf_cstr(&json));
    buf_free(&json);
    int rc = h_sched_call(s, call, NULL);
    free(call);
    return rc;
}

void h_sched_close(struct h_sched *s)
{
    if (s->fd > 0)
        close(s->fd);
    s->fd = -1;
    for (size_t i = 0; i < s->n_queue; i++)
        pb_free(s->queue[i]);
    free(s->queue);
    free(s->raw);
    free(s->pending);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

const char *h_framework_json(const char *name, const char *extra_fields)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    struct passwd *pw = getpwuid(getuid());
    snprintf(b, 1024, "{\"user\":\"%s\",\"name\":\"%s\"%s%s}", pw ? pw->pw_name : "root", name,
             extra_fields ? "," : "", extra_fields ? extra_fields : "");
    return b;
}

/* ---- the agent's sandboxes ---- */

static const char *executor_directory(json_t *executors, const char *executor_id)
{
    size_t i;
    json_t *e;
    json_array_foreach(executors, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (id != NULL && strcmp(id, executor_id) == 0)
            return json_string_value(json_object_get(e, "directory"));
    }
    return NULL;
}

char *h_agent_sandbox(const struct h_cluster *c, int agent, const char *framework_id,
                      const char *executor_id)
{
    json_t *st = h_get_json(c->agents[agent].port, "/state");
    static const char *lists[] = {"frameworks", "completed_frameworks"};
    const char *dir = NULL;
    for (size_t l = 0; l < 2 && dir == NULL; l++) {
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(st, lists[l]), i, f) {
            const char *id = json_string_value(json_object_get(f, "id"));
            if (id == NULL || strcmp(id, framework_id) != 0)
                continue;
            dir = executor_directory(json_object_get(f, "executors"), executor_id);
            if (dir == NULL)
                dir = executor_directory(json_object_get(f, "completed_executors"), executor_id);
            if (dir != NULL)
                break;
        }
    }
    char *out = dir != NULL && dir[0] != '\0' ? xstrdup(dir) : NULL;
    json_decref(st);
    return out;
}

/* Percent-encodes a query value (RFC 3986 unreserved characters and '/'
 * stay as they are). */
static char *query_encode(const char *v)
{
    struct buf b = BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p) != NULL)
            buf_append(&b, (const char *)p, 1);
        else
            buf_printf(&b, "%%%02X", *p);
    }
    char *out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

char *h_agent_read_file(int port, const char *path)
{
    char *enc = query_encode(path);
    char *url = xasprintf("/files/read?path=%s&offset=0&length=65536", enc);
    free(enc);
    struct h_response r;
    int rc = h_http(port, "GET", url, NULL, NULL, 0, &r);
    free(url);
    if (rc != 0)
        return NULL;
    char *out = NULL;
    if (r.status == 200) {
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        const char *data = json_string_value(json_object_get(j, "data"));
        if (data != NULL)
            out = xstrdup(data);
        json_decref(j);
    }
    h_response_free(&r);
    return out;
}

double h_metric(int port, const char *name)
{
    json_t *m = h_get_json(port, "/metrics/snapshot");
    json_t *v = json_object_get(m, name);
    double out = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(m);
    return out;
}

int h_wait_until(int (*fn)(void *arg), void *arg, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (clock_mono() < deadline) {
        if (fn(arg))
            return 1;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return fn(arg);
}
