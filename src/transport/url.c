/* url.c — parsing etcd-style peer URLs ("http://host:port") into host and port. */
#include <string.h>
#include <strings.h>

#include "transport/transport.h"
#include "util/err.h"

/* A DNS name or IPv4 literal: letters, digits, '-', '.', '_'. Keeps spaces, '@', '/' and
 * friends (a path, user info) out of what we resolve and log. */
static bool host_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

static bool ipv6_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || (ch >= '0' && ch <= '9') ||
           ch == ':' || ch == '.';
}

int transport_url_parse(const char *url, struct transport_url *out)
{
    memset(out, 0, sizeof(*out));
    if (!url) return CC_EINVAL;
    const char *s = url;
    const char *sep = strstr(s, "://");
    if (sep) {
        size_t slen = (size_t)(sep - s);
        /* Only plain TCP: https (TLS) and unix sockets are not supported. */
        if (!((slen == 4 && strncasecmp(s, "http", 4) == 0) ||
              (slen == 3 && strncasecmp(s, "tcp", 3) == 0)))
            return CC_EINVAL;
        s = sep + 3;
    }
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] == '/') len--; /* "http://h:p/" is how etcd prints URLs */

    const char *host = s;
    size_t hlen;
    const char *rest;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return CC_EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        for (size_t i = 0; i < hlen; i++)
            if (!ipv6_char_ok(host[i])) return CC_EINVAL;
        rest = close + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        if (!colon) return CC_EINVAL;
        hlen = (size_t)(colon - s);
        for (size_t i = 0; i < hlen; i++)
            if (!host_char_ok(host[i])) return CC_EINVAL;
        rest = colon;
    }
    if (hlen == 0 || hlen >= TRANSPORT_HOST_MAX) return CC_EINVAL;
    if ((size_t)(rest - s) >= len || *rest != ':') return CC_EINVAL;
    rest++;
    size_t plen = len - (size_t)(rest - s);
    if (plen == 0 || plen > 5) return CC_EINVAL;
    uint32_t port = 0;
    for (size_t i = 0; i < plen; i++) {
        if (rest[i] < '0' || rest[i] > '9') return CC_EINVAL;
        port = port * 10 + (uint32_t)(rest[i] - '0');
    }
    if (port > 65535) return CC_EINVAL;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (uint16_t)port;
    return 0;
}
