/* tepui: the command line. Dispatches to a subcommand; shared helpers for
 * finding the other binaries and for blocking HTTP requests (libcurl). */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/xalloc.h"

const char *cli_bin_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0] != '\0')
        return dir;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n <= 0) {
        snprintf(dir, sizeof(dir), ".");
        return dir;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    return dir;
}

int cli_split_hostport(const char *text, int default_port, char *host, size_t n, int *port)
{
    const char *p = text;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    const char *colon = strrchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= n)
        return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = default_port;
    if (colon != NULL) {
        char *end = NULL;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end != '\0' && *end != '/') || v <= 0 || v > 65535)
            return -1;
        *port = (int)v;
    }
    return 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    buf_append(arg, data, size * nmemb);
    return size * nmemb;
}

int cli_http_get(const char *host, int port, const char *path, struct buf *body)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 0;
    char url[2048];
    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* A master that does not lead redirects (307) to the one that does. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return (int)status;
}

json_t *cli_get_json(const char *host, int port, const char *path)
{
    struct buf body = BUF_INIT;
    int status = cli_http_get(host, port, path, &body);
    if (status != 200) {
        fprintf(stderr, "tepui: GET http://%s:%d%s failed (%s%d)\n", host, port, path,
                status ? "HTTP " : "no answer", status);
        buf_free(&body);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(buf_cstr(&body), body.len, 0, &je);
    if (j == NULL)
        fprintf(stderr, "tepui: bad JSON from %s: %s\n", path, je.text);
    buf_free(&body);
    return j;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: tepui <command> [options]\n\n"
            "tepui is a cluster resource manager compatible with Apache Mesos's v1 APIs.\n\n"
            "Commands:\n"
            "  cluster up      run a master and agents on this machine until Ctrl-C\n"
            "  execute         run a task (or several) on a cluster, like mesos-execute\n"
            "  task list       list tasks of a cluster (--master=HOST:PORT)\n"
            "  agent list      list agents of a cluster\n"
            "  framework list  list frameworks of a cluster\n"
            "  version         print the version\n\n"
            "Run 'tepui <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    const char *cmd = argv[1];
    if (strcmp(cmd, "cluster") == 0) {
        rc = cli_cluster(argc - 1, argv + 1);
    } else if (strcmp(cmd, "execute") == 0) {
        rc = cli_execute(argc - 1, argv + 1);
    } else if ((strcmp(cmd, "task") == 0 || strcmp(cmd, "agent") == 0 ||
                strcmp(cmd, "framework") == 0) && argc >= 3 && strcmp(argv[2], "list") == 0) {
        rc = cli_list(argc - 2, argv + 2, cmd);
    } else if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tepui %s (%s)\n", TEPUI_VERSION, TEPUI_GIT_SHA);
        rc = 0;
    } else {
        fprintf(stderr, "tepui: unknown command '%s'\n\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
