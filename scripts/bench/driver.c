/*
 * Helpers that drive groupcast's headless node for scripts/bench.sh, kept in C so that the
 * measuring costs next to nothing and takes its stamps where the node's input and output are.
 *
 *   driver pace --count N --rate R [--prefix P] [--deadline S] [--fd FD]
 *       Writes N lines "P SEQ NS" to FD (default 1, stdout) at R lines per second, NS being
 *       CLOCK_MONOTONIC in nanoseconds when the line was written: the send stamp the benchmark
 *       reads back from the text of the receivers' `message` events. Lines that are due together
 *       (at high rates) go in one write(). Stops early after S seconds (--deadline) if the reader
 *       does not keep up. Prints one JSON summary line to stderr: lines written, the time taken,
 *       the rate achieved, and the stamp of the last line.
 *
 *   driver stamp
 *       Copies stdin to stdout, each line prefixed with "NS " — CLOCK_MONOTONIC in nanoseconds
 *       at the read() that brought the line in. Put behind a node's stdout, it stamps every
 *       event when the node wrote it, however slowly the benchmark gets round to reading them.
 *
 * Every network namespace shares the machine's clocks, so stamps from different hosts of the
 * namespaced LAN compare directly. Neither mode touches the network.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Writes all of buf, or returns -1 if the reader has gone. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pace(int argc, char **argv) {
    long count = 0;
    double rate = 0, deadline = 0;
    const char *prefix = "m";
    int fd = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--count")) count = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefix")) prefix = argv[i + 1];
        else if (!strcmp(argv[i], "--deadline")) deadline = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--fd")) fd = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "driver pace: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (count <= 0 || rate <= 0) {
        fprintf(stderr, "usage: driver pace --count N --rate R [--prefix P] [--deadline S] [--fd FD]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static char buf[1 << 16];
    double gap_ns = 1e9 / rate;
    uint64_t start = now_ns(), last_stamp = 0;
    uint64_t stop = deadline > 0 ? start + (uint64_t)(deadline * 1e9) : UINT64_MAX;
    long seq = 0;
    int broken = 0;
    while (seq < count) {
        uint64_t due = start + (uint64_t)(seq * gap_ns);
        uint64_t now = now_ns();
        if (now >= stop) break;
        if (due > now + 50000) {
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
        /* Everything due by now goes in one write, each line stamped with the same instant. */
        now = now_ns();
        size_t len = 0;
        while (seq < count && start + (uint64_t)(seq * gap_ns) <= now + 50000 && len + 64 < sizeof buf) {
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %ld %llu\n", prefix, seq,
                                    (unsigned long long)now);
            seq++;
        }
        last_stamp = now;
        if (write_all(fd, buf, len)) {
            broken = 1;
            break;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    fprintf(stderr, "{\"sent\":%ld,\"elapsed_s\":%.6f,\"rate\":%.1f,\"last_ns\":%llu,\"broken\":%s}\n", seq,
            elapsed, elapsed > 0 ? (double)seq / elapsed : 0.0, (unsigned long long)last_stamp,
            broken ? "true" : "false");
    return 0;
}

static int stamp(void) {
    static char in[1 << 16], out[(1 << 17) + 64];
    int at_line_start = 1;
    for (;;) {
        ssize_t n = read(0, in, sizeof in);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        uint64_t t = now_ns();
        char prefix[32];
        int plen = snprintf(prefix, sizeof prefix, "%llu ", (unsigned long long)t);
        /* Copy, putting the stamp in front of every line that starts in this chunk. */
        size_t len = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (at_line_start) {
                if (len + (size_t)plen + 1 >= sizeof out) {
                    if (write_all(1, out, len)) return 1;
                    len = 0;
                }
                memcpy(out + len, prefix, (size_t)plen);
                len += (size_t)plen;
                at_line_start = 0;
            }
            out[len++] = in[i];
            if (in[i] == '\n') at_line_start = 1;
            if (len + 1 >= sizeof out) {
                if (write_all(1, out, len)) return 1;
                len = 0;
            }
        }
        if (write_all(1, out, len)) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "pace")) return pace(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "stamp")) return stamp();
    fprintf(stderr, "usage: driver pace ... | driver stamp\n");
    return 2;
}
