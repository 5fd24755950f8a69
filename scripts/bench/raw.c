/*
 * The raw-socket baseline for scripts/bench.sh: the least a program can do to multicast a
 * datagram on the LAN and to hear it, so groupcast's figures have something to be compared with.
 *
 *   raw send --iface ADDR --count N --rate R [--size B] [--deadline S] [--group ADDR:PORT]
 *       Sends N datagrams at R per second (paced against absolute deadlines; whatever is due is
 *       sent at once, so high rates do not depend on the sleep granularity), or as many as it
 *       can in S seconds (--deadline). Each datagram carries a magic word, its sequence number
 *       and the CLOCK_MONOTONIC time it was sent.
 *       Prints one JSON line: how many were sent, how long it took, the rate achieved.
 *
 *   raw recv --iface ADDR --count N [--idle S] [--timeout S] [--skip K] [--rcvbuf BYTES]
 *            [--group ADDR:PORT]
 *       Joins the group, prints {"ready":true} once joined, then receives until N distinct
 *       datagrams arrived, or S seconds passed without one after the first (--idle, default 1),
 *       or --timeout seconds passed in all (default 60). Prints one JSON line: received, lost,
 *       one-way latency p50/p99 in microseconds (send stamp to the return of recv(), the first
 *       K datagrams left out), and the CPU time it used (getrusage) over the run. The socket
 *       asks for a 4 MiB receive buffer by default, as groupcast's does (the kernel caps it at
 *       net.core.rmem_max), so neither side gets more room for bursts than the other.
 *
 *   raw line-send --iface ADDR [--group ADDR:PORT]
 *       The original C client's shape: reads lines from stdin and multicasts each as one datagram
 *       (the text, no newline) as soon as read() brings it in, until end of input.
 *
 *   raw line-recv --iface ADDR [--group ADDR:PORT]
 *       The original C server's shape: joins the group, prints {"ready":true} to stderr, then
 *       writes every datagram it receives to stdout as one line (one write() per datagram),
 *       until killed. With line-send this is the least a program can do between the same pipes
 *       groupcast is measured through (a line written into the sender's stdin until it is read
 *       from the receiver's stdout).
 *
 * Every network namespace on a machine shares its clocks, so a stamp taken by the sender in one
 * namespace and read by the receiver in another is a one-way latency.
 *
 * Guard: this program refuses to touch the network unless it runs in a host namespace of the LAN
 * that scripts/bench.sh builds (see guard() below): it is never meant for a real interface.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x47434252u /* "GCBR" */
#define MAX_SIZE 1400

/* What every datagram starts with; the rest up to --size is zeros. */
struct stamp {
    uint32_t magic;
    uint32_t pad;
    uint64_t seq;
    uint64_t sent_ns; /* CLOCK_MONOTONIC at the sendto() call */
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* Options shared by both modes. */
struct opts {
    const char *iface;
    struct in_addr group;
    uint16_t port;
    long count;
    double rate;
    int size;
    double idle;
    double timeout;
    long skip;
    int rcvbuf;
    double deadline;
};

static void usage(void) {
    fprintf(stderr,
            "usage: raw send --iface ADDR --count N --rate R [--size B] [--deadline S] [--group ADDR:PORT]\n"
            "       raw recv --iface ADDR --count N [--idle S] [--timeout S] [--skip K] [--rcvbuf B]\n"
            "                [--group ADDR:PORT]\n"
            "       raw line-send --iface ADDR [--group ADDR:PORT]   (stdin lines -> datagrams)\n"
            "       raw line-recv --iface ADDR [--group ADDR:PORT]   (datagrams -> stdout lines)\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o) {
    inet_aton("225.0.0.37", &o->group);
    o->port = 12345;
    o->count = 0;
    o->rate = 1000;
    o->size = 64;
    o->idle = 1.0;
    o->timeout = 60;
    o->skip = 0;
    o->rcvbuf = 4 << 20;
    o->deadline = 0;
    o->iface = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--iface")) o->iface = v;
        else if (!strcmp(k, "--count")) o->count = atol(v);
        else if (!strcmp(k, "--rate")) o->rate = atof(v);
        else if (!strcmp(k, "--size")) o->size = atoi(v);
        else if (!strcmp(k, "--idle")) o->idle = atof(v);
        else if (!strcmp(k, "--timeout")) o->timeout = atof(v);
        else if (!strcmp(k, "--skip")) o->skip = atol(v);
        else if (!strcmp(k, "--rcvbuf")) o->rcvbuf = atoi(v);
        else if (!strcmp(k, "--deadline")) o->deadline = atof(v);
        else if (!strcmp(k, "--group")) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", v);
            char *colon = strchr(buf, ':');
            if (!colon) usage();
            *colon = 0;
            if (!inet_aton(buf, &o->group)) usage();
            o->port = (uint16_t)atoi(colon + 1);
        } else usage();
    }
    if (!o->iface || (o->count <= 0 && strncmp(argv[1], "line-", 5)) || o->rate <= 0) usage();
    if (o->size < (int)sizeof(struct stamp)) o->size = sizeof(struct stamp);
    if (o->size > MAX_SIZE) o->size = MAX_SIZE;
}

/* Refuses to run anywhere but in a host namespace of the benchmark's LAN: not in the namespace
 * the benchmark was started from ($GCB_ROOT_NETNS, its inode, set by bench.sh) nor in PID 1's
 * (where that can be read), on a namespace holding no interface but lo and eth0, with the
 * address on eth0 and on 10.234.0.0/24. */
static struct in_addr guard(const char *iface) {
    struct stat mine, other;
    if (stat("/proc/self/ns/net", &mine)) die("stat /proc/self/ns/net");
    const char *root = getenv("GCB_ROOT_NETNS");
    int same_as_root = root && strtoull(root, NULL, 10) == (unsigned long long)mine.st_ino;
    int same_as_init = !stat("/proc/1/ns/net", &other) && other.st_ino == mine.st_ino && other.st_dev == mine.st_dev;
    if (!root || same_as_root || same_as_init) {
        fprintf(stderr, "raw: refusing to run outside a namespace of the benchmark LAN (run scripts/bench.sh)\n");
        exit(3);
    }
    struct in_addr a;
    if (!inet_aton(iface, &a) || (ntohl(a.s_addr) & 0xffffff00u) != 0x0aea0000u) {
        fprintf(stderr, "raw: --iface must be an address on the benchmark LAN 10.234.0.0/24\n");
        exit(3);
    }
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs)) die("getifaddrs");
    int found = 0;
    for (i = ifs; i; i = i->ifa_next) {
        if (strcmp(i->ifa_name, "lo") && strcmp(i->ifa_name, "eth0")) {
            fprintf(stderr, "raw: refusing to run: this namespace has interface %s\n", i->ifa_name);
            exit(3);
        }
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !strcmp(i->ifa_name, "eth0") &&
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a.s_addr)
            found = 1;
    }
    freeifaddrs(ifs);
    if (!found) {
        fprintf(stderr, "raw: %s is not the address of eth0 here\n", iface);
        exit(3);
    }
    return a;
}

/* A multicast socket that sends on the LAN interface: TTL 1, no loopback of its own datagrams. */
static int sender_socket(struct in_addr ifa) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    unsigned char ttl = 1, loop = 0;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa)) die("IP_MULTICAST_IF");
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl)) die("IP_MULTICAST_TTL");
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop)) die("IP_MULTICAST_LOOP");
    return fd;
}

/* A socket bound to the group's port and joined to the group on the LAN interface. */
static int receiver_socket(const struct opts *o, struct in_addr ifa) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)) die("SO_REUSEADDR");
    if (o->rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof o->rcvbuf)) die("SO_RCVBUF");
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->group};
    if (bind(fd, (struct sockaddr *)&me, sizeof me)) die("bind");
    struct ip_mreq mreq = {.imr_multiaddr = o->group, .imr_interface = ifa};
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq)) die("IP_ADD_MEMBERSHIP");
    return fd;
}

static int do_send(const struct opts *o) {
    int fd = sender_socket(guard(o->iface));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->group};

    unsigned char buf[MAX_SIZE] = {0};
    struct stamp *s = (struct stamp *)buf;
    s->magic = MAGIC;
    double gap_ns = 1e9 / o->rate;
    uint64_t start = now_ns();
    uint64_t stop = o->deadline > 0 ? start + (uint64_t)(o->deadline * 1e9) : UINT64_MAX;
    long errors = 0, seq;
    for (seq = 0; seq < o->count; seq++) {
        /* Sleep until this datagram is due; if it is already due, send straight away. */
        uint64_t due = start + (uint64_t)(seq * gap_ns);
        uint64_t now = now_ns();
        if (now >= stop) break;
        if (due > now + 50000) { /* more than 50 µs ahead: sleep to the deadline */
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
        s->seq = (uint64_t)seq;
        s->sent_ns = now_ns();
        if (sendto(fd, buf, (size_t)o->size, 0, (struct sockaddr *)&to, sizeof to) < 0) errors++;
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    printf("{\"sent\":%ld,\"errors\":%ld,\"elapsed_s\":%.6f,\"rate\":%.1f}\n", seq - errors, errors, elapsed,
           elapsed > 0 ? (double)seq / elapsed : 0.0);
    return 0;
}

static int do_line_send(const struct opts *o) {
    int fd = sender_socket(guard(o->iface));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->group};
    static char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(0, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\n') continue;
            size_t len = i - start > MAX_SIZE ? MAX_SIZE : i - start;
            sendto(fd, buf + start, len, 0, (struct sockaddr *)&to, sizeof to);
            start = i + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == sizeof buf) have = 0; /* a line longer than the buffer: dropped */
    }
    return 0;
}

static int do_line_recv(const struct opts *o) {
    int fd = receiver_socket(o, guard(o->iface));
    fprintf(stderr, "{\"ready\":true}\n");
    char buf[MAX_SIZE + 2];
    for (;;) {
        ssize_t n = recv(fd, buf, MAX_SIZE, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("recv");
        buf[n] = '\n';
        if (write(1, buf, (size_t)n + 1) < 0) return 0;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static int do_recv(const struct opts *o) {
    int fd = receiver_socket(o, guard(o->iface));
    unsigned char *seen = calloc((size_t)o->count, 1);
    uint64_t *lat = calloc((size_t)o->count, sizeof *lat);
    if (!seen || !lat) die("calloc");
    printf("{\"ready\":true}\n");
    fflush(stdout);

    long got = 0, nlat = 0, dups = 0, foreign = 0;
    uint64_t start = now_ns(), first = 0, last = 0;
    double cpu0 = cpu_s();
    unsigned char buf[2048];
    while (got < o->count) {
        /* Wait for the next datagram: up to --idle once traffic started, else to --timeout. */
        uint64_t now = now_ns();
        double left = o->timeout - (double)(now - start) / 1e9;
        if (first) {
            double idle_left = o->idle - (double)(now - last) / 1e9;
            if (idle_left < left) left = idle_left;
        }
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue; /* the loop head sees whether time is up */
        /* Drain what is queued before polling again, as any receiver would. */
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0) break;
            uint64_t t = now_ns();
            struct stamp s;
            if ((size_t)n < sizeof s) {
                foreign++;
                continue;
            }
            memcpy(&s, buf, sizeof s);
            if (s.magic != MAGIC || s.seq >= (uint64_t)o->count) {
                foreign++;
                continue;
            }
            if (!first) first = t;
            last = t;
            if (seen[s.seq]) {
                dups++;
                continue;
            }
            seen[s.seq] = 1;
            got++;
            if ((long)s.seq >= o->skip) lat[nlat++] = t - s.sent_ns;
            if (got == o->count) break;
        }
    }
    double cpu = cpu_s() - cpu0;
    double p50 = 0, p99 = 0;
    if (nlat > 0) {
        qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
        p50 = (double)lat[(nlat - 1) * 50 / 100] / 1e3;
        p99 = (double)lat[(nlat - 1) * 99 / 100] / 1e3;
    }
    double span = first ? (double)(last - first) / 1e9 : 0;
    printf("{\"received\":%ld,\"expected\":%ld,\"lost\":%ld,\"duplicates\":%ld,\"foreign\":%ld,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu_s\":%.6f,\"span_s\":%.6f}\n",
           got, o->count, o->count - got, dups, foreign, p50, p99, cpu, span);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    struct opts o;
    parse(argc, argv, &o);
    if (!strcmp(argv[1], "send")) return do_send(&o);
    if (!strcmp(argv[1], "recv")) return do_recv(&o);
    if (!strcmp(argv[1], "line-send")) return do_line_send(&o);
    if (!strcmp(argv[1], "line-recv")) return do_line_recv(&o);
    usage();
}
