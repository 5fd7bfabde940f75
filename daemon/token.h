/* token: where the bearer token of the control plane comes from (--token-file FILE, else the
 * BIRDIE_TOKEN environment variable). It only loads; checking a call's token is rpc_wire's job. */
#ifndef BIRDIE_DAEMON_TOKEN_H
#define BIRDIE_DAEMON_TOKEN_H

#include <stddef.h>

#define BIRDIE_TOKEN_MAX 256

/* token_file: NULL to use $BIRDIE_TOKEN. The file holds the token on its first line (a trailing
 * newline is dropped). Returns 0 with out[0]==0 when neither is set; -ENOENT/-EINVAL with a message
 * for an unreadable file, an empty token from a file, a token longer than BIRDIE_TOKEN_MAX-1, or
 * one with characters outside printable ASCII (it travels in an HTTP/2 header). */
int birdie_token_load(const char *token_file, char *out, size_t outcap, char *err, size_t errlen);

#endif
