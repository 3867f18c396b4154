/* sha256.h — SHA-256 (FIPS 180-4), for the checksum etcd appends to Maintenance.Snapshot. */
#ifndef CONCUR_API_ETCD_SHA256_H
#define CONCUR_API_ETCD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t fill; /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
/* Hashes n more bytes (p may be NULL iff n == 0). */
void sha256_update(struct sha256 *s, const void *p, size_t n);
/* Writes the digest; s must be re-initialised before reuse. */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

#endif
