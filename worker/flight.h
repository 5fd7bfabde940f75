/* worker/flight.h: the flight recorder of a rank: its last collectives (operation, sequence number,
 * bytes, start and end), the step it was at and its last RPCs to the coordinator, kept in small rings
 * so that when a job aborts each rank can say where it was (written by birdied to stderr and beside
 * the checkpoints as flight-rank<R>.txt). Recording costs a clock read and a few stores; nothing here
 * allocates or does I/O except the write functions. Not here: deciding to abort (birdied's main). */
#ifndef BIRDIE_FLIGHT_H
#define BIRDIE_FLIGHT_H

#include <stddef.h>
#include <stdio.h>

/* A collective starts: returns its sequence number (1, 2, ... per process) for birdie_flight_end. */
long birdie_flight_begin(const char *op, size_t bytes);
/* The collective of sequence number seq completed (a collective never ended is what a hang shows). */
void birdie_flight_end(long seq);
/* The step the rank is training. */
void birdie_flight_step(long step);
/* An RPC to the coordinator returned (status: its gRPC status code) after start_s..end_s
 * (birdie_monotonic_seconds). Any thread may call it. */
void birdie_flight_rpc(const char *method, int status, double start_s, double end_s);

/* Writes the record (newest last) with the reason of the abort. Returns 0 or -errno. */
int birdie_flight_write(FILE *f, int rank, const char *reason);
/* Writes the record to stderr, and to dir/flight-rank<rank>.txt when dir is not empty; a file that
 * cannot be written is said on stderr (the abort goes on). */
void birdie_flight_dump(int rank, const char *dir, const char *reason);

#endif
