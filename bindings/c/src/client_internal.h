/* client_internal.h - what the polypool CLI and the tests use of the client
 * beyond polypool.h (internal, not installed). */
#ifndef PP_CLIENT_INTERNAL_H
#define PP_CLIENT_INTERNAL_H

#include "polypool.h"
#include "polypool.pb-c.h"

/* Sends `req` (its id is filled in here) and waits up to timeout_ms
 * (negative: forever) for the reply. On PP_OK *reply is the unpacked reply,
 * freed with client_reply_free, and its status may still be an error: the
 * caller reads reply->status. Other statuses are transport failures
 * (PP_ECONNRESET, PP_ETIMEDOUT, PP_EFORKED, PP_EMSGSIZE, PP_EPROTO). */
pp_status client_call(pp_client *c, Polypool__V1__Request *req, int timeout_ms,
                      Polypool__V1__Reply **reply);
void client_reply_free(Polypool__V1__Reply *reply);

/* Sets the calling thread's pp_last_error(); used across the library. */
void error_set(pp_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_set_task(const Polypool__V1__TaskError *te);

#endif
