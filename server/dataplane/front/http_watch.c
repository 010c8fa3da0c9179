/* http_watch: see http_watch.h.
 *
 * Thread model: one thread blocks in epoll_wait on the watched sockets and an
 * eventfd that http_watch_free writes to stop it. The epoll set is the only
 * shared state, and the kernel serializes epoll_ctl against epoll_wait.
 */
#include "http_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HW_BATCH 64
#define HW_STOP_TAG UINT64_MAX

struct http_watch {
    int epfd;
    int stopfd;
    pthread_t thread;
    http_watch_fn fn;
    void *ud;
};

static void *hw_main(void *arg)
{
    http_watch_t *w = arg;
    struct epoll_event ev[HW_BATCH];
    for (;;) {
        int n = epoll_wait(w->epfd, ev, HW_BATCH, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return NULL;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == HW_STOP_TAG)
                return NULL;
            w->fn(w->ud, (uint32_t)(ev[i].data.u64 >> 32), (int)(uint32_t)ev[i].data.u64);
        }
    }
}

http_watch_t *http_watch_new(http_watch_fn fn, void *ud)
{
    http_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fn = fn;
    w->ud = ud;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HW_STOP_TAG};
    if (w->epfd < 0 || w->stopfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stopfd, &ev) < 0 ||
        pthread_create(&w->thread, NULL, hw_main, w) != 0)
        goto fail;
    return w;
fail:
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->stopfd >= 0)
        close(w->stopfd);
    free(w);
    return NULL;
}

int http_watch_add(http_watch_t *w, int fd, uint32_t id)
{
    /* One-shot: one report per add, then the socket stays in the set
     * (disarmed) until deleted or closed. */
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                             .data.u64 = ((uint64_t)id << 32) | (uint32_t)fd};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -1 : 0;
}

void http_watch_del(http_watch_t *w, int fd)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void http_watch_free(http_watch_t *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    /* An eventfd write fails only on counter overflow; cancel as a last resort. */
    if (write(w->stopfd, &one, sizeof(one)) != sizeof(one))
        pthread_cancel(w->thread);
    pthread_join(w->thread, NULL);
    close(w->epfd);
    close(w->stopfd);
    free(w);
}
