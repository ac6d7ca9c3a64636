/* rendler-render-executor: RENDLER's render executor. An agent starts it in
 * a sandbox the fetcher filled from the scheduler's archive. Each task is
 * one page (its URL in TaskInfo.data): headless Chromium takes a screenshot
 * of it into the sandbox, and the executor tells the scheduler where the
 * file is (a framework message: agent, sandbox path) before it reports
 * TASK_FINISHED. The scheduler downloads the file through the agent's
 * /files/download. Each screenshot is a Chromium process of its own, in its
 * own session, watched from the loop (SIGCHLD, a timer). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "links.h"
#include "rendler.h"
#include "tepui/executor.h"

#define LOG_COMPONENT "rendler-render"

extern char **environ;

struct renderer;

struct render {
    struct renderer *r;
    char *task_id;
    char *url;
    char *shot;                    /* the screenshot, in the sandbox */
    char *profile;                 /* Chromium's user data dir for this task */
    char *log;                     /* Chromium's stdout and stderr */
    pid_t pid;                     /* Chromium, leader of its own session */
    struct event *timer;           /* --timeout */
    int killed, timed_out;
    struct render *next;
};

struct renderer {
    struct event_base *base;
    struct tepui_executor *lib;
    const struct tepui_executor_options *opts;
    char *sandbox;                 /* absolute */
    char *chromium;
    char *window_size;
    double timeout;
    struct render *renders;
    struct event *sigchld;
    int exit_code;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void render_free(struct render *rd)
{
    if (rd == NULL)
        return;
    if (rd->timer != NULL)
        event_free(rd->timer);
    /* A profile is tens of megabytes the sandbox need not keep. */
    if (rd->profile != NULL)
        nftw(rd->profile, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(rd->task_id);
    free(rd->url);
    free(rd->shot);
    free(rd->profile);
    free(rd->log);
    free(rd);
}

static void render_unlink(struct renderer *r, struct render *rd)
{
    for (struct render **p = &r->renders; *p; p = &(*p)->next)
        if (*p == rd) {
            *p = rd->next;
            return;
        }
}

/* The last line Chromium wrote, for a failure's message. */
static void log_tail(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[2048];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t start = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t got = pread(fd, buf, sizeof(buf) - 1, start);
    close(fd);
    if (got <= 0)
        return;
    buf[got] = '\0';
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        buf[--got] = '\0';
    const char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    size_t len = strlen(line) < n - 1 ? strlen(line) : n - 1;
    memcpy(out, line, len);
    out[len] = '\0';
}

/* Chromium has exited (status from waitpid): report the task. */
static void render_ended(struct renderer *r, struct render *rd, int status)
{
    /* Its helpers (zygote, renderers) share its process group. */
    kill(-rd->pid, SIGKILL);
    rd->pid = 0;
    render_unlink(r, rd);
    struct stat st;
    char msg[1024];
    if (rd->killed) {
        rendler_send_status(r->lib, rd->task_id, TEPUI__TASK_STATE__TASK_KILLED,
                            "Killed while rendering", 0);
    } else if (rd->timed_out) {
        snprintf(msg, sizeof(msg), "Chromium did not finish %s within %.0f s", rd->url,
                 r->timeout);
        rendler_send_status(r->lib, rd->task_id, TEPUI__TASK_STATE__TASK_FAILED, msg, 0);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(rd->shot, &st) == 0 &&
               st.st_size > 0) {
        struct rendler_result res = {
            .kind = RENDLER_RESULT_RENDER,
            .task_id = rd->task_id,
            .url = rd->url,
            .agent_id = r->opts->agent_id,
            .agent_endpoint = r->opts->agent_endpoint,
            .path = rd->shot,
            .size = (long long)st.st_size,
        };
        size_t len = 0;
        char *text = rendler_result_encode(&res, &len);
        if (tepui_executor_message(r->lib, text, len) != 0)
            log_warn("task %s: cannot tell where the screenshot is: not subscribed", rd->task_id);
        free(text);
        snprintf(msg, sizeof(msg), "%lld bytes in %s", (long long)st.st_size, rd->shot);
        log_info("task %s: rendered %s: %s", rd->task_id, rd->url, msg);
        rendler_send_status(r->lib, rd->task_id, TEPUI__TASK_STATE__TASK_FINISHED, msg, 0);
    } else {
        char tail[512];
        log_tail(rd->log, tail, sizeof(tail));
        if (WIFEXITED(status))
            snprintf(msg, sizeof(msg), "Chromium exited with status %d without a screenshot: %s",
                     WEXITSTATUS(status), tail);
        else
            snprintf(msg, sizeof(msg), "Chromium was terminated by signal %d: %s",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, tail);
        log_warn("task %s: %s", rd->task_id, msg);
        rendler_send_status(r->lib, rd->task_id, TEPUI__TASK_STATE__TASK_FAILED, msg, 0);
    }
    render_free(rd);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    struct renderer *r = arg;
    (void)sig, (void)what;
    struct render *rd = r->renders;
    while (rd != NULL) {
        struct render *next = rd->next;
        int status = 0;
        if (rd->pid > 0 && waitpid(rd->pid, &status, WNOHANG) == rd->pid)
            render_ended(r, rd, status);
        rd = next;
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct render *rd = arg;
    (void)fd, (void)what;
    log_warn("task %s: Chromium is still rendering %s after %.0f s; killing it", rd->task_id,
             rd->url, rd->r->timeout);
    rd->timed_out = 1;
    kill(-rd->pid, SIGKILL);
}

/* Starts Chromium with the flags it needs to start at all on a machine
 * without a display, a sandbox-capable kernel or a network beyond the
 * pages: no GPU, no QUIC, no first-run, sync or component updates. */
static int start_chromium(struct renderer *r, struct render *rd, struct error *err)
{
    char *shot_flag = xasprintf("--screenshot=%s", rd->shot);
    char *profile_flag = xasprintf("--user-data-dir=%s", rd->profile);
    char *size_flag = xasprintf("--window-size=%s", r->window_size);
    char *argv[] = {r->chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    profile_flag,
                    shot_flag,
                    size_flag,
                    rd->url,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, rd->log, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(&rd->pid, r->chromium, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(shot_flag);
    free(profile_flag);
    free(size_flag);
    if (rc != 0) {
        rd->pid = 0;
        return error_set(err, -rc, "cannot start %s: %s", r->chromium, strerror(rc));
    }
    return 0;
}

static void on_launch(struct tepui_executor *e, const Tepui__TaskInfo *task, void *arg)
{
    struct renderer *r = arg;
    struct error err = {0};
    const char *id = task->task_id->value;
    char *url = task->has_data && task->data.len > 0
                    ? xstrndup((const char *)task->data.data, task->data.len)
                    : NULL;
    char *norm = url ? url_resolve(NULL, url) : NULL;
    if (norm == NULL || strchr(id, '/') != NULL) {
        rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_FAILED,
                            "TaskInfo.data must hold the http(s) URL to render", 1);
        free(url);
        free(norm);
        return;
    }
    struct render *rd = XNEW(struct render);
    rd->r = r;
    rd->task_id = xstrdup(id);
    rd->url = norm;
    free(url);
    rd->shot = xasprintf("%s/screenshots/%s.png", r->sandbox, id);
    rd->profile = xasprintf("%s/chromium/%s", r->sandbox, id);
    rd->log = xasprintf("%s/chromium/%s.log", r->sandbox, id);
    int rc = fs_mkdirs(rd->profile);
    char *shots = xasprintf("%s/screenshots", r->sandbox);
    if (rc == 0)
        rc = fs_mkdirs(shots);
    free(shots);
    if (rc != 0)
        error_set(&err, rc, "cannot create directories in the sandbox: %s", strerror(-rc));
    if (rc != 0 || start_chromium(r, rd, &err) != 0) {
        log_warn("task %s: %s", id, err.msg);
        /* Without Chromium on this agent no attempt will do better here. */
        rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_FAILED, err.msg, err.code == -ENOENT);
        render_free(rd);
        return;
    }
    rd->timer = evtimer_new(r->base, on_timeout, rd);
    struct timeval tv = clock_timeval(r->timeout);
    evtimer_add(rd->timer, &tv);
    rd->next = r->renders;
    r->renders = rd;
    log_info("task %s: rendering %s with Chromium (pid %d)", id, rd->url, (int)rd->pid);
    rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_RUNNING, NULL, 0);
}

static void on_kill(struct tepui_executor *e, const Tepui__TaskID *task_id,
                    const Tepui__KillPolicy *policy, void *arg)
{
    struct renderer *r = arg;
    (void)e, (void)policy;
    for (struct render *rd = r->renders; rd; rd = rd->next)
        if (strcmp(rd->task_id, task_id->value) == 0 && rd->pid > 0) {
            rd->killed = 1;
            kill(-rd->pid, SIGKILL);
        }
}

static void stop(struct renderer *r, int code)
{
    while (r->renders != NULL) {
        struct render *rd = r->renders;
        r->renders = rd->next;
        if (rd->pid > 0) {
            kill(-rd->pid, SIGKILL);
            waitpid(rd->pid, NULL, 0);
        }
        render_free(rd);
    }
    r->exit_code = code;
    event_base_loopbreak(r->base);
}

static void on_shutdown(struct tepui_executor *e, void *arg)
{
    (void)e;
    log_info("shutting down");
    stop(arg, 0);
}

static void on_disconnected(struct tepui_executor *e, const char *reason, void *arg)
{
    (void)e;
    log_warn("lost the agent for good (%s); stopping", reason);
    stop(arg, 1);
}

static void on_error(struct tepui_executor *e, const char *message, void *arg)
{
    (void)e, (void)arg;
    log_warn("error from the agent: %s", message);
}

int main(int argc, char **argv)
{
    struct renderer r = {.exit_code = 1};
    char *logging_level = NULL;
    struct flag_def defs[] = {
        {"chromium", FLAG_STRING, &r.chromium, "chromium",
         "The Chromium program (looked up in PATH)"},
        {"window_size", FLAG_STRING, &r.window_size, "1024,768",
         "Width,height of the screenshots in pixels"},
        {"timeout", FLAG_DURATION, &r.timeout, "60secs",
         "How long one screenshot may take before Chromium is killed"},
        {"logging_level", FLAG_STRING, &logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
    };
    struct flag_set fs = {
        .program = RENDLER_RENDER_EXECUTOR,
        .summary = "RENDLER's render executor: screenshots the page of each task with headless "
                   "Chromium. Started by an agent, not by hand.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct tepui_executor_options opts = {0};
    struct error err = {0};
    int code = 2;
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", RENDLER_RENDER_EXECUTOR, err.msg);
        code = rc < 0 ? 2 : 0;
        goto out;
    }
    int level = log_level_parse(logging_level);
    if (level < 0 || r.timeout <= 0) {
        fprintf(stderr, "%s: bad --logging_level or --timeout\n", RENDLER_RENDER_EXECUTOR);
        goto out;
    }
    log_set_level((enum log_level)level);
    if (tepui_executor_options_from_env(&opts, &err) != 0) {
        fprintf(stderr, "%s: %s\n", RENDLER_RENDER_EXECUTOR, err.msg);
        goto out;
    }
    /* Screenshots are named by absolute path: the scheduler asks the agent
     * for them by it. */
    const char *dir = opts.directory ? opts.directory : opts.sandbox;
    char cwd[4096];
    if (dir == NULL)
        dir = getcwd(cwd, sizeof(cwd));
    if (dir == NULL) {
        fprintf(stderr, "%s: cannot tell where the sandbox is\n", RENDLER_RENDER_EXECUTOR);
        goto out;
    }
    r.sandbox = xstrdup(dir);
    signal(SIGPIPE, SIG_IGN);
    r.base = event_base_new();
    r.sigchld = evsignal_new(r.base, SIGCHLD, on_sigchld, &r);
    event_add(r.sigchld, NULL);
    struct tepui_executor_callbacks cbs = {
        .launch = on_launch,
        .kill = on_kill,
        .shutdown = on_shutdown,
        .disconnected = on_disconnected,
        .error = on_error,
    };
    r.lib = tepui_executor_new(r.base, &opts, &cbs, &r, &err);
    if (r.lib == NULL) {
        fprintf(stderr, "%s: %s\n", RENDLER_RENDER_EXECUTOR, err.msg);
        code = 1;
    } else {
        r.opts = tepui_executor_get_options(r.lib);
        log_info("framework %s executor %s: rendering with %s into %s", opts.framework_id,
                 opts.executor_id, r.chromium, r.sandbox);
        event_base_dispatch(r.base);
        code = r.exit_code;
    }
    stop(&r, code);
    tepui_executor_free(r.lib);
    event_free(r.sigchld);
    event_base_loop(r.base, EVLOOP_NONBLOCK);
    event_base_free(r.base);
    free(r.sandbox);
    libevent_global_shutdown();
out:
    tepui_executor_options_clear(&opts);
    flags_free(&fs);
    return code;
}
