/* tests/daemon/test_thread_cpu.c: thread names and the per-kind CPU sums of daemon/thread_cpu.c.
 * A thread named as the scheduler and one named otherwise each burn CPU and stay alive while the
 * sums are read: their time lands in their kind, and the main thread's in training. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/thread_cpu.h"

typedef struct burner {
    const char *name;
    double seconds;
    pthread_barrier_t *burnt, *release;
} burner;

/* Spins until this thread has used `seconds` of CPU. */
static void burn(double seconds)
{
    struct timespec ts;
    volatile double sink = 0;
    do {
        for (int i = 0; i < 100000; i++)
            sink += i * 0.5;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    } while (ts.tv_sec + ts.tv_nsec * 1e-9 < seconds);
}

static void *burner_main(void *arg)
{
    burner *b = arg;
    birdie_thread_name(b->name);
    burn(b->seconds);
    pthread_barrier_wait(b->burnt);
    pthread_barrier_wait(b->release); /* stay alive until the sums are read */
    return NULL;
}

static void test_cpu_by_kind(void **state)
{
    pthread_barrier_t burnt, release;
    pthread_barrier_init(&burnt, NULL, 3);
    pthread_barrier_init(&release, NULL, 3);
    burner sched = {BIRDIE_THREAD_SCHEDULER, 0.15, &burnt, &release}, other = {"birdie-coord", 0.05, &burnt, &release};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, burner_main, &sched), 0);
    assert_int_equal(pthread_create(&t2, NULL, burner_main, &other), 0);
    burn(0.10);
    pthread_barrier_wait(&burnt);
    birdie_thread_cpu cpu;
    char err[256];
    assert_int_equal(birdie_thread_cpu_read(&cpu, err, sizeof err), 0);
    pthread_barrier_wait(&release);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    print_message("# training %.3f s, scheduler %.3f s, service %.3f s, %d threads\n", cpu.training, cpu.scheduler,
                  cpu.service, cpu.threads);
    assert_int_equal(cpu.threads, 3);
    /* clock ticks are 10 ms: allow two of them either way */
    assert_true(cpu.scheduler > 0.13 && cpu.scheduler < 0.30);
    assert_true(cpu.service > 0.03 && cpu.service < 0.15);
    assert_true(cpu.training > 0.08);
    pthread_barrier_destroy(&burnt);
    pthread_barrier_destroy(&release);
}

static void test_long_names_are_cut(void **state)
{
    birdie_thread_name("a-name-longer-than-fifteen-characters");
    char name[32];
    assert_int_equal(pthread_getname_np(pthread_self(), name, sizeof name), 0);
    assert_string_equal(name, "a-name-longer-t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_by_kind),
        cmocka_unit_test(test_long_names_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
