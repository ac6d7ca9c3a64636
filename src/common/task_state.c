/* Task state helpers over the generated enum descriptors. */
#include "common/task_state.h"

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "UNKNOWN";
}

const char *task_state_name(task_state_t s)
{
    return enum_name(&tepui__task_state__descriptor, (int)s);
}

int task_state_is_terminal(task_state_t s)
{
    switch (s) {
    case TEPUI__TASK_STATE__TASK_FINISHED:
    case TEPUI__TASK_STATE__TASK_FAILED:
    case TEPUI__TASK_STATE__TASK_KILLED:
    case TEPUI__TASK_STATE__TASK_LOST:
    case TEPUI__TASK_STATE__TASK_ERROR:
    case TEPUI__TASK_STATE__TASK_DROPPED:
    case TEPUI__TASK_STATE__TASK_GONE:
    case TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR:
        return 1;
    default:
        return 0;
    }
}

int task_state_transition_valid(task_state_t from, task_state_t to)
{
    if (task_state_is_terminal(from))
        return 0;
    if (to == TEPUI__TASK_STATE__TASK_STAGING)
        return from == TEPUI__TASK_STATE__TASK_STAGING;
    return 1;
}

const char *task_reason_name(Tepui__TaskStatus__Reason r)
{
    return enum_name(&tepui__task_status__reason__descriptor, (int)r);
}

const char *task_source_name(Tepui__TaskStatus__Source s)
{
    return enum_name(&tepui__task_status__source__descriptor, (int)s);
}
