/* two_ranks: the cmocka fixture and RPC helpers the coordinator tests share: a coordinator for a world of two, both
 * ranks registered through worker_client, and an authorised Control channel. */
#ifndef BIRDIE_TESTS_DAEMON_TWO_RANKS_H
#define BIRDIE_TESTS_DAEMON_TWO_RANKS_H

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/worker_client.h"
#include "tests/daemon/daemon_fixture.h"

#define TWO_RANKS_DEADLINE_MS 5000

typedef struct two_ranks {
    fixture f;
    worker_client *w0, *w1;
    birdie_rpc_channel *ch;
} two_ranks;

/* Registers one rank of `world` with the fixture's coordinator; fails the test on error. */
worker_client *open_worker(const fixture *f, int rank, int world);
int setup_two(void **state);
/* GetStatus through ch; fails the test on a non-OK status. Free with protobuf_c_message_free_unpacked. */
Birdie__V1__GetStatusResponse *get_status(birdie_rpc_channel *ch);
/* A Control method taking a ControlRequest (Pause, Resume, Stop): its gRPC status. */
grpc_status_code control(birdie_rpc_channel *ch, const char *method);
int teardown_two(void **state);

#endif
