#include "CCairnZstd.h"

#include <dlfcn.h>
#include <pthread.h>

// The layouts and constants of zstd's stable API (zstd.h, since 1.4.0).
typedef struct { const void *src; size_t size; size_t pos; } zstd_in_buffer;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out_buffer;
enum { zstd_c_compression_level = 100, zstd_c_content_size_flag = 200, zstd_c_checksum_flag = 201 };
enum { zstd_e_continue = 0, zstd_e_end = 2 };

static struct {
    void *(*create_cctx)(void);
    size_t (*free_cctx)(void *);
    size_t (*set_parameter)(void *, int, int);
    size_t (*set_pledged_src_size)(void *, unsigned long long);
    size_t (*compress_stream2)(void *, zstd_out_buffer *, zstd_in_buffer *, int);
    unsigned (*is_error)(size_t);
    const char *(*get_error_name)(size_t);
    unsigned long long (*get_frame_content_size)(const void *, size_t);
    size_t (*decompress)(void *, size_t, const void *, size_t);
} zstd;
static int zstd_loaded;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void *bind(void *library, const char *name, int *missing) {
    void *symbol = dlsym(library, name);
    if (!symbol) *missing = 1;
    return symbol;
}

static void load_zstd(void) {
    void *library = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) library = dlopen("libzstd.so", RTLD_NOW | RTLD_LOCAL);
    if (!library) return;
    int missing = 0;
    *(void **)&zstd.create_cctx = bind(library, "ZSTD_createCCtx", &missing);
    *(void **)&zstd.free_cctx = bind(library, "ZSTD_freeCCtx", &missing);
    *(void **)&zstd.set_parameter = bind(library, "ZSTD_CCtx_setParameter", &missing);
    *(void **)&zstd.set_pledged_src_size = bind(library, "ZSTD_CCtx_setPledgedSrcSize", &missing);
    *(void **)&zstd.compress_stream2 = bind(library, "ZSTD_compressStream2", &missing);
    *(void **)&zstd.is_error = bind(library, "ZSTD_isError", &missing);
    *(void **)&zstd.get_error_name = bind(library, "ZSTD_getErrorName", &missing);
    *(void **)&zstd.get_frame_content_size = bind(library, "ZSTD_getFrameContentSize", &missing);
    *(void **)&zstd.decompress = bind(library, "ZSTD_decompress", &missing);
    if (missing) {
        dlclose(library);
        return;
    }
    zstd_loaded = 1;
}

int ccairn_zstd_available(void) {
    pthread_once(&zstd_once, load_zstd);
    return zstd_loaded;
}

void *ccairn_zstd_compressor(unsigned long long content_size, int level) {
    if (!ccairn_zstd_available()) return NULL;
    void *cctx = zstd.create_cctx();
    if (!cctx) return NULL;
    if (zstd.is_error(zstd.set_parameter(cctx, zstd_c_compression_level, level))
        || zstd.is_error(zstd.set_parameter(cctx, zstd_c_content_size_flag, 1))
        || zstd.is_error(zstd.set_parameter(cctx, zstd_c_checksum_flag, 1))
        || zstd.is_error(zstd.set_pledged_src_size(cctx, content_size))) {
        zstd.free_cctx(cctx);
        return NULL;
    }
    return cctx;
}

void ccairn_zstd_free(void *compressor) {
    if (compressor && zstd_loaded) zstd.free_cctx(compressor);
}

int ccairn_zstd_compress(
    void *compressor, const void *in, size_t in_size, size_t *in_pos, void *out, size_t out_size,
    size_t *out_pos, int end, const char **error) {
    zstd_in_buffer input = {in, in_size, *in_pos};
    zstd_out_buffer output = {out, out_size, *out_pos};
    size_t remaining = zstd.compress_stream2(compressor, &output, &input, end ? zstd_e_end : zstd_e_continue);
    *in_pos = input.pos;
    *out_pos = output.pos;
    if (zstd.is_error(remaining)) {
        *error = zstd.get_error_name(remaining);
        return -1;
    }
    return end && remaining == 0 ? 0 : 1;
}

unsigned long long ccairn_zstd_frame_content_size(const void *frame, size_t size) {
    if (!ccairn_zstd_available()) return (unsigned long long)-2;
    return zstd.get_frame_content_size(frame, size);
}

size_t ccairn_zstd_decompress(void *out, size_t out_size, const void *frame, size_t size) {
    if (!ccairn_zstd_available()) return (size_t)-1;
    size_t result = zstd.decompress(out, out_size, frame, size);
    return zstd.is_error(result) ? (size_t)-1 : result;
}
