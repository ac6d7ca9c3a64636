/* Where a URI's bytes come from: a local file (file:// or an absolute
 * path, copied) or the network (http, https, ftp, ftps through libcurl,
 * following redirects). Not responsible for where they go: the caller
 * hands an open file. */
#ifndef TEPUI_FETCHER_SOURCE_H
#define TEPUI_FETCHER_SOURCE_H

#include "common/error.h"

/* Checks a URI as Mesos does (no quote, backslash; a network URI has a
 * path) and gives the file name it fetches to (malloc'd): its last path
 * component, without a network URI's query or fragment. */
char *source_basename(const char *uri, struct error *err);

/* The local path of a file:// URI or of an absolute path (malloc'd), NULL
 * for a network URI. A relative path or a file:// URI on another host is an
 * error (there is no --frameworks_home): then NULL with err->code set. */
char *source_local_path(const char *uri, struct error *err);

/* Whether libcurl may fetch it (http, https, ftp, ftps). */
int source_is_network(const char *uri);

/* Writes the URI's content to out_fd (at its current offset). A network
 * download fails on a status >= 400 and when nothing arrives for
 * stall_timeout seconds (0: never). err->code is -EIO when writing out_fd
 * failed, so a caller can tell its own disk from the source. */
int source_fetch(const char *uri, int out_fd, double stall_timeout, struct error *err);

/* Copies everything from in_fd (from offset 0) to out_fd. */
int source_copy_fd(int in_fd, int out_fd, struct error *err);

#endif
