/* The tepui command line: subcommands and the helpers they share. */
#ifndef TEPUI_CLI_CLI_H
#define TEPUI_CLI_CLI_H

#include <jansson.h>

#include "common/buf.h"

/* Subcommands: argv[0] is the subcommand's own name. */
int cli_cluster(int argc, char **argv);
int cli_execute(int argc, char **argv);
int cli_list(int argc, char **argv, const char *what);

/* Directory of the tepui binaries (where this program lives). */
const char *cli_bin_dir(void);

/* Blocking GET of http://host:port/path; returns the HTTP status (0 when
 * the request failed) and fills body. */
int cli_http_get(const char *host, int port, const char *path, struct buf *body);
/* GET and parse JSON; NULL on failure (message printed). */
json_t *cli_get_json(const char *host, int port, const char *path);
/* How long a zk:// --master is given to name the leading master. */
#define CLI_DETECT_TIMEOUT_SECS 15.0

/* Splits "host:port" (default port given). Returns 0 or -1. */
int cli_split_hostport(const char *text, int default_port, char *host, size_t n, int *port);

#endif
