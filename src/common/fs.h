/* Small filesystem helpers. */
#ifndef TEPUI_COMMON_FS_H
#define TEPUI_COMMON_FS_H

/* mkdir -p with mode 0755; returns 0 or a negative errno. */
int fs_mkdirs(const char *path);

#endif
