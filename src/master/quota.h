/* Role weights and quota as the operator sets them: the v1 operator calls
 * (GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA, UPDATE_QUOTA, and the older
 * SET_QUOTA and REMOVE_QUOTA) and the classic /weights and /quota
 * endpoints, with Mesos's validation; what is set is kept in the registry
 * (records "weight" and "quota") and given to the allocator, which does
 * the sharing. Also the roles as the master sees them (GET_ROLES, /roles).
 * Not here: the sharing itself (allocator/). */
#ifndef TEPUI_MASTER_QUOTA_H
#define TEPUI_MASTER_QUOTA_H

#include "http/server.h"
#include "master.pb-c.h"
#include "master/registry.h"
#include "wire/codec.h"

struct master;
struct quota;

void quota_free(struct quota *q);

/* A new leader: replaces the weights and quota held with the registry's
 * records and gives them to the (new) allocator. Records that do not
 * decode are skipped with a warning. */
void quota_recover(struct master *m, const struct registry_state *s);

/* GET/PUT /weights, GET/POST /quota, DELETE /quota/<role> and GET /roles
 * (also under /master/). */
void quota_routes(struct master *m);

/* The operator API's calls; each answers the request. */
void quota_get_weights(struct master *m, struct http_request *req, enum wire_format fmt);
void quota_update_weights(struct master *m, struct http_request *req,
                          const Tepui__Master__Call__UpdateWeights *u);
void quota_get_quota(struct master *m, struct http_request *req, enum wire_format fmt);
void quota_update_quota(struct master *m, struct http_request *req,
                        const Tepui__Master__Call__UpdateQuota *u);
void quota_set_quota(struct master *m, struct http_request *req,
                     const Tepui__Quota__QuotaRequest *r);
void quota_remove_quota(struct master *m, struct http_request *req, const char *role);
/* GET_ROLES: every role the master knows (frameworks, allocations, weight,
 * quota or reservations), as Mesos's Role. */
void quota_get_roles(struct master *m, struct http_request *req, enum wire_format fmt);

#endif
