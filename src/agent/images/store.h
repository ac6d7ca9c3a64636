/* The image store, read by the provisioner's child process: finds an image
 * by name[:tag] in the agent's store directories (--image_store_dir, OCI
 * image layouts or docker-archive directories and tarballs; --docker_registry,
 * Mesos's local registry of <repo>[:tag].tar archives) and reads its
 * manifest and config, checking digests. What a tarball held is kept in a
 * cache so that the next launch from it extracts nothing. Not responsible
 * for unpacking layers (layers.c) or for anything the agent's loop does
 * (images.c). */
#ifndef TEPUI_AGENT_IMAGES_STORE_H
#define TEPUI_AGENT_IMAGES_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

enum layer_check {
    LAYER_CHECK_BLOB,      /* sha256 of the file as stored (OCI blobs) */
    LAYER_CHECK_DIFF_ID,   /* sha256 of the uncompressed tar (docker diff_ids) */
    LAYER_CHECK_NONE,      /* no digest given for it */
};

struct image_layer {
    char *key;             /* sha256 hex: its directory under the layer cache */
    char *path;            /* its tarball; NULL when the image came from the cache */
    enum layer_check check;
};

struct image {
    char *source;          /* where it was found, for messages */
    struct image_layer *layers;   /* bottom first */
    size_t n_layers;
    json_t *config;        /* the image config's "config" object (Env, Cmd, ...) or NULL */
    char *staging;         /* a tarball's extraction, removed by image_free */
    int cached;            /* read from the cache: nothing was extracted */
};

/* Where images are looked for, and the provisioner's scratch and caches
 * (all under the agent's work dir but the store directories). */
struct store {
    const char *const *dirs;
    size_t n_dirs;
    const char *staging;   /* a tarball is extracted here (then removed with the image) */
    /* What was read from tarballs (layer digests and config), keyed by the
     * tarball's path, size, mtime, ctime and inode and the name asked for;
     * NULL: no cache. An entry is used only while every layer it names is
     * unpacked in layers. */
    const char *cache;
    const char *layers;
};

/* Finds name ("repo[:tag]") in the store directories, in order. A tarball is
 * read from the cache, or else extracted into s->staging and its reading
 * cached. The manifest and config are read and their digests checked; the
 * layers are listed, not read. */
int store_find(const struct store *s, const char *name, struct image *out, struct error *err);
void image_free(struct image *img);

/* Hex sha256 of a file (out: 65 bytes). */
int store_sha256_file(const char *path, char *out, struct error *err);
/* Removes a directory tree (no mount crossed, no symlink followed). */
int store_remove_tree(const char *path);

#endif
