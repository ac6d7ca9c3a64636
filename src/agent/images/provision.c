/* The provisioner, a child process of the agent (forked, or run by hand as
 * tepui-agent --provision-container DIR): everything about an image that
 * takes time runs here, off the agent's loop. It reads DIR/request.json
 * (the image's name, the store directories, the layer and image caches),
 * finds the image, unpacks the layers the cache lacks, mounts the
 * container's rootfs (overlayfs: the layers, read-only, under DIR/upper) at
 * DIR/rootfs, and writes the image's config to DIR/image.json. On failure
 * it unmounts what it mounted, writes the reason to DIR/error and exits 1.
 * Its stdout and stderr are the sandbox's; it writes them with dprintf, as
 * a forked child must not flush stdio buffers it inherited. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/images/images.h"
#include "agent/images/layers.h"
#include "agent/images/store.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/xalloc.h"

/* overlayfs takes its options in one page. */
#define MAX_MOUNT_DATA 4000

static int mount_rootfs(const char *dir, const char *layers_dir, const struct image *img,
                        struct error *err)
{
    char upper[PATH_MAX], work[PATH_MAX], rootfs[PATH_MAX];
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0 || mkdir(rootfs, 0755) != 0)
        return error_set(err, -errno, "cannot create the rootfs directories in '%s': %s", dir,
                         strerror(errno));
    if (img->n_layers == 0)
        return error_set(err, -EINVAL, "the image has no layers");
    /* Lower directories are named relative to the layer cache (the working
     * directory), top layer first, so many fit in the options. */
    struct buf opts = BUF_INIT;
    buf_append_str(&opts, "lowerdir=");
    for (size_t i = img->n_layers; i-- > 0;)
        buf_printf(&opts, "%s%s", i + 1 < img->n_layers ? ":" : "", img->layers[i].key);
    buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
    int rc = 0;
    if (opts.len > MAX_MOUNT_DATA) {
        rc = error_set(err, -E2BIG, "the image has too many layers (%zu) for one overlay mount",
                       img->n_layers);
    } else if (chdir(layers_dir) != 0) {
        rc = error_set(err, -errno, "cannot enter '%s': %s", layers_dir, strerror(errno));
    } else if (mount("overlay", rootfs, "overlay", MS_NODEV, buf_cstr(&opts)) != 0) {
        rc = error_set(err, -errno, "cannot mount the rootfs (overlayfs) at '%s': %s", rootfs,
                       strerror(errno));
    }
    buf_free(&opts);
    return rc;
}

static int provision(const char *dir, struct error *err)
{
    char path[PATH_MAX];
    json_error_t je;
    struct image img = {0};
    int rc = 0, mounted = 0;
    snprintf(path, sizeof(path), "%s/request.json", dir);
    json_t *req = json_load_file(path, 0, &je);
    if (req == NULL)
        return error_set(err, -EINVAL, "cannot read '%s': %s", path, je.text);
    const char *name = json_string_value(json_object_get(req, "image"));
    const char *layers_dir = json_string_value(json_object_get(req, "layers"));
    const char *staging = json_string_value(json_object_get(req, "staging"));
    json_t *stores = json_object_get(req, "stores");
    size_t n = json_array_size(stores);
    const char **dirs = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        dirs[i] = json_string_value(json_array_get(stores, i));
    struct store store = {
        .dirs = dirs,
        .n_dirs = n,
        .staging = staging,
        .cache = json_string_value(json_object_get(req, "images")),
        .layers = layers_dir,
    };
    if (name == NULL || layers_dir == NULL || staging == NULL) {
        rc = error_set(err, -EINVAL, "'%s' is incomplete", path);
        goto out;
    }
    double start = clock_mono();
    dprintf(STDOUT_FILENO, "Provisioning image '%s'\n", name);
    if ((rc = store_find(&store, name, &img, err)) != 0)
        goto out;
    if ((rc = fs_mkdirs(layers_dir)) != 0) {
        rc = error_set(err, rc, "cannot create '%s': %s", layers_dir, strerror(-rc));
        goto out;
    }
    size_t unpacked = 0;
    for (size_t i = 0; i < img.n_layers; i++) {
        int r = layers_unpack(layers_dir, &img.layers[i], err);
        if (r < 0) {
            rc = r;
            error_prefix(err, "image '%s' (%s)", name, img.source);
            goto out;
        }
        unpacked += (size_t)r;
    }
    if ((rc = mount_rootfs(dir, layers_dir, &img, err)) != 0)
        goto out;
    mounted = 1;
    json_t *result = json_pack("{s:s, s:O?}", "source", img.source, "config", img.config);
    snprintf(path, sizeof(path), "%s/image.json", dir);
    if (json_dump_file(result, path, 0) != 0)
        rc = error_set(err, -EIO, "cannot write '%s'", path);
    json_decref(result);
    if (rc == 0)
        dprintf(STDOUT_FILENO, "Provisioned image '%s' from %s%s: %zu layer(s), %zu unpacked now, "
                "in %.3fs\n", name, img.source, img.cached ? " (read from the image cache)"
                : img.staging != NULL ? " (extracted)" : "", img.n_layers, unpacked,
                clock_mono() - start);
out:
    if (rc != 0 && mounted) {
        snprintf(path, sizeof(path), "%s/rootfs", dir);
        umount2(path, MNT_DETACH);
    }
    image_free(&img);
    free(dirs);
    json_decref(req);
    return rc;
}

int images_provision_run(const char *dir)
{
    struct error err = {0};
    if (provision(dir, &err) == 0)
        return 0;
    dprintf(STDERR_FILENO, "Failed to provision the container's image: %s\n", err.msg);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/error", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, err.msg, strlen(err.msg)) < 0)
            dprintf(STDERR_FILENO, "cannot write '%s': %s\n", path, strerror(errno));
        close(fd);
    }
    return 1;
}

int images_provision_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tepui-agent %s DIR (runs a container's provisioning by hand; "
                "the agent forks it itself)\n", IMAGES_PROVISION_ARG);
        return 2;
    }
    return images_provision_run(argv[2]);
}
