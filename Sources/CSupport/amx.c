// AMX (Advanced Matrix Extensions) for the bf16 product: the tile instructions are C
// intrinsics over tile registers named by immediates, which Swift cannot express. Compiled
// with per-function target attributes, so this file needs no package flags; the dispatcher
// calls it only when CPUID, XCR0 and Linux (arch_prctl) all grant AMX-BF16.
#include "CSupport.h"
#if defined(__x86_64__) && !defined(DYDIT_PORTABLE_ONLY) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DYDIT_ARCH_REQ_XCOMP_PERM 0x1023
#define DYDIT_XFEATURE_XTILEDATA 18

int dydit_amx_request(void) {
    // Linux gives a process the large tile state only on request (once per process).
    return syscall(SYS_arch_prctl, DYDIT_ARCH_REQ_XCOMP_PERM, DYDIT_XFEATURE_XTILEDATA) == 0;
}

/// The tile configuration (palette 1): tmm0–3 the 2×2 fp32 C tiles (16 rows × 16 columns),
/// tmm4–5 two A tiles (16 rows × 32 bf16), tmm6–7 two B tiles (16 k-pairs × 16 columns).
typedef struct {
    uint8_t palette, start;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} dydit_tilecfg;

__attribute__((target("amx-tile,amx-bf16")))
void dydit_amx_bf16_rows32(int kBlocks, const uint32_t *a, long lda, const uint32_t *b, long panelStride, int panels,
                           float *c, long ldc) {
    dydit_tilecfg cfg = {0};
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
    _tile_loadconfig(&cfg);
    const long sa = lda * 4, sc = ldc * 4;
    for (int p = 0; p + 1 < panels; p += 2) {
        const uint32_t *b0 = b + (long)p * panelStride, *b1 = b0 + panelStride;
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (int kb = 0; kb < kBlocks; kb++) {
            // 16 k-pairs (32 k) per step: A rows are 64 bytes of pairs, B rows one k-pair of 16 columns.
            _tile_loadd(4, a + kb * 16, sa);
            _tile_loadd(5, a + 16 * lda + kb * 16, sa);
            _tile_loadd(6, b0 + kb * 256, 64);
            _tile_loadd(7, b1 + kb * 256, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        float *cp = c + p * 16;
        _tile_stored(0, cp, sc);
        _tile_stored(1, cp + 16, sc);
        _tile_stored(2, cp + 16 * ldc, sc);
        _tile_stored(3, cp + 16 * ldc + 16, sc);
    }
    if (panels % 2 == 1) {
        const uint32_t *b0 = b + (long)(panels - 1) * panelStride;
        _tile_zero(0); _tile_zero(2);
        for (int kb = 0; kb < kBlocks; kb++) {
            _tile_loadd(4, a + kb * 16, sa);
            _tile_loadd(5, a + 16 * lda + kb * 16, sa);
            _tile_loadd(6, b0 + kb * 256, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(2, 5, 6);
        }
        float *cp = c + (panels - 1) * 16;
        _tile_stored(0, cp, sc);
        _tile_stored(2, cp + 16 * ldc, sc);
    }
    _tile_release();
}
/// The int8 block: as the bf16 one with `tdpbusd` (unsigned A bytes, signed B bytes, int32
/// sums): A tiles 16 rows × 64 bytes (64 k), B tiles 16 k-quads × 16 columns × 4 bytes.
__attribute__((target("amx-tile,amx-int8")))
void dydit_amx_int8_rows32(int kBlocks, const int8_t *a, long lda, const int8_t *b, long panelStride, int panels,
                           int32_t *c, long ldc) {
    dydit_tilecfg cfg = {0};
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
    _tile_loadconfig(&cfg);
    const long sc = ldc * 4;
    for (int p = 0; p + 1 < panels; p += 2) {
        const int8_t *b0 = b + (long)p * panelStride, *b1 = b0 + panelStride;
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (int kb = 0; kb < kBlocks; kb++) {
            _tile_loadd(4, a + kb * 64, lda);
            _tile_loadd(5, a + 16 * lda + kb * 64, lda);
            _tile_loadd(6, b0 + kb * 1024, 64);
            _tile_loadd(7, b1 + kb * 1024, 64);
            _tile_dpbusd(0, 4, 6);
            _tile_dpbusd(1, 4, 7);
            _tile_dpbusd(2, 5, 6);
            _tile_dpbusd(3, 5, 7);
        }
        int32_t *cp = c + p * 16;
        _tile_stored(0, cp, sc);
        _tile_stored(1, cp + 16, sc);
        _tile_stored(2, cp + 16 * ldc, sc);
        _tile_stored(3, cp + 16 * ldc + 16, sc);
    }
    if (panels % 2 == 1) {
        const int8_t *b0 = b + (long)(panels - 1) * panelStride;
        _tile_zero(0); _tile_zero(2);
        for (int kb = 0; kb < kBlocks; kb++) {
            _tile_loadd(4, a + kb * 64, lda);
            _tile_loadd(5, a + 16 * lda + kb * 64, lda);
            _tile_loadd(6, b0 + kb * 1024, 64);
            _tile_dpbusd(0, 4, 6);
            _tile_dpbusd(2, 5, 6);
        }
        int32_t *cp = c + (panels - 1) * 16;
        _tile_stored(0, cp, sc);
        _tile_stored(2, cp + 16 * ldc, sc);
    }
    _tile_release();
}
#else
int dydit_amx_request(void) { return 0; }
void dydit_amx_int8_rows32(int kBlocks, const int8_t *a, long lda, const int8_t *b, long panelStride, int panels,
                           int32_t *c, long ldc) {
    (void)kBlocks; (void)a; (void)lda; (void)b; (void)panelStride; (void)panels; (void)c; (void)ldc;
    __builtin_trap();
}
void dydit_amx_bf16_rows32(int kBlocks, const uint32_t *a, long lda, const uint32_t *b, long panelStride, int panels,
                           float *c, long ldc) {
    (void)kBlocks; (void)a; (void)lda; (void)b; (void)panelStride; (void)panels; (void)c; (void)ldc;
    __builtin_trap();
}
#endif
