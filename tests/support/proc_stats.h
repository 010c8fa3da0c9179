/* proc_stats: what a process holds, read from /proc — for the benchmarks
 * that watch a data plane's memory and descriptors under load. */
#ifndef LLMGW_PROC_STATS_H
#define LLMGW_PROC_STATS_H

typedef struct {
    long rss_kib, hwm_kib; /* VmRSS, VmHWM; -1 when unreadable */
    int fds, close_wait;   /* open descriptors, sockets in CLOSE-WAIT; -1 when unreadable */
} proc_stats_t;

/* One sample of pid. */
void proc_stats_sample(int pid, proc_stats_t *s);

#endif
