/* Tasks from container images on a real master, agent, provisioner and
 * crun: images are built here from Debian's busybox-static (a docker-archive
 * tarball and an OCI image layout, written with libarchive), run as Mesos
 * frameworks name them (ContainerInfo MESOS with a DOCKER image, or DOCKER),
 * and bad images end their tasks TASK_FAILED leaving no mount behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define T_OFFERS TEPUI__SCHEDULER__EVENT__TYPE__OFFERS
#define T_UPDATE TEPUI__SCHEDULER__EVENT__TYPE__UPDATE
#define EVENT_TIMEOUT 60.0

static const char *busybox_path(void)
{
    static const char *const paths[] = {"/bin/busybox", "/usr/bin/busybox"};
    for (size_t i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Why this machine cannot run the tests, or NULL. */
static const char *missing(void)
{
    if (geteuid() != 0)
        return "needs root (overlayfs mounts and crun)";
    if (access("/usr/bin/crun", X_OK) != 0 && access("/bin/crun", X_OK) != 0)
        return "needs crun (scripts/install-deps.sh)";
    if (busybox_path() == NULL)
        return "needs busybox-static (scripts/install-deps.sh)";
    return NULL;
}

/* ---- building images ---- */

static void sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct entry {
    const char *path;
    char type;              /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
    const char *data;       /* file content, or link target */
    size_t len;             /* file size (data may be binary) */
    int mode;
};

/* A tar (gzip when gz) of the entries, in memory. */
static struct buf tarball(const struct entry *e, size_t n, int gz)
{
    struct buf out = BUF_INIT;
    size_t cap = 8 * 1024 * 1024, used = 0;
    char *mem = xmalloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz)
        archive_write_add_filter_gzip(a);
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open_memory(a, mem, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_mtime(ae, 1700000000, 0);
        if (e[i].type == 'f') {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
            archive_entry_set_size(ae, (la_int64_t)e[i].len);
        } else if (e[i].type == 'd') {
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
        } else if (e[i].type == 'l') {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e[i].data);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e[i].data);
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (e[i].type == 'f' && e[i].len > 0)
            assert_int_equal(archive_write_data(a, e[i].data, e[i].len), (la_ssize_t)e[i].len);
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    buf_append(&out, mem, used);
    free(mem);
    return out;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct buf b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    if (len)
        *len = b.len;
    buf_append_char(&b, '\0');
    return buf_steal(&b);
}

/* The busybox root: /bin/busybox, its applets as symlinks, /etc, /tmp. */
static struct buf busybox_layer(int gz)
{
    size_t len = 0;
    char *bb = slurp(busybox_path(), &len);
    assert_non_null(bb);
    static const char *const applets[] = {"sh", "ls", "cat", "echo", "id", "sleep", "test",
                                          "touch", "mkdir", "pwd"};
    struct entry e[32];
    size_t n = 0;
    e[n++] = (struct entry){"bin/", 'd', NULL, 0, 0};
    e[n++] = (struct entry){"bin/busybox", 'f', bb, len, 0755};
    char names[10][32];
    for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
        snprintf(names[i], sizeof(names[i]), "bin/%s", applets[i]);
        e[n++] = (struct entry){names[i], 'l', "busybox", 0, 0};
    }
    e[n++] = (struct entry){"etc/", 'd', NULL, 0, 0};
    e[n++] = (struct entry){"etc/image-release", 'f', "tepui-busybox\n", 14, 0};
    e[n++] = (struct entry){"tmp/", 'd', NULL, 0, 01777};
    struct buf b = tarball(e, n, gz);
    free(bb);
    return b;
}

static char *config_json(const char *cmd_json, const char *diff_id)
{
    return xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":"
                     "[\"PATH=/bin\",\"IMAGE_VAR=from-image\",\"OVERRIDE=image\"]%s%s},"
                     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
                     cmd_json ? ",\"Cmd\":" : "", cmd_json ? cmd_json : "", diff_id);
}

/* A docker-archive tarball (docker save) of one layer at path. */
static void docker_archive(const char *path, const char *tag, struct buf layer,
                           const char *cmd_json)
{
    char lhex[65], chex[65];
    sha256_hex(layer.data, layer.len, lhex);
    char *config = config_json(cmd_json, lhex);
    sha256_hex(config, strlen(config), chex);
    char *cfg_name = xasprintf("%s.json", chex);
    char *layer_name = xasprintf("%s/layer.tar", lhex);
    char *manifest = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"%s\"],\"Layers\":[\"%s\"]}]",
                               cfg_name, tag, layer_name);
    char *dir = xstrndup(layer_name, 64);
    struct entry e[] = {
        {"manifest.json", 'f', manifest, strlen(manifest), 0},
        {cfg_name, 'f', config, strlen(config), 0},
        {dir, 'd', NULL, 0, 0},
        {layer_name, 'f', layer.data, layer.len, 0},
    };
    struct buf tar = tarball(e, 4, 0);
    write_file(path, tar.data, tar.len);
    buf_free(&tar);
    free(dir);
    free(manifest);
    free(layer_name);
    free(cfg_name);
    free(config);
}

/* An OCI image layout directory of one gzip layer at dir; digest_of, when
 * given, is what the manifest claims the layer's digest is. */
static void oci_layout(const char *dir, struct buf layer, const char *cmd_json,
                       const char *claimed_digest)
{
    char path[1024], lhex[65], chex[65], mhex[65], dhex[65];
    snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
    char *cmd = xasprintf("mkdir -p %s", path);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    sha256_hex(layer.data, layer.len, lhex);
    const char *layer_digest = claimed_digest ? claimed_digest : lhex;
    /* diff_ids are not checked for OCI layouts: the blob's digest is. */
    sha256_hex("", 0, dhex);
    char *config = config_json(cmd_json, dhex);
    sha256_hex(config, strlen(config), chex);
    char *manifest = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
        chex, strlen(config), layer_digest, layer.len);
    sha256_hex(manifest, strlen(manifest), mhex);
    char *index = xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
        "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
        mhex, strlen(manifest));
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, layer_digest);
    write_file(path, layer.data, layer.len);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, chex);
    write_file(path, config, strlen(config));
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, mhex);
    write_file(path, manifest, strlen(manifest));
    snprintf(path, sizeof(path), "%s/index.json", dir);
    write_file(path, index, strlen(index));
    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    free(index);
    free(manifest);
    free(config);
}

/* ---- fixture ---- */

struct fixture {
    struct h_cluster c;
    char store[600];
    struct h_sched s;
};

static int setup(void **state)
{
    const char *why = missing();
    if (why != NULL) {
        fprintf(stderr, "test_images: skipped: %s\n", why);
        *state = NULL;
        return 0;
    }
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    snprintf(f->store, sizeof(f->store), "%s/images", f->c.root);
    mkdir(f->store, 0755);
    char path[1024];
    struct buf plain = busybox_layer(0), gz = busybox_layer(1);
    snprintf(path, sizeof(path), "%s/busybox.tar", f->store);
    docker_archive(path, "busybox:latest", plain, "[\"/bin/sh\"]");
    snprintf(path, sizeof(path), "%s/ocibox", f->store);
    oci_layout(path, gz, "[\"/bin/sh\",\"-c\",\"echo from-cmd $IMAGE_VAR > /mnt/mesos/sandbox/cmd.txt\"]",
               NULL);
    snprintf(path, sizeof(path), "%s/nocommand:1.0.tar", f->store);
    docker_archive(path, "nocommand:1.0", plain, NULL);
    /* A layer whose bytes are not the digest the manifest names. */
    char wrong[65];
    sha256_hex("something else", 14, wrong);
    snprintf(path, sizeof(path), "%s/mismatch", f->store);
    oci_layout(path, gz, "[\"/bin/sh\"]", wrong);
    /* A "gzip" layer that is not one (its digest is right). */
    struct buf junk = BUF_INIT;
    buf_append(&junk, "\x1f\x8b\x08\x00garbage, not deflate data at all", 36);
    snprintf(path, sizeof(path), "%s/badgzip", f->store);
    oci_layout(path, junk, "[\"/bin/sh\"]", NULL);
    buf_free(&junk);
    /* Layers that try to write outside their directory. */
    struct entry dotdot[] = {{"bin/", 'd', NULL, 0, 0}, {"../../escaped", 'f', "x", 1, 0}};
    struct buf evil = tarball(dotdot, 2, 0);
    snprintf(path, sizeof(path), "%s/dotdot.tar", f->store);
    docker_archive(path, "dotdot:latest", evil, "[\"/bin/sh\"]");
    buf_free(&evil);
    struct entry hard[] = {{"etc/", 'd', NULL, 0, 0}, {"etc/pw", 'h', "../../../etc/passwd", 0, 0}};
    evil = tarball(hard, 2, 0);
    snprintf(path, sizeof(path), "%s/hardlink.tar", f->store);
    docker_archive(path, "hardlink:latest", evil, "[\"/bin/sh\"]");
    buf_free(&evil);
    struct entry sym[] = {{"lib/", 'd', NULL, 0, 0}, {"lib/up", 'l', "../../../../etc", 0, 0}};
    evil = tarball(sym, 2, 0);
    snprintf(path, sizeof(path), "%s/symlink.tar", f->store);
    docker_archive(path, "symlink:latest", evil, "[\"/bin/sh\"]");
    buf_free(&evil);
    buf_free(&plain);
    buf_free(&gz);

    char *flag = xasprintf("--image_store_dir=%s", f->store);
    const char *flags[] = {flag, NULL};
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, flags);
    free(flag);
    assert_int_equal(h_sched_subscribe(&f->s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("images", NULL)),
                     200);
    *state = f;
    return 0;
}

/* What the agent leaves on the host: mounts under its work dir. */
static int mounts_under(const char *dir)
{
    char *mi = slurp("/proc/self/mountinfo", NULL);
    int n = 0;
    for (char *p = mi; p && (p = strstr(p, dir)) != NULL; p++)
        n++;
    free(mi);
    return n;
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

struct leftovers {
    char containers[700], trash[700], dir[600];
};

static int nothing_left(void *arg)
{
    struct leftovers *l = arg;
    return mounts_under(l->dir) == 0 && dir_entries(l->containers) == 0 &&
           dir_entries(l->trash) == 0;
}

static void assert_nothing_left(struct fixture *f)
{
    struct leftovers l;
    snprintf(l.dir, sizeof(l.dir), "%s", f->c.agents[0].dir);
    snprintf(l.containers, sizeof(l.containers), "%s/provisioner/containers", l.dir);
    snprintf(l.trash, sizeof(l.trash), "%s/provisioner/trash", l.dir);
    if (!h_wait_until(nothing_left, &l, 10.0)) {
        fprintf(stderr, "left behind: %d mount(s) under %s, %d container dir(s), %d in trash\n",
                mounts_under(l.dir), l.dir, dir_entries(l.containers), dir_entries(l.trash));
        fail();
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    h_sched_close(&f->s);
    h_cluster_destroy(&f->c);
    assert_int_equal(mounts_under(f->c.root), 0);
    free(f);
    return 0;
}

#define SKIP_IF_MISSING(f)      \
    do {                        \
        if ((f) == NULL)        \
            skip();             \
    } while (0)

/* ---- tasks ---- */

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, T_OFFERS, EVENT_TIMEOUT);
    assert_non_null(ev);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

/* A task with the container and command given as JSON text. */
static Tepui__TaskStatus *run(struct fixture *f, const char *id, const char *container,
                              const char *command)
{
    Tepui__Offer *o = next_offer(&f->s);
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{"
        "\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"%s\",\"task_id\":{\"value\":"
        "\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
        "\"SCALAR\",\"scalar\":{\"value\":0.1}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":"
        "{\"value\":32}}],\"container\":%s,\"command\":%s}]}}],\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, id, id, o->agent_id->value, container, command);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
    free(call);
    pb_free(o);
    double deadline = clock_mono() + EVENT_TIMEOUT;
    for (;;) {
        Tepui__Scheduler__Event *ev = h_sched_next(&f->s, T_UPDATE, deadline - clock_mono());
        assert_non_null(ev);
        Tepui__TaskStatus *st = PB_COPY(Tepui__TaskStatus, ev->update->status);
        pb_free(ev);
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(&f->s, st), 202);
        if (strcmp(st->task_id->value, id) == 0 && task_state_is_terminal(st->state))
            return st;
        pb_free(st);
    }
}

static const char *const MESOS_BUSYBOX =
    "{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"DOCKER\",\"docker\":{\"name\":"
    "\"busybox\"}}}}";

static char *shell(const char *script)
{
    json_t *s = json_string(script);
    char *q = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    char *cmd = xasprintf("{\"value\":%s,\"environment\":{\"variables\":[{\"name\":\"OVERRIDE\","
                          "\"value\":\"task\"}]}}", q);
    free(q);
    return cmd;
}

static char *sandbox_file(struct fixture *f, const char *task_id, const char *name)
{
    char *dir = h_agent_sandbox(&f->c, 0, f->s.framework_id, task_id);
    assert_non_null(dir);
    char *path = xasprintf("%s/%s", dir, name);
    char *data = slurp(path, NULL);
    free(path);
    free(dir);
    return data;
}

static void expect_finished(struct fixture *f, Tepui__TaskStatus *st)
{
    if (st->state != TEPUI__TASK_STATE__TASK_FINISHED) {
        fprintf(stderr, "task %s ended %s: %s\n", st->task_id->value, task_state_name(st->state),
                st->message ? st->message : "");
        h_dump_logs(&f->c);
    }
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void task_sees_the_image_root_and_writes_its_sandbox(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    char *cmd = shell("ls / > $MESOS_SANDBOX/root.txt; cat /etc/image-release > "
                      "/mnt/mesos/sandbox/release.txt; test -e /etc/os-release || echo "
                      "no-os-release > /mnt/mesos/sandbox/host.txt; echo "
                      "\"$MESOS_SANDBOX $IMAGE_VAR $OVERRIDE $(pwd) $(id -u)\" > "
                      "/mnt/mesos/sandbox/env.txt");
    Tepui__TaskStatus *st = run(f, "busybox-root", MESOS_BUSYBOX, cmd);
    free(cmd);
    expect_finished(f, st);
    pb_free(st);
    char *root = sandbox_file(f, "busybox-root", "root.txt");
    assert_non_null(root);
    assert_true(has_line(root, "bin"));
    assert_true(has_line(root, "etc"));
    assert_true(has_line(root, "mnt"));
    assert_false(has_line(root, "usr"));     /* the host's are not there */
    assert_false(has_line(root, "home"));
    free(root);
    char *text = sandbox_file(f, "busybox-root", "release.txt");
    assert_string_equal(text, "tepui-busybox\n");
    free(text);
    text = sandbox_file(f, "busybox-root", "host.txt");
    assert_string_equal(text, "no-os-release\n");
    free(text);
    text = sandbox_file(f, "busybox-root", "env.txt");
    assert_string_equal(text, "/mnt/mesos/sandbox from-image task /mnt/mesos/sandbox 0\n");
    free(text);
    assert_nothing_left(f);
}

static void image_cmd_runs_and_layers_are_unpacked_once(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    /* A DOCKER ContainerInfo, and no command value: the image's Cmd runs. */
    const char *docker = "{\"type\":\"DOCKER\",\"docker\":{\"image\":\"ocibox:latest\"}}";
    const char *none = "{\"shell\":false}";
    for (int i = 0; i < 2; i++) {
        char id[32];
        snprintf(id, sizeof(id), "oci-%d", i);
        Tepui__TaskStatus *st = run(f, id, docker, none);
        expect_finished(f, st);
        pb_free(st);
        char *text = sandbox_file(f, id, "cmd.txt");
        assert_non_null(text);
        assert_string_equal(text, "from-cmd from-image\n");
        free(text);
        text = sandbox_file(f, id, "stdout");
        assert_non_null(text);
        assert_non_null(strstr(text, i == 0 ? "1 unpacked now" : "0 unpacked now"));
        free(text);
    }
    char layers[700];
    snprintf(layers, sizeof(layers), "%s/provisioner/layers", f->c.agents[0].dir);
    assert_int_equal(dir_entries(layers), 1);
    assert_nothing_left(f);
}

static void expect_launch_failure(struct fixture *f, const char *id, const char *image,
                                  const char *command, const char *why)
{
    char *container = xasprintf("{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"DOCKER\","
                                "\"docker\":{\"name\":\"%s\"}}}}", image);
    Tepui__TaskStatus *st = run(f, id, container, command);
    free(container);
    if (st->state != TEPUI__TASK_STATE__TASK_FAILED || st->message == NULL ||
        strstr(st->message, why) == NULL)
        fprintf(stderr, "task %s ended %s: %s (expected '%s')\n", id, task_state_name(st->state),
                st->message ? st->message : "", why);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_true(st->has_reason);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    assert_non_null(strstr(st->message, why));
    pb_free(st);
    assert_nothing_left(f);
}

static void bad_images_fail_the_task_and_leave_nothing(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    const char *echo = "{\"value\":\"echo never\"}";
    expect_launch_failure(f, "missing", "nosuchimage:1.0", echo, "is not in the image store");
    expect_launch_failure(f, "mismatch", "mismatch", echo, "digest mismatch for layer");
    expect_launch_failure(f, "badgzip", "badgzip", echo, "layer sha256:");
    expect_launch_failure(f, "dotdot", "dotdot", echo, "climbs out of the layer");
    expect_launch_failure(f, "hardlink", "hardlink", echo, "hard link to");
    expect_launch_failure(f, "symlink", "symlink", echo, "is a symlink to");
    expect_launch_failure(f, "nocommand", "nocommand:1.0", "{\"shell\":false}",
                          "has neither Entrypoint nor Cmd");
}

static void appc_images_are_refused(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    Tepui__TaskStatus *st = run(f, "appc",
                                "{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"APPC\","
                                "\"appc\":{\"name\":\"busybox\"}}}}",
                                "{\"value\":\"true\"}");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    assert_non_null(strstr(st->message, "APPC images are not supported"));
    pb_free(st);
    assert_nothing_left(f);
}

static void killing_an_image_task_ends_its_container(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    Tepui__Offer *o = next_offer(&f->s);
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{"
        "\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"k\",\"task_id\":{\"value\":"
        "\"sleeper\"},\"agent_id\":{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
        "\"SCALAR\",\"scalar\":{\"value\":0.1}}],\"container\":%s,\"command\":{\"value\":"
        "\"trap 'exit 0' TERM; while true; do sleep 0.1; done\"}}]}}],\"filters\":"
        "{\"refuse_seconds\":0}}}",
        o->id->value, o->agent_id->value, MESOS_BUSYBOX);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
    free(call);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, "sleeper", TEPUI__TASK_STATE__TASK_RUNNING,
                                               EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    assert_int_equal(h_sched_call(&f->s, "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":"
                                          "\"sleeper\"}}}", NULL),
                     202);
    st = h_sched_wait_state(&f->s, "sleeper", TEPUI__TASK_STATE__TASK_KILLED, EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    assert_nothing_left(f);
}

static void tarball_images_are_extracted_once_until_the_tarball_changes(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_MISSING(f);
    const char *const expect[] = {"(extracted)", "(read from the image cache)"};
    for (int i = 0; i < 2; i++) {
        char id[32];
        snprintf(id, sizeof(id), "tarball-%d", i);
        Tepui__TaskStatus *st = run(f, id, MESOS_BUSYBOX, "{\"value\":\"true\"}");
        expect_finished(f, st);
        pb_free(st);
        char *text = sandbox_file(f, id, "stdout");
        assert_non_null(text);
        if (strstr(text, expect[i]) == NULL)
            fprintf(stderr, "task %s's stdout: %s(expected '%s')\n", id, text, expect[i]);
        assert_non_null(strstr(text, expect[i]));
        free(text);
    }
    char cache[700];
    snprintf(cache, sizeof(cache), "%s/provisioner/images", f->c.agents[0].dir);
    assert_int_equal(dir_entries(cache), 1);

    /* The same path rewritten with another Cmd: extracted again, and the
     * new config is the one that runs. */
    char path[1024];
    struct buf plain = busybox_layer(0);
    snprintf(path, sizeof(path), "%s/busybox.tar", f->store);
    docker_archive(path, "busybox:latest", plain,
                   "[\"/bin/sh\",\"-c\",\"echo rewritten > /mnt/mesos/sandbox/cmd.txt\"]");
    buf_free(&plain);
    Tepui__TaskStatus *st = run(f, "tarball-2", MESOS_BUSYBOX, "{\"shell\":false}");
    expect_finished(f, st);
    pb_free(st);
    char *text = sandbox_file(f, "tarball-2", "cmd.txt");
    assert_non_null(text);
    assert_string_equal(text, "rewritten\n");
    free(text);
    text = sandbox_file(f, "tarball-2", "stdout");
    assert_non_null(text);
    assert_non_null(strstr(text, "(extracted)"));
    free(text);
    assert_nothing_left(f);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(task_sees_the_image_root_and_writes_its_sandbox),
        TEST(image_cmd_runs_and_layers_are_unpacked_once),
        TEST(bad_images_fail_the_task_and_leave_nothing),
        TEST(appc_images_are_refused),
        TEST(killing_an_image_task_ends_its_container),
        TEST(tarball_images_are_extracted_once_until_the_tarball_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
