/* tepui-fetcher: fetches a container's URIs into its sandbox, as Mesos's
 * mesos-fetcher does, in a process of its own so that no download or
 * extraction can stall or crash the agent. The agent (src/agent/fetcher.c)
 * starts it with the plan (a FetchPlan, protobuf) on stdin and the
 * sandbox's stdout and stderr as its own: its log stays in the sandbox.
 * It exits 0 when every URI is there; otherwise 1, with the reason
 * ("<uri>: <why>") as its last stderr line and, with --result_fd, written
 * to that descriptor for the agent. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/log.h"
#include "fetcher/fetch.h"
#include "internal.pb-c.h"

#define LOG_COMPONENT "fetcher"

/* A plan is a few URIs; anything near this is not one. */
#define MAX_PLAN_BYTES (16 * 1024 * 1024)

static int read_plan(const char *path, struct buf *out, struct error *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open the plan %s: %s", path, strerror(errno));
    int rc = 0;
    char chunk[16 * 1024];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = error_set(err, -errno, "cannot read the plan: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > MAX_PLAN_BYTES) {
            rc = error_set(err, -EFBIG, "the plan is larger than %d bytes", MAX_PLAN_BYTES);
            break;
        }
        buf_append(out, chunk, (size_t)n);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

static void report(int result_fd, const char *reason)
{
    if (result_fd < 0)
        return;
    size_t len = strlen(reason);
    for (size_t done = 0; done < len;) {
        ssize_t w = write(result_fd, reason + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
}

int main(int argc, char **argv)
{
    char *plan_path = NULL;
    char *logging_level = NULL;
    int result_fd = -1;
    struct flag_def defs[] = {
        {"plan", FLAG_STRING, &plan_path, "-",
         "File holding the FetchPlan (protobuf); '-' reads it from stdin"},
        {"result_fd", FLAG_INT, &result_fd, "-1",
         "Descriptor to write the failure reason to (-1: none)"},
        {"logging_level", FLAG_STRING, &logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
    };
    struct flag_set fs = {
        .program = "tepui-fetcher",
        .summary = "Fetches a container's URIs into its sandbox (started by tepui-agent).",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct error err = {0};
    struct buf raw = BUF_INIT;
    Tepui__Internal__FetchPlan *plan = NULL;
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui-fetcher: %s\n", err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    int level = log_level_parse(logging_level);
    if (level >= 0)
        log_set_level((enum log_level)level);
    if (result_fd >= 0 && fcntl(result_fd, F_SETFD, FD_CLOEXEC) != 0)
        result_fd = -1;

    if ((rc = read_plan(plan_path, &raw, &err)) != 0)
        goto out;
    plan = tepui__internal__fetch_plan__unpack(NULL, raw.len, (const uint8_t *)raw.data);
    if (plan == NULL) {
        rc = error_set(&err, -EINVAL, "the plan is not a valid FetchPlan");
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = fetch_run(plan, &err);
    curl_global_cleanup();
out:
    if (rc != 0) {
        /* The last line of the sandbox's stderr says why. */
        log_error("Failed to fetch: %s", err.msg);
        report(result_fd, err.msg);
    }
    if (plan != NULL)
        tepui__internal__fetch_plan__free_unpacked(plan, NULL);
    buf_free(&raw);
    flags_free(&fs);
    return rc == 0 ? 0 : 1;
}
