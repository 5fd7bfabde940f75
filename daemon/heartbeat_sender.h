/* heartbeat_sender: a worker's heartbeats sent from a background thread, so the training loop never
 * waits on the coordinator (or the network) to report its progress. Only the newest heartbeat
 * matters: one posted while another is in flight replaces the one still waiting. A failed send is
 * kept and returned by every later post and by flush, so the loop still stops on a lost
 * coordinator, one heartbeat later than a blocking call would. */
#ifndef BIRDIE_DAEMON_HEARTBEAT_SENDER_H
#define BIRDIE_DAEMON_HEARTBEAT_SENDER_H

#include <stddef.h>

#include "daemon/worker_client.h"

typedef struct heartbeat_sender heartbeat_sender;

/* Starts the sending thread for wc (which must outlive the sender). NULL with a message on failure. */
heartbeat_sender *heartbeat_sender_start(worker_client *wc, char *err, size_t errlen);

/* Queues hb and returns at once: 0, or the error of an earlier send. */
int heartbeat_sender_post(heartbeat_sender *s, const worker_heartbeat *hb, char *err, size_t errlen);

/* Waits up to timeout_ms until everything posted is sent: 0, the error of a send, or -ETIMEDOUT. */
int heartbeat_sender_flush(heartbeat_sender *s, int timeout_ms, char *err, size_t errlen);

/* Sends nothing more (a heartbeat still waiting is dropped; one in flight finishes) and joins. */
void heartbeat_sender_stop(heartbeat_sender *s);

#endif
