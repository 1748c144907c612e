/* server.h - the client side of the daemon: nng rep0 socket, request
 * handlers, parked requests and the listener health check.
 *
 * Threads: nng task threads run the context callbacks (each takes the
 * daemon lock to handle one request); nng's reaper thread runs pipe-removal
 * callbacks, which only queue the pipe id and wake the loop; a health
 * thread dials the daemon's own address every health_ms and, when the
 * listener stops answering (nng#1518), starts a new one without closing
 * the old (closing an nng listener closes every pipe it accepted, i.e.
 * every session): see retire_listen_socket in server.c. Everything else
 * runs on the loop thread through the hooks below, with the lock held.
 */
#ifndef PP_SERVER_H
#define PP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server_config {
    const char *url;
    size_t max_message;      /* NNG_OPT_RECVMAXSZ */
    int health_ms;           /* 0: no health check */
    bool autostarted;
};

/* Opens the socket, starts listening, opens the first contexts and starts
 * the health thread. Call without the lock, before the loop runs. Returns 0
 * or -1 with a message in err. */
int server_open(const struct server_config *cfg, char *err, size_t errlen);

/* Stops the health thread and closes the listener (no new clients). Call
 * without the lock. */
void server_stop_listening(void);

/* Under the lock: completes every parked request (replies "shutting down")
 * and destroys every session. */
void server_end_sessions(void);

/* Closes the socket and frees the contexts. Call without the lock, last. */
void server_close(void);

/* Loop hooks (lock held). */
void server_wake(void);
void server_idle(void);
uint64_t server_tick(uint64_t now);

/* True once a Shutdown request was answered (or its reply timed out). */
bool server_shutdown_due(uint64_t now);

#endif
