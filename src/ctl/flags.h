/* flags.h — command-line flags with spf13/pflag's syntax, as etcdctl (cobra) accepts them. */
#ifndef CONCUR_CTL_FLAGS_H
#define CONCUR_CTL_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flag_kind {
    FLAG_BOOL,     /* bool *: "--x", "--x=true|false" */
    FLAG_STRING,   /* char[cap]: "--x v", "--x=v" */
    FLAG_INT64,    /* int64_t *: strconv.ParseInt(v, 0, 64) */
    FLAG_DURATION, /* int64_t * nanoseconds: time.ParseDuration */
    FLAG_SLICE     /* char[cap]: comma list; a repeated flag appends (pflag StringSlice) */
};

struct flag_def {
    const char *name; /* long name without "--" */
    char shorthand;   /* single letter for "-x", 0 for none */
    enum flag_kind kind;
    void *target;
    size_t cap;    /* FLAG_STRING / FLAG_SLICE: size of the char array */
    bool *changed; /* optional: set when the flag was given */
};

#define FLAG_DEF_BOOL(n, s, t)                                                                     \
    {                                                                                              \
        (n), (s), FLAG_BOOL, (t), 0, NULL                                                          \
    }
#define FLAG_DEF_STR(n, s, t)                                                                      \
    {                                                                                              \
        (n), (s), FLAG_STRING, (t), sizeof(t), NULL                                                \
    }
#define FLAG_DEF_INT64(n, s, t)                                                                    \
    {                                                                                              \
        (n), (s), FLAG_INT64, (t), 0, NULL                                                         \
    }
#define FLAG_DEF_DURATION(n, s, t)                                                                 \
    {                                                                                              \
        (n), (s), FLAG_DURATION, (t), 0, NULL                                                      \
    }

/* Parses argv[0..argc) against defs. Flags may be interleaved with positional arguments;
 * everything after "--" is positional. Positionals are stored (pointers into argv) into pos
 * (room for max_pos), their count in *n_pos and the count before "--" in *at_dash (-1 when
 * there was no "--"). Returns 0, or -1 with pflag's message in err ("unknown flag: --foo",
 * "invalid argument \"x\" for \"--limit\" flag: ..."). Sets *help when -h/--help was given. */
int flags_parse(const struct flag_def *defs, size_t n_defs, int argc, char **argv, char **pos,
                int max_pos, int *n_pos, int *at_dash, bool *help, char *err, size_t errlen);

/* Sets one flag from a string (used for environment variables too). Returns 0 or -1 with a
 * message in err. */
int flags_set(const struct flag_def *d, const char *value, char *err, size_t errlen);

/* Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-1s". Returns 0 or -1. */
int flags_parse_duration(const char *s, int64_t *ns);

/* Go's strconv.ParseInt(s, 0, 64): decimal, 0x hex, 0o/0 octal, 0b binary, '_' separators
 * after a base prefix. Returns 0, -1 (syntax) or -2 (out of range). */
int flags_parse_int64(const char *s, int64_t *out);

/* strconv.ParseInt(s, 10, 64): optional sign and decimal digits only. */
int flags_parse_dec_int64(const char *s, int64_t *out);

/* strconv.ParseInt(s, 16, 64) / ParseUint(s, 16, 64) as etcdctl parses lease and member IDs.
 * Return 0, -1 (syntax) or -2 (range). */
int flags_parse_hex_int64(const char *s, int64_t *out);
int flags_parse_hex_uint64(const char *s, uint64_t *out);

/* Formats the error Go's strconv returns for s ("strconv.ParseInt: parsing \"x\": invalid
 * syntax"); rc is -1 or -2 from the parsers above. */
void flags_strconv_error(const char *fn, const char *s, int rc, char *out, size_t outlen);

#endif
