#include "common/archive_copy.h"

#include <errno.h>

int archive_copy_data(struct archive *in, struct archive *out, struct error *err)
{
    for (;;) {
        const void *block;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(in, &block, &size, &offset);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return error_set(err, -EINVAL, "%s", archive_error_string(in));
        if (archive_write_data_block(out, block, size, offset) < ARCHIVE_WARN)
            return error_set(err, -EIO, "%s", archive_error_string(out));
    }
}
