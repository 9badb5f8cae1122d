#ifndef RINGTRAIL_CMICROHTTPD_SHIM_H
#define RINGTRAIL_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic, which Swift cannot call; this helper passes the options Ringtrail uses. */
static inline struct MHD_Daemon *rt_mhd_start(unsigned int flags,
                                              const struct sockaddr *address,
                                              MHD_AccessHandlerCallback handler, void *handler_context,
                                              MHD_RequestCompletedCallback completed, void *completed_context,
                                              unsigned int thread_pool_size,
                                              unsigned int connection_timeout_seconds,
                                              size_t connection_memory_limit,
                                              unsigned int connection_limit) {
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_context,
                            MHD_OPTION_SOCK_ADDR, address,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_context,
                            MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size,
                            MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory_limit,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                            MHD_OPTION_END);
}

static inline int rt_mhd_yes(void) { return MHD_YES; }
static inline int rt_mhd_no(void) { return MHD_NO; }
#endif
