/*
 * A /.fly/api client that sends one HTTP request, then shuts its write side
 * (shutdown(SHUT_WR), as `nc -N` or `curl` with an upload done would) and prints
 * everything it reads until the other side ends the connection.
 *
 *   half-close METHOD PATH [SOCKET]      (SOCKET defaults to /.fly/api)
 *
 * With BODY in the environment, it is sent as the request's JSON body.
 *
 * Built statically by the tests and put in a machine's image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: half-close METHOD PATH [SOCKET]\n");
    return 2;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argc > 3 ? argv[3] : "/.fly/api", sizeof addr.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    return 2;
  }
  const char *body = getenv("BODY");
  char request[8192];
  int length = body
    ? snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: flaps\r\nUser-Agent: half-close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", argv[1], argv[2], strlen(body), body)
    : snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: flaps\r\nUser-Agent: half-close\r\nContent-Length: 0\r\n\r\n", argv[1], argv[2]);
  if (length < 0 || length >= (int)sizeof request) {
    fprintf(stderr, "request too long\n");
    return 2;
  }
  for (int sent = 0; sent < length;) {
    ssize_t n = write(fd, request + sent, (size_t)(length - sent));
    if (n <= 0) {
      perror("write");
      return 3;
    }
    sent += (int)n;
  }
  if (shutdown(fd, SHUT_WR) != 0) {
    perror("shutdown");
    return 3;
  }
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
  if (n < 0) {
    perror("read");
    return 4;
  }
  return 0;
}
