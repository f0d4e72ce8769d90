/*
 * hangar-init: PID 1 of a hangar machine. Loads the virtio modules, mounts the
 * root filesystem and volumes, sets the host name and addresses, writes files, runs
 * the machine's process in the root filesystem, reaps zombies, forwards the stop
 * signal (SIGKILL after the grace period), reports the exit (and OOM kills) to the
 * host, and answers exec/ps/signal/sync/settime requests. It also serves the unix
 * socket /.fly/api, passing each connection's bytes to the host, which answers
 * with the Machines API limited to this machine. Protocol: protocol.md.
 * Built static (scripts/setup-guest.sh); everything else of hangar is TypeScript.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITEMS 256
#define MAX_EXECS 16
#define MAX_OUTPUT (1 << 20)
#define LINE_MAX_BYTES (4 << 20)
#define MAX_API_CONNS 16
#define API_CHUNK 49152

static char *env_items[MAX_ITEMS], *argv_items[MAX_ITEMS];
static int env_count, argv_count;
static char hostname_value[256], root_device[64] = "/dev/vda", workdir[4096] = "/", user_spec[256];
static int stop_signal = SIGINT;
static long stop_timeout_ms = 5000;
static int port_fd = -1;
static pid_t main_pid = -1;
static long long kill_deadline_ms = -1;

struct exec_job {
  int used, out_fd, err_fd;
  pid_t pid;
  char id[64];
  char *out, *err;
  size_t out_len, err_len;
  long long deadline_ms;
  int exited, status;
};
static struct exec_job jobs[MAX_EXECS];

/*
 * Connections to /.fly/api; `id` numbers them for the host, 0 when the slot is free.
 * Each direction ends on its own: a client may shut its write side once its request
 * is out (`read_done`) and still read the answer, until the host is done (`write_done`).
 */
struct api_conn {
  int fd;
  long id;
  int read_done, write_done;
};
static struct api_conn api_conns[MAX_API_CONNS];
static int api_listen_fd = -1;
static long api_next_id = 1;

/* ---------- small helpers ---------- */

static void say(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("hangar-init: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Empty data is written "-" so that no field is ever empty (fields are space-separated). */
static char *b64_encode(const char *data, size_t len) {
  if (len == 0) return strdup("-");
  char *out = malloc(4 * ((len + 2) / 3) + 1), *p = out;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned char)data[i] << 16;
    if (i + 1 < len) v |= (unsigned char)data[i + 1] << 8;
    if (i + 2 < len) v |= (unsigned char)data[i + 2];
    *p++ = B64[(v >> 18) & 63];
    *p++ = B64[(v >> 12) & 63];
    *p++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
    *p++ = i + 2 < len ? B64[v & 63] : '=';
  }
  *p = 0;
  return out;
}

/* Decodes in place-free fashion; returns a NUL-terminated buffer and its length. */
static char *b64_decode(const char *text, size_t *len_out) {
  size_t n = strlen(text);
  char *out = malloc(n / 4 * 3 + 4);
  size_t len = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    const char *at = strchr(B64, text[i]);
    if (text[i] == '=' || !at || !text[i]) continue;
    v = (v << 6) | (unsigned)(at - B64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[len++] = (char)((v >> bits) & 0xff);
    }
  }
  out[len] = 0;
  if (len_out) *len_out = len;
  return out;
}

static void send_line(const char *format, ...) {
  if (port_fd < 0) return;
  char *line = NULL;
  va_list args;
  va_start(args, format);
  int n = vasprintf(&line, format, args);
  va_end(args);
  if (n < 0) return;
  /* If the host end is not connected (hangar restarting), wait up to a second in
     all, then drop the line: a disconnected port may poll as ready (POLLHUP) at once. */
  long long deadline = now_ms() + 1000;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(port_fd, line + off, (size_t)(n - off));
    if (w >= 0) {
      off += w;
      continue;
    }
    if (errno != EINTR && errno != EAGAIN) break;
    if (now_ms() > deadline) {
      say("host channel not writable: dropped a line");
      break;
    }
    struct pollfd out = {.fd = port_fd, .events = POLLOUT};
    if (poll(&out, 1, 50) > 0 && !(out.revents & POLLOUT)) usleep(50000);
  }
  free(line);
}

static void mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0755);
      *p = '/';
    }
  }
  mkdir(buf, 0755);
}

static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---------- boot: modules, config, filesystems, network ---------- */

static void load_modules(void) {
  FILE *order = fopen("/lib/modules/load-order", "r");
  if (!order) return;
  char name[128], path[256];
  while (fscanf(order, "%127s", name) == 1) {
    snprintf(path, sizeof path, "/lib/modules/%s.ko", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) {
      if (errno != EEXIST) say("module %s: %s", name, strerror(errno));
    }
    if (fd >= 0) close(fd);
  }
  fclose(order);
}

/* The balloon reports free blocks of 2 MB and up by default; from 64 KB, about a
   fifth less of an idle guest's RAM stays on the host (BENCHMARKS.md). */
static void report_small_free_pages(void) {
  int fd = open("/sys/module/page_reporting/parameters/page_reporting_order", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, "4", 1) < 0) say("page_reporting_order: %s", strerror(errno));
  close(fd);
}

static int wait_for(const char *path, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (access(path, F_OK) == 0) return 0;
    usleep(10000);
  }
  return -1;
}

/* `path` in the new root, in `full`, with the directories above it made. */
static void root_path(const char *path, char *full, size_t size) {
  char dir[4096];
  snprintf(full, size, "/newroot%s", path);
  snprintf(dir, sizeof dir, "%s", full);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = 0;
    mkdir_p(dir);
  }
}

static void write_file(const char *path, int mode, const char *data, size_t len) {
  char full[4096];
  root_path(path, full, sizeof full);
  int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    say("file %s: %s", path, strerror(errno));
    return;
  }
  if (write(fd, data, len) != (ssize_t)len) say("file %s: short write", path);
  close(fd);
}

/* Copies a file the initramfs carries (the sandbox agent) into the root. */
static void install_file(const char *source, const char *path, int mode) {
  int in = open(source, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    say("install %s: %s", source, strerror(errno));
    return;
  }
  char full[4096];
  root_path(path, full, sizeof full);
  unlink(full);
  int out = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    say("install %s: %s", path, strerror(errno));
    close(in);
    return;
  }
  char buffer[65536];
  ssize_t n;
  while ((n = read(in, buffer, sizeof buffer)) > 0) {
    if (write(out, buffer, (size_t)n) != n) {
      say("install %s: short write", path);
      break;
    }
  }
  fchmod(out, mode);
  close(out);
  close(in);
}

static void mount_volume(const char *device, const char *path) {
  char target[4096];
  snprintf(target, sizeof target, "/newroot%s", path);
  mkdir_p(target);
  if (wait_for(device, 5000) != 0 || mount(device, target, "ext4", 0, NULL) != 0) {
    say("mount %s at %s: %s", device, path, strerror(errno));
  }
}

static void write_sysctl(const char *ifname, const char *key, const char *value) {
  char path[256];
  snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/%s", ifname, key);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) say("sysctl %s: %s", path, strerror(errno));
  if (fd >= 0) close(fd);
}

/* The interface's addresses now: a fork's child replaces them with its own. */
static char current_v6[64] = "-", current_v4[64] = "-";

static void configure_net(char *ifname, char *v6, char *gw6, char *v4, char *gw4) {
  snprintf(current_v6, sizeof current_v6, "%s", v6);
  snprintf(current_v4, sizeof current_v4, "%s", v4);
  char *up[] = {"/bin/busybox", "ip", "link", "set", "dev", ifname, "up", NULL};
  char *lo[] = {"/bin/busybox", "ip", "link", "set", "dev", "lo", "up", NULL};
  run(lo);
  char path[128];
  snprintf(path, sizeof path, "/sys/class/net/%s", ifname);
  if (wait_for(path, 5000) != 0) {
    say("no interface %s", ifname);
    return;
  }
  /* Addresses are assigned, not discovered: no duplicate detection delay, and no
     router solicitations or other chatter on the link. */
  write_sysctl(ifname, "accept_dad", "0");
  write_sysctl(ifname, "accept_ra", "0");
  write_sysctl(ifname, "router_solicitations", "0");
  run(up);
  if (strcmp(v6, "-") != 0) {
    char *add[] = {"/bin/busybox", "ip", "-6", "addr", "add", v6, "dev", ifname, NULL};
    run(add);
  }
  if (strcmp(gw6, "-") != 0) {
    char *route[] = {"/bin/busybox", "ip", "-6", "route", "add", "default", "via", gw6, "dev", ifname, NULL};
    run(route);
  }
  if (strcmp(v4, "-") != 0) {
    char *add[] = {"/bin/busybox", "ip", "addr", "add", v4, "dev", ifname, NULL};
    run(add);
  }
  if (strcmp(gw4, "-") != 0) {
    char *route[] = {"/bin/busybox", "ip", "route", "add", "default", "via", gw4, "dev", ifname, "onlink", NULL};
    run(route);
  }
}

/* Applies one config line; filesystem lines need the root mounted (second pass). */
static void apply_config_line(char *line, int pass) {
  char *verb = strtok(line, " \n");
  if (!verb) return;
  char *a = strtok(NULL, " \n"), *b = strtok(NULL, " \n"), *c = strtok(NULL, " \n");
  if (pass == 0) {
    if (!strcmp(verb, "hostname") && a) {
      char *v = b64_decode(a, NULL);
      snprintf(hostname_value, sizeof hostname_value, "%s", v);
      free(v);
    } else if (!strcmp(verb, "root") && a) {
      snprintf(root_device, sizeof root_device, "%s", a);
    } else if (!strcmp(verb, "env") && a && env_count < MAX_ITEMS - 1) {
      env_items[env_count++] = b64_decode(a, NULL);
    } else if (!strcmp(verb, "arg") && a && argv_count < MAX_ITEMS - 1) {
      argv_items[argv_count++] = b64_decode(a, NULL);
    } else if (!strcmp(verb, "workdir") && a) {
      char *v = b64_decode(a, NULL);
      snprintf(workdir, sizeof workdir, "%s", v);
      free(v);
    } else if (!strcmp(verb, "user") && a) {
      char *v = b64_decode(a, NULL);
      snprintf(user_spec, sizeof user_spec, "%s", v);
      free(v);
    } else if (!strcmp(verb, "stop") && a && b) {
      stop_signal = atoi(a);
      stop_timeout_ms = atol(b);
    }
  } else {
    if (!strcmp(verb, "mount") && a && b) {
      char *path = b64_decode(b, NULL);
      mount_volume(a, path);
      free(path);
    } else if (!strcmp(verb, "file") && a && b && c) {
      size_t len;
      char *path = b64_decode(a, NULL), *data = b64_decode(c, &len);
      write_file(path, (int)strtol(b, NULL, 8), data, len);
      free(path);
      free(data);
    } else if (!strcmp(verb, "install") && a && b && c) {
      char *source = b64_decode(a, NULL), *path = b64_decode(b, NULL);
      install_file(source, path, (int)strtol(c, NULL, 8));
      free(source);
      free(path);
    } else if (!strcmp(verb, "net") && a && b && c) {
      char *d = strtok(NULL, " \n"), *e = strtok(NULL, " \n");
      if (d && e) configure_net(a, b, c, d, e);
    }
  }
}

static void read_config(int pass) {
  FILE *config = fopen("/hangar/config", "r");
  if (!config) return;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, config) > 0) apply_config_line(line, pass);
  free(line);
  fclose(config);
}

static void mount_root(void) {
  mkdir("/newroot", 0755);
  if (wait_for(root_device, 10000) != 0 || mount(root_device, "/newroot", "ext4", 0, NULL) != 0) {
    say("mount root %s: %s", root_device, strerror(errno));
    return;
  }
  const char *dirs[] = {"/newroot/proc", "/newroot/sys", "/newroot/dev", "/newroot/tmp", "/newroot/run"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) mkdir(dirs[i], 0755);
  mount("proc", "/newroot/proc", "proc", 0, NULL);
  mount("sysfs", "/newroot/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/newroot/dev", "devtmpfs", 0, NULL);
  mkdir("/newroot/dev/pts", 0755);
  mount("devpts", "/newroot/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666");
  mkdir("/newroot/dev/shm", 01777);
  mount("tmpfs", "/newroot/dev/shm", "tmpfs", 0, NULL);
}

static int open_port(void) {
  for (int tries = 0; tries < 500; tries++) {
    DIR *ports = opendir("/sys/class/virtio-ports");
    struct dirent *entry;
    while (ports && (entry = readdir(ports))) {
      if (entry->d_name[0] == '.') continue;
      char path[512], name[64] = {0};
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
      FILE *f = fopen(path, "r");
      if (f && fgets(name, sizeof name, f) && !strncmp(name, "hangar.0", 8)) {
        fclose(f);
        closedir(ports);
        snprintf(path, sizeof path, "/dev/%s", entry->d_name);
        wait_for(path, 2000);
        return open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
      }
      if (f) fclose(f);
    }
    if (ports) closedir(ports);
    usleep(10000);
  }
  return -1;
}

/* ---------- processes ---------- */

/* "uid[:gid]" or a user name looked up in the image's /etc/passwd. */
static void resolve_user(uid_t *uid, gid_t *gid) {
  *uid = 0;
  *gid = 0;
  if (!user_spec[0]) return;
  char *colon = strchr(user_spec, ':');
  if (user_spec[0] >= '0' && user_spec[0] <= '9') {
    *uid = (uid_t)atoi(user_spec);
    *gid = colon ? (gid_t)atoi(colon + 1) : *uid;
    return;
  }
  FILE *passwd = fopen("/etc/passwd", "r");
  char line[1024];
  size_t name_len = colon ? (size_t)(colon - user_spec) : strlen(user_spec);
  while (passwd && fgets(line, sizeof line, passwd)) {
    if (!strncmp(line, user_spec, name_len) && line[name_len] == ':') {
      char *fields[4] = {0};
      char *save = NULL, *field = strtok_r(line, ":", &save);
      for (int i = 0; i < 4 && field; i++, field = strtok_r(NULL, ":", &save)) fields[i] = field;
      if (fields[2]) *uid = (uid_t)atoi(fields[2]);
      if (fields[3]) *gid = (gid_t)atoi(fields[3]);
    }
  }
  if (passwd) fclose(passwd);
  if (colon) *gid = (gid_t)atoi(colon + 1);
}

/* In a forked child: enter the root filesystem, become the user, exec argv with PATH lookup. */
static void exec_in_root(char *const argv[], int use_workdir) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  if (chroot("/newroot") != 0 || chdir(use_workdir ? workdir : "/") != 0) {
    if (chdir("/") != 0) _exit(126);
  }
  uid_t uid;
  gid_t gid;
  resolve_user(&uid, &gid);
  if (setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
  env_items[env_count] = NULL;
  execvpe(argv[0], argv, env_items);
  fprintf(stderr, "hangar-init: exec %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

static void start_main(void) {
  if (argv_count == 0) {
    char *reason = b64_encode("no command to run", 17);
    send_line("failed %s\n", reason);
    free(reason);
    return;
  }
  argv_items[argv_count] = NULL;
  for (int i = 0; i < env_count; i++) putenv(env_items[i]);  /* PATH for execvpe */
  main_pid = fork();
  if (main_pid == 0) {
    setsid();
    exec_in_root(argv_items, 1);
  }
  send_line("started %d\n", main_pid);
}

static long oom_kills(void) {
  FILE *vmstat = fopen("/proc/vmstat", "r");
  char key[64];
  long value, found = 0;
  while (vmstat && fscanf(vmstat, "%63s %ld", key, &value) == 2) {
    if (!strcmp(key, "oom_kill")) found = value;
  }
  if (vmstat) fclose(vmstat);
  return found;
}

static long oom_before;

static void main_exited(int status) {
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  int oom = sig == SIGKILL && oom_kills() > oom_before;
  sync();
  send_line("exited %d %d %d\n", code, sig, oom);
  /* Give the host a moment to read the line, then power off: the VM's process ends. */
  usleep(100000);
  reboot(RB_POWER_OFF);
}

static void start_exec(char *id, long timeout_ms, char *stdin_b64, char **args, int nargs) {
  int slot = -1;
  for (int i = 0; i < MAX_EXECS; i++) if (!jobs[i].used) { slot = i; break; }
  if (slot < 0 || nargs == 0) {
    char *msg = b64_encode("too many execs or no command", 28);
    send_line("error %s %s\n", id, msg);
    free(msg);
    return;
  }
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return;
  char *argv[MAX_ITEMS];
  for (int i = 0; i < nargs && i < MAX_ITEMS - 1; i++) argv[i] = b64_decode(args[i], NULL);
  argv[nargs < MAX_ITEMS - 1 ? nargs : MAX_ITEMS - 1] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    exec_in_root(argv, 0);
  }
  for (int i = 0; argv[i]; i++) free(argv[i]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  size_t len;
  char *input = b64_decode(stdin_b64, &len);
  if (len && write(in[1], input, len) < 0) say("exec stdin: %s", strerror(errno));
  free(input);
  close(in[1]);
  struct exec_job *job = &jobs[slot];
  memset(job, 0, sizeof *job);
  job->used = 1;
  job->pid = pid;
  job->out_fd = out[0];
  job->err_fd = err[0];
  job->out = malloc(MAX_OUTPUT);
  job->err = malloc(MAX_OUTPUT);
  job->deadline_ms = now_ms() + timeout_ms;
  snprintf(job->id, sizeof job->id, "%s", id);
  fcntl(job->out_fd, F_SETFL, O_NONBLOCK);
  fcntl(job->err_fd, F_SETFL, O_NONBLOCK);
}

static void drain(int *fd, char *buf, size_t *len) {
  if (*fd < 0) return;
  for (;;) {
    char chunk[65536];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n > 0) {
      size_t take = (size_t)n;
      if (*len + take > MAX_OUTPUT) take = MAX_OUTPUT - *len;
      memcpy(buf + *len, chunk, take);
      *len += take;
      continue;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close(*fd);
      *fd = -1;
    }
    return;
  }
}

static void finish_jobs(void) {
  for (int i = 0; i < MAX_EXECS; i++) {
    struct exec_job *job = &jobs[i];
    if (!job->used) continue;
    drain(&job->out_fd, job->out, &job->out_len);
    drain(&job->err_fd, job->err, &job->err_len);
    if (!job->exited && now_ms() > job->deadline_ms) kill(job->pid, SIGKILL);
    if (!job->exited || job->out_fd >= 0 || job->err_fd >= 0) continue;
    char *out = b64_encode(job->out, job->out_len), *err = b64_encode(job->err, job->err_len);
    int code = WIFEXITED(job->status) ? WEXITSTATUS(job->status) : 128 + WTERMSIG(job->status);
    int sig = WIFSIGNALED(job->status) ? WTERMSIG(job->status) : 0;
    send_line("exec-result %s %d %d %s %s\n", job->id, code, sig, out, err);
    free(out);
    free(err);
    free(job->out);
    free(job->err);
    job->used = 0;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_EXECS; i++) {
      if (jobs[i].used && jobs[i].pid == pid) {
        jobs[i].exited = 1;
        jobs[i].status = status;
      }
    }
    if (pid == main_pid) main_exited(status);
  }
}

static void send_ps(const char *id) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  DIR *proc = opendir("/proc");
  struct dirent *entry;
  long ticks = sysconf(_SC_CLK_TCK);
  while (proc && (entry = readdir(proc))) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    char path[300], stat[2048] = {0}, cmd[1024] = {0}, cwd[1024] = {0};
    snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[got] = 0;
    char *close_paren = strrchr(stat, ')');
    unsigned long utime = 0, stime = 0;
    long rss = 0;
    if (close_paren) {
      sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %*u %ld", &utime, &stime, &rss);
    }
    snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
    f = fopen(path, "r");
    size_t n = f ? fread(cmd, 1, sizeof cmd - 1, f) : 0;
    if (f) fclose(f);
    for (size_t i = 0; i + 1 < n; i++) if (!cmd[i]) cmd[i] = ' ';
    if (n == 0) continue; /* kernel threads */
    snprintf(path, sizeof path, "/proc/%s/cwd", entry->d_name);
    ssize_t c = readlink(path, cwd, sizeof cwd - 1);
    if (c > 0) cwd[c] = 0;
    if (len + 2400 > cap) buf = realloc(buf, cap *= 2);
    len += (size_t)snprintf(buf + len, cap - len, "%s\t%ld\t%lu\t%lu\t%s\t%s\n", entry->d_name,
                            rss * (sysconf(_SC_PAGESIZE) / 1024), utime * 1000 / ticks, stime * 1000 / ticks, cmd, cwd);
  }
  if (proc) closedir(proc);
  char *encoded = b64_encode(buf, len);
  send_line("ps-result %s %s\n", id, encoded);
  free(encoded);
  free(buf);
}

/* ---------- /.fly/api ---------- */

static void api_listen(void) {
  mkdir("/newroot/.fly", 0755);
  unlink("/newroot/.fly/api");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, "/newroot/.fly/api");
  api_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (api_listen_fd < 0 || bind(api_listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(api_listen_fd, 16) != 0) {
    say("/.fly/api: %s", strerror(errno));
    if (api_listen_fd >= 0) close(api_listen_fd);
    api_listen_fd = -1;
    return;
  }
  chmod("/newroot/.fly/api", 0666);
}

static struct api_conn *api_find(long id) {
  for (int i = 0; i < MAX_API_CONNS; i++)
    if (api_conns[i].id == id) return &api_conns[i];
  return NULL;
}

static void api_drop(struct api_conn *conn, int tell_host) {
  if (tell_host) send_line("api-close %ld\n", conn->id);
  close(conn->fd);
  conn->id = 0;
  conn->fd = -1;
}

/* The client sent all it will: the host hears it, and the answer may still come. Once both sides are done, the slot is free. */
static void api_read_ended(struct api_conn *conn) {
  conn->read_done = 1;
  send_line("api-close %ld\n", conn->id);
  if (conn->write_done) api_drop(conn, 0);
}

static void api_accept(void) {
  int fd;
  while ((fd = accept4(api_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
    struct api_conn *conn = api_find(0);
    if (!conn) {
      close(fd); /* too many at once */
      continue;
    }
    conn->fd = fd;
    conn->id = api_next_id++;
    conn->read_done = conn->write_done = 0;
    send_line("api-open %ld\n", conn->id);
  }
}

/*
 * Bytes from a client go to the host. Its end of writing (a half-close, or a close)
 * ends only that direction: the host still answers. A read error ends the connection.
 */
static void api_read(struct api_conn *conn) {
  static char chunk[API_CHUNK];
  for (;;) {
    ssize_t n = read(conn->fd, chunk, sizeof chunk);
    if (n > 0) {
      char *data = b64_encode(chunk, (size_t)n);
      send_line("api-data %ld %s\n", conn->id, data);
      free(data);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == 0) api_read_ended(conn);
    else api_drop(conn, 1);
    return;
  }
}

/* Bytes from the host go to the client, waiting up to a second for a slow reader. */
static void api_write(long id, const char *b64) {
  struct api_conn *conn = api_find(id);
  if (!conn || id == 0) {
    send_line("api-close %ld\n", id); /* a connection from before a resume: the host has forgotten it */
    return;
  }
  size_t len;
  char *data = b64_decode(b64, &len);
  long long deadline = now_ms() + 1000;
  for (size_t off = 0; off < len;) {
    /* MSG_NOSIGNAL: a client gone is EPIPE here, never a SIGPIPE that init would pass on to the app. */
    ssize_t w = send(conn->fd, data + off, len - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      /* The client is gone (EPIPE): the host hears of it, and nothing more goes to it. */
      if (!conn->read_done) send_line("api-close %ld\n", conn->id);
      api_drop(conn, 0);
      break;
    }
    if (now_ms() > deadline) break;
    struct pollfd out = {.fd = conn->fd, .events = POLLOUT};
    poll(&out, 1, 50);
  }
  free(data);
}

/* ---------- fork: freeze, thaw, a new identity ---------- */

/* Whether every process but init (and kernel threads) is stopped. */
static int all_stopped(void) {
  DIR *proc = opendir("/proc");
  struct dirent *entry;
  int stopped = 1;
  while (stopped && proc && (entry = readdir(proc))) {
    long pid = atol(entry->d_name);
    if (pid <= 1 || pid == getpid()) continue;
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = 0;
    char *state = strrchr(stat, ')');
    /* Kernel threads (parent 2, or 2 itself) are not the machine's code. */
    long ppid = state ? atol(state + 4) : 0;
    if (!state || pid == 2 || ppid == 2) continue;
    if (state[2] != 'T' && state[2] != 't' && state[2] != 'Z' && state[2] != 'X') stopped = 0;
  }
  if (proc) closedir(proc);
  return stopped;
}

/* Stops every process of the machine (not init), and answers once they all are. */
static void freeze_processes(const char *id) {
  kill(-1, SIGSTOP);
  long long deadline = now_ms() + 2000;
  while (!all_stopped() && now_ms() < deadline) usleep(1000);
  send_line("ok %s\n", id);
}

/* The kernel's boot_id cannot be written: a file with the new one is mounted over it. */
static void replace_boot_id(const char *boot_id) {
  mkdir_p("/run/hangar");
  int fd = open("/run/hangar/boot_id", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  if (fd < 0) return;
  if (write(fd, boot_id, strlen(boot_id)) < 0 || write(fd, "\n", 1) < 0) say("boot_id: %s", strerror(errno));
  close(fd);
  const char *targets[] = {"/proc/sys/kernel/random/boot_id", "/newroot/proc/sys/kernel/random/boot_id"};
  for (int i = 0; i < 2; i++) {
    umount2(targets[i], MNT_DETACH); /* a fork of a fork: the earlier one goes */
    if (mount("/run/hangar/boot_id", targets[i], NULL, MS_BIND, NULL) != 0) say("boot_id over %s: %s", targets[i], strerror(errno));
  }
}

/* Mixes the host's fresh bytes into the kernel's pool and makes it reseed now. */
static void reseed_random(const char *entropy_b64) {
  size_t len;
  char *bytes = b64_decode(entropy_b64, &len);
  struct rand_pool_info *info = malloc(sizeof *info + len);
  info->entropy_count = (int)(len * 8);
  info->buf_size = (int)len;
  memcpy(info->buf, bytes, len);
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, info) != 0 || ioctl(fd, RNDRESEEDCRNG) != 0) say("reseed: %s", strerror(errno));
  if (fd >= 0) close(fd);
  free(info);
  free(bytes);
}

/* The addresses of the machine this VM was forked from go; the child's come. Done
   with ioctl and netlink from init itself: a freshly resumed guest under TCG takes
   tens of milliseconds for every process it starts. */
static int nl_talk(struct nlmsghdr *request, void (*each)(struct nlmsghdr *, void *), void *context) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  int failed = sendto(fd, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0;
  char buffer[16384];
  while (!failed) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) { failed = 1; break; }
    int done = 0;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) done = 1;
      else if (h->nlmsg_type == NLMSG_ERROR) {
        int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        if (error != 0 && error != -EEXIST && error != -EADDRNOTAVAIL) say("netlink: %s", strerror(-error));
        done = 1;
      } else if (each) each(h, context);
    }
    if (done) break;
  }
  close(fd);
  return failed ? -1 : 0;
}

static void nl_attr(struct nlmsghdr *h, int type, const void *data, size_t len) {
  struct rtattr *attr = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  attr->rta_type = (unsigned short)type;
  attr->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(attr), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(attr->rta_len);
}

/* Adds (RTM_NEWADDR) or removes (RTM_DELADDR) `cidr` ("addr/prefix", "-" for none) on interface `index`. */
static void nl_address(int type, int index, const char *cidr) {
  if (!cidr || !strcmp(cidr, "-")) return;
  char text[64];
  snprintf(text, sizeof text, "%s", cidr);
  char *slash = strchr(text, '/');
  int prefix = slash ? atoi(slash + 1) : -1;
  if (slash) *slash = 0;
  int family = strchr(text, ':') ? AF_INET6 : AF_INET;
  unsigned char address[16];
  if (inet_pton(family, text, address) != 1) return;
  struct { struct nlmsghdr h; struct ifaddrmsg a; char attrs[64]; } request = {0};
  request.h.nlmsg_len = NLMSG_LENGTH(sizeof request.a);
  request.h.nlmsg_type = (unsigned short)type;
  request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);
  request.a.ifa_family = (unsigned char)family;
  request.a.ifa_prefixlen = (unsigned char)(prefix >= 0 ? prefix : family == AF_INET6 ? 128 : 32);
  request.a.ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  request.a.ifa_index = (unsigned)index;
  size_t len = family == AF_INET6 ? 16 : 4;
  nl_attr(&request.h, IFA_LOCAL, address, len);
  nl_attr(&request.h, IFA_ADDRESS, address, len);
  nl_talk(&request.h, NULL, NULL);
}

/* Each neighbour entry of the interface (context: its index) is deleted. */
static void forget_neighbour(struct nlmsghdr *h, void *context) {
  struct ndmsg *entry = NLMSG_DATA(h);
  if (h->nlmsg_type != RTM_NEWNEIGH || entry->ndm_ifindex != *(int *)context) return;
  struct { struct nlmsghdr h; char body[512]; } request = {0};
  size_t len = h->nlmsg_len < sizeof request ? h->nlmsg_len : sizeof request;
  memcpy(&request, h, len);
  request.h.nlmsg_type = RTM_DELNEIGH;
  request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.h.nlmsg_seq = 0;
  nl_talk(&request.h, NULL, NULL);
}

static void flush_neighbours(int index) {
  int families[] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    struct { struct nlmsghdr h; struct ndmsg n; } request = {0};
    request.h.nlmsg_len = NLMSG_LENGTH(sizeof request.n);
    request.h.nlmsg_type = RTM_GETNEIGH;
    request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.n.ndm_family = (unsigned char)families[i];
    /* Each entry the dump yields is deleted on a socket of its own. */
    nl_talk(&request.h, forget_neighbour, &index);
  }
}

static void set_mac(const char *ifname, const char *mac) {
  struct ifreq request = {0};
  snprintf(request.ifr_name, sizeof request.ifr_name, "%s", ifname);
  request.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  unsigned int b[6];
  if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return;
  for (int i = 0; i < 6; i++) request.ifr_hwaddr.sa_data[i] = (char)b[i];
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ioctl(fd, SIOCSIFHWADDR, &request) != 0) say("mac of %s: %s", ifname, strerror(errno));
  if (fd >= 0) close(fd);
}

/* The child's addresses are added before the parent's go, so the routes (same gateways) stay. */
static void renumber_net(char *ifname, char *mac, char *v6, char *v4) {
  int index = (int)if_nametoindex(ifname);
  if (index == 0) return;
  set_mac(ifname, mac);
  nl_address(RTM_NEWADDR, index, v6);
  nl_address(RTM_NEWADDR, index, v4);
  if (strcmp(current_v6, v6) != 0) nl_address(RTM_DELADDR, index, current_v6);
  if (strcmp(current_v4, v4) != 0) nl_address(RTM_DELADDR, index, current_v4);
  flush_neighbours(index);
  snprintf(current_v6, sizeof current_v6, "%s", v6);
  snprintf(current_v4, sizeof current_v4, "%s", v4);
}

/* forked <id> <b64 hostname> <b64 boot_id> <b64 entropy> [<ifname> <mac> <v6> <gw6> <v4> <gw4>] */
static void become_fork(char **words, int n) {
  char *hostname = b64_decode(words[2], NULL), *boot_id = b64_decode(words[3], NULL);
  reseed_random(words[4]);
  replace_boot_id(boot_id);
  sethostname(hostname, strlen(hostname));
  if (n >= 11) renumber_net(words[5], words[6], words[7], words[9]);
  free(hostname);
  free(boot_id);
  kill(-1, SIGCONT);
  send_line("ok %s\n", words[1]);
}

/* renumber <id> <ifname> <mac> <v6> <gw6> <v4> <gw4>: a machine resumed on another host
   (moved) takes the addresses that host gave it; its IPv4 gateway is that host's. */
static void renumber(char **words) {
  renumber_net(words[2], words[3], words[4], words[6]);
  if (strcmp(words[7], "-") != 0) {
    char *route[] = {"/bin/busybox", "ip", "route", "replace", "default", "via", words[7], "dev", words[2], "onlink", NULL};
    run(route);
  }
  send_line("ok %s\n", words[1]);
}

/* ---------- requests from the host ---------- */

static void handle_request(char *line) {
  char *words[MAX_ITEMS + 8];
  int n = 0;
  for (char *w = strtok(line, " \n"); w && n < MAX_ITEMS + 7; w = strtok(NULL, " \n")) words[n++] = w;
  if (n < 2) return;
  char *verb = words[0], *id = words[1];
  if (!strcmp(verb, "exec") && n >= 5) {
    start_exec(id, atol(words[2]), words[3], words + 4, n - 4);
  } else if (!strcmp(verb, "ps")) {
    send_ps(id);
  } else if (!strcmp(verb, "signal") && n >= 3) {
    if (main_pid > 0 && kill(main_pid, atoi(words[2])) == 0) send_line("ok %s\n", id);
    else {
      char *msg = b64_encode(strerror(errno), strlen(strerror(errno)));
      send_line("error %s %s\n", id, msg);
      free(msg);
    }
  } else if (!strcmp(verb, "stop") && n >= 4) {
    if (main_pid > 0) kill(main_pid, atoi(words[2]));
    kill_deadline_ms = now_ms() + atol(words[3]);
    send_line("ok %s\n", id);
  } else if (!strcmp(verb, "sync")) {
    sync();
    send_line("ok %s\n", id);
  } else if (!strcmp(verb, "api-data") && n >= 3) {
    api_write(atol(id), words[2]);
  } else if (!strcmp(verb, "api-close")) {
    struct api_conn *conn = api_find(atol(id));
    if (conn && conn->id) {
      /* The host has answered: the client reads the end; if it is done writing too, the connection is over. */
      conn->write_done = 1;
      if (conn->read_done) api_drop(conn, 0);
      else shutdown(conn->fd, SHUT_WR);
    }
  } else if (!strcmp(verb, "freeze")) {
    freeze_processes(id);
  } else if (!strcmp(verb, "thaw")) {
    kill(-1, SIGCONT);
    send_line("ok %s\n", id);
  } else if (!strcmp(verb, "forked") && n >= 5) {
    become_fork(words, n);
  } else if (!strcmp(verb, "renumber") && n >= 8) {
    renumber(words);
  } else if (!strcmp(verb, "settime") && n >= 3) {
    long long ns = atoll(words[2]);
    struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    clock_settime(CLOCK_REALTIME, &ts);
    send_line("ok %s\n", id);
  }
}

/*
 * The host end of the port is hangar, through QEMU's socket. While none is connected
 * (hangar killed, stopped or restarting; VMs outlive it), the port reads as the end
 * of the file and polls as ready (POLLIN|POLLHUP) at once: kept in the poll set, it
 * would wake init without end, a whole host CPU under TCG. So it leaves the set, and
 * the port's driver says with SIGIO (to init's signalfd) when a host connects again.
 * Meanwhile /.fly/api connections wait in the listen queue: a host will answer them.
 */
static int host_gone;
/* Whether that SIGIO was asked for; if not, the port is looked at once a second. */
static int host_watched;

/* Asks the port's driver for SIGIO, carrying the port's fd, when a host connects or goes (`on`), or stops asking. */
static int watch_host(int on) {
  int flags = fcntl(port_fd, F_GETFL);
  if (flags < 0 || fcntl(port_fd, F_SETOWN, getpid()) != 0 || fcntl(port_fd, F_SETSIG, SIGIO) != 0) return -1;
  return fcntl(port_fd, F_SETFL, on ? flags | O_ASYNC : flags & ~O_ASYNC);
}

/* Takes what the host sent, line by line, and answers it; notices the host going and coming back. */
static void read_port(char *buffer, size_t *used) {
  for (;;) {
    ssize_t n = read(port_fd, buffer + *used, LINE_MAX_BYTES - *used - 1);
    if (n > 0 || (n < 0 && errno == EAGAIN)) {
      /* Connected (EAGAIN: nothing to read yet): data comes with poll, not SIGIO. */
      if (host_gone) {
        host_gone = 0;
        watch_host(0);
      }
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      if (host_gone) return;
      /* No host. A partial line was the last hangar's, and so are the /.fly/api
         connections: no one will answer them (a new hangar knows none), so they end.
         Then one more read, so that a host connecting before the SIGIO was asked
         for is not missed. */
      host_gone = 1;
      *used = 0;
      for (int i = 0; i < MAX_API_CONNS; i++)
        if (api_conns[i].id) api_drop(&api_conns[i], 0);
      host_watched = watch_host(1) == 0;
      continue;
    }
    *used += (size_t)n;
    char *newline;
    while ((newline = memchr(buffer, '\n', *used))) {
      *newline = 0;
      handle_request(buffer);
      size_t rest = *used - (size_t)(newline + 1 - buffer);
      memmove(buffer, newline + 1, rest);
      *used = rest;
    }
    if (*used >= LINE_MAX_BYTES - 1) *used = 0; /* an overlong line is dropped */
  }
}

/*
 * How long the main loop may sleep: until the next deadline (a stop's SIGKILL, an
 * exec's timeout), or until an event when none is set. Signals (SIGCHLD), the host
 * channel, /.fly/api and exec output are all events, so an idle machine wakes for
 * nothing: under TCG every wake-up of the guest costs the host real CPU.
 */
static int poll_timeout_ms(void) {
  long long next = main_pid > 0 ? kill_deadline_ms : -1;
  for (int i = 0; i < MAX_EXECS; i++)
    if (jobs[i].used && !jobs[i].exited && (next < 0 || jobs[i].deadline_ms < next)) next = jobs[i].deadline_ms;
  if (next < 0) return -1;
  long long wait = next - now_ms() + 1;
  return wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

int main(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  load_modules();
  report_small_free_pages();
  read_config(0);
  if (hostname_value[0]) sethostname(hostname_value, strlen(hostname_value));
  mount_root();
  read_config(1);

  port_fd = open_port();
  if (port_fd < 0) say("no hangar.0 port: running without the host channel");
  send_line("ready\n");

  sigset_t mask;
  sigfillset(&mask);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  oom_before = oom_kills();
  for (int i = 0; i < MAX_API_CONNS; i++) api_conns[i] = (struct api_conn){.fd = -1, .id = 0, .read_done = 0, .write_done = 0};
  if (port_fd >= 0) api_listen();
  start_main();

  char *buffer = malloc(LINE_MAX_BYTES);
  size_t used = 0;
  for (;;) {
    struct pollfd fds[3 + 2 * MAX_EXECS + MAX_API_CONNS];
    int nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    if (port_fd >= 0 && !host_gone) fds[nfds++] = (struct pollfd){.fd = port_fd, .events = POLLIN};
    if (api_listen_fd >= 0 && !host_gone) fds[nfds++] = (struct pollfd){.fd = api_listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_API_CONNS; i++)
      if (api_conns[i].id && !api_conns[i].read_done) fds[nfds++] = (struct pollfd){.fd = api_conns[i].fd, .events = POLLIN};
    for (int i = 0; i < MAX_EXECS; i++) {
      if (!jobs[i].used) continue;
      if (jobs[i].out_fd >= 0) fds[nfds++] = (struct pollfd){.fd = jobs[i].out_fd, .events = POLLIN};
      if (jobs[i].err_fd >= 0) fds[nfds++] = (struct pollfd){.fd = jobs[i].err_fd, .events = POLLIN};
    }
    int timeout = poll_timeout_ms();
    if (host_gone && !host_watched && (timeout < 0 || timeout > 1000)) timeout = 1000;
    poll(fds, (nfds_t)nfds, timeout);

    int host_news = 0;
    struct signalfd_siginfo info;
    while (read(sfd, &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGCHLD) continue;
      /* The port's driver: a host connected or went (a SIGIO sent by a process has no fd). */
      if (info.ssi_signo == SIGIO && info.ssi_code > 0 && (int)info.ssi_fd == port_fd) {
        host_news = 1;
        continue;
      }
      /* A signal to PID 1 (e.g. from the console) goes to the machine's process. */
      if (main_pid > 0) kill(main_pid, (int)info.ssi_signo);
    }
    reap();
    if (kill_deadline_ms >= 0 && now_ms() > kill_deadline_ms && main_pid > 0) {
      kill(-main_pid, SIGKILL);
      kill(main_pid, SIGKILL);
      kill_deadline_ms = -1;
    }
    if (port_fd >= 0 && (!host_gone || host_news || !host_watched)) read_port(buffer, &used);
    finish_jobs();
    if (api_listen_fd >= 0 && !host_gone) api_accept();
    for (int i = 0; i < MAX_API_CONNS; i++)
      if (api_conns[i].id && !api_conns[i].read_done) api_read(&api_conns[i]);
  }
}
