/* txn_parse.h — etcdctl's line syntax: argify() word splitting, Go-quoted strings, and txn
 * compare expressions such as `mod("key") > "5"`. Pure functions, unit-tested. */
#ifndef CONCUR_CTL_TXN_PARSE_H
#define CONCUR_CTL_TXN_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "etcdserverpb/rpc.pb-c.h"

/* Trims ASCII white space at both ends, in place; returns the start. */
char *txn_trim_space(char *s);

/* Splits line in place into words like etcdctl's argify: runs of non-space characters,
 * "double-quoted" strings with Go escapes (unquoted), and 'single-quoted' strings. Unterminated
 * quotes are skipped over. Returns the number of words stored in argv (at most max), or -1
 * when a double-quoted word is not a valid Go string literal (etcdctl exits with status 3). */
int txn_argify(char *line, char **argv, int max);

/* Go's strconv.Unquote of a "..." or `...` literal at s (len bytes, quotes included) into out
 * (room for len bytes). Returns the decoded length, or -1 on a syntax error. */
long txn_go_unquote(const char *s, size_t len, char *out);

/* One parsed compare; key and value are heap copies. */
struct txn_cmp {
    Etcdserverpb__Compare__CompareTarget target;
    Etcdserverpb__Compare__CompareResult result;
    char *key;
    size_t key_len;
    char *value; /* VALUE target */
    size_t value_len;
    int64_t num; /* VERSION, CREATE, MOD, LEASE targets */
};

/* Parses a compare line (already trimmed): <target>("<key>") <op> "<value>" with target
 * ver|version|c|create|m|mod|val|value|lease and op = != < >. Returns 0, or -1 with
 * etcdctl's message in err ("malformed comparison: ...", "invalid txn compare request: ...").
 * The lease value is a hexadecimal lease ID, as everywhere else in etcdctl. */
int txn_parse_compare(const char *line, struct txn_cmp *out, char *err, size_t errlen);

/* Fills a protobuf Compare pointing into c (c must outlive it). */
void txn_cmp_to_pb(const struct txn_cmp *c, Etcdserverpb__Compare *pb);

void txn_cmp_free(struct txn_cmp *c);

#endif
