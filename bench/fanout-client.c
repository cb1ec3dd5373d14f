/*
 * The bench's long-poll client for the fan-out phase (bench/run.ts): it holds
 * thousands of long polls on loopback, fires one request that should answer
 * them all, and times the last complete answer, all in C on one epoll loop,
 * so that what is measured is the servers, not a Node client parsing 5,000
 * answers on the same two cores. The bench drives it over stdin, one command
 * a line, and reads one answer a line on stdout:
 *
 *   open <port> <count> <path>   open <count> connections to 127.0.0.1:<port>,
 *                                each sending GET <path>; answers "opened <held>"
 *                                once every request is written (the server says
 *                                when it holds them: the bench asks it)
 *   fire <port> <length>         then <length> bytes of a raw HTTP request on the
 *                                next line(s): sends it on a connection of its
 *                                own, and waits until every held poll is answered
 *                                (at most 60 s); answers
 *                                "fired <microseconds> <answers> <not 200> <distinct bodies> <its CPU µs>"
 *                                then "body <length>" and the first answer's body
 *   close                        closes every held connection: "closed"
 *
 * Anything unexpected (a connection refused or closed before its answer) is
 * "error <text>" and the program exits 1. Built by the bench with cc -O2.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *buf;
  size_t len, cap;
  int done; /* 1 once its whole answer is in */
  int status;
  size_t body_at, body_len;
} Poll;

static Poll *polls;
static size_t npolls, cap_polls;
static int ep;

static void fail(const char *what) {
  printf("error %s: %s\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail("connect");
  return fd;
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    data += n;
    len -= n;
  }
}

/* Whether the buffer holds a whole answer with a Content-Length; fills status and body. */
static int complete(Poll *p) {
  if (p->len == 0) return 0;
  char *end = memmem(p->buf, p->len, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  size_t head = end - p->buf + 4;
  p->status = atoi(p->buf + 9);
  size_t length = 0;
  for (char *line = p->buf; line < end; line = strstr(line, "\r\n") + 2)
    if (strncasecmp(line, "content-length:", 15) == 0) length = strtoul(line + 15, NULL, 10);
  if (p->len < head + length) return 0;
  p->body_at = head;
  p->body_len = length;
  return 1;
}

/*
 * One read per readiness: an answer fits one read, and when it does not, the
 * socket is armed again for the rest (EPOLLONESHOT), so an answer costs one
 * read and a share of one epoll_wait, never a read that finds nothing.
 */
static void read_into(Poll *p, size_t index) {
  if (p->cap - p->len < 4096) {
    p->cap = p->cap * 2 + 8192;
    p->buf = realloc(p->buf, p->cap);
  }
  ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);
  if (n > 0) p->len += n;
  else if (n == 0 && complete(p)) return;
  else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    errno = n == 0 ? ECONNRESET : errno;
    fail("a long poll closed before its answer");
  }
  if (complete(p)) return;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = index};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev) < 0) fail("epoll_ctl");
}

static void open_polls(int port, int count, const char *path) {
  char request[4096];
  int len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
  for (int i = 0; i < count; i++) {
    if (npolls == cap_polls) {
      cap_polls = cap_polls * 2 + 1024;
      polls = realloc(polls, cap_polls * sizeof *polls);
    }
    Poll *p = &polls[npolls];
    memset(p, 0, sizeof *p);
    p->fd = connect_to(port);
    write_all(p->fd, request, len);
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = npolls};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev) < 0) fail("epoll_ctl");
    npolls++;
  }
  printf("opened %zu\n", npolls);
  fflush(stdout);
}

static void close_polls(void) {
  for (size_t i = 0; i < npolls; i++) {
    close(polls[i].fd);
    free(polls[i].buf);
  }
  npolls = 0;
  printf("closed\n");
  fflush(stdout);
}

static void fire(int port, const char *request, size_t len) {
  size_t answered = 0;
  for (size_t i = 0; i < npolls; i++)
    if (polls[i].done) answered++;
  if (answered > 0) {
    printf("error %zu long polls were answered before the request that should answer them\n", answered);
    fflush(stdout);
    exit(1);
  }
  int trigger = connect_to(port);
  double cpu0 = cpu_us();
  double t0 = now_us();
  write_all(trigger, request, len);
  double last = t0;
  struct epoll_event events[512];
  while (answered < npolls) {
    int n = epoll_wait(ep, events, 512, 60000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      printf("error only %zu of %zu long polls were answered within 60 s\n", answered, npolls);
      fflush(stdout);
      exit(1);
    }
    for (int i = 0; i < n; i++) {
      Poll *p = &polls[events[i].data.u64];
      if (p->done) continue;
      read_into(p, events[i].data.u64);
      if (complete(p)) {
        p->done = 1;
        answered++;
        last = now_us();
      }
    }
  }
  double cpu = cpu_us() - cpu0;
  close(trigger);
  size_t not_ok = 0, distinct = 0;
  for (size_t i = 0; i < npolls; i++) {
    Poll *p = &polls[i];
    if (p->status != 200) not_ok++;
    if (i > 0 && (p->body_len != polls[0].body_len || memcmp(p->buf + p->body_at, polls[0].buf + polls[0].body_at, p->body_len) != 0)) distinct = 1;
  }
  printf("fired %.0f %zu %zu %zu %.0f\n", last - t0, answered, not_ok, npolls == 0 ? 0 : 1 + distinct, cpu);
  if (npolls > 0) {
    printf("body %zu\n", polls[0].body_len);
    fwrite(polls[0].buf + polls[0].body_at, 1, polls[0].body_len, stdout);
    printf("\n");
  } else
    printf("body 0\n\n");
  fflush(stdout);
}

int main(void) {
  ep = epoll_create1(0);
  if (ep < 0) fail("epoll_create1");
  char line[8192];
  while (fgets(line, sizeof line, stdin) != NULL) {
    int port, count;
    size_t length;
    char path[4096];
    if (sscanf(line, "open %d %d %4095s", &port, &count, path) == 3)
      open_polls(port, count, path);
    else if (sscanf(line, "fire %d %zu", &port, &length) == 2) {
      char *request = malloc(length);
      if (fread(request, 1, length, stdin) != length) fail("reading the request to fire");
      fire(port, request, length);
      free(request);
    } else if (strncmp(line, "close", 5) == 0)
      close_polls();
    else {
      printf("error unknown command: %s", line);
      fflush(stdout);
      return 1;
    }
  }
  return 0;
}
