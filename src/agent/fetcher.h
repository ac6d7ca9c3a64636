/* The agent's fetcher: before an executor starts, the URIs of its
 * CommandInfo (a command task's own, for the command executor) are fetched
 * into its sandbox by a tepui-fetcher process, as Mesos's fetcher runs
 * mesos-fetcher. This side plans (which URI goes through the agent-wide
 * cache and how), starts the process, keeps the cache's books (entries by
 * user and URI, their sizes, least-recently-used eviction) and tells
 * tasks.c how the fetch ended. It never downloads or extracts anything
 * itself: the agent's loop never waits on a network or an archive. */
#ifndef TEPUI_AGENT_FETCHER_H
#define TEPUI_AGENT_FETCHER_H

#include <sys/types.h>

#include "agent/agent.h"

/* Finds tepui-fetcher (beside tepui-executor), creates --fetcher_cache_dir
 * and empties it of what an earlier run left (Mesos starts with an empty
 * cache too). */
int fetcher_init(struct agent *a, struct error *err);
/* Kills and reaps the fetchers still running; forgets the cache. */
void fetcher_fini(struct agent *a);

/* Starts fetching e's URIs into its sandbox, which it creates. Returns 1
 * when a fetch is under way: its end calls tasks_executor_fetched, or
 * tasks_executor_terminated (e->reason says why: REASON_CONTAINER_LAUNCH_FAILED
 * with "Failed to fetch all URIs for container '<id>': <uri>: <why>").
 * Returns 0 when e has no URI (nothing done), or a negative code with err. */
int fetcher_start(struct agent *a, struct agent_executor *e, struct error *err);
/* Ends e's fetch (a kill or shutdown before the executor started): its
 * fetcher is killed; the end then comes as for a failure, with e's state
 * telling tasks.c it was asked for. */
void fetcher_kill(struct agent *a, struct agent_executor *e);
/* e is being freed: its fetch, if any, goes on without it (killed). */
void fetcher_forget(struct agent *a, struct agent_executor *e);
/* A child process is gone: when it was a fetcher, its fetch ends. */
void fetcher_reaped(struct agent *a, pid_t pid, int wait_status);
/* Mesos's containerizer/fetcher metrics: the cache's size and use, and
 * the fetches that succeeded and failed. */
void fetcher_metrics(const struct agent *a, json_t *o);

#endif
