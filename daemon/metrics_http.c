/* metrics_http: see metrics_http.h. One libmicrohttpd daemon with its internal polling thread, so
 * scrapes are answered one at a time and never on the coordinator's thread. */
#define _GNU_SOURCE
#include "daemon/metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "worker/error.h"

struct birdie_metrics_http {
    struct MHD_Daemon *d;
    birdie_metrics_render_fn render;
    void *ctx;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode, const char *content_type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    birdie_metrics_http *h = cls;
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char not_allowed[] = "method not allowed: GET /metrics\n";
    static char failed[] = "the metrics could not be built (out of memory)\n";
    const char *text = "text/plain; charset=utf-8";
    if (*upload_data_size) /* a body nobody asked for: discard it */
        *upload_data_size = 0;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed), MHD_RESPMEM_PERSISTENT, text);
    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found), MHD_RESPMEM_PERSISTENT, text);
    size_t len = 0;
    char *body = h->render(h->ctx, &len);
    if (!body)
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, failed, strlen(failed), MHD_RESPMEM_PERSISTENT, text);
    return reply(conn, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE, "text/plain; version=0.0.4; charset=utf-8");
}

/* "HOST:PORT" or "[V6]:PORT" into host and port strings. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1])
        return -1;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (colon[-1] != ']' || n < 3)
            return -1;
        h++;
        n -= 2;
    }
    if (n >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

int birdie_metrics_http_start(const char *addr, birdie_metrics_render_fn render, void *ctx, birdie_metrics_http **out,
                              char *err, size_t errlen)
{
    *out = NULL;
    char host[256], port[16];
    if (!addr || split_addr(addr, host, sizeof host, port, sizeof port))
        return birdie_fail(err, errlen, -EINVAL, "metrics address '%s': want HOST:PORT", addr ? addr : "");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || !res)
        return birdie_fail(err, errlen, -EINVAL, "metrics address '%s': %s", addr, gai_strerror(gai));
    birdie_metrics_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(res);
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    h->render = render;
    h->ctx = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, res->ai_addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!h->d) {
        free(h);
        return birdie_fail(err, errlen, -EADDRINUSE, "cannot serve metrics on %s (address in use or not local)", addr);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    *out = h;
    return 0;
}

int birdie_metrics_http_port(const birdie_metrics_http *h)
{
    return h ? h->port : 0;
}

void birdie_metrics_http_stop(birdie_metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
