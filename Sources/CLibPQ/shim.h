#include <postgresql/libpq-fe.h>

/* PQconnectdb(url) with bounds on what libpq leaves unbounded, for every libpq user in the
 * project (the store, the postgres-sink plugin). The defaults come before the URL, which
 * PQconnectdbParams expands in place (expand_dbname), so the URL's own settings win:
 *  - connect_timeout=10: an attempt gives up after 10 s (libpq waits for the kernel's SYN
 *    retries, about two minutes, and forever for a server that accepted but never answers);
 *  - tcp_user_timeout=30000 and keepalives after 30 s idle, every 10 s, 3 probes: a
 *    connection whose server vanished fails within about 30 s (unacknowledged data, or an
 *    idle connection's probes) instead of after the kernel's ~15 minutes of retransmissions.
 * TCP only for the last four: libpq ignores them on a Unix socket.
 * Returns what PQconnectdbParams returns: check PQstatus, PQfinish it in every case. */
static inline PGconn *ds_pq_connect(const char *url) {
    const char *const keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "dbname", NULL};
    const char *const values[] = {"10", "30000", "30", "10", "3", url, NULL};
    return PQconnectdbParams(keys, values, 1);
}
