/* The machine's raw process-spawn rate: posix_spawn and wait for /bin/true,
 * one after another, as the physical limit a task launcher works against.
 *
 *   build/bench/spawn_rate [N]      (default 2000) */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    char *args[] = {"/bin/true", NULL};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0)
            return 1;
        waitpid(pid, NULL, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("spawn: %.1f processes/s (%d serial posix_spawn+wait of /bin/true in %.2f s)\n",
           n / secs, n, secs);
    return 0;
}
