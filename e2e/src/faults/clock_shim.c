/*
 * LD_PRELOAD shim that shifts one process's wall clock while it runs (see clock.rs).
 *
 * The file named by $SQSRAFT_CLOCK_FILE holds "<offset ms> <drift ppm>"; it is re-read
 * at most every 50 ms. The wall clock reads real + offset + drift·(time since the file
 * last changed), so a step is a new offset and a drift is a rate that accumulates.
 * CLOCK_REALTIME (and its coarse variant), gettimeofday and time are shifted; the
 * monotonic clocks are never touched, so timers, timeouts and elections keep real time.
 *
 * Why not libfaketime: at start-up jemalloc (the server's unprefixed allocator) reads
 * the clock while initialising; libfaketime's first clock call resolves symbols with
 * dlsym, whose failure path allocates, re-entering jemalloc's init lock: a deadlock
 * before main. This shim allocates nothing and resolves nothing: it reads real clocks
 * with raw system calls.
 */
#define _GNU_SOURCE
/* gettimeofday may be called with a null timeval, whatever glibc declares. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RELOAD_NS 50000000LL

static _Atomic int64_t offset_ns;
static _Atomic int64_t drift_ppm;
static _Atomic int64_t changed_at_ns; /* monotonic time the file's content last changed */
static _Atomic int64_t checked_at_ns = -RELOAD_NS;
static atomic_flag reloading = ATOMIC_FLAG_INIT;
static char last_content[64];

static int64_t raw_ns(clockid_t clock) {
    struct timespec ts;
    syscall(SYS_clock_gettime, clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t parse_int(const char **p) {
    while (**p == ' ' || **p == '\t' || **p == '\n') (*p)++;
    int negative = **p == '-';
    if (**p == '-' || **p == '+') (*p)++;
    int64_t value = 0;
    while (**p >= '0' && **p <= '9') value = value * 10 + (*(*p)++ - '0');
    return negative ? -value : value;
}

static void reload(int64_t mono) {
    if (mono - atomic_load(&checked_at_ns) < RELOAD_NS || atomic_flag_test_and_set(&reloading))
        return;
    atomic_store(&checked_at_ns, mono);
    const char *path = getenv("SQSRAFT_CLOCK_FILE");
    char content[64] = {0};
    long fd = path ? syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        syscall(SYS_read, fd, content, sizeof content - 1);
        syscall(SYS_close, fd);
        int same = 1;
        for (unsigned i = 0; i < sizeof content; i++) same &= content[i] == last_content[i];
        if (!same) {
            const char *p = content;
            int64_t offset_ms = parse_int(&p);
            int64_t ppm = parse_int(&p);
            /* A new content states the whole offset; drift counts from now on. */
            atomic_store(&offset_ns, offset_ms * 1000000LL);
            atomic_store(&drift_ppm, ppm);
            atomic_store(&changed_at_ns, mono);
            for (unsigned i = 0; i < sizeof content; i++) last_content[i] = content[i];
        }
    }
    atomic_flag_clear(&reloading);
}

static int64_t shift_ns(void) {
    int64_t mono = raw_ns(CLOCK_MONOTONIC);
    reload(mono);
    int64_t since = mono - atomic_load(&changed_at_ns);
    return atomic_load(&offset_ns) + since / 1000000LL * atomic_load(&drift_ppm);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        int64_t ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + shift_ns();
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return (int)rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    if (tv) {
        int64_t ns = raw_ns(CLOCK_REALTIME) + shift_ns();
        tv->tv_sec = ns / 1000000000LL;
        tv->tv_usec = (ns % 1000000000LL) / 1000;
    }
    return 0;
}

time_t time(time_t *out) {
    time_t now = (time_t)((raw_ns(CLOCK_REALTIME) + shift_ns()) / 1000000000LL);
    if (out) *out = now;
    return now;
}
