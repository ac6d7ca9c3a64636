/* Internals of the executor library that its unit tests drive directly,
 * without an agent: the SUBSCRIBE call it would send, and events as if they
 * had arrived on the stream. Not part of the public API. */
#ifndef TEPUI_LIB_EXECUTOR_INTERNAL_H
#define TEPUI_LIB_EXECUTOR_INTERNAL_H

#include "common/buf.h"
#include "tepui/executor.h"
#include "wire/codec.h"

/* Appends the SUBSCRIBE call (with the unacknowledged tasks and updates) in
 * format f, and marks those updates as delivered. */
void executor_encode_subscribe(struct tepui_executor *e, enum wire_format f, struct buf *out);
/* Handles an event as the stream reader does (the library's bookkeeping,
 * then the callback). */
void executor_handle_event(struct tepui_executor *e, const Tepui__Executor__Event *event);
size_t executor_unacknowledged_tasks(const struct tepui_executor *e);
/* Seconds to wait before the next SUBSCRIBE after a failed one: a connection
 * failure waits a random part (r in [0, 1]) of the backoff cap, as Mesos's
 * library does; a refused SUBSCRIBE (the agent is up but not ready) is
 * retried after a second, or sooner when the cap is shorter. */
double executor_retry_delay(const struct tepui_executor_options *opts, int http_status, double r);

#endif
