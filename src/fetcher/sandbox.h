/* Paths inside a sandbox, handled so that nothing the fetcher writes can
 * land outside it: relative paths only, no '..', and no symlink followed on
 * the way (a symlink planted by an archive or by the task's user cannot
 * redirect a write). Everything is relative to an open directory, the
 * sandbox's root. Not responsible for what is written (fetch.c). */
#ifndef TEPUI_FETCHER_SANDBOX_H
#define TEPUI_FETCHER_SANDBOX_H

#include <sys/types.h>

#include "common/error.h"

/* Whether path is relative, not empty, and has no '..' component: the
 * lexical half of "inside the sandbox". */
int sandbox_path_is_inside(const char *path);

/* Whether the symlink target, read from a link at path link_path (relative
 * to the root), lexically stays beneath the root: not absolute, and its
 * '..' components never climb above the root. */
int sandbox_link_target_is_inside(const char *link_path, const char *target);

/* Creates (or truncates) the file rel beneath root, creating missing parent
 * directories (0755). Refuses a path that leaves the root or goes through
 * a symlink, and a final component that is a symlink. Returns an fd open
 * for reading and writing, or a negative code with err. */
int sandbox_create_file(int root_fd, const char *rel, struct error *err);

/* The first existing component of rel's parent directories that is a
 * symlink (malloc'd relative path), or NULL when there is none. */
char *sandbox_symlink_on_path(int root_fd, const char *rel);

/* Whether resolving rel beneath root, following symlinks as the kernel
 * would, climbs above the root or reaches an absolute target. A component
 * that does not exist ends the walk (nothing is reached through it). */
int sandbox_resolution_escapes(int root_fd, const char *rel);

#endif
