// Zstandard compression through the system's libzstd, loaded when first asked for. Debian ships
// the library with every system (apt needs it) but its headers only in libzstd-dev, so the few
// functions of its stable API used here are bound by name at run time. Without the library,
// `ccairn_zstd_available` is 0 and callers answer that zstd is not available.
#ifndef CCAIRN_ZSTD_H
#define CCAIRN_ZSTD_H

#include <stddef.h>

/// Nonzero when libzstd was found and has every function used here.
int ccairn_zstd_available(void);

/// A compression context for one frame whose content is exactly `content_size` bytes (recorded
/// in the frame header), at `level`; NULL when zstd is unavailable or refuses the settings.
void *ccairn_zstd_compressor(unsigned long long content_size, int level);

void ccairn_zstd_free(void *compressor);

/// Compresses input from `*in_pos` up to `in_size` into output from `*out_pos` up to `out_size`,
/// advancing both positions. With `end` nonzero, ends the frame once all input is taken.
/// Returns 0 when the frame is complete (only with `end`), 1 when more calls are needed (more
/// input, or room for more output), -1 on an error whose name goes to `*error`.
int ccairn_zstd_compress(
    void *compressor, const void *in, size_t in_size, size_t *in_pos, void *out, size_t out_size,
    size_t *out_pos, int end, const char **error);

/// For tests: the content size a frame's header records (`(unsigned long long)-1` when unknown,
/// `-2` on an error), and a one-shot decompression into `out` (its size, or `(size_t)-1`).
unsigned long long ccairn_zstd_frame_content_size(const void *frame, size_t size);
size_t ccairn_zstd_decompress(void *out, size_t out_size, const void *frame, size_t size);

#endif
