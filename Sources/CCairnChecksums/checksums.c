#include "CCairnChecksums.h"

#include <string.h>
#include <zlib.h>

uint32_t ccairn_crc32(uint32_t crc, const void *bytes, size_t count) {
    return (uint32_t)crc32_z(crc, (const Bytef *)bytes, count);
}

#if defined(__x86_64__)
#include <nmmintrin.h>

int ccairn_crc32c_hardware(void) { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t ccairn_crc32c_update(uint32_t state, const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    uint64_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = _mm_crc32_u64(crc, word);
        p += 8;
        count -= 8;
    }
    uint32_t crc32 = (uint32_t)crc;
    while (count > 0) {
        crc32 = _mm_crc32_u8(crc32, *p++);
        count -= 1;
    }
    return crc32;
}
#else
// No instruction used here: callers take the Swift tables instead. This bitwise form keeps
// the function correct if it is called anyway.
int ccairn_crc32c_hardware(void) { return 0; }

uint32_t ccairn_crc32c_update(uint32_t state, const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    while (count-- > 0) {
        state ^= *p++;
        for (int bit = 0; bit < 8; bit++) state = (state >> 1) ^ (0x82F63B78u & (0u - (state & 1u)));
    }
    return state;
}
#endif
