#ifndef RINGTRAIL_CMICROHTTPD_SHIM_H
#define RINGTRAIL_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/* The signature of MHD_OPTION_URI_LOG_CALLBACK; its return value becomes the request's `*con_cls`. */
typedef void *(*rt_mhd_uri_log_callback)(void *context, const char *uri, struct MHD_Connection *connection);

/* Everything Ringtrail passes to MHD_start_daemon. A struct keeps the Swift call readable and lets options grow
 * without changing the function's signature. */
struct rt_mhd_options {
    unsigned int flags;
    /* A socket that is already bound and listening. MHD does not close it after MHD_quiesce_daemon. */
    MHD_socket listen_socket;
    MHD_AccessHandlerCallback handler;
    void *handler_context;
    MHD_RequestCompletedCallback completed;
    void *completed_context;
    rt_mhd_uri_log_callback uri_logger;
    void *uri_logger_context;
    MHD_LogCallback error_logger;
    void *error_logger_context;
    unsigned int thread_pool_size;
    unsigned int connection_timeout_seconds;
    size_t connection_memory_limit;
    unsigned int connection_limit;
    /* 0 means no limit per client address. */
    unsigned int per_ip_connection_limit;
    MHD_NotifyConnectionCallback notify_connection;
    void *notify_connection_context;
};

/* MHD_start_daemon is variadic, which Swift cannot call; this helper passes the options above. The port argument
 * is ignored because MHD uses the listen socket. The error logger comes first so that MHD sends even its start-up
 * messages there. */
static inline struct MHD_Daemon *rt_mhd_start(const struct rt_mhd_options *options) {
    return MHD_start_daemon(options->flags, 0, NULL, NULL, options->handler, options->handler_context,
                            MHD_OPTION_EXTERNAL_LOGGER, options->error_logger, options->error_logger_context,
                            MHD_OPTION_LISTEN_SOCKET, options->listen_socket,
                            MHD_OPTION_NOTIFY_COMPLETED, options->completed, options->completed_context,
                            MHD_OPTION_URI_LOG_CALLBACK, options->uri_logger, options->uri_logger_context,
                            MHD_OPTION_THREAD_POOL_SIZE, options->thread_pool_size,
                            MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout_seconds,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, options->connection_memory_limit,
                            MHD_OPTION_CONNECTION_LIMIT, options->connection_limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, options->per_ip_connection_limit,
                            MHD_OPTION_NOTIFY_CONNECTION, options->notify_connection,
                            options->notify_connection_context,
                            MHD_OPTION_END);
}

/* The socket of a connection, or -1; MHD_get_connection_info is variadic, which Swift cannot call. */
static inline int rt_mhd_connection_socket(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

static inline int rt_mhd_yes(void) { return MHD_YES; }
static inline int rt_mhd_no(void) { return MHD_NO; }
#endif
