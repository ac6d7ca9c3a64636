/* The task state machine: which states are terminal, which transitions are
 * allowed, and the names used on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/task_state.h"

static void terminal_states_match_mesos(void **state)
{
    (void)state;
    const task_state_t terminal[] = {
        TEPUI__TASK_STATE__TASK_FINISHED, TEPUI__TASK_STATE__TASK_FAILED,
        TEPUI__TASK_STATE__TASK_KILLED,   TEPUI__TASK_STATE__TASK_LOST,
        TEPUI__TASK_STATE__TASK_ERROR,    TEPUI__TASK_STATE__TASK_DROPPED,
        TEPUI__TASK_STATE__TASK_GONE,     TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR,
    };
    const task_state_t live[] = {
        TEPUI__TASK_STATE__TASK_STAGING, TEPUI__TASK_STATE__TASK_STARTING,
        TEPUI__TASK_STATE__TASK_RUNNING, TEPUI__TASK_STATE__TASK_KILLING,
        TEPUI__TASK_STATE__TASK_UNREACHABLE, TEPUI__TASK_STATE__TASK_UNKNOWN,
    };
    for (size_t i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++)
        assert_true(task_state_is_terminal(terminal[i]));
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        assert_false(task_state_is_terminal(live[i]));
}

static void terminal_states_never_change(void **state)
{
    (void)state;
    assert_false(task_state_transition_valid(TEPUI__TASK_STATE__TASK_FINISHED,
                                             TEPUI__TASK_STATE__TASK_RUNNING));
    assert_false(task_state_transition_valid(TEPUI__TASK_STATE__TASK_KILLED,
                                             TEPUI__TASK_STATE__TASK_FAILED));
    assert_false(task_state_transition_valid(TEPUI__TASK_STATE__TASK_LOST,
                                             TEPUI__TASK_STATE__TASK_LOST));
}

static void tasks_move_forward_and_never_back_to_staging(void **state)
{
    (void)state;
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_STAGING,
                                            TEPUI__TASK_STATE__TASK_STARTING));
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_STARTING,
                                            TEPUI__TASK_STATE__TASK_RUNNING));
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_RUNNING,
                                            TEPUI__TASK_STATE__TASK_KILLING));
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_KILLING,
                                            TEPUI__TASK_STATE__TASK_KILLED));
    /* Updates can be lost: a staging task may finish directly. */
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_STAGING,
                                            TEPUI__TASK_STATE__TASK_FINISHED));
    /* An unreachable task can come back running. */
    assert_true(task_state_transition_valid(TEPUI__TASK_STATE__TASK_UNREACHABLE,
                                            TEPUI__TASK_STATE__TASK_RUNNING));
    assert_false(task_state_transition_valid(TEPUI__TASK_STATE__TASK_RUNNING,
                                             TEPUI__TASK_STATE__TASK_STAGING));
}

static void names_are_the_wire_names(void **state)
{
    (void)state;
    assert_string_equal(task_state_name(TEPUI__TASK_STATE__TASK_RUNNING), "TASK_RUNNING");
    assert_string_equal(task_state_name(TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR),
                        "TASK_GONE_BY_OPERATOR");
    assert_string_equal(task_reason_name(TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED),
                        "REASON_AGENT_REMOVED");
    assert_string_equal(task_source_name(TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR),
                        "SOURCE_EXECUTOR");
    assert_string_equal(task_state_name((task_state_t)99), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(terminal_states_match_mesos),
        cmocka_unit_test(terminal_states_never_change),
        cmocka_unit_test(tasks_move_forward_and_never_back_to_staging),
        cmocka_unit_test(names_are_the_wire_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
