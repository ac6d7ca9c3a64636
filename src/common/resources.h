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
 * one entry per identity for scalars and ranges (shared resources aside). */
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
};

struct resources {
    struct resource *v;
    size_t n;
};

#define RESOURCES_INIT {NULL, 0}

/* Thousandths <-> double, rounding to the nearest thousandth. */
int64_t resources_scalar_from_double(double v);
double resources_scalar_to_double(int64_t v);

void resources_init(struct resources *r);
void resources_free(struct resources *r);
void resources_copy(struct resources *dst, const struct resources *src);  /* dst is overwritten */
int resources_empty(const struct resources *r);

/* Parses Mesos's text syntax, e.g. "cpus:4;mem:2048;disk:10000;ports:[31000-32000]",
 * "cpus(web):2", "zones:{a,b}", or a JSON array of Resource objects.
 * Unreserved resources get default_role when it is not NULL and not "*"
 * (as --default_role does); empty or zero-valued scalars are dropped. */
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
 * resources_proto_free). */
Tepui__Resource **resources_to_proto(const struct resources *r, size_t *n);
void resources_proto_free(Tepui__Resource **v, size_t n);

/* a += b, merging compatible entries. */
void resources_add(struct resources *a, const struct resources *b);
void resources_add_one(struct resources *a, const struct resource *one);
/* a -= b: each entry of b is taken from its compatible entry in a; entries
 * that reach zero disappear. Parts of b that a does not hold are ignored. */
void resources_subtract(struct resources *a, const struct resources *b);
/* Whether a holds all of b. */
int resources_contains(const struct resources *a, const struct resources *b);
int resources_equal(const struct resources *a, const struct resources *b);

/* Sum of the scalar resources with this name (thousandths), any identity. */
int64_t resources_scalar(const struct resources *r, const char *name);
/* The ranges resource with this name merged over identities (for ports). */
void resources_ranges(const struct resources *r, const char *name, struct value_range **out,
                      size_t *n);

/* Selections (dst overwritten): */
void resources_unreserved(const struct resources *r, struct resources *dst);
void resources_reserved_to(const struct resources *r, const char *role, struct resources *dst);
/* What a framework in role may be offered: unreserved plus what is reserved
 * to role or to one of its ancestors. */
void resources_allocatable_to(const struct resources *r, const char *role, struct resources *dst);
/* Sets (role != NULL) or clears the allocation role of every entry. */
void resources_set_allocation_role(struct resources *r, const char *role);

/* Human-readable form for logs and errors: "cpus:2;mem:1024;ports:[31000-32000]"
 * (reserved entries as "cpus(role):2", allocated as "cpus(allocated: role):2"). */
void resources_format(const struct resources *r, struct buf *out);
/* The flat object of the classic endpoints:
 * {"cpus":2.0,"mem":1024.0,"disk":0.0,"gpus":0.0,"ports":"[31000-32000]"}; scalars
 * summed by name; cpus, mem, disk and gpus always present. */
json_t *resources_to_state_json(const struct resources *r);

#endif
