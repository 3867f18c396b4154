/* pbjson.c — descriptor-driven protobuf-c <-> JSON with grpc-gateway's (jsonpb's) conventions. */
#include "api/gateway/pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define MEMBER(msg, off)  ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* ---- encoding ---- */

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

/* True when the single value at p is the type's default (jsonpb leaves it out). */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !s[0];
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p == 0;
    default:
        if (elem_size(f->type) == 8) return *(const uint64_t *)p == 0;
        return *(const uint32_t *)p == 0;
    }
}

static int encode_msg(const ProtobufCMessage *msg, struct buf *out);

static int encode_value(const ProtobufCFieldDescriptor *f, const void *p, struct buf *out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_put_i64(out, *(const int32_t *)p, false);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_put_u64(out, *(const uint32_t *)p, false);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_put_i64(out, *(const int64_t *)p, true);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_put_u64(out, *(const uint64_t *)p, true);
    case PROTOBUF_C_TYPE_BOOL:
        return json_put_raw(out, *(const protobuf_c_boolean *)p ? "true" : "false");
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev) return json_put_str(out, ev->name, strlen(ev->name));
        return json_put_i64(out, v, false);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s ? json_put_str(out, s, strlen(s)) : json_put_raw(out, "\"\"");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        return json_put_base64(out, bd->data, bd->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? encode_msg(m, out) : json_put_raw(out, "null");
    }
    default:
        return json_put_raw(out, "null"); /* float/double: not in etcd's API */
    }
}

static int encode_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, bool *first,
                        struct buf *out)
{
    const void *p = CMEMBER(msg, f->offset);
    size_t n = 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
        if (n == 0) return 0;
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        /* A set oneof member appears even with its default value, as jsonpb does. */
        if (*(const uint32_t *)CMEMBER(msg, f->quantifier_offset) != f->id) return 0;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
               f->type != PROTOBUF_C_TYPE_STRING) {
        if (!*(const protobuf_c_boolean *)CMEMBER(msg, f->quantifier_offset)) return 0;
    } else if (is_default(f, p)) {
        return 0;
    }
    int rc = json_put_raw(out, *first ? "\"" : ",\"");
    *first = false;
    if (!rc) rc = json_put_raw(out, f->name);
    if (!rc) rc = json_put_raw(out, "\":");
    if (rc) return rc;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) return encode_value(f, p, out);
    const char *arr = *(const char *const *)p;
    size_t sz = elem_size(f->type);
    rc = json_put_raw(out, "[");
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = json_put_raw(out, ",");
        if (!rc) rc = encode_value(f, arr + i * sz, out);
    }
    return rc ? rc : json_put_raw(out, "]");
}

static int encode_msg(const ProtobufCMessage *msg, struct buf *out)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    int rc = json_put_raw(out, "{");
    bool first = true;
    for (unsigned i = 0; i < d->n_fields && !rc; i++)
        rc = encode_field(msg, &d->fields[i], &first, out);
    return rc ? rc : json_put_raw(out, "}");
}

int pbjson_encode(const ProtobufCMessage *msg, struct buf *out)
{
    size_t len = out->len;
    int rc = encode_msg(msg, out);
    if (rc) out->len = len;
    return rc;
}

/* ---- decoding ---- */

struct dec {
    ProtobufCAllocator *al;
    char *err;
    size_t errlen;
};

static const char *json_type_name(const struct json_val *v)
{
    switch (v->type) {
    case JSON_BOOL:
        return "bool";
    case JSON_NUMBER:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    default:
        return "null";
    }
}

static const char *go_type_name(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return "int32";
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return "uint32";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return "int64";
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return "uint64";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "[]uint8";
    case PROTOBUF_C_TYPE_ENUM:
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
    case PROTOBUF_C_TYPE_MESSAGE:
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
    default:
        return "float64";
    }
}

static int mismatch(struct dec *d, const ProtobufCFieldDescriptor *f, const struct json_val *v)
{
    if (v->type == JSON_NUMBER) /* Go quotes a number's literal, not a string's */
        snprintf(d->err, d->errlen, "json: cannot unmarshal number %.*s into Go value of type %s",
                 (int)(v->slen > 64 ? 64 : v->slen), v->s, go_type_name(f));
    else
        snprintf(d->err, d->errlen, "json: cannot unmarshal %s into Go value of type %s",
                 json_type_name(v), go_type_name(f));
    return CC_EINVAL;
}

static int nomem(struct dec *d)
{
    snprintf(d->err, d->errlen, "request too large");
    return CC_ENOMEM;
}

/* An integer from a JSON number or a string holding one (jsonpb accepts both for 64-bit
 * fields and numbers for the rest; we accept both everywhere). */
static int parse_int(struct dec *d, const ProtobufCFieldDescriptor *f, const struct json_val *v,
                     bool is_signed, int64_t lo, uint64_t hi, uint64_t *out)
{
    if (v->type != JSON_NUMBER && v->type != JSON_STRING) return mismatch(d, f, v);
    char t[32];
    if (v->slen == 0 || v->slen >= sizeof(t)) return mismatch(d, f, v);
    memcpy(t, v->s, v->slen);
    t[v->slen] = 0;
    const char *digits = t[0] == '-' ? t + 1 : t;
    if (!digits[0]) return mismatch(d, f, v);
    for (const char *c = digits; *c; c++)
        if (*c < '0' || *c > '9') return mismatch(d, f, v);
    errno = 0;
    if (is_signed) {
        long long x = strtoll(t, NULL, 10);
        if (errno || x < lo || (x > 0 && (uint64_t)x > hi)) return mismatch(d, f, v);
        *out = (uint64_t)x;
    } else {
        if (t[0] == '-') return mismatch(d, f, v);
        unsigned long long x = strtoull(t, NULL, 10);
        if (errno || x > hi) return mismatch(d, f, v);
        *out = x;
    }
    return 0;
}

static char *dup_str(struct dec *d, const char *s, size_t n)
{
    char *p = d->al->alloc(d->al->allocator_data, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static int decode_msg(struct dec *d, const ProtobufCMessageDescriptor *desc,
                      const struct json_val *v, ProtobufCMessage **out);

/* Decodes one value of field f into p (an element of f's C type). */
static int decode_value(struct dec *d, const ProtobufCFieldDescriptor *f, const struct json_val *v,
                        void *p)
{
    uint64_t u;
    int rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        rc = parse_int(d, f, v, true, INT32_MIN, INT32_MAX, &u);
        if (!rc) *(int32_t *)p = (int32_t)(int64_t)u;
        return rc;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        rc = parse_int(d, f, v, false, 0, UINT32_MAX, &u);
        if (!rc) *(uint32_t *)p = (uint32_t)u;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        rc = parse_int(d, f, v, true, INT64_MIN, INT64_MAX, &u);
        if (!rc) *(int64_t *)p = (int64_t)u;
        return rc;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        rc = parse_int(d, f, v, false, 0, UINT64_MAX, &u);
        if (!rc) *(uint64_t *)p = u;
        return rc;
    case PROTOBUF_C_TYPE_BOOL:
        if (v->type != JSON_BOOL) return mismatch(d, f, v);
        *(protobuf_c_boolean *)p = v->b;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        if (v->type == JSON_STRING) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->s);
            if (!ev) {
                snprintf(d->err, d->errlen, "unknown value %.64s for enum %s", v->s,
                         go_type_name(f));
                return CC_EINVAL;
            }
            *(int *)p = ev->value;
            return 0;
        }
        rc = parse_int(d, f, v, true, INT32_MIN, INT32_MAX, &u);
        if (!rc) *(int *)p = (int)(int64_t)u;
        return rc;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (v->type != JSON_STRING) return mismatch(d, f, v);
        char *s = dup_str(d, v->s, v->slen);
        if (!s) return nomem(d);
        *(char **)p = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (v->type != JSON_STRING) return mismatch(d, f, v);
        ProtobufCBinaryData *bd = p;
        if (v->slen == 0) return 0;
        uint8_t *b = d->al->alloc(d->al->allocator_data, json_base64_max(v->slen));
        if (!b) return nomem(d);
        size_t bad = 0;
        long n = json_base64_decode(v->s, v->slen, b, &bad);
        if (n < 0) {
            d->al->free(d->al->allocator_data, b);
            snprintf(d->err, d->errlen, "illegal base64 data at input byte %zu", bad);
            return CC_EINVAL;
        }
        bd->data = b;
        bd->len = (size_t)n;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (v->type != JSON_OBJECT) return mismatch(d, f, v);
        return decode_msg(d, f->descriptor, v, (ProtobufCMessage **)p);
    default:
        return mismatch(d, f, v);
    }
}

/* Frees what one value of field f at p holds (strings, bytes, messages). */
static void free_value(struct dec *d, const ProtobufCFieldDescriptor *f, void *p)
{
    void *ad = d->al->allocator_data;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = *(char **)p;
        if (s && s != f->default_value && s != protobuf_c_empty_string) d->al->free(ad, s);
        *(char **)p = (char *)f->default_value; /* what protobuf-c's free expects */
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *bd = p;
        if (bd->data) d->al->free(ad, bd->data);
        bd->data = NULL;
        bd->len = 0;
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *m = *(ProtobufCMessage **)p;
        if (m) protobuf_c_message_free_unpacked(m, d->al);
        *(ProtobufCMessage **)p = NULL;
    }
}

/* Resets field f of msg (given twice, or another member of its oneof is being set). */
static void clear_field(struct dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    void *p = MEMBER(msg, f->offset);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = MEMBER(msg, f->quantifier_offset);
        char *arr = *(char **)p;
        for (size_t i = 0; i < *n; i++) free_value(d, f, arr + i * elem_size(f->type));
        if (arr) d->al->free(d->al->allocator_data, arr);
        *(char **)p = NULL;
        *n = 0;
        return;
    }
    free_value(d, f, p);
    if (f->type != PROTOBUF_C_TYPE_STRING) memset(p, 0, elem_size(f->type));
}

/* protoc's JSON name: underscores dropped, the letter after each one upper-cased. */
static bool camel_match(const char *proto, const char *key, size_t klen)
{
    size_t k = 0;
    bool up = false;
    for (const char *c = proto; *c; c++) {
        if (*c == '_') {
            up = true;
            continue;
        }
        char want = up && *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
        up = false;
        if (k >= klen || key[k] != want) return false;
        k++;
    }
    return k == klen;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key, size_t klen)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (strlen(f->name) == klen && !memcmp(f->name, key, klen)) return f;
    }
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (camel_match(desc->fields[i].name, key, klen)) return &desc->fields[i];
    return NULL;
}

static int decode_repeated(struct dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                           const struct json_val *v)
{
    if (v->type != JSON_ARRAY) return mismatch(d, f, v);
    clear_field(d, msg, f);
    if (v->n == 0) return 0;
    size_t sz = elem_size(f->type);
    char *arr = d->al->alloc(d->al->allocator_data, v->n * sz);
    if (!arr) return nomem(d);
    memset(arr, 0, v->n * sz);
    *(char **)MEMBER(msg, f->offset) = arr;
    size_t *n = MEMBER(msg, f->quantifier_offset);
    /* Count elements as they are filled so a failure midway frees exactly what was built. */
    /* A null element becomes the type's default (protobuf-c cannot pack NULL elements). */
    static const struct json_val empty_obj = {.type = JSON_OBJECT};
    static const struct json_val empty_str = {.type = JSON_STRING, .s = ""};
    size_t i = 0;
    for (const struct json_val *e = v->first; e; e = e->next, i++) {
        *n = i + 1;
        const struct json_val *x = e;
        if (e->type == JSON_NULL) {
            if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                x = &empty_obj;
            else if (f->type == PROTOBUF_C_TYPE_STRING)
                x = &empty_str;
            else
                continue;
        }
        int rc = decode_value(d, f, x, arr + i * sz);
        if (rc) return rc;
    }
    return 0;
}

static int decode_msg(struct dec *d, const ProtobufCMessageDescriptor *desc,
                      const struct json_val *v, ProtobufCMessage **out)
{
    ProtobufCMessage *msg = d->al->alloc(d->al->allocator_data, desc->sizeof_message);
    if (!msg) return nomem(d);
    protobuf_c_message_init(desc, msg);
    *out = msg; /* from here the caller frees msg on failure */
    for (const struct json_val *e = v->first; e; e = e->next) {
        const ProtobufCFieldDescriptor *f = find_field(desc, e->key, e->klen);
        if (!f || e->type == JSON_NULL) continue;
        int rc;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            rc = decode_repeated(d, msg, f, e);
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t *cs = MEMBER(msg, f->quantifier_offset);
                if (*cs) {
                    const ProtobufCFieldDescriptor *cur =
                        protobuf_c_message_descriptor_get_field(desc, *cs);
                    if (cur) clear_field(d, msg, cur);
                }
                *cs = f->id;
            } else {
                clear_field(d, msg, f);
                if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                    f->type != PROTOBUF_C_TYPE_STRING)
                    *(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
            }
            rc = decode_value(d, f, e, MEMBER(msg, f->offset));
        }
        if (rc) return rc;
    }
    return 0;
}

int pbjson_decode(const ProtobufCMessageDescriptor *desc, const struct json_val *v,
                  ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err, size_t errlen)
{
    struct dec d = {alloc, err, errlen};
    if (errlen) err[0] = 0;
    *out = NULL;
    if (v->type != JSON_OBJECT) {
        snprintf(err, errlen, "json: cannot unmarshal %s into Go value of type %s",
                 json_type_name(v), desc->name);
        return CC_EINVAL;
    }
    ProtobufCMessage *msg = NULL;
    int rc = decode_msg(&d, desc, v, &msg);
    if (rc) {
        if (msg) protobuf_c_message_free_unpacked(msg, alloc);
        return rc;
    }
    *out = msg;
    return 0;
}
