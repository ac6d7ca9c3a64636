/* Carrying out a fetch plan: the cache downloads first (as the agent's
 * user), then, as the task's user when the plan names one, every URI into
 * the sandbox in order (downloaded, copied or taken from the cache; made
 * executable or extracted). Not responsible for deciding cache actions:
 * the agent did (src/agent/fetcher.c). */
#ifndef TEPUI_FETCHER_FETCH_H
#define TEPUI_FETCHER_FETCH_H

#include "common/error.h"
#include "internal.pb-c.h"

/* Returns 0 when every URI is in the sandbox; otherwise a negative code
 * with err saying "<uri>: <why>" for the first URI that failed. */
int fetch_run(const Tepui__Internal__FetchPlan *plan, struct error *err);

#endif
