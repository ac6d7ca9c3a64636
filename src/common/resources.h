/* Resources: named scalar, range and set values with their reservation and
 * allocation identity, and the arithmetic on them (add, subtract, contains,
 * filter). Scalars are fixed point in thousandths, as Mesos rounds every
 * scalar to three decimals, so sums never drift. This module is the one
 * place that knows how two resources combine; the allocator, offer and
 * launch validation, and the agent all go through it.
 *
 * Two resources are "compatible" (and merge into one entry) when name, type,
 * allocation role and the rest of their identity (reservations, disk info,
 * revocable, shared, provider id) are equal. A struct resources keeps at most
 * one entry per identity for scalars and ranges (shared resources aside), and
 * never an empty entry (zero scalar, no ranges, no items).
 *
 * Shared resources (shared persistent volumes) are never merged: each copy is
 * its own entry, so the number of equal entries is the number of copies, as
 * Mesos counts them. Exclusive disks (persistent volumes, MOUNT and BLOCK
 * disks, RAW disks with an id) are never merged either; they are added and
 * subtracted whole.
 *
 * Every function that writes a struct resources (dst/out) expects it to be
 * initialized (RESOURCES_INIT, resources_init, or all zero bytes) and frees
 * what it held before; dst may be the same object as the source. On failure
 * out is left as it was. */
#ifndef TEPUI_COMMON_RESOURCES_H
#define TEPUI_COMMON_RESOURCES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "mesos.pb-c.h"

enum resource_type {
    RES_SCALAR = 0,   /* the numbers of tepui.Value.Type */
    RES_RANGES = 1,
    RES_SET = 2,
};

struct value_range {
    uint64_t begin;
    uint64_t end;      /* inclusive */
};

struct resource {
    char *name;
    enum resource_type type;
    int64_t scalar;               /* thousandths */
    struct value_range *ranges;   /* sorted, non-overlapping, non-adjacent */
    size_t n_ranges;
    char **items;                 /* sorted, unique */
    size_t n_items;
    char *reservation_role;       /* role of the innermost reservation; NULL if unreserved */
    char *allocation_role;        /* allocation_info.role; NULL if not allocated */
    /* The other identity fields (reservations stack, disk, revocable, shared,
     * provider_id) as a packed tepui.Resource holding only those fields;
     * NULL/0 when there are none. Compared bytewise. */
    uint8_t *identity;
    size_t identity_len;
    /* RES_* flags derived from the identity when the entry was built here
     * (from_proto or parse); 0 for a plain resource. */
    unsigned flags;
};

enum resource_flag {
    RES_REVOCABLE = 1u << 0,
    RES_SHARED = 1u << 1,     /* copies are counted, never merged */
    RES_EXCLUSIVE = 1u << 2,  /* a disk that is added and subtracted whole */
};

struct resources {
    struct resource *v;
    size_t n;
    size_t cap;   /* allocated entries in v; less than n means exactly n */
};

#define RESOURCES_INIT {NULL, 0, 0}

/* Thousandths <-> double, rounding to the nearest thousandth. Input scalars
 * above RES_SCALAR_MAX are rejected so thousandths stay exact in a double;
 * sums saturate instead of overflowing. */
#define RES_SCALAR_MAX 9007199254740.0
int64_t resources_scalar_from_double(double v);
double resources_scalar_to_double(int64_t v);

void resources_init(struct resources *r);
void resources_free(struct resources *r);
void resources_copy(struct resources *dst, const struct resources *src);  /* dst is overwritten */
int resources_empty(const struct resources *r);

/* Parses Mesos's text syntax, e.g. "cpus:4;mem:2048;disk:10000;ports:[31000-32000]",
 * "cpus(web):2", "zones:{a,b}", or a JSON array of Resource objects.
 * A role in parentheses is a STATIC reservation ("*" is unreserved).
 * Resources without a role get default_role when it is not NULL and not "*"
 * (as --default_role does); empty or zero-valued scalars are dropped and
 * repeated names with the same identity are summed, as Mesos does. As for
 * the agent's --resources, persistent volumes, revocable resources, dynamic
 * reservations and one name with two types are rejected. Overlapping ranges
 * in text are coalesced (from_proto rejects them). */
int resources_parse(const char *text, const char *default_role, struct resources *out,
                    struct error *err);

/* Converts and validates protobuf resources: known value types matching the
 * fields set, finite non-negative scalars, ranges with begin <= end, no
 * duplicate set items, a valid reservation stack. err names the offending
 * resource. Both the pre-refinement format (role/reservation) and the
 * reservations stack are accepted. */
int resources_from_proto(Tepui__Resource *const *v, size_t n, struct resources *out,
                         struct error *err);

/* Builds protobuf resources (newly allocated; free with
 * resources_proto_free) in the post-refinement format: reservations in the
 * `reservations` stack, `role` and `reservation` unset. Each copy of a
 * shared resource is its own element. */
Tepui__Resource **resources_to_proto(const struct resources *r, size_t *n);
void resources_proto_free(Tepui__Resource **v, size_t n);

/* a += b, merging compatible entries. */
void resources_add(struct resources *a, const struct resources *b);
void resources_add_one(struct resources *a, const struct resource *one);
/* a -= b: each entry of b is taken from its compatible entry in a; entries
 * that reach zero disappear. Parts of b that a does not hold are ignored. */
void resources_subtract(struct resources *a, const struct resources *b);
/* Whether a holds all of b (each entry of b within its compatible entry of
 * a; shared and exclusive entries by count of equal copies). */
int resources_contains(const struct resources *a, const struct resources *b);
int resources_equal(const struct resources *a, const struct resources *b);

/* Sum of the scalar resources with this name (thousandths), any identity;
 * a shared resource counts once however many copies are held (as Mesos). */
int64_t resources_scalar(const struct resources *r, const char *name);
/* The ranges resource with this name merged over identities (for ports).
 * *out is malloc'd (NULL when there are none); the caller frees it. */
void resources_ranges(const struct resources *r, const char *name, struct value_range **out,
                      size_t *n);

/* Selections (dst overwritten): */
void resources_unreserved(const struct resources *r, struct resources *dst);
/* role NULL: everything reserved to any role. */
void resources_reserved_to(const struct resources *r, const char *role, struct resources *dst);
/* What a framework in role may be offered: unreserved plus what is reserved
 * to role or to one of its ancestors. */
void resources_allocatable_to(const struct resources *r, const char *role, struct resources *dst);
/* Sets (role != NULL) or clears the allocation role of every entry; entries
 * that become compatible merge. */
void resources_set_allocation_role(struct resources *r, const char *role);

/* Human-readable form for logs and errors: "cpus:2;mem:1024;ports:[31000-32000]"
 * (reserved entries as "cpus(role):2" with the innermost role, allocated as
 * "cpus(allocated: role):2", revocable "{REV}", shared "<SHARED>"; sets as
 * "{a, b}"); nothing at all is "{}", as Mesos logs it. */
void resources_format(const struct resources *r, struct buf *out);
/* The flat object of the classic endpoints:
 * {"cpus":2.0,"mem":1024.0,"disk":0.0,"gpus":0.0,"ports":"[31000-32000]"}; scalars
 * summed by name; cpus, mem, disk and gpus always present; sets as
 * "{a, b}"; revocable resources under "<name>_revocable", as Mesos's
 * model(Resources) does. */
json_t *resources_to_state_json(const struct resources *r);

#endif
