/* msg_arena: one malloc per allocation, chained for a single free. Messages built here are small
 * (hundreds of fields at most), so a chunked allocator would buy nothing. */
#include "daemon/msg_arena.h"

#include <stdlib.h>
#include <string.h>

struct msg_arena_chunk {
    msg_arena_chunk *next;
    max_align_t data[];
};

void msg_arena_init(msg_arena *a)
{
    a->chunks = NULL;
    a->failed = 0;
}

void msg_arena_free(msg_arena *a)
{
    msg_arena_chunk *c = a->chunks;
    while (c) {
        msg_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
}

void *msg_arena_alloc(msg_arena *a, size_t size)
{
    msg_arena_chunk *c = calloc(1, sizeof(*c) + (size ? size : 1));
    if (!c) {
        a->failed = 1;
        return NULL;
    }
    c->next = a->chunks;
    a->chunks = c;
    return c->data;
}

char *msg_arena_strdup(msg_arena *a, const char *s)
{
    size_t n = strlen(s ? s : "");
    char *out = msg_arena_alloc(a, n + 1);
    if (out && n)
        memcpy(out, s, n);
    return out;
}

int msg_arena_failed(const msg_arena *a)
{
    return a->failed;
}
