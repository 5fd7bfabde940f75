/* daemon/thread_cpu.h: names the daemon's own threads and adds up the CPU time of the process's
 * threads by kind, from /proc/self/task, so a run can say what serving operators and running the
 * scheduler cost next to training. Threads keep the name of the thread that created them, so the
 * training threads (main, OpenMP, the MPI runtime) carry the process name, the scheduler's
 * "birdie-decide", and the coordinator, the mixture stream and gRPC's threads anything else.
 * Linux only. */
#ifndef BIRDIE_DAEMON_THREAD_CPU_H
#define BIRDIE_DAEMON_THREAD_CPU_H

#include <stddef.h>

#define BIRDIE_THREAD_SCHEDULER "birdie-decide"

/* Names the calling thread (at most 15 characters are kept). */
void birdie_thread_name(const char *name);

typedef struct birdie_thread_cpu {
    double training, scheduler, service; /* CPU seconds (user + system) of live threads */
    int threads;
} birdie_thread_cpu;

/* Sums the CPU time of the threads alive now. 0, or a negative errno with a message. */
int birdie_thread_cpu_read(birdie_thread_cpu *out, char *err, size_t errlen);

#endif
