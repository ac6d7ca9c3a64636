/* Builds the images bench/image_launch.sh runs tasks from: a busybox root
 * (Debian's busybox-static, its applets as symlinks) as an OCI image layout
 * directory with a gzip layer (DIR/busybox-oci) and as a docker-archive
 * tarball with a plain layer (DIR/busybox-docker.tar), both tagged latest.
 *
 *   build/bench/image_build DIR
 *
 * Not a general image builder: one layer, the config the agent reads. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/xalloc.h"

#define MTIME 1700000000

static const char *const APPLETS[] = {"sh", "true", "false", "echo", "cat", "ls", "sleep",
                                      "test", "env", "id"};

struct tar {
    struct archive *a;
    struct buf out;
};

static la_ssize_t tar_write(struct archive *a, void *arg, const void *data, size_t len)
{
    (void)a;
    buf_append(&((struct tar *)arg)->out, data, len);
    return (la_ssize_t)len;
}

static void tar_open(struct tar *t, int gz)
{
    t->out = (struct buf)BUF_INIT;
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    if (gz)
        archive_write_add_filter_gzip(t->a);
    archive_write_set_bytes_in_last_block(t->a, 1);
    archive_write_open(t->a, t, NULL, tar_write, NULL);
}

static void tar_add(struct tar *t, const char *path, mode_t type, int perm, const void *data,
                    size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_mtime(e, MTIME, 0);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, data);
    else if (type == AE_IFREG)
        archive_entry_set_size(e, (la_int64_t)len);
    archive_write_header(t->a, e);
    if (type == AE_IFREG && len > 0)
        archive_write_data(t->a, data, len);
    archive_entry_free(e);
}

/* Closes the archive; the caller owns t->out. */
static void tar_close(struct tar *t)
{
    archive_write_close(t->a);
    archive_write_free(t->a);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int rc = f != NULL && fwrite(data, 1, len, f) == len ? 0 : -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "image_build: cannot write %s: %s\n", path, strerror(errno));
    free(path);
    return rc;
}

static struct buf busybox_layer(const char *busybox, int gz)
{
    struct buf bin = BUF_INIT;
    FILE *f = fopen(busybox, "rb");
    char chunk[65536];
    size_t n;
    while (f != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&bin, chunk, n);
    if (f != NULL)
        fclose(f);
    struct tar t;
    tar_open(&t, gz);
    tar_add(&t, "bin/", AE_IFDIR, 0755, NULL, 0);
    tar_add(&t, "bin/busybox", AE_IFREG, 0755, bin.data, bin.len);
    for (size_t i = 0; i < sizeof(APPLETS) / sizeof(APPLETS[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "bin/%s", APPLETS[i]);
        tar_add(&t, name, AE_IFLNK, 0777, "busybox", 0);
    }
    tar_add(&t, "etc/", AE_IFDIR, 0755, NULL, 0);
    tar_add(&t, "tmp/", AE_IFDIR, 01777, NULL, 0);
    tar_close(&t);
    buf_free(&bin);
    return t.out;
}

static char *config_doc(const char *diff_id)
{
    return xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":"
                     "[\"PATH=/bin\"],\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\","
                     "\"diff_ids\":[\"sha256:%s\"]}}", diff_id);
}

static int oci_layout(const char *dir, const char *busybox)
{
    struct buf plain = busybox_layer(busybox, 0), gz = busybox_layer(busybox, 1);
    char diff_id[65], layer[65], config_hex[65], manifest_hex[65];
    sha256_hex(plain.data, plain.len, diff_id);
    sha256_hex(gz.data, gz.len, layer);
    char *config = config_doc(diff_id);
    sha256_hex(config, strlen(config), config_hex);
    char *manifest = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
        config_hex, strlen(config), layer, gz.len);
    sha256_hex(manifest, strlen(manifest), manifest_hex);
    char *index = xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
        "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
        manifest_hex, strlen(manifest));
    char *blobs = xasprintf("%s/blobs/sha256", dir);
    int rc = fs_mkdirs(blobs);
    if (rc == 0)
        rc = write_file(blobs, layer, gz.data, gz.len) | write_file(blobs, config_hex, config,
                                                                    strlen(config)) |
             write_file(blobs, manifest_hex, manifest, strlen(manifest)) |
             write_file(dir, "index.json", index, strlen(index)) |
             write_file(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    free(blobs);
    free(index);
    free(manifest);
    free(config);
    buf_free(&plain);
    buf_free(&gz);
    return rc;
}

static int docker_archive(const char *dir, const char *name, const char *busybox)
{
    struct buf layer = busybox_layer(busybox, 0);
    char diff_id[65], config_hex[65];
    sha256_hex(layer.data, layer.len, diff_id);
    char *config = config_doc(diff_id);
    sha256_hex(config, strlen(config), config_hex);
    char *config_name = xasprintf("%s.json", config_hex);
    char *layer_name = xasprintf("%s/layer.tar", diff_id);
    char *manifest = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"%s:latest\"],\"Layers\":"
                               "[\"%s\"]}]", config_name, name, layer_name);
    struct tar t;
    tar_open(&t, 0);
    tar_add(&t, "manifest.json", AE_IFREG, 0644, manifest, strlen(manifest));
    tar_add(&t, config_name, AE_IFREG, 0644, config, strlen(config));
    tar_add(&t, diff_id, AE_IFDIR, 0755, NULL, 0);
    tar_add(&t, layer_name, AE_IFREG, 0644, layer.data, layer.len);
    tar_close(&t);
    char *file = xasprintf("%s.tar", name);
    int rc = write_file(dir, file, t.out.data, t.out.len);
    free(file);
    buf_free(&t.out);
    free(manifest);
    free(layer_name);
    free(config_name);
    free(config);
    buf_free(&layer);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: image_build DIR (writes busybox-oci/ and busybox-docker.tar)\n");
        return 2;
    }
    const char *busybox = access("/bin/busybox", R_OK) == 0 ? "/bin/busybox" : "/usr/bin/busybox";
    if (access(busybox, R_OK) != 0) {
        fprintf(stderr, "image_build: needs busybox-static (scripts/install-deps.sh)\n");
        return 1;
    }
    char *oci = xasprintf("%s/busybox-oci", argv[1]);
    int rc = fs_mkdirs(argv[1]) == 0 && oci_layout(oci, busybox) == 0 &&
                     docker_archive(argv[1], "busybox-docker", busybox) == 0
                 ? 0
                 : 1;
    free(oci);
    return rc;
}
