/* The image store (see store.h). An image is found as, in each store
 * directory in turn: <repo>:<tag> (a directory or a .tar), then <repo> (a
 * directory or a .tar) whose index or manifest names the tag. A directory
 * is an OCI image layout (index.json, blobs/sha256/...) or an extracted
 * docker-archive (manifest.json and layer tars); a tarball holds either and
 * is extracted first, unless the cache already has what it holds. Every
 * name read from an image (blob paths, layer files) is checked to stay
 * inside it, and digests are checked: OCI manifests and configs here,
 * layers as they are unpacked (layers.c). */
#include "agent/images/store.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/xalloc.h"

#define READ_BLOCK (64 * 1024)
/* Manifests and configs are small; a larger one is not an image's. */
#define MAX_JSON (4 * 1024 * 1024)

static const char *const REF_NAME = "org.opencontainers.image.ref.name";

/* ---- small helpers ---- */

/* Whether a path read from an image stays inside it: relative, not empty,
 * no '..' component. */
static int rel_ok(const char *p)
{
    if (p == NULL || p[0] == '\0' || p[0] == '/')
        return 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += n;
        while (*s == '/')
            s++;
    }
    return 1;
}

static int is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

/* "sha256:<hex>" -> <hex>, or NULL. */
static const char *digest_hex(const char *digest)
{
    if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 || !is_hex64(digest + 7))
        return NULL;
    return digest + 7;
}

int store_sha256_file(const char *path, char *out, struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    char *buf = xmalloc(READ_BLOCK);
    int rc = 0;
    ssize_t n;
    while ((n = read(fd, buf, READ_BLOCK)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    if (n < 0) {
        rc = error_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
    } else {
        unsigned char md[32];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx, md, &len);
        for (unsigned int i = 0; i < len; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

static int remove_at(int at, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(at, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    if (st.st_dev != dev)
        return -EBUSY;   /* a mount: never removed through */
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = remove_at(dirfd(d), de->d_name, dev);
        if (r != 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int store_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    return remove_at(AT_FDCWD, path, st.st_dev);
}

static json_t *load_json(const char *path, struct error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return error_set(err, -errno, "cannot read '%s': %s", path, strerror(errno)), NULL;
    if (st.st_size > MAX_JSON)
        return error_set(err, -EFBIG, "'%s' is too large to be an image's", path), NULL;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL)
        error_set(err, -EINVAL, "'%s' is not valid JSON: %s (line %d)", path, je.text, je.line);
    return j;
}

/* Loads a blob by digest, checking it. */
static json_t *load_blob(const char *dir, const char *digest, const char *what,
                         struct error *err)
{
    const char *hex = digest_hex(digest);
    if (hex == NULL)
        return error_set(err, -EINVAL, "the %s digest '%s' is not a sha256 digest", what,
                         digest ? digest : ""), NULL;
    char path[PATH_MAX], got[65];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
    if (store_sha256_file(path, got, err) != 0)
        return NULL;
    if (strcmp(got, hex) != 0)
        return error_set(err, -EINVAL, "digest mismatch for the %s %s: its content has sha256:%s",
                         what, digest, got), NULL;
    return load_json(path, err);
}

static void set_config(struct image *img, json_t *config_doc)
{
    json_t *c = json_object_get(config_doc, "config");
    if (c == NULL)
        c = json_object_get(config_doc, "container_config");
    img->config = json_is_object(c) ? json_incref(c) : NULL;
}

static void add_layer(struct image *img, const char *key, char *path, enum layer_check check)
{
    img->layers = xrealloc(img->layers, (img->n_layers + 1) * sizeof(*img->layers));
    struct image_layer *l = &img->layers[img->n_layers++];
    l->key = xstrdup(key);
    l->path = path;
    l->check = check;
}

/* ---- OCI image layouts ---- */

static int ref_matches(const char *ref, const char *repo, const char *tag)
{
    if (ref == NULL)
        return 0;
    size_t n = strlen(repo);
    return strcmp(ref, tag) == 0 ||
           (strncmp(ref, repo, n) == 0 && ref[n] == ':' && strcmp(ref + n + 1, tag) == 0);
}

static int read_oci(const char *dir, const char *repo, const char *tag, int tag_in_path,
                    struct image *img, struct error *err)
{
    char path[PATH_MAX];
    json_t *index = NULL, *manifest = NULL, *config = NULL;
    int rc = 0;
    snprintf(path, sizeof(path), "%s/index.json", dir);
    if ((index = load_json(path, err)) == NULL)
        return -EINVAL;
    json_t *list = json_object_get(index, "manifests"), *m, *chosen = NULL;
    size_t i;
    json_array_foreach(list, i, m) {
        json_t *ann = json_object_get(m, "annotations");
        if (ref_matches(json_string_value(json_object_get(ann, REF_NAME)), repo, tag)) {
            chosen = m;
            break;
        }
    }
    if (chosen == NULL && json_array_size(list) == 1 && (tag_in_path || strcmp(tag, "latest") == 0))
        chosen = json_array_get(list, 0);
    if (chosen == NULL) {
        rc = error_set(err, -ENOENT, "the OCI layout '%s' has no manifest for tag '%s'", dir, tag);
        goto out;
    }
    const char *mtype = json_string_value(json_object_get(chosen, "mediaType"));
    if (mtype != NULL && strstr(mtype, "index") != NULL) {
        rc = error_set(err, -ENOTSUP, "'%s': nested image indexes (multi-platform images) are "
                       "not supported; store a single-platform image", dir);
        goto out;
    }
    manifest = load_blob(dir, json_string_value(json_object_get(chosen, "digest")), "manifest",
                         err);
    if (manifest == NULL) {
        rc = -EINVAL;
        goto out;
    }
    config = load_blob(dir, json_string_value(json_object_get(json_object_get(manifest, "config"),
                                                              "digest")), "config", err);
    if (config == NULL) {
        rc = -EINVAL;
        goto out;
    }
    set_config(img, config);
    json_t *layers = json_object_get(manifest, "layers"), *l;
    if (!json_is_array(layers)) {
        rc = error_set(err, -EINVAL, "the manifest in '%s' lists no layers", dir);
        goto out;
    }
    json_array_foreach(layers, i, l) {
        const char *digest = json_string_value(json_object_get(l, "digest"));
        const char *hex = digest_hex(digest);
        if (hex == NULL) {
            rc = error_set(err, -EINVAL, "layer %zu of '%s' has no sha256 digest", i, dir);
            goto out;
        }
        add_layer(img, hex, xasprintf("%s/blobs/sha256/%s", dir, hex), LAYER_CHECK_BLOB);
    }
out:
    json_decref(index);
    json_decref(manifest);
    json_decref(config);
    return rc;
}

/* ---- docker-archive (docker save) ---- */

static int read_docker(const char *dir, const char *repo, const char *tag, int tag_in_path,
                       struct image *img, struct error *err)
{
    char path[PATH_MAX];
    json_t *manifest = NULL, *config = NULL;
    int rc = 0;
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    if ((manifest = load_json(path, err)) == NULL)
        return -EINVAL;
    char *want = xasprintf("%s:%s", repo, tag);
    json_t *e, *chosen = NULL;
    size_t i, k;
    json_array_foreach(manifest, i, e) {
        json_t *t;
        json_array_foreach(json_object_get(e, "RepoTags"), k, t) {
            const char *s = json_string_value(t);
            size_t sl = s ? strlen(s) : 0, wl = strlen(want);
            /* "docker.io/library/busybox:latest" names "busybox:latest" too. */
            if (s != NULL && sl >= wl && strcmp(s + sl - wl, want) == 0 &&
                (sl == wl || s[sl - wl - 1] == '/'))
                chosen = e;
        }
        if (chosen != NULL)
            break;
    }
    free(want);
    if (chosen == NULL && json_array_size(manifest) == 1 &&
        (tag_in_path || strcmp(tag, "latest") == 0))
        chosen = json_array_get(manifest, 0);
    if (chosen == NULL) {
        rc = error_set(err, -ENOENT, "the docker archive '%s' has no image tagged '%s:%s'", dir,
                       repo, tag);
        goto out;
    }
    const char *cfg = json_string_value(json_object_get(chosen, "Config"));
    if (!rel_ok(cfg)) {
        rc = error_set(err, -EINVAL, "the manifest of '%s' names no valid Config file", dir);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, cfg);
    /* Its name is its digest ("<hex>.json", or "blobs/sha256/<hex>"). */
    const char *base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
    char hex[65] = "";
    snprintf(hex, sizeof(hex), "%.*s", (int)strcspn(base, "."), base);
    if (is_hex64(hex)) {
        char got[65];
        if ((rc = store_sha256_file(path, got, err)) != 0)
            goto out;
        if (strcmp(got, hex) != 0) {
            rc = error_set(err, -EINVAL, "digest mismatch for the config %s: its content has "
                           "sha256:%s", cfg, got);
            goto out;
        }
    }
    if ((config = load_json(path, err)) == NULL) {
        rc = -EINVAL;
        goto out;
    }
    set_config(img, config);
    json_t *files = json_object_get(chosen, "Layers");
    json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (json_array_size(files) != json_array_size(diff_ids)) {
        rc = error_set(err, -EINVAL, "'%s' lists %zu layers but its config %zu diff_ids", dir,
                       json_array_size(files), json_array_size(diff_ids));
        goto out;
    }
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *file = json_string_value(f);
        const char *key = digest_hex(json_string_value(json_array_get(diff_ids, i)));
        if (!rel_ok(file) || key == NULL) {
            rc = error_set(err, -EINVAL, "layer %zu of '%s' has no valid file or diff_id", i, dir);
            goto out;
        }
        add_layer(img, key, xasprintf("%s/%s", dir, file), LAYER_CHECK_DIFF_ID);
    }
out:
    json_decref(manifest);
    json_decref(config);
    return rc;
}

static int read_dir(const char *dir, const char *repo, const char *tag, int tag_in_path,
                    struct image *img, struct error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/index.json", dir);
    if (access(path, F_OK) == 0)
        return read_oci(dir, repo, tag, tag_in_path, img, err);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    if (access(path, F_OK) == 0)
        return read_docker(dir, repo, tag, tag_in_path, img, err);
    return error_set(err, -EINVAL, "'%s' is neither an OCI image layout (index.json) nor a "
                     "docker archive (manifest.json)", dir);
}

/* ---- tarballs ---- */

/* Extracts an image tarball: only directories and regular files, every
 * name inside. */
static int extract_tarball(const char *tarball, const char *dest, struct error *err)
{
    struct archive *in = archive_read_new();
    int rc = 0, dfd = -1, ofd = -1;
    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    archive_read_support_format_gnutar(in);
    if ((rc = fs_mkdirs(dest)) != 0) {
        rc = error_set(err, rc, "cannot create '%s': %s", dest, strerror(-rc));
        goto out;
    }
    dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || archive_read_open_filename(in, tarball, READ_BLOCK) != ARCHIVE_OK) {
        rc = error_set(err, -EINVAL, "cannot read '%s': %s", tarball,
                       dfd < 0 ? strerror(errno) : archive_error_string(in));
        goto out;
    }
    for (;;) {
        struct archive_entry *entry;
        int r = archive_read_next_header(in, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = error_set(err, -EINVAL, "'%s': %s", tarball, archive_error_string(in));
            goto out;
        }
        const char *name = archive_entry_pathname(entry);
        while (name != NULL && name[0] == '.' && name[1] == '/')
            name += 2;
        if (name == NULL || name[0] == '\0' || strcmp(name, ".") == 0)
            continue;
        if (!rel_ok(name)) {
            rc = error_set(err, -EPERM, "'%s': entry '%s' leaves the image", tarball, name);
            goto out;
        }
        mode_t type = archive_entry_filetype(entry);
        if (type != AE_IFREG && type != AE_IFDIR)
            continue;   /* docker's archives hold links to shared layers: unused */
        /* Parents first, never through a symlink (there are none: none is made). */
        char *copy = xstrdup(name);
        for (char *s = strchr(copy, '/'); s != NULL; s = strchr(s + 1, '/')) {
            *s = '\0';
            if (mkdirat(dfd, copy, 0755) != 0 && errno != EEXIST) {
                rc = error_set(err, -errno, "cannot create '%s': %s", copy, strerror(errno));
                free(copy);
                goto out;
            }
            *s = '/';
        }
        free(copy);
        if (type == AE_IFDIR) {
            if (mkdirat(dfd, name, 0755) != 0 && errno != EEXIST) {
                rc = error_set(err, -errno, "cannot create '%s': %s", name, strerror(errno));
                goto out;
            }
            continue;
        }
        ofd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (ofd < 0) {
            rc = error_set(err, -errno, "cannot create '%s': %s", name, strerror(errno));
            goto out;
        }
        char buf[READ_BLOCK];
        la_ssize_t n;
        while ((n = archive_read_data(in, buf, sizeof(buf))) > 0) {
            if (write(ofd, buf, (size_t)n) != n) {
                rc = error_set(err, -EIO, "writing '%s': %s", name, strerror(errno));
                goto out;
            }
        }
        if (n < 0) {
            rc = error_set(err, -EINVAL, "'%s': %s", tarball, archive_error_string(in));
            goto out;
        }
        close(ofd);
        ofd = -1;
    }
out:
    if (ofd >= 0)
        close(ofd);
    if (dfd >= 0)
        close(dfd);
    archive_read_free(in);
    return rc;
}

/* ---- the cache of tarballs' readings ---- */

/* Its entry's name: the tarball as it is on disk (a rewrite changes its
 * ctime, whatever its mtime says) and the name asked for (a tarball may
 * hold several images). */
static void cache_key(const char *tarball, const struct stat *st, const char *repo,
                      const char *tag, char out[65])
{
    struct buf id = BUF_INIT;
    unsigned char md[32];
    unsigned int len = 0;
    buf_printf(&id, "%s\n%lld\n%lld.%09ld\n%lld.%09ld\n%llu:%llu\n%s\n%s", tarball,
               (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
               (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec,
               (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, repo, tag);
    EVP_Digest(id.data, id.len, md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    buf_free(&id);
}

static int layer_unpacked(const char *layers_dir, const char *key)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", layers_dir, key);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fills img from the cache entry: 1 when it was there, whole, and every
 * layer it names is unpacked; 0 (img untouched) otherwise. */
static int cache_load(const struct store *s, const char *entry, const char *tarball,
                      struct image *img)
{
    struct image got = {0};
    json_t *j = load_json(entry, NULL);
    json_t *layers = json_object_get(j, "layers"), *l;
    json_t *config = json_object_get(j, "config");
    size_t i;
    int ok = j != NULL && json_is_array(layers) && json_array_size(layers) > 0 &&
             (config == NULL || json_is_object(config) || json_is_null(config)) &&
             strcmp(json_string_value(json_object_get(j, "source")) ?: "", tarball) == 0;
    json_array_foreach(layers, i, l) {
        const char *key = json_string_value(json_object_get(l, "key"));
        json_int_t check = json_integer_value(json_object_get(l, "check"));
        if (!ok || key == NULL || !is_hex64(key) || check < LAYER_CHECK_BLOB ||
            check > LAYER_CHECK_NONE || !layer_unpacked(s->layers, key)) {
            ok = 0;
            break;
        }
        add_layer(&got, key, NULL, (enum layer_check)check);
    }
    if (ok) {
        got.config = json_is_object(config) ? json_incref(config) : NULL;
        got.source = xstrdup(tarball);
        got.cached = 1;
        *img = got;
    } else {
        image_free(&got);
    }
    json_decref(j);
    return ok;
}

/* Best effort: an entry that cannot be written only costs the next launch
 * an extraction. Written aside and renamed, so an entry is whole or absent. */
static void cache_store(const struct store *s, const char *entry, const struct image *img)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < img->n_layers; i++)
        json_array_append_new(layers, json_pack("{s:s, s:i}", "key", img->layers[i].key, "check",
                                                (int)img->layers[i].check));
    json_t *j = json_pack("{s:s, s:o, s:O?}", "source", img->source, "layers", layers, "config",
                          img->config);
    char *tmp = xasprintf("%s/.tmp-%d", s->cache, (int)getpid());
    if (j != NULL && fs_mkdirs(s->cache) == 0 && json_dump_file(j, tmp, 0) == 0 &&
        rename(tmp, entry) == 0) {
        free(tmp);
        json_decref(j);
        return;
    }
    unlink(tmp);
    free(tmp);
    json_decref(j);
}

/* A tarball's image: from the cache, or extracted into s->staging and read
 * (then cached). */
static int read_tarball(const struct store *s, const char *tarball, const struct stat *st,
                        const char *repo, const char *tag, int tag_in_path, struct image *img,
                        struct error *err)
{
    char key[65], *entry = NULL;
    if (s->cache != NULL) {
        cache_key(tarball, st, repo, tag, key);
        entry = xasprintf("%s/%s.json", s->cache, key);
        if (cache_load(s, entry, tarball, img)) {
            free(entry);
            return 0;
        }
    }
    img->source = xstrdup(tarball);
    img->staging = xstrdup(s->staging);
    int rc = extract_tarball(tarball, s->staging, err);
    if (rc == 0)
        rc = read_dir(s->staging, repo, tag, tag_in_path, img, err);
    if (rc == 0 && entry != NULL)
        cache_store(s, entry, img);
    free(entry);
    return rc;
}

/* ---- lookup ---- */

static int valid_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 255)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-/:", *p)))
            return 0;
    return rel_ok(name) && strstr(name, "//") == NULL;
}

int store_find(const struct store *s, const char *name, struct image *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!valid_name(name))
        return error_set(err, -EINVAL, "'%s' is not a valid image name (repository[:tag])",
                         name ? name : "");
    /* The tag follows the last ':' after the last '/' (a registry's port
     * comes before a '/'). */
    const char *slash = strrchr(name, '/');
    const char *colon = strrchr(slash ? slash : name, ':');
    char *repo = colon ? xstrndup(name, (size_t)(colon - name)) : xstrdup(name);
    const char *tag = colon ? colon + 1 : "latest";
    int rc = -ENOENT, found = 0;
    /* A store directory that has the repository but not the tag lets the
     * next one answer (its error stays if none does). */
    for (size_t d = 0; d < s->n_dirs && rc == -ENOENT; d++) {
        char cand[4][PATH_MAX];
        snprintf(cand[0], PATH_MAX, "%s/%s:%s", s->dirs[d], repo, tag);
        snprintf(cand[1], PATH_MAX, "%s/%s:%s.tar", s->dirs[d], repo, tag);
        snprintf(cand[2], PATH_MAX, "%s/%s", s->dirs[d], repo);
        snprintf(cand[3], PATH_MAX, "%s/%s.tar", s->dirs[d], repo);
        for (int c = 0; c < 4; c++) {
            struct stat st;
            if (stat(cand[c], &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
                continue;
            image_free(out);
            found = 1;
            if (S_ISREG(st.st_mode)) {
                rc = read_tarball(s, cand[c], &st, repo, tag, c < 2, out, err);
            } else {
                out->source = xstrdup(cand[c]);
                rc = read_dir(cand[c], repo, tag, c < 2, out, err);
            }
            if (rc != 0)
                error_prefix(err, "image '%s' (%s)", name, cand[c]);
            break;
        }
    }
    if (!found)
        error_set(err, -ENOENT, "image '%s' is not in the image store (%zu director%s searched)",
                  name, s->n_dirs, s->n_dirs == 1 ? "y" : "ies");
    free(repo);
    if (rc != 0)
        image_free(out);
    return rc;
}

void image_free(struct image *img)
{
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].key);
        free(img->layers[i].path);
    }
    free(img->layers);
    json_decref(img->config);
    if (img->staging != NULL)
        store_remove_tree(img->staging);
    free(img->staging);
    free(img->source);
    memset(img, 0, sizeof(*img));
}
