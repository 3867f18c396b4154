/* redis.c — registers the store-backed Redis commands on a RESP server. */
#include "api/redis/redis_int.h"

int redis_register(struct resp_server *srv, struct member *m)
{
    int rc = redis__register_strings(srv, m);
    if (!rc) rc = redis__register_keys(srv, m);
    if (!rc) rc = redis__register_info(srv, m);
    if (!rc) rc = redis__register_debug(srv, m);
    return rc;
}
