/* Offer operations that change an agent's resources rather than launch
 * anything: RESERVE, UNRESERVE (dynamic reservations, refinement included),
 * CREATE and DESTROY (persistent volumes). Each becomes what it takes from
 * the agent and what it gives back; applying it is a subtraction and an
 * addition. Validation follows Mesos's (validation.cpp): the checks that
 * need no agent happen when the operation is built, the ones against the
 * agent's resources when it is applied. Nothing here talks to agents or
 * the allocator; accept.c and the operator API do. */
#ifndef TEPUI_MASTER_OPERATIONS_H
#define TEPUI_MASTER_OPERATIONS_H

#include <stddef.h>

#include "common/error.h"
#include "common/resources.h"
#include "mesos.pb-c.h"

enum operation_kind {
    OPERATION_RESERVE,
    OPERATION_UNRESERVE,
    OPERATION_CREATE,
    OPERATION_DESTROY,
};

struct operation {
    enum operation_kind kind;
    struct resources consumed;    /* leaves the agent's total */
    struct resources produced;    /* joins it */
};

/* Who asks. A framework names its roles, principal and capabilities; the
 * operator (roles NULL) may act for any role. */
struct operation_actor {
    char *const *roles;
    size_t n_roles;
    const char *principal;        /* NULL: none */
    int refinement;               /* RESERVATION_REFINEMENT */
    int shared;                   /* SHARED_RESOURCES */
};

const char *operation_kind_name(enum operation_kind kind);

/* Builds an operation from its resources (Reserve.resources,
 * Unreserve.resources, Create.volumes or Destroy.volumes), validating them
 * alone. source: Reserve.source, checked when given (n_source > 0). out is
 * initialized here; free it with operation_free even on failure. */
int operation_build(enum operation_kind kind, Tepui__Resource *const *v, size_t n,
                    Tepui__Resource *const *source, size_t n_source,
                    const struct operation_actor *who, struct operation *out, struct error *err);
/* The same from an offer operation of one of the four types (-ENOTSUP for
 * the others). */
int operation_from_offer_operation(const Tepui__Offer__Operation *op,
                                   const struct operation_actor *who, struct operation *out,
                                   struct error *err);
void operation_free(struct operation *op);

/* Applies op to r: r must hold what it consumes, and a new volume's id must
 * not be in use on r for its role. r is unchanged on failure. */
int operation_apply(struct resources *r, const struct operation *op, struct error *err);

/* A copy of op with no allocation role (for an agent's total). */
void operation_unallocated(const struct operation *op, struct operation *out);

/* Whether two resource sets share a persistent volume (same role and
 * persistence id), e.g. a DESTROY and what tasks use; *id names it. */
int operation_volume_overlap(const struct resources *a, const struct resources *b,
                             char *id, size_t n);

#endif
