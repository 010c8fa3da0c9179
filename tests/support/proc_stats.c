/* proc_stats: see proc_stats.h. */
#include "proc_stats.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long proc_status_kib(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t n = strlen(field);
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Socket inodes of pid in CLOSE-WAIT (state 08 in /proc/net/tcp{,6}). */
static int proc_close_wait(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    size_t cap = 1024, n = 0;
    unsigned long *inodes = malloc(cap * sizeof(*inodes));
    struct dirent *de;
    while (inodes && (de = readdir(d))) {
        char link[320], target[128];
        snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
        ssize_t k = readlink(link, target, sizeof(target) - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) != 1)
            continue;
        if (n == cap) {
            unsigned long *more = realloc(inodes, 2 * cap * sizeof(*inodes));
            if (!more)
                break;
            inodes = more;
            cap *= 2;
        }
        inodes[n++] = ino;
    }
    closedir(d);
    int count = 0;
    const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int t = 0; t < 2 && inodes; t++) {
        FILE *f = fopen(tables[t], "r");
        char line[512];
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f)) {
            unsigned st;
            unsigned long ino;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, " %*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &ino) != 2)
                continue;
            if (st != 0x08)
                continue;
            for (size_t i = 0; i < n; i++)
                if (inodes[i] == ino) {
                    count++;
                    break;
                }
        }
        fclose(f);
    }
    free(inodes);
    return count;
}

void proc_stats_sample(int pid, proc_stats_t *s)
{
    s->rss_kib = proc_status_kib(pid, "VmRSS");
    s->hwm_kib = proc_status_kib(pid, "VmHWM");
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    s->fds = -1;
    DIR *d = opendir(path);
    if (d) {
        s->fds = 0;
        while (readdir(d))
            s->fds++;
        s->fds -= 2;
        closedir(d);
    }
    s->close_wait = proc_close_wait(pid);
}
