/* redis.h — the store-backed Redis commands (strings, keys, expiry, INFO) on a member: RESP
 * requests become Raft writes and linearizable reads of the shared MVCC keyspace. */
#ifndef CONCUR_API_REDIS_H
#define CONCUR_API_REDIS_H

#include "api/resp/resp_server.h"

struct member;

/* Registers GET, SET, SETNX, GETSET, DEL, EXISTS, MGET, MSET, INCR, DECR, INCRBY, DECRBY,
 * APPEND, STRLEN, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST, KEYS, SCAN, DBSIZE, TYPE, FLUSHDB,
 * FLUSHALL, INFO and DEBUG DIGEST on srv, served by member m (which must outlive srv). Also
 * installs the per-connection state SCAN needs (through srv's open/close hooks, which must
 * therefore be the ones redis_conn_open/redis_conn_close below). Returns 0 or the first
 * registration error. */
int redis_register(struct resp_server *srv, struct member *m);

/* Connection hooks to put in resp_config.on_open / on_close (hook_arg = the member). */
void redis_conn_open(struct resp_conn *conn, void *arg);
void redis_conn_close(struct resp_conn *conn, void *arg);

#endif
