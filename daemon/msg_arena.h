/* msg_arena: a bump allocator for building protobuf-c messages whose nested arrays and strings
 * all die together once the message is packed. Not thread-safe; one arena per message build.
 * Allocation failure is sticky: arena_failed() reports it so the builder checks once at the end. */
#ifndef BIRDIE_DAEMON_MSG_ARENA_H
#define BIRDIE_DAEMON_MSG_ARENA_H

#include <stddef.h>

typedef struct msg_arena_chunk msg_arena_chunk;

typedef struct msg_arena {
    msg_arena_chunk *chunks;
    int failed;
} msg_arena;

void msg_arena_init(msg_arena *a);
void msg_arena_free(msg_arena *a);
/* Zeroed memory, or NULL (and arena_failed) when out of memory. */
void *msg_arena_alloc(msg_arena *a, size_t size);
char *msg_arena_strdup(msg_arena *a, const char *s);
int msg_arena_failed(const msg_arena *a);

#endif
