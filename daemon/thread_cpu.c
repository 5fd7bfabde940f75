/* daemon/thread_cpu.c: thread names and per-kind CPU time from /proc/self/task (thread_cpu.h). */
#define _GNU_SOURCE
#include "daemon/thread_cpu.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "worker/error.h"

void birdie_thread_name(const char *name)
{
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}

/* comm and utime + stime (clock ticks) of one /proc stat file. The comm is in parentheses and may
 * hold spaces or parentheses itself, so the fields are counted from its last ')'. */
static int read_stat(const char *path, char *comm, size_t comm_len, unsigned long long *ticks)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -EPROTO;
    size_t len = (size_t)(close - open - 1) < comm_len - 1 ? (size_t)(close - open - 1) : comm_len - 1;
    memcpy(comm, open + 1, len);
    comm[len] = '\0';
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    unsigned long long utime, stime;
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -EPROTO;
    *ticks = utime + stime;
    return 0;
}

int birdie_thread_cpu_read(birdie_thread_cpu *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char process[64], comm[64];
    unsigned long long ticks;
    int rc = read_stat("/proc/self/stat", process, sizeof process, &ticks);
    DIR *dir = rc == 0 ? opendir("/proc/self/task") : NULL;
    if (!dir)
        return birdie_fail(err, errlen, rc ? rc : -errno, "thread CPU times: /proc/self is not readable (%s)",
                           strerror(rc ? -rc : errno));
    double tick = (double)sysconf(_SC_CLK_TCK);
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        if (read_stat(path, comm, sizeof comm, &ticks) != 0)
            continue; /* the thread ended between readdir and open */
        double seconds = (double)ticks / tick;
        if (!strcmp(comm, process))
            out->training += seconds;
        else if (!strcmp(comm, BIRDIE_THREAD_SCHEDULER))
            out->scheduler += seconds;
        else
            out->service += seconds;
        out->threads++;
    }
    closedir(dir);
    return 0;
}
