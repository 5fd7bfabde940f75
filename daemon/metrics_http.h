/* metrics_http: serves GET /metrics over HTTP with libmicrohttpd on its own thread, asking a render
 * callback for the text of each scrape (the coordinator's: a snapshot under its lock, formatted by
 * metrics.c). Any other path is 404, any other method 405. It knows nothing of what it serves. */
#ifndef BIRDIE_DAEMON_METRICS_HTTP_H
#define BIRDIE_DAEMON_METRICS_HTTP_H

#include <stddef.h>

typedef struct birdie_metrics_http birdie_metrics_http;

/* The exposition text (malloc'ed; freed by the server) or NULL when it could not be built (the
 * scrape then gets 500). Called on the server's thread, one scrape at a time. */
typedef char *(*birdie_metrics_render_fn)(void *ctx, size_t *len);

/* Listens on addr ("HOST:PORT", an IPv6 host in brackets; port 0 picks a free one). 0, or a negative
 * code with a message naming the address (nothing is left running). */
int birdie_metrics_http_start(const char *addr, birdie_metrics_render_fn render, void *ctx, birdie_metrics_http **out,
                              char *err, size_t errlen);
/* The bound TCP port. */
int birdie_metrics_http_port(const birdie_metrics_http *h);
/* Stops serving and frees h (NULL is ignored); returns once no scrape is running. */
void birdie_metrics_http_stop(birdie_metrics_http *h);

#endif
