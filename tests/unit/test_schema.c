/* Checks our v1 schemas (src/wire/proto, linked in as protobuf-c descriptors)
 * against the reference Mesos v1 schemas that Debian ships with mesos-go
 * (golang-github-mesos-mesos-go-dev).
 *
 * The reference .proto files are compiled with protoc at test time into a
 * FileDescriptorSet, which a small wire-format reader below walks. For every
 * reference message field and enum value, ours must have the same name,
 * number, label, type, referenced type and explicit default. We follow the
 * current Apache Mesos schemas, which are a superset of Debian's older copy:
 * fields and values that only we have are fine, and the few places where
 * upstream changed a field since are listed in `exceptions` below. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "allocator.pb-c.h"
#include "duration.pb-c.h"
#include "executor.pb-c.h"
#include "maintenance.pb-c.h"
#include "master.pb-c.h"
#include "mesos.pb-c.h"
#include "quota.pb-c.h"
#include "scheduler.pb-c.h"

extern char **environ;

/* ---- where the reference lives -------------------------------------------- */

#define REF_DIR "github.com/mesos/mesos-go/api/v1/lib/"

static const char *const ref_files[] = {
    REF_DIR "mesos.proto",
    REF_DIR "scheduler/scheduler.proto",
    REF_DIR "executor/executor.proto",
    REF_DIR "master/master.proto",
    REF_DIR "agent/agent.proto",
    REF_DIR "quota/quota.proto",
    REF_DIR "maintenance/maintenance.proto",
    REF_DIR "allocator/allocator.proto",
};
#define N_REF_FILES (sizeof(ref_files) / sizeof(ref_files[0]))

static const char *ref_root(void)
{
    const char *r = getenv("TEPUI_MESOS_GO_SRC");
    return r && *r ? r : "/usr/share/gocode/src";
}

/* ---- where upstream Mesos moved on from Debian's copy ---------------------- */

static const struct exception {
    const char *message; /* our full name */
    const char *field;
    const char *what;    /* "label", "type", "default", ... */
    const char *why;
} exceptions[] = {
    /* Mesos 1.5 (GET_CONTAINERS for nested and standalone containers, which
     * have no framework or executor) made these optional. */
    { "tepui.agent.Response.GetContainers.Container", "framework_id", "label",
      "optional since Mesos 1.5: standalone containers have no framework" },
    { "tepui.agent.Response.GetContainers.Container", "executor_id", "label",
      "optional since Mesos 1.5: standalone containers have no executor" },
    { "tepui.agent.Response.GetContainers.Container", "executor_name", "label",
      "optional since Mesos 1.5: standalone containers have no executor" },
    /* Mesos dropped the explicit default when quota limits were added; an
     * unset bool reads as false either way, so the wire is unchanged. */
    { "tepui.quota.QuotaRequest", "force", "default",
      "upstream removed [default = false] (same implicit value)" },
};
#define N_EXCEPTIONS (sizeof(exceptions) / sizeof(exceptions[0]))

/* ---- a minimal protobuf wire-format reader --------------------------------- */

struct pb {
    const uint8_t *p, *end;
};

struct pbf {
    uint32_t num;
    unsigned wt;
    uint64_t v;      /* wire type 0 */
    struct pb sub;   /* wire type 2 */
};

static bool pb_varint(struct pb *b, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return false;
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* 1: a field was read; 0: end of buffer; -1: malformed input. */
static int pb_next(struct pb *b, struct pbf *f)
{
    uint64_t key, len;
    if (b->p == b->end)
        return 0;
    if (!pb_varint(b, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (unsigned)(key & 7);
    switch (f->wt) {
    case 0:
        return pb_varint(b, &f->v) ? 1 : -1;
    case 1:
        if (b->end - b->p < 8)
            return -1;
        b->p += 8;
        return 1;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 1;
    case 2:
        if (!pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
            return -1;
        f->sub.p = b->p;
        f->sub.end = b->p + len;
        b->p += len;
        return 1;
    default:
        return -1; /* groups: not used by descriptor.proto's fields we read */
    }
}

static void pb_str(const struct pb *s, char *out, size_t n)
{
    size_t len = (size_t)(s->end - s->p);
    if (len >= n)
        len = n - 1;
    memcpy(out, s->p, len);
    out[len] = '\0';
}

/* ---- our schemas: protobuf-c keeps no registry, so collect one -------------
 *
 * A protobuf-c message descriptor does not list its nested types; nested
 * descriptors are reached through the `descriptor` of fields that use them
 * (or by their generated C symbol). So we walk the field graph from the API
 * entry points, plus the few types that no field of those reaches. */

static const ProtobufCMessageDescriptor *const message_roots[] = {
    &tepui__scheduler__call__descriptor,
    &tepui__scheduler__event__descriptor,
    &tepui__scheduler__response__descriptor,
    &tepui__scheduler__apiresult__descriptor,
    &tepui__executor__call__descriptor,
    &tepui__executor__event__descriptor,
    &tepui__master__call__descriptor,
    &tepui__master__response__descriptor,
    &tepui__master__event__descriptor,
    &tepui__agent__call__descriptor,
    &tepui__agent__response__descriptor,
    /* not referenced by any field of the APIs above */
    &tepui__machine_info__descriptor,
    &tepui__value__descriptor,
    &tepui__resource_usage__descriptor,
    &tepui__credentials__descriptor,
    &tepui__rate_limits__descriptor,
    &tepui__cgroup_info__blkio__descriptor,
    &tepui__cgroup_info__blkio__cfq__descriptor,
    &tepui__cgroup_info__blkio__throttling__descriptor,
    &tepui__device_whitelist__descriptor,
};

static const ProtobufCEnumDescriptor *const enum_roots[] = {
    &tepui__status__descriptor,
};

#define MAX_TYPES 1024

static struct registry {
    const ProtobufCMessageDescriptor *msgs[MAX_TYPES];
    size_t n_msgs;
    const ProtobufCEnumDescriptor *enums[MAX_TYPES];
    size_t n_enums;
} reg;

static void reg_add_enum(const ProtobufCEnumDescriptor *e)
{
    for (size_t i = 0; i < reg.n_enums; i++)
        if (reg.enums[i] == e)
            return;
    assert_true(reg.n_enums < MAX_TYPES);
    reg.enums[reg.n_enums++] = e;
}

static void reg_add_msg(const ProtobufCMessageDescriptor *m)
{
    for (size_t i = 0; i < reg.n_msgs; i++)
        if (reg.msgs[i] == m)
            return;
    assert_true(reg.n_msgs < MAX_TYPES);
    reg.msgs[reg.n_msgs++] = m;
    for (unsigned i = 0; i < m->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            reg_add_msg(f->descriptor);
        else if (f->type == PROTOBUF_C_TYPE_ENUM)
            reg_add_enum(f->descriptor);
    }
}

static void reg_build(void)
{
    if (reg.n_msgs)
        return;
    for (size_t i = 0; i < sizeof(message_roots) / sizeof(message_roots[0]); i++)
        reg_add_msg(message_roots[i]);
    for (size_t i = 0; i < sizeof(enum_roots) / sizeof(enum_roots[0]); i++)
        reg_add_enum(enum_roots[i]);
}

static const ProtobufCMessageDescriptor *find_msg(const char *full)
{
    for (size_t i = 0; i < reg.n_msgs; i++)
        if (strcmp(reg.msgs[i]->name, full) == 0)
            return reg.msgs[i];
    return NULL;
}

static const ProtobufCEnumDescriptor *find_enum(const char *full)
{
    for (size_t i = 0; i < reg.n_enums; i++)
        if (strcmp(reg.enums[i]->name, full) == 0)
            return reg.enums[i];
    return NULL;
}

/* ---- the comparison ---------------------------------------------------------- */

struct cmp {
    unsigned messages, fields, enums, values;
    unsigned mismatches, excused;
    bool used[N_EXCEPTIONS];
    bool malformed;
};

/* Reference names are in package `mesos` (and `mesos.scheduler`, ...); ours
 * are `tepui` (`tepui.scheduler`, ...). Also drops a leading dot. */
static void map_name(const char *ref, char *out, size_t n)
{
    if (*ref == '.')
        ref++;
    if (strncmp(ref, "mesos", 5) == 0 && (ref[5] == '.' || ref[5] == '\0'))
        snprintf(out, n, "tepui%s", ref + 5);
    else
        snprintf(out, n, "%s", ref);
}

static void mismatch(struct cmp *c, const char *msg, const char *field,
                     const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void mismatch(struct cmp *c, const char *msg, const char *field,
                     const char *what, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < N_EXCEPTIONS; i++) {
        if (strcmp(exceptions[i].message, msg) == 0 &&
            strcmp(exceptions[i].field, field) == 0 &&
            strcmp(exceptions[i].what, what) == 0) {
            c->used[i] = true;
            c->excused++;
            print_message("excused: %s.%s: %s (%s)\n", msg, field, text,
                          exceptions[i].why);
            return;
        }
    }
    c->mismatches++;
    print_error("MISMATCH %s%s%s: %s\n", msg, *field ? "." : "", field, text);
}

/* descriptor.proto's FieldDescriptorProto.Type, as protobuf-c types */
static int ref_type_to_c(uint64_t t)
{
    switch (t) {
    case 1: return PROTOBUF_C_TYPE_DOUBLE;
    case 2: return PROTOBUF_C_TYPE_FLOAT;
    case 3: return PROTOBUF_C_TYPE_INT64;
    case 4: return PROTOBUF_C_TYPE_UINT64;
    case 5: return PROTOBUF_C_TYPE_INT32;
    case 6: return PROTOBUF_C_TYPE_FIXED64;
    case 7: return PROTOBUF_C_TYPE_FIXED32;
    case 8: return PROTOBUF_C_TYPE_BOOL;
    case 9: return PROTOBUF_C_TYPE_STRING;
    case 11: return PROTOBUF_C_TYPE_MESSAGE;
    case 12: return PROTOBUF_C_TYPE_BYTES;
    case 13: return PROTOBUF_C_TYPE_UINT32;
    case 14: return PROTOBUF_C_TYPE_ENUM;
    case 15: return PROTOBUF_C_TYPE_SFIXED32;
    case 16: return PROTOBUF_C_TYPE_SFIXED64;
    case 17: return PROTOBUF_C_TYPE_SINT32;
    case 18: return PROTOBUF_C_TYPE_SINT64;
    default: return -1; /* 10: group */
    }
}

static const char *c_type_name(int t)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",     [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",   [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",   [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",   [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",     [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",       [PROTOBUF_C_TYPE_ENUM] = "enum",
        [PROTOBUF_C_TYPE_STRING] = "string",   [PROTOBUF_C_TYPE_BYTES] = "bytes",
        [PROTOBUF_C_TYPE_MESSAGE] = "message",
    };
    if (t < 0 || (size_t)t >= sizeof(names) / sizeof(names[0]) || !names[t])
        return "?";
    return names[t];
}

static int ref_label_to_c(uint64_t l)
{
    switch (l) {
    case 1: return PROTOBUF_C_LABEL_OPTIONAL;
    case 2: return PROTOBUF_C_LABEL_REQUIRED;
    case 3: return PROTOBUF_C_LABEL_REPEATED;
    default: return -1;
    }
}

static const char *c_label_name(int l)
{
    switch (l) {
    case PROTOBUF_C_LABEL_OPTIONAL: return "optional";
    case PROTOBUF_C_LABEL_REQUIRED: return "required";
    case PROTOBUF_C_LABEL_REPEATED: return "repeated";
    case PROTOBUF_C_LABEL_NONE: return "(proto3 singular)";
    default: return "?";
    }
}

/* Our explicit default rendered as text, or NULL when there is none. */
static const char *our_default(const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
    const void *d = f->default_value;
    if (!d)
        return NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, n, "%ld", (long)*(const int32_t *)d);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, n, "%lu", (unsigned long)*(const uint32_t *)d);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)d);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)d);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(buf, n, "%.9g", (double)*(const float *)d);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(buf, n, "%.17g", *(const double *)d);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, n, "%s", *(const protobuf_c_boolean *)d ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)d);
        snprintf(buf, n, "%s", v ? v->name : "?");
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        /* protobuf-c points default_value at the characters themselves */
        snprintf(buf, n, "%s", (const char *)d);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = d;
        snprintf(buf, n, "%.*s", (int)b->len, (const char *)b->data);
        break;
    }
    default:
        snprintf(buf, n, "?");
    }
    return buf;
}

/* The reference's default_value (protoc's text form) against ours. */
static bool same_default(const ProtobufCFieldDescriptor *f, const char *ref, const char *ours)
{
    char *end;
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
        return strtof(ref, &end) == *(const float *)f->default_value && !*end;
    case PROTOBUF_C_TYPE_DOUBLE:
        return strtod(ref, &end) == *(const double *)f->default_value && !*end;
    default:
        return strcmp(ref, ours) == 0;
    }
}

struct ref_field {
    char name[128];
    uint64_t number, label, type;
    char type_name[256];
    bool has_default;
    char def[256];
    bool in_oneof;
};

static bool parse_field(struct pb b, struct ref_field *rf)
{
    struct pbf f;
    int r;
    memset(rf, 0, sizeof *rf);
    while ((r = pb_next(&b, &f)) > 0) {
        switch (f.num) {
        case 1: if (f.wt == 2) pb_str(&f.sub, rf->name, sizeof rf->name); break;
        case 3: if (f.wt == 0) rf->number = f.v; break;
        case 4: if (f.wt == 0) rf->label = f.v; break;
        case 5: if (f.wt == 0) rf->type = f.v; break;
        case 6: if (f.wt == 2) pb_str(&f.sub, rf->type_name, sizeof rf->type_name); break;
        case 7:
            if (f.wt == 2) {
                pb_str(&f.sub, rf->def, sizeof rf->def);
                rf->has_default = true;
            }
            break;
        case 9: if (f.wt == 0) rf->in_oneof = true; break;
        default: break;
        }
    }
    return r == 0 && rf->name[0];
}

static void check_field(struct cmp *c, const ProtobufCMessageDescriptor *ours,
                        const char *msg, const struct ref_field *rf)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(ours, rf->name);
    const char *fn = rf->name;
    char buf[256];

    c->fields++;
    if (!f) {
        mismatch(c, msg, fn, "missing", "field missing (reference: number %llu)",
                 (unsigned long long)rf->number);
        return;
    }
    if (f->id != rf->number)
        mismatch(c, msg, fn, "number", "number %u, reference %llu", f->id,
                 (unsigned long long)rf->number);

    int label = ref_label_to_c(rf->label);
    if ((int)f->label != label)
        mismatch(c, msg, fn, "label", "label %s, reference %s",
                 c_label_name((int)f->label), c_label_name(label));

    bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    if (oneof != rf->in_oneof)
        mismatch(c, msg, fn, "oneof", "%s a oneof, reference %s",
                 oneof ? "in" : "not in", rf->in_oneof ? "is" : "is not");

    int type = ref_type_to_c(rf->type);
    if ((int)f->type != type) {
        mismatch(c, msg, fn, "type", "type %s, reference %s",
                 c_type_name((int)f->type), c_type_name(type));
    } else if (type == PROTOBUF_C_TYPE_MESSAGE || type == PROTOBUF_C_TYPE_ENUM) {
        map_name(rf->type_name, buf, sizeof buf);
        const char *our_tn = type == PROTOBUF_C_TYPE_MESSAGE
            ? ((const ProtobufCMessageDescriptor *)f->descriptor)->name
            : ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
        if (strcmp(our_tn, buf) != 0)
            mismatch(c, msg, fn, "type_name", "refers to %s, reference %s", our_tn, buf);
    }

    if ((int)f->type != type)
        return; /* defaults cannot be compared across types */
    char dbuf[256];
    const char *od = our_default(f, dbuf, sizeof dbuf);
    if (rf->has_default && !od)
        mismatch(c, msg, fn, "default", "no explicit default, reference [default = %s]",
                 rf->def);
    else if (!rf->has_default && od)
        mismatch(c, msg, fn, "default", "[default = %s], reference has none", od);
    else if (od && !same_default(f, rf->def, od))
        mismatch(c, msg, fn, "default", "[default = %s], reference [default = %s]",
                 od, rf->def);
}

static bool check_enum(struct cmp *c, struct pb b, const char *scope)
{
    struct pbf f;
    int r;
    char name[128] = "", full[512];

    for (struct pb s = b; (r = pb_next(&s, &f)) > 0;)
        if (f.num == 1 && f.wt == 2)
            pb_str(&f.sub, name, sizeof name);
    if (r < 0 || !name[0])
        return false;
    snprintf(full, sizeof full, "%s.%s", scope, name);
    c->enums++;

    const ProtobufCEnumDescriptor *ours = find_enum(full);
    if (!ours)
        mismatch(c, full, "", "missing",
                 "enum missing (or not reachable from this test's roots)");

    while ((r = pb_next(&b, &f)) > 0) {
        if (f.num != 2 || f.wt != 2)
            continue;
        char vname[128] = "";
        uint64_t number = 0;
        struct pbf g;
        struct pb vb = f.sub;
        int rv;
        while ((rv = pb_next(&vb, &g)) > 0) {
            if (g.num == 1 && g.wt == 2)
                pb_str(&g.sub, vname, sizeof vname);
            else if (g.num == 2 && g.wt == 0)
                number = g.v;
        }
        if (rv < 0 || !vname[0])
            return false;
        c->values++;
        if (!ours)
            continue;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(ours, vname);
        int32_t want = (int32_t)(uint32_t)number; /* negative values are sign-extended */
        if (!v)
            mismatch(c, full, vname, "missing", "enum value missing (reference: %ld)",
                     (long)want);
        else if (v->value != want)
            mismatch(c, full, vname, "number", "value %d, reference %ld", v->value,
                     (long)want);
    }
    return r == 0;
}

static bool check_message(struct cmp *c, struct pb b, const char *scope)
{
    struct pbf f;
    int r;
    char name[128] = "", full[512];

    for (struct pb s = b; (r = pb_next(&s, &f)) > 0;)
        if (f.num == 1 && f.wt == 2)
            pb_str(&f.sub, name, sizeof name);
    if (r < 0 || !name[0])
        return false;
    snprintf(full, sizeof full, "%s.%s", scope, name);
    c->messages++;

    const ProtobufCMessageDescriptor *ours = find_msg(full);
    if (!ours)
        mismatch(c, full, "", "missing",
                 "message missing (or not reachable from this test's roots)");

    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wt != 2)
            continue;
        if (f.num == 2) {
            struct ref_field rf;
            if (!parse_field(f.sub, &rf))
                return false;
            if (ours)
                check_field(c, ours, full, &rf);
            else
                c->fields++;
        } else if (f.num == 3) {
            if (!check_message(c, f.sub, full))
                return false;
        } else if (f.num == 4) {
            if (!check_enum(c, f.sub, full))
                return false;
        }
    }
    return r == 0;
}

static bool check_file(struct cmp *c, struct pb b)
{
    struct pbf f;
    int r;
    char pkg[256] = "", mapped[256];

    for (struct pb s = b; (r = pb_next(&s, &f)) > 0;)
        if (f.num == 2 && f.wt == 2)
            pb_str(&f.sub, pkg, sizeof pkg);
    if (r < 0)
        return false;
    /* --include_imports brings gogo.proto and descriptor.proto along */
    if (strcmp(pkg, "mesos") != 0 && strncmp(pkg, "mesos.", 6) != 0)
        return true;
    map_name(pkg, mapped, sizeof mapped);

    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wt != 2)
            continue;
        if (f.num == 4 && !check_message(c, f.sub, mapped))
            return false;
        if (f.num == 5 && !check_enum(c, f.sub, mapped))
            return false;
    }
    return r == 0;
}

/* ---- running protoc on the reference ---------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(fp);
    *len = n;
    return buf;
}

static void print_file(const char *path)
{
    size_t n = 0;
    uint8_t *text = read_all(path, &n);
    if (text && n)
        print_error("%.*s", (int)n, (const char *)text);
    free(text);
}

/* Compiles the reference into a FileDescriptorSet; returns its bytes. */
static uint8_t *reference_descriptor_set(size_t *len)
{
    const char *root = ref_root();
    char path[1024];
    for (size_t i = 0; i < N_REF_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", root, ref_files[i]);
        if (access(path, R_OK) != 0) {
            fail_msg("reference schema %s not found (%s): install "
                     "golang-github-mesos-mesos-go-dev, or point TEPUI_MESOS_GO_SRC "
                     "at a directory holding " REF_DIR,
                     path, strerror(errno));
        }
    }

    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char out[1024], err[1024];
    snprintf(out, sizeof out, "%s/tepui-schema-XXXXXX", tmp);
    snprintf(err, sizeof err, "%s/tepui-schema-err-XXXXXX", tmp);
    int ofd = mkstemp(out), efd = mkstemp(err);
    assert_true(ofd >= 0 && efd >= 0);
    close(ofd);

    char inc[1100], outarg[1100];
    snprintf(inc, sizeof inc, "-I%s", root);
    snprintf(outarg, sizeof outarg, "--descriptor_set_out=%s", out);
    char *argv[8 + N_REF_FILES + 1];
    size_t a = 0;
    argv[a++] = (char *)"protoc";
    argv[a++] = inc;
    argv[a++] = (char *)"-I/usr/include"; /* google/protobuf/descriptor.proto, for gogo.proto */
    argv[a++] = outarg;
    argv[a++] = (char *)"--include_imports";
    for (size_t i = 0; i < N_REF_FILES; i++)
        argv[a++] = (char *)ref_files[i];
    argv[a] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, efd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawnp(&pid, "protoc", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(efd);
    if (rc != 0) {
        unlink(out);
        unlink(err);
        fail_msg("cannot run protoc (%s): install protobuf-compiler", strerror(rc));
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_file(err);
        unlink(out);
        unlink(err);
        fail_msg("protoc failed on the reference schemas (status %d)", status);
    }
    unlink(err);
    uint8_t *data = read_all(out, len);
    unlink(out);
    assert_non_null(data);
    return data;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_schema_matches_reference(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *set = reference_descriptor_set(&len);
    reg_build();

    struct cmp c;
    memset(&c, 0, sizeof c);
    struct pb b = { set, set + len };
    struct pbf f;
    int r;
    unsigned files = 0;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.num != 1 || f.wt != 2)
            continue;
        files++;
        if (!check_file(&c, f.sub)) {
            c.malformed = true;
            break;
        }
    }
    free(set);
    if (r < 0)
        c.malformed = true;

    print_message("compared %u messages with %u fields and %u enums with %u values "
                  "(%u of our messages and %u enums linked); %u mismatches, %u excused\n",
                  c.messages, c.fields, c.enums, c.values, (unsigned)reg.n_msgs,
                  (unsigned)reg.n_enums, c.mismatches, c.excused);
    for (size_t i = 0; i < N_EXCEPTIONS; i++)
        if (!c.used[i])
            print_message("note: exception %s.%s (%s) no longer needed\n",
                          exceptions[i].message, exceptions[i].field, exceptions[i].what);

    assert_false(c.malformed);
    assert_true(files >= N_REF_FILES);
    /* guards against comparing nothing (Debian's copy has ~265/927/41/337) */
    assert_true(c.messages > 200);
    assert_true(c.fields > 900);
    assert_true(c.enums > 30);
    assert_true(c.values > 300);
    assert_int_equal(c.mismatches, 0);
}

/* C names other code relies on, and references whose resolution needed care. */
static void test_c_names(void **state)
{
    (void)state;
    const ProtobufCFieldDescriptor *f;

    assert_string_equal(tepui__task_info__descriptor.name, "tepui.TaskInfo");
    assert_int_equal(TEPUI__TASK_STATE__TASK_RUNNING, 1);
    assert_string_equal(tepui__offer__operation__launch__descriptor.name,
                        "tepui.Offer.Operation.Launch");
    assert_string_equal(tepui__scheduler__call__subscribe__descriptor.name,
                        "tepui.scheduler.Call.Subscribe");

    /* scheduler Call.Request.requests is tepui.Request, not Call.Request */
    f = protobuf_c_message_descriptor_get_field_by_name(
        &tepui__scheduler__call__request__descriptor, "requests");
    assert_non_null(f);
    assert_ptr_equal(f->descriptor, &tepui__request__descriptor);

    f = protobuf_c_message_descriptor_get_field_by_name(&tepui__scheduler__call__descriptor,
                                                        "message");
    assert_non_null(f);
    assert_ptr_equal(f->descriptor, &tepui__scheduler__call__message__descriptor);

    f = protobuf_c_message_descriptor_get_field_by_name(&tepui__executor__event__descriptor,
                                                        "message");
    assert_non_null(f);
    assert_ptr_equal(f->descriptor, &tepui__executor__event__message__descriptor);

    /* DRAIN_AGENT's grace period is google.protobuf.Duration (ours, duration.proto) */
    f = protobuf_c_message_descriptor_get_field_by_name(
        &tepui__master__call__drain_agent__descriptor, "max_grace_period");
    assert_non_null(f);
    assert_ptr_equal(f->descriptor, &google__protobuf__duration__descriptor);

    /* map<string, OfferFilters>: protobuf-c sees a repeated nested *Entry message
     * with key = 1 and value = 2; nothing marks it as a map. */
    f = protobuf_c_message_descriptor_get_field_by_name(&tepui__framework_info__descriptor,
                                                        "offer_filters");
    assert_non_null(f);
    assert_int_equal(f->label, PROTOBUF_C_LABEL_REPEATED);
    assert_ptr_equal(f->descriptor, &tepui__framework_info__offer_filters_entry__descriptor);
    assert_string_equal(tepui__framework_info__offer_filters_entry__descriptor.name,
                        "tepui.FrameworkInfo.OfferFiltersEntry");
    assert_int_equal(tepui__framework_info__offer_filters_entry__descriptor.n_fields, 2);

    /* explicit defaults are visible through the descriptor */
    f = protobuf_c_message_descriptor_get_field_by_name(&tepui__framework_info__descriptor,
                                                        "role");
    assert_non_null(f);
    assert_non_null(f->default_value);
    assert_string_equal((const char *)f->default_value, "*");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_names),
        cmocka_unit_test(test_schema_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
