/* harness: see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_MAX_PROCS 32

static char harness_scratch[256];
static pid_t harness_pids[HARNESS_MAX_PROCS];
static int harness_n_procs;
static int harness_seq;

static void harness_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int harness_scale_ms(int ms)
{
    static int scale;
    if (!scale) {
        const char *v = getenv("LLMGW_TEST_TIMEOUT_SCALE");
        int n = v ? atoi(v) : 1;
        scale = n >= 1 && n <= 100 ? n : 1;
    }
    return ms * scale;
}

const char *harness_dir(void)
{
    if (!harness_scratch[0]) {
        snprintf(harness_scratch, sizeof(harness_scratch), "/tmp/llmgw-test-XXXXXX");
        if (!mkdtemp(harness_scratch)) {
            perror("mkdtemp");
            abort();
        }
    }
    return harness_scratch;
}

const char *harness_bin(const char *name)
{
    static char path[512];
    const char *dir = getenv("LLMGW_BIN_DIR");
    snprintf(path, sizeof(path), "%s/bin/%s", dir ? dir : "build", name);
    return path;
}

const char *harness_write(const char *name, const char *fmt, ...)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", harness_dir(), name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    return fclose(f) == 0 ? path : NULL;
}

static int harness_read_port(const char *path, int timeout_ms, pid_t pid)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        FILE *f = fopen(path, "r");
        if (f) {
            int port = 0;
            int n = fscanf(f, "%d", &port);
            fclose(f);
            if (n == 1 && port > 0)
                return port;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1; /* it died before listening */
        harness_sleep_ms(10);
    }
    return -1;
}

int harness_spawn(harness_proc_t *p, const char *const argv[], const char *port_file)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->log_path, sizeof(p->log_path), "%s/proc-%d.log", harness_dir(), ++harness_seq);
    if (port_file)
        unlink(port_file);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    if (harness_n_procs < HARNESS_MAX_PROCS)
        harness_pids[harness_n_procs++] = pid;
    if (port_file) {
        p->port = harness_read_port(port_file, harness_scale_ms(10000), pid);
        if (p->port < 0) {
            fprintf(stderr, "harness: %s did not report a port; log %s\n", argv[0], p->log_path);
            return -1;
        }
    }
    return 0;
}

static int harness_start(harness_proc_t *p, const char *bin, const char *const fixed[],
                         const char *const extra[])
{
    const char *argv[64];
    size_t n = 0;
    char port_file[512];
    snprintf(port_file, sizeof(port_file), "%s/port-%d", harness_dir(), harness_seq + 1);
    static char bin_path[512];
    snprintf(bin_path, sizeof(bin_path), "%s", harness_bin(bin));
    argv[n++] = bin_path;
    for (size_t i = 0; fixed[i] && n < 60; i++)
        argv[n++] = fixed[i];
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (size_t i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return harness_spawn(p, argv, port_file);
}

int harness_start_sim(harness_proc_t *p, const char *name, const char *const extra[])
{
    const char *fixed[] = {"--name", name, "--listen", "127.0.0.1:0", NULL};
    return harness_start(p, "llmgw-sim", fixed, extra);
}

int harness_start_dataplane(harness_proc_t *p, const char *table_path, const char *const extra[])
{
    const char *fixed[] = {"--table", table_path,      "--listen",    "127.0.0.1:0", "--threads",
                           "2",       "--http-listen", "127.0.0.1:0", NULL};
    return harness_start(p, "llmgw-dataplane", fixed, extra);
}

int harness_stop(harness_proc_t *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    timeout_ms = harness_scale_ms(timeout_ms);
    int status = 0;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (r < 0)
            return -1;
        if (waited >= timeout_ms) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        harness_sleep_ms(10);
    }
    for (int i = 0; i < harness_n_procs; i++)
        if (harness_pids[i] == p->pid)
            harness_pids[i] = 0;
    p->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

bool harness_log_contains(const harness_proc_t *p, const char *needle)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void harness_cleanup(void)
{
    for (int i = 0; i < harness_n_procs; i++) {
        if (harness_pids[i] > 0) {
            kill(harness_pids[i], SIGKILL);
            waitpid(harness_pids[i], NULL, 0);
            harness_pids[i] = 0;
        }
    }
    harness_n_procs = 0;
    if (!harness_scratch[0] || getenv("LLMGW_KEEP_TEST_DIR"))
        return;
    DIR *d = opendir(harness_scratch);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", harness_scratch, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(harness_scratch);
    harness_scratch[0] = '\0';
}
