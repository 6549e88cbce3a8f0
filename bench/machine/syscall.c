/* How fast is this machine at what the gateway does most: a system call (futex wake-ups,
 * epoll, read/write) and, with bench/router/raw/raw_turn.c, SQLite's own work. Figures from
 * different days are comparable only if these two agree: run it next to any benchmark.
 *
 *   cc -O2 -o /tmp/syscall bench/machine/syscall.c && /tmp/syscall
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    for (int round = 0; round < 3; round++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 1000000; i++) syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("getppid: %.1f ns per system call\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e6);
    }
    return 0;
}
