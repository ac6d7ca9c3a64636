/* What the fetcher and the image provisioner both do with libarchive:
 * copy the current entry's data from a reader to a disk writer. */
#ifndef TEPUI_COMMON_ARCHIVE_COPY_H
#define TEPUI_COMMON_ARCHIVE_COPY_H

#include <archive.h>

#include "common/error.h"

/* Copies the data of the entry just read from in to out, block by block
 * (sparse files keep their holes). err names libarchive's complaint. */
int archive_copy_data(struct archive *in, struct archive *out, struct error *err);

#endif
