/* crc32c.h — CRC-32C (Castagnoli), hardware-accelerated with SSE4.2 where the CPU has it. */
#ifndef CONCUR_UTIL_CRC32C_H
#define CONCUR_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes at data and returns the new CRC.
 * crc32c_extend(crc32c_extend(0, a), b) == crc32c_extend(0, a||b). data may be NULL iff len == 0.
 */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* Same result computed with the portable table path (for tests that compare both paths). */
uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len);

/* 1 when the hardware path is in use on this CPU. */
int crc32c_hw_available(void);

#endif
