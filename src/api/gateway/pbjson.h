/* pbjson.h — protobuf-c messages to and from JSON as etcd 3.4's grpc-gateway does it
 * (golang/protobuf jsonpb with OrigName: true, EmitDefaults: false), driven by descriptors so
 * every etcd message works without per-message code. */
#ifndef CONCUR_API_GATEWAY_PBJSON_H
#define CONCUR_API_GATEWAY_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "api/gateway/json.h"
#include "util/buf.h"

/*
 * Output: field names are the .proto names ("create_revision", "ID", "dbSize"); fields with
 * their default value (0, false, "", empty bytes, empty repeated, unset message) are left out,
 * except members of a set oneof, which always appear; 64-bit integers are quoted strings,
 * 32-bit ones numbers; bytes are standard base64; enums are their value names (the number when
 * a value has no name). Field order is the descriptor's (field-number) order.
 *
 * Input: a JSON object; members are matched by .proto name or by the lowerCamelCase JSON name
 * ("createRevision"); unknown members and null values are ignored (grpc-gateway's
 * AllowUnknownFields); integers are accepted as numbers or strings; enums as names or numbers;
 * bytes as standard or URL-safe base64 with optional padding.
 */

/* Appends msg as JSON to out. Returns 0, CC_ETOOBIG (out's limit) or CC_ENOMEM. */
int pbjson_encode(const ProtobufCMessage *msg, struct buf *out);

/* Builds a desc message from the JSON value v, allocating everything (the message, strings,
 * bytes, arrays, sub-messages) from alloc so that protobuf_c_message_free_unpacked(msg, alloc)
 * frees it, also after a failure. Returns 0 and *out, CC_EINVAL with a reason in err (errlen
 * bytes, e.g. "illegal base64 data at input byte 3", "json: cannot unmarshal string into Go
 * value of type bool"), or CC_ENOMEM when alloc refuses. */
int pbjson_decode(const ProtobufCMessageDescriptor *desc, const struct json_val *v,
                  ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err, size_t errlen);

#endif
