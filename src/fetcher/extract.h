/* Unpacking fetched archives into the sandbox with libarchive: the formats
 * Mesos recognizes by extension, and nothing that would land outside the
 * sandbox. Not responsible for deciding whether to extract (fetch.c). */
#ifndef TEPUI_FETCHER_EXTRACT_H
#define TEPUI_FETCHER_EXTRACT_H

#include "common/error.h"

enum extract_kind {
    EXTRACT_NONE,       /* not an archive by its name */
    EXTRACT_ARCHIVE,    /* .tar, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .zip */
    EXTRACT_GZIP,       /* a single gzip-compressed file: .gz */
};

/* What a file of this name is, by its extension (as Mesos decides). */
enum extract_kind extract_kind_of(const char *name);

/* Unpacks the archive read from fd (from offset 0) into the sandbox whose
 * directory is root_fd (also the current directory: libarchive writes
 * relative to it). name is the file's name in the sandbox, for the kind and
 * for a lone .gz's output name. Entries that are absolute, climb with '..',
 * go through a symlink, are devices, FIFOs or sockets, or symlinks leading
 * out of the sandbox are refused: the extraction then fails naming the
 * entry. setuid and setgid bits are dropped. */
int extract_archive(int fd, int root_fd, const char *name, struct error *err);

#endif
