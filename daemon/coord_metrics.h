/* coord_metrics: the coordinator's side of its Prometheus metrics: a birdie_metrics snapshot copied
 * from its state under its lock (so a scrape agrees with GetStatus and the store at that moment),
 * formatted by metrics.c. The metrics HTTP server (metrics_http.c) calls it on its own thread. */
#ifndef BIRDIE_DAEMON_COORD_METRICS_H
#define BIRDIE_DAEMON_COORD_METRICS_H

#include <stddef.h>

/* A birdie_metrics_render_fn over a coordinator (ctx). */
char *coord_metrics_render(void *ctx, size_t *len);

#endif
