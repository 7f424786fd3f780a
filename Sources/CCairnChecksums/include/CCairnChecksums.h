// The CRCs S3 clients send with every part, at the speed of the machine: zlib's CRC-32 and the
// CPU's CRC-32C instruction. Cairn's table-driven Swift code stays the fallback and the reference.
#ifndef CCAIRN_CHECKSUMS_H
#define CCAIRN_CHECKSUMS_H

#include <stddef.h>
#include <stdint.h>

/// zlib's `crc32_z`: the CRC-32 (IEEE) of `count` bytes continuing `crc`, a finished value
/// (0 before the first byte).
uint32_t ccairn_crc32(uint32_t crc, const void *bytes, size_t count);

/// Nonzero when this CPU has a CRC-32C instruction `ccairn_crc32c_update` may use.
int ccairn_crc32c_hardware(void);

/// Advances a pre-inverted CRC-32C register over `count` bytes with the CPU's instruction.
/// Call only when `ccairn_crc32c_hardware()` is nonzero.
uint32_t ccairn_crc32c_update(uint32_t state, const void *bytes, size_t count);

#endif
