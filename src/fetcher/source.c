/* A URI's bytes: local files are copied (the kernel copies, no buffer
 * here), network URIs are downloaded with libcurl's easy interface: the
 * fetcher is its own process, so blocking here blocks nobody. */
#include "fetcher/source.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

int source_is_network(const char *uri)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "ftps://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncasecmp(uri, schemes[i], strlen(schemes[i])) == 0)
            return 1;
    return 0;
}

char *source_basename(const char *uri, struct error *err)
{
    if (strpbrk(uri, "\\'") != NULL) {
        error_set(err, -EINVAL, "Illegal characters in URI");
        return NULL;
    }
    const char *path = uri;
    size_t len = strlen(uri);
    const char *scheme = strstr(uri, "://");
    if (scheme != NULL && scheme - uri > 1) {
        const char *rest = scheme + 3;
        const char *slash = strchr(rest, '/');
        if (slash == NULL || slash[1] == '\0') {
            error_set(err, -EINVAL, "Malformed URI (missing path)");
            return NULL;
        }
        path = slash;
        len = strlen(path);
        /* Mesos keeps "?a=b" in the name (and then cannot recognize an
         * archive); a query or fragment is not part of the file's name. */
        if (source_is_network(uri))
            len = strcspn(path, "?#");
    }
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/')
            base = path + i + 1;
    size_t blen = len - (size_t)(base - path);
    if (blen == 0 || (blen == 1 && base[0] == '.') || (blen == 2 && strncmp(base, "..", 2) == 0)) {
        error_set(err, -EINVAL, "Malformed URI (no file name)");
        return NULL;
    }
    return xstrndup(base, blen);
}

char *source_local_path(const char *uri, struct error *err)
{
    const char *path = uri;
    if (strncmp(uri, "file://", 7) == 0) {
        path = uri + 7;
        /* file://localhost/x is file:///x; any other host is not here. */
        if (strncmp(path, "localhost/", 10) == 0)
            path += 9;
        if (path[0] != '/') {
            error_set(err, -EINVAL, "File URI only supports absolute paths on this host");
            return NULL;
        }
    } else if (strstr(uri, "://") != NULL) {
        return NULL;
    } else if (path[0] != '/') {
        error_set(err, -EINVAL,
                  "A relative path was passed for the resource, and there is no frameworks "
                  "home to resolve it against; use an absolute path");
        return NULL;
    }
    return xstrdup(path);
}

int source_copy_fd(int in_fd, int out_fd, struct error *err)
{
    off_t off = 0;
    /* Within one filesystem (the cache is under the work dir by default)
     * the kernel copies, or shares the blocks where the filesystem can. */
    for (;;) {
        ssize_t n = copy_file_range(in_fd, &off, out_fd, NULL, 1 << 30, 0);
        if (n > 0)
            continue;
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
            errno != EBADF)
            return error_set(err, -EIO, "copying: %s", strerror(errno));
        break;
    }
    for (;;) {
        ssize_t n = sendfile(out_fd, in_fd, &off, 1 << 30);
        if (n > 0)
            continue;
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EINVAL && errno != ENOSYS)
            return error_set(err, -EIO, "copying: %s", strerror(errno));
        break;
    }
    /* sendfile cannot read this source: copy through a buffer. */
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = pread(in_fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, -errno, "reading: %s", strerror(errno));
        if (n == 0)
            return 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out_fd, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return error_set(err, -EIO, "writing: %s", strerror(errno));
            done += w;
        }
        off += n;
    }
}

static int copy_local(const char *path, int out_fd, struct error *err)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return error_set(err, -errno, "Failed to open '%s': %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(in, &st) != 0)
        rc = error_set(err, -errno, "Failed to stat '%s': %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = error_set(err, -EISDIR, "'%s' is a directory", path);
    else if ((rc = source_copy_fd(in, out_fd, err)) != 0)
        error_prefix(err, "Failed to copy '%s'", path);
    close(in);
    return rc;
}

struct sink {
    int fd;
    int write_errno;
};

static size_t sink_write(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(s->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            s->write_errno = errno;
            return 0;   /* libcurl stops with CURLE_WRITE_ERROR */
        }
        done += (size_t)w;
    }
    return len;
}

static int download(const char *uri, int out_fd, double stall_timeout, struct error *err)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return error_set(err, -ENOMEM, "Error downloading resource: cannot initialize libcurl");
    char curl_err[CURL_ERROR_SIZE] = "";
    struct sink sink = {out_fd, 0};
    curl_easy_setopt(c, CURLOPT_URL, uri);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 20L);
    /* A redirect may not lead to a local file or another protocol. */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp,ftps");
    /* An error page is not the resource. */
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tepui-fetcher/" TEPUI_VERSION);
    if (stall_timeout > 0) {
        /* As Mesos: less than a byte a second for the whole stall timeout
         * is a stall; connecting gets the same patience. */
        long secs = stall_timeout < 1 ? 1 : (long)stall_timeout;
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, secs);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, secs);
    }
    CURLcode res = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int rc = 0;
    if (res == CURLE_WRITE_ERROR && sink.write_errno != 0) {
        rc = error_set(err, -EIO, "Error writing the download: %s", strerror(sink.write_errno));
    } else if (res == CURLE_HTTP_RETURNED_ERROR || (res == CURLE_OK && code >= 400)) {
        rc = error_set(err, -ENOENT,
                       "Error downloading resource, received HTTP return code %ld", code);
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        rc = error_set(err, -ETIMEDOUT, "Error downloading resource: %s (stalled for %gs)",
                       curl_err[0] ? curl_err : curl_easy_strerror(res), stall_timeout);
    } else if (res != CURLE_OK) {
        rc = error_set(err, -ECONNREFUSED, "Error downloading resource: %s",
                       curl_err[0] ? curl_err : curl_easy_strerror(res));
    }
    curl_easy_cleanup(c);
    return rc;
}

int source_fetch(const char *uri, int out_fd, double stall_timeout, struct error *err)
{
    if (source_is_network(uri))
        return download(uri, out_fd, stall_timeout, err);
    struct error local = {0};
    char *path = source_local_path(uri, &local);
    if (path == NULL) {
        if (local.code != 0)
            return error_set(err, local.code, "%s", local.msg);
        return error_set(err, -EPROTONOSUPPORT,
                         "Unsupported URI scheme (http, https, ftp, ftps, file and absolute "
                         "paths are)");
    }
    int rc = copy_local(path, out_fd, err);
    free(path);
    return rc;
}
