/* http_watch: notices HTTP clients that hang up while their request waits.
 *
 * libmicrohttpd does not poll a suspended connection, so a client that
 * disconnects while its request waits for a provider is only noticed at the
 * next write — for a slow first token, possibly minutes later, with the
 * upstream call still running. This module watches such sockets with its own
 * epoll (EPOLLRDHUP: the peer closed; it never reads from them) and reports
 * the request's id on its own thread.
 *
 * A client that half-closes (shutdown(SHUT_WR)) right after its request
 * reads as a hang-up too; HTTP/1.1 clients keep the connection open.
 *
 * Ids, not pointers, cross threads: a report may arrive for a request that
 * already ended, so the callback looks the id up and ignores unknown ones.
 */
#ifndef LLMGW_HTTP_WATCH_H
#define LLMGW_HTTP_WATCH_H

#include <stdint.h>

typedef struct http_watch http_watch_t;

/* Called on the watch thread for a hung-up socket, once per http_watch_add
 * (the watch is one-shot; the fd stays in the set, disarmed, until
 * http_watch_del or its close). */
typedef void (*http_watch_fn)(void *ud, uint32_t id, int fd);

/* Starts the watch thread. NULL on failure. */
http_watch_t *http_watch_new(http_watch_fn fn, void *ud);
/* Watches fd for `id` (a request's or a connection's). 0 or -1. Any thread. */
int http_watch_add(http_watch_t *w, int fd, uint32_t id);
/* Stops watching fd (no error when it was not watched). Any thread. */
void http_watch_del(http_watch_t *w, int fd);
/* Stops the thread and frees w. NULL is a no-op. */
void http_watch_free(http_watch_t *w);

#endif
