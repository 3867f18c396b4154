/* resp_parse.h — incremental RESP2 request parser (multibulk and inline); pure, no I/O. */
#ifndef CONCUR_API_RESP_PARSE_H
#define CONCUR_API_RESP_PARSE_H

#include <stddef.h>

/* A byte string that the holder does not own. Not NUL-terminated; may contain any byte. */
struct resp_str {
    const char *p;
    size_t len;
};

/* Limits applied while parsing, each checked before anything is allocated for the item it
 * bounds. A zero field takes the default below. */
struct resp_parse_limits {
    size_t max_bulk_len;      /* largest "$N" accepted (Redis: proto-max-bulk-len, 512 MiB) */
    size_t max_args;          /* largest argument count of one command */
    size_t max_request_bytes; /* largest encoded size of one command */
    size_t max_inline_len;    /* longest inline line or length header (Redis: 64 KiB) */
};

/* 8 MiB matches the store's maximum entry size; a command carrying a few such values fits
 * within max_request_bytes. */
#define RESP_DEFAULT_MAX_BULK_LEN      ((size_t)8 << 20)
#define RESP_DEFAULT_MAX_ARGS          ((size_t)1 << 18)
#define RESP_DEFAULT_MAX_REQUEST_BYTES ((size_t)32 << 20)
#define RESP_DEFAULT_MAX_INLINE_LEN    ((size_t)64 << 10)

/* resp_parse results besides the negative cc_err codes. */
enum { RESP_PARSE_MORE = 0, RESP_PARSE_DONE = 1 };

/* One argument as stored while the command is incomplete: an offset from the command's first
 * byte, because the caller's buffer may move between calls. Turned into a resp_str on DONE. */
union resp__arg {
    struct {
        size_t off;
        size_t len;
    } at;
    struct resp_str s;
};

/* Parser state for one connection. The fields below `err` are private. */
struct resp_parser {
    struct resp_parse_limits lim;
    /* After RESP_PARSE_DONE: the command's arguments (argc may be 0, see resp_parse). */
    size_t argc;
    const struct resp_str *argv;
    /* After CC_EPROTO: Redis's message without the "ERR " prefix, NUL-terminated. */
    char err[64];

    int kind;       /* 0 = not started, '*' = multibulk, 'i' = inline */
    int done;       /* the last call returned DONE; reset on the next call */
    size_t pos;     /* offset of the next unparsed byte of the current command */
    size_t scan;    /* offset from which to keep searching for a line end */
    size_t left;    /* multibulk: arguments still to read */
    long long bulk; /* multibulk: length of the argument being read, -1 before its header */
    size_t argcap;  /* allocated slots in args */
    union resp__arg *args;
};

/* Initializes p with lim (NULL = all defaults). Allocates nothing. */
void resp_parser_init(struct resp_parser *p, const struct resp_parse_limits *lim);

/* Frees what p allocated; p may be initialized again afterwards. */
void resp_parser_free(struct resp_parser *p);

/* Parses the command that starts at data[0], of which len bytes have arrived.
 *
 * Call it with the same command start and a growing len until it returns something other
 * than RESP_PARSE_MORE; between calls the caller may move the bytes (realloc, compaction) but
 * must keep data[0..len) unchanged. The parser remembers how far it got, so a command that
 * arrives one byte at a time costs linear work.
 *
 * The bytes are mutable because an inline command's quoted arguments are unescaped in place
 * (the unescaped form is never longer).
 *
 * Returns:
 *  RESP_PARSE_MORE  the command is incomplete; nothing was allocated beyond the limits.
 *  RESP_PARSE_DONE  a whole command of *used bytes: p->argc / p->argv point into data and stay
 *                   valid until the next call on p or until data changes. argc == 0 for the
 *                   empty commands Redis skips ("*0", "*-1", a blank inline line): consume
 *                   them and go on.
 *  CC_EPROTO        malformed input or a limit exceeded; p->err holds Redis's text (e.g.
 *                   "Protocol error: invalid bulk length"). Reply "-ERR <text>" and close the
 *                   connection, as redis-server does; p must not be used again except to free.
 *  CC_ENOMEM        allocation failed.
 * Implements the request side of the RESP2 spec (redis.io/docs/reference/protocol-spec) and
 * redis-server 7.0's processMultibulkBuffer/processInlineBuffer, with two deliberate
 * differences: the CRLF after a length header and after bulk data is checked (Redis skips two
 * bytes unseen) and fails with "Protocol error: expected CRLF"; and the size checks do not
 * depend on how the input was split into reads. */
int resp_parse(struct resp_parser *p, char *data, size_t len, size_t *used);

/* Parses s as a signed 64-bit decimal integer exactly as Redis's string2ll does: optional '-',
 * no '+', no spaces, no leading zeros, at most 20 characters. Returns 0 and sets *out, or
 * CC_ENOTNUM. */
int resp_str_to_ll(struct resp_str s, long long *out);

/* Case-insensitive (ASCII) comparison of s with the NUL-terminated word. Returns 1 if equal. */
int resp_str_eq(struct resp_str s, const char *word);

#endif
