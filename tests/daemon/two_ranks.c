/* two_ranks: see two_ranks.h. */
#include "tests/daemon/two_ranks.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

worker_client *open_worker(const fixture *f, int rank, int world)
{
    worker_client_config cfg = {.addr = f->addr,
                                .token = FIX_TOKEN,
                                .rank = rank,
                                .world_size = world,
                                .deadline_ms = TWO_RANKS_DEADLINE_MS,
                                .connect_timeout_ms = 2000};
    worker_client *wc = NULL;
    char err[512];
    if (worker_client_open(&cfg, &wc, err, sizeof(err)))
        fail_msg("worker_client_open rank %d: %s", rank, err);
    return wc;
}

int setup_two(void **state)
{
    two_ranks *t = calloc(1, sizeof(*t));
    if (!t || fix_start(&t->f, 2, 1, 3000))
        return -1;
    t->w0 = open_worker(&t->f, 0, 2);
    t->w1 = open_worker(&t->f, 1, 2);
    t->ch = fix_channel(&t->f, FIX_TOKEN);
    *state = t;
    return 0;
}

int teardown_two(void **state)
{
    two_ranks *t = *state;
    worker_client_close(t->w0);
    worker_client_close(t->w1);
    birdie_rpc_channel_close(t->ch);
    fix_stop(&t->f);
    free(t);
    return 0;
}

Birdie__V1__GetStatusResponse *get_status(birdie_rpc_channel *ch)
{
    Birdie__V1__GetStatusRequest req = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/GetStatus", &req.base, &birdie__v1__get_status_response__descriptor,
                         &resp, TWO_RANKS_DEADLINE_MS, &st))
        fail_msg("GetStatus: %d %s", st.code, st.message);
    return (Birdie__V1__GetStatusResponse *)resp;
}

grpc_status_code control(birdie_rpc_channel *ch, const char *method)
{
    Birdie__V1__ControlRequest req = BIRDIE__V1__CONTROL_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, method, &req.base, &birdie__v1__control_response__descriptor, &r, TWO_RANKS_DEADLINE_MS,
                         &st) == 0)
        protobuf_c_message_free_unpacked(r, NULL);
    return st.code;
}
