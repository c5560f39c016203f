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

/// One 32-row block of either product: the operands have the same byte geometry (A tiles 16
/// rows × 64 bytes = 32 bf16 or 64 int8 k per step; B tiles 16 rows × 64 bytes, one k-pair or
/// k-quad of 16 columns per row, so a step moves 1024 bytes along a panel); only the tile
/// instruction differs. `lda`, `panelStride` and `ldc` in bytes.
__attribute__((target("amx-tile,amx-bf16,amx-int8")))
static void dydit_amx_rows32(int int8, int kBlocks, const char *a, long lda, const char *b, long panelStride, int panels,
                             char *c, long ldc) {
#define DYDIT_AMX_DP(t, x, y) do { if (int8) _tile_dpbusd(t, x, y); else _tile_dpbf16ps(t, x, y); } while (0)
    // Every block uses the same configuration, so a thread loads it once and keeps it:
    // `ldtilecfg` cost about a seventh of this function's time when it ran on every call (perf,
    // 512×3072×768 int8), and the tiles are not released at the end, which would undo it (Linux
    // saves the tile state with the thread's other registers).
    static __thread int configured;
    if (!configured) {
        dydit_tilecfg cfg = {0};
        cfg.palette = 1;
        for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
        _tile_loadconfig(&cfg);
        configured = 1;
    }
    for (int p = 0; p + 1 < panels; p += 2) {
        const char *b0 = b + (long)p * panelStride, *b1 = b0 + panelStride;
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (int kb = 0; kb < kBlocks; kb++) {
            _tile_loadd(4, a + kb * 64, lda);
            _tile_loadd(5, a + 16 * lda + kb * 64, lda);
            _tile_loadd(6, b0 + kb * 1024, 64);
            _tile_loadd(7, b1 + kb * 1024, 64);
            DYDIT_AMX_DP(0, 4, 6);
            DYDIT_AMX_DP(1, 4, 7);
            DYDIT_AMX_DP(2, 5, 6);
            DYDIT_AMX_DP(3, 5, 7);
        }
        char *cp = c + p * 64;  // 16 columns of 4-byte sums
        _tile_stored(0, cp, ldc);
        _tile_stored(1, cp + 64, ldc);
        _tile_stored(2, cp + 16 * ldc, ldc);
        _tile_stored(3, cp + 16 * ldc + 64, ldc);
    }
    if (panels % 2 == 1) {
        const char *b0 = b + (long)(panels - 1) * panelStride;
        _tile_zero(0); _tile_zero(2);
        for (int kb = 0; kb < kBlocks; kb++) {
            _tile_loadd(4, a + kb * 64, lda);
            _tile_loadd(5, a + 16 * lda + kb * 64, lda);
            _tile_loadd(6, b0 + kb * 1024, 64);
            DYDIT_AMX_DP(0, 4, 6);
            DYDIT_AMX_DP(2, 5, 6);
        }
        char *cp = c + (panels - 1) * 64;
        _tile_stored(0, cp, ldc);
        _tile_stored(2, cp + 16 * ldc, ldc);
    }
#undef DYDIT_AMX_DP
}

void dydit_amx_bf16_rows32(int kBlocks, const uint32_t *a, long lda, const uint32_t *b, long panelStride, int panels,
                           float *c, long ldc) {
    dydit_amx_rows32(0, kBlocks, (const char *)a, lda * 4, (const char *)b, panelStride * 4, panels, (char *)c, ldc * 4);
}

/// The int8 block: `tdpbusd` (unsigned A bytes, signed B bytes, int32 sums).
void dydit_amx_int8_rows32(int kBlocks, const int8_t *a, long lda, const int8_t *b, long panelStride, int panels,
                           int32_t *c, long ldc) {
    dydit_amx_rows32(1, kBlocks, (const char *)a, lda, (const char *)b, panelStride, panels, (char *)c, ldc * 4);
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
