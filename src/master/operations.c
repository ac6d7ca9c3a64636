/* RESERVE, UNRESERVE, CREATE and DESTROY as resource arithmetic, with
 * Mesos's validation of each. It knows resources and roles, not agents,
 * frameworks or the allocator. */
#include "master/operations.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

const char *operation_kind_name(enum operation_kind kind)
{
    switch (kind) {
    case OPERATION_RESERVE:
        return "RESERVE";
    case OPERATION_UNRESERVE:
        return "UNRESERVE";
    case OPERATION_CREATE:
        return "CREATE";
    case OPERATION_DESTROY:
        return "DESTROY";
    }
    return "UNKNOWN";
}

void operation_free(struct operation *op)
{
    if (op == NULL)
        return;
    resources_free(&op->consumed);
    resources_free(&op->produced);
}

/* ---- protobuf surgery on normalized (post-refinement) resources ---- */

static void pop_reservation(Tepui__Resource *p)
{
    if (p->n_reservations == 0)
        return;
    protobuf_c_message_free_unpacked(&p->reservations[p->n_reservations - 1]->base, NULL);
    p->n_reservations--;
}

/* What a volume was made from: the disk without persistence, volume and
 * sharedness (the disk info goes entirely unless it names a source). */
static void strip_volume(Tepui__Resource *p)
{
    if (p->shared != NULL) {
        protobuf_c_message_free_unpacked(&p->shared->base, NULL);
        p->shared = NULL;
    }
    if (p->disk == NULL)
        return;
    if (p->disk->source == NULL) {
        protobuf_c_message_free_unpacked(&p->disk->base, NULL);
        p->disk = NULL;
        return;
    }
    if (p->disk->persistence != NULL)
        protobuf_c_message_free_unpacked(&p->disk->persistence->base, NULL);
    if (p->disk->volume != NULL)
        protobuf_c_message_free_unpacked(&p->disk->volume->base, NULL);
    p->disk->persistence = NULL;
    p->disk->volume = NULL;
}

static const Tepui__Resource__ReservationInfo *last_reservation(const Tepui__Resource *p)
{
    return p->n_reservations > 0 ? p->reservations[p->n_reservations - 1] : NULL;
}

static int is_volume(const Tepui__Resource *p)
{
    return p->disk != NULL && p->disk->persistence != NULL;
}

static int actor_has_role(const struct operation_actor *who, const char *role)
{
    if (who == NULL || who->roles == NULL)
        return 1;
    for (size_t i = 0; i < who->n_roles; i++)
        if (strcmp(who->roles[i], role) == 0)
            return 1;
    return 0;
}

static int check_role(const struct operation_actor *who, const Tepui__Resource *p,
                      const char *what, struct error *err)
{
    const char *role = last_reservation(p)->role;
    if (!actor_has_role(who, role))
        return error_set(err, -EINVAL, "Invalid %s operation: resource '%s' is reserved for role "
                                       "'%s', which is not one of the framework's roles",
                         what, p->name, role);
    return 0;
}

/* A path inside the sandbox: relative, and never climbing out of it. */
static int check_container_path(const char *path, struct error *err)
{
    if (path == NULL || path[0] == '\0')
        return error_set(err, -EINVAL, "Invalid CREATE operation: the volume needs a "
                                       "container_path");
    if (path[0] == '/')
        return error_set(err, -EINVAL, "Invalid CREATE operation: container_path '%s' of a "
                                       "persistent volume must be relative", path);
    const char *c = path;
    while (*c != '\0') {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return error_set(err, -EINVAL, "Invalid CREATE operation: container_path '%s' must "
                                           "not contain '..'", path);
        c += len;
        while (*c == '/')
            c++;
    }
    return 0;
}

/* A persistence id names a directory under the agent's work_dir. */
static int check_persistence_id(const char *id, struct error *err)
{
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strchr(id, '/') != NULL ||
        strlen(id) > 255)
        return error_set(err, -EINVAL, "Invalid persistence id '%s': it must be a valid "
                                       "directory name (no '/', not '.' or '..')", id);
    for (const char *c = id; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return error_set(err, -EINVAL, "Invalid persistence id: control characters");
    return 0;
}

static int check_reserve(const Tepui__Resource *p, const struct operation_actor *who,
                         struct error *err)
{
    const Tepui__Resource__ReservationInfo *r = last_reservation(p);
    if (r == NULL)
        return error_set(err, -EINVAL, "Invalid RESERVE operation: resource '%s' has no "
                                       "reservation", p->name);
    if (r->type != TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC)
        return error_set(err, -EINVAL, "Invalid RESERVE operation: resource '%s' must be "
                                       "dynamically reserved", p->name);
    if (is_volume(p))
        return error_set(err, -EINVAL, "Invalid RESERVE operation: persistent volume '%s' "
                                       "cannot be reserved", p->disk->persistence->id);
    if (who != NULL && who->roles != NULL && p->n_reservations > 1 && !who->refinement)
        return error_set(err, -EINVAL, "Invalid RESERVE operation: resource '%s' refines a "
                                       "reservation, but the framework does not have the "
                                       "RESERVATION_REFINEMENT capability", p->name);
    if (who != NULL && who->principal != NULL) {
        if (r->principal == NULL)
            return error_set(err, -EINVAL, "Invalid RESERVE operation: principal '%s' does not "
                                           "match resource '%s' reserved with no principal",
                             who->principal, p->name);
        if (strcmp(r->principal, who->principal) != 0)
            return error_set(err, -EINVAL, "Invalid RESERVE operation: principal '%s' does not "
                                           "match the reservation's principal '%s'",
                             who->principal, r->principal);
    }
    return check_role(who, p, "RESERVE", err);
}

static int check_unreserve(const Tepui__Resource *p, const struct operation_actor *who,
                           struct error *err)
{
    const Tepui__Resource__ReservationInfo *r = last_reservation(p);
    if (r == NULL || r->type != TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC)
        return error_set(err, -EINVAL, "Invalid UNRESERVE operation: resource '%s' is not "
                                       "dynamically reserved", p->name);
    if (is_volume(p))
        return error_set(err, -EINVAL, "Invalid UNRESERVE operation: persistent volume '%s' "
                                       "must be destroyed before it can be unreserved",
                         p->disk->persistence->id);
    return check_role(who, p, "UNRESERVE", err);
}

static int check_volume(enum operation_kind kind, const Tepui__Resource *p,
                        const struct operation_actor *who, struct error *err)
{
    const char *what = operation_kind_name(kind);
    if (!is_volume(p) || p->disk->volume == NULL)
        return error_set(err, -EINVAL, "Invalid %s operation: resource '%s' is not a persistent "
                                       "volume (it needs disk.persistence and disk.volume)",
                         what, p->name);
    if (p->n_reservations == 0)
        return error_set(err, -EINVAL, "Invalid %s operation: persistent volume '%s' is on "
                                       "unreserved disk; reserve the disk first",
                         what, p->disk->persistence->id);
    if (kind == OPERATION_DESTROY)
        return check_role(who, p, what, err);
    const Tepui__Resource__DiskInfo__Persistence *pers = p->disk->persistence;
    const Tepui__Volume *v = p->disk->volume;
    int rc;
    if ((rc = check_persistence_id(pers->id, err)) != 0)
        return rc;
    if ((rc = check_container_path(v->container_path, err)) != 0)
        return rc;
    if (v->host_path != NULL || v->image != NULL || v->source != NULL)
        return error_set(err, -EINVAL, "Invalid CREATE operation: persistent volume '%s' must "
                                       "not set host_path, image or source", pers->id);
    if (v->mode != TEPUI__VOLUME__MODE__RW)
        return error_set(err, -EINVAL, "Invalid CREATE operation: persistent volume '%s' must "
                                       "be read-write (mode RW)", pers->id);
    if (p->shared != NULL && who != NULL && who->roles != NULL && !who->shared)
        return error_set(err, -EINVAL, "Invalid CREATE operation: shared persistent volume '%s' "
                                       "needs the SHARED_RESOURCES capability", pers->id);
    if (who != NULL && who->principal != NULL && pers->principal != NULL &&
        strcmp(pers->principal, who->principal) != 0)
        return error_set(err, -EINVAL, "Invalid CREATE operation: persistent volume '%s' has "
                                       "principal '%s' but the request comes from '%s'",
                         pers->id, pers->principal, who->principal);
    return check_role(who, p, what, err);
}

int operation_build(enum operation_kind kind, Tepui__Resource *const *v, size_t n,
                    Tepui__Resource *const *source, size_t n_source,
                    const struct operation_actor *who, struct operation *out, struct error *err)
{
    const char *what = operation_kind_name(kind);
    struct resources given = RESOURCES_INIT;
    Tepui__Resource **p = NULL;
    size_t np = 0;
    int rc;

    out->kind = kind;
    resources_init(&out->consumed);
    resources_init(&out->produced);
    if ((rc = resources_from_proto(v, n, &given, err)) != 0) {
        error_prefix(err, "Invalid %s operation", what);
        goto out;
    }
    if (resources_empty(&given)) {
        rc = error_set(err, -EINVAL, "Invalid %s operation: no resources given", what);
        goto out;
    }
    /* One format from here: reservations as a stack. */
    p = resources_to_proto(&given, &np);
    for (size_t i = 0; i < np; i++) {
        switch (kind) {
        case OPERATION_RESERVE:
            rc = check_reserve(p[i], who, err);
            break;
        case OPERATION_UNRESERVE:
            rc = check_unreserve(p[i], who, err);
            break;
        case OPERATION_CREATE:
        case OPERATION_DESTROY:
            rc = check_volume(kind, p[i], who, err);
            break;
        }
        if (rc != 0)
            goto out;
        if (kind != OPERATION_CREATE)
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p[j]->disk->persistence->id, p[i]->disk->persistence->id) == 0 &&
                strcmp(last_reservation(p[j])->role, last_reservation(p[i])->role) == 0) {
                rc = error_set(err, -EINVAL, "Invalid CREATE operation: persistent volume id "
                                             "'%s' is given twice", p[i]->disk->persistence->id);
                goto out;
            }
    }

    /* The other side of the operation. */
    for (size_t i = 0; i < np; i++) {
        if (kind == OPERATION_RESERVE || kind == OPERATION_UNRESERVE)
            pop_reservation(p[i]);
        else
            strip_volume(p[i]);
    }
    struct resources other = RESOURCES_INIT;
    if ((rc = resources_from_proto(p, np, &other, err)) != 0) {
        resources_free(&other);
        error_prefix(err, "Invalid %s operation", what);
        goto out;
    }
    if (kind == OPERATION_RESERVE || kind == OPERATION_CREATE) {
        out->consumed = other;
        resources_copy(&out->produced, &given);
    } else {
        resources_copy(&out->consumed, &given);
        out->produced = other;
    }

    if (kind == OPERATION_RESERVE && n_source > 0) {
        struct resources src = RESOURCES_INIT;
        rc = resources_from_proto(source, n_source, &src, err);
        if (rc == 0 && !resources_equal(&src, &out->consumed))
            rc = error_set(err, -EINVAL, "Invalid RESERVE operation: 'source' is not 'resources' "
                                         "with their last reservation removed");
        else if (rc != 0)
            error_prefix(err, "Invalid RESERVE operation: 'source'");
        resources_free(&src);
    }
out:
    resources_proto_free(p, np);
    resources_free(&given);
    return rc;
}

int operation_from_offer_operation(const Tepui__Offer__Operation *op,
                                   const struct operation_actor *who, struct operation *out,
                                   struct error *err)
{
    resources_init(&out->consumed);
    resources_init(&out->produced);
    switch (op->has_type ? op->type : TEPUI__OFFER__OPERATION__TYPE__UNKNOWN) {
    case TEPUI__OFFER__OPERATION__TYPE__RESERVE:
        if (op->reserve == NULL)
            return error_set(err, -EINVAL, "Invalid RESERVE operation: 'reserve' is missing");
        return operation_build(OPERATION_RESERVE, op->reserve->resources,
                               op->reserve->n_resources, op->reserve->source,
                               op->reserve->n_source, who, out, err);
    case TEPUI__OFFER__OPERATION__TYPE__UNRESERVE:
        if (op->unreserve == NULL)
            return error_set(err, -EINVAL, "Invalid UNRESERVE operation: 'unreserve' is missing");
        return operation_build(OPERATION_UNRESERVE, op->unreserve->resources,
                               op->unreserve->n_resources, NULL, 0, who, out, err);
    case TEPUI__OFFER__OPERATION__TYPE__CREATE:
        if (op->create == NULL)
            return error_set(err, -EINVAL, "Invalid CREATE operation: 'create' is missing");
        return operation_build(OPERATION_CREATE, op->create->volumes, op->create->n_volumes, NULL,
                               0, who, out, err);
    case TEPUI__OFFER__OPERATION__TYPE__DESTROY:
        if (op->destroy == NULL)
            return error_set(err, -EINVAL, "Invalid DESTROY operation: 'destroy' is missing");
        return operation_build(OPERATION_DESTROY, op->destroy->volumes, op->destroy->n_volumes,
                               NULL, 0, who, out, err);
    default:
        return error_set(err, -ENOTSUP, "Operation type %d is not supported",
                         op->has_type ? (int)op->type : 0);
    }
}

/* ---- volumes by (role, id) ---- */

/* "role\nid" for a persistent volume entry, else NULL. */
static char *volume_key(const struct resource *r)
{
    if (r->identity_len == 0 || r->reservation_role == NULL || strcmp(r->name, "disk") != 0)
        return NULL;
    Tepui__Resource *p = (Tepui__Resource *)protobuf_c_message_unpack(
        &tepui__resource__descriptor, NULL, r->identity_len, r->identity);
    char *key = NULL;
    if (p != NULL && p->disk != NULL && p->disk->persistence != NULL &&
        p->disk->persistence->id != NULL)
        key = xasprintf("%s\n%s", r->reservation_role, p->disk->persistence->id);
    if (p != NULL)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    return key;
}

int operation_volume_overlap(const struct resources *a, const struct resources *b, char *id,
                             size_t n)
{
    for (size_t i = 0; i < a->n; i++) {
        char *ka = volume_key(&a->v[i]);
        if (ka == NULL)
            continue;
        for (size_t j = 0; j < b->n; j++) {
            char *kb = volume_key(&b->v[j]);
            int same = kb != NULL && strcmp(ka, kb) == 0;
            free(kb);
            if (same) {
                if (id != NULL && n > 0)
                    snprintf(id, n, "%s", strchr(ka, '\n') + 1);
                free(ka);
                return 1;
            }
        }
        free(ka);
    }
    return 0;
}

int operation_apply(struct resources *r, const struct operation *op, struct error *err)
{
    const char *what = operation_kind_name(op->kind);
    char id[300];
    if (op->kind == OPERATION_CREATE && operation_volume_overlap(&op->produced, r, id, sizeof(id)))
        return error_set(err, -EEXIST, "Invalid CREATE operation: persistent volume id '%s' is "
                                       "already in use on this agent", id);
    if (!resources_contains(r, &op->consumed)) {
        struct buf want = BUF_INIT, have = BUF_INIT;
        resources_format(&op->consumed, &want);
        resources_format(r, &have);
        error_set(err, -ENOSPC, "Invalid %s operation: %s is not available in %s", what,
                  buf_cstr(&want), buf_cstr(&have));
        buf_free(&want);
        buf_free(&have);
        return -ENOSPC;
    }
    resources_subtract(r, &op->consumed);
    resources_add(r, &op->produced);
    return 0;
}

void operation_unallocated(const struct operation *op, struct operation *out)
{
    out->kind = op->kind;
    resources_init(&out->consumed);
    resources_init(&out->produced);
    resources_copy(&out->consumed, &op->consumed);
    resources_copy(&out->produced, &op->produced);
    resources_set_allocation_role(&out->consumed, NULL);
    resources_set_allocation_role(&out->produced, NULL);
}
