#ifndef DYDIT_CSUPPORT_H
#define DYDIT_CSUPPORT_H
#include <stdbool.h>
#include <stdint.h>

/// Raw CPUID leaf/subleaf query. Returns 0 when the leaf is not supported.
int dydit_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/// XCR0 (which register states the OS saves); 0 when XGETBV is unavailable.
uint64_t dydit_xgetbv0(void);

/// The CPUs in this process's affinity mask (sched_getaffinity); 0 when it cannot be read.
int dydit_affinity_cpu_count(void);

/// Asks Linux for the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM, once per process);
/// 1 when granted. 0 elsewhere.
int dydit_amx_request(void);

/// The AMX bf16 block: `c[32, 16·panels] = a · b`, fp32, overwritten. `a`: 32 rows of bf16
/// pairs (`lda` words apart, `16·kBlocks` pairs each, zero-padded); `b`: `panels` panels of
/// `[16·kBlocks][16]` words (`panelStride` words apart); `ldc` in floats. Only on CPUs where
/// `dydit_amx_request` succeeded.
void dydit_amx_bf16_rows32(int kBlocks, const uint32_t *a, long lda, const uint32_t *b, long panelStride, int panels,
                           float *c, long ldc);

/// The AMX int8 block: `c[32, 16·panels] = a · b` in int32, overwritten. `a`: 32 rows of
/// unsigned bytes (`lda` bytes apart, `64·kBlocks` each, padded); `b`: `panels` panels of
/// `[16·kBlocks][16][4]` signed bytes (`panelStride` bytes apart); `ldc` in int32s.
void dydit_amx_int8_rows32(int kBlocks, const int8_t *a, long lda, const int8_t *b, long panelStride, int panels,
                           int32_t *c, long ldc);

/// A spin-wait hint (PAUSE on x86): lets the sibling hyper-thread run and saves power.
static inline void dydit_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Hint that the cache line at `p` will be written soon (PREFETCHW where the CPU has it).
static inline void dydit_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Hint that the cache line at `p` will be read soon.
static inline void dydit_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

/// fp16 → fp32 widening of packed weight panels, for the ISA builds' micro-kernels (the
/// header is compiled with each importing target's flags; the portable build widens in Swift).
/// One vcvtph2ps per vector, inlined into the caller.
#if defined(__AVX512F__)
#include <immintrin.h>
typedef float dydit_float16v __attribute__((ext_vector_type(16)));
static inline dydit_float16v dydit_widen_half16(const void *p) {
    return (dydit_float16v)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
/// int32 → fp32, one vcvtdq2ps: Swift's SIMD conversion is an outlined generic call that
/// passes the vector in four xmm registers.
typedef int32_t dydit_int16v __attribute__((ext_vector_type(16)));
static inline dydit_float16v dydit_int_to_float16(dydit_int16v v) {
    return (dydit_float16v)_mm512_cvtepi32_ps((__m512i)v);
}
/// The largest lane, by a shuffle tree (Swift's SIMD `max()` compares lane by lane).
static inline float dydit_hmax16(dydit_float16v v) { return _mm512_reduce_max_ps((__m512)v); }
/// The sum of the lanes by a tree of halves (16 → 8 → 4 → 2 → 1): four dependent adds, where
/// Swift's SIMD `sum()` adds the sixteen lanes one after another.
static inline float dydit_hsum16(dydit_float16v v) { return _mm512_reduce_add_ps((__m512)v); }
/// Lanes rounded to the nearest integer, ties to even (vrndscaleps).
static inline dydit_float16v dydit_round16(dydit_float16v v) {
    return (dydit_float16v)_mm512_roundscale_ps((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/// y·2ⁿ for integral n (vscalefps): exact where the result is a normal float.
static inline dydit_float16v dydit_scale_pow2_16(dydit_float16v y, dydit_float16v n) {
    return (dydit_float16v)_mm512_scalef_ps((__m512)y, (__m512)n);
}
/// 1/d from the 14-bit estimate and one Newton step (r + r·(1 − d·r)): within about an ulp,
/// and three cheap instructions where vdivps blocks its port for many cycles. d must be finite.
static inline dydit_float16v dydit_reciprocal16(dydit_float16v d) {
    __m512 r = _mm512_rcp14_ps((__m512)d);
    return (dydit_float16v)_mm512_fmadd_ps(r, _mm512_fnmadd_ps((__m512)d, r, _mm512_set1_ps(1.0f)), r);
}
/// `dst[c][r] = src[r][c]` for a 16 × 16 block of 32-bit words (rows `lds` and `ldd` words
/// apart): unpack 32- and 64-bit halves within 128-bit lanes, then move lanes twice.
static inline void dydit_transpose16x16(const uint32_t *src, long lds, uint32_t *dst, long ldd) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(src + i * lds);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // r[4g + j], lane L: column 4L + j of rows 4g … 4g + 3.
    for (int g = 0; g < 16; g += 4) {
        r[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    // t[j] (rows 0–7) and t[8 + j] (rows 8–15): columns j and j + 8 for j < 4, j and j + 4 …
    for (int h = 0; h < 16; h += 8) {
        for (int j = 0; j < 4; j++) {
            t[h + j] = _mm512_shuffle_i32x4(r[h + j], r[h + 4 + j], 0x88);
            t[h + 4 + j] = _mm512_shuffle_i32x4(r[h + j], r[h + 4 + j], 0xdd);
        }
    }
    for (int j = 0; j < 8; j++) {
        _mm512_storeu_si512(dst + j * ldd, _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88));
        _mm512_storeu_si512(dst + (j + 8) * ldd, _mm512_shuffle_i32x4(t[j], t[8 + j], 0xdd));
    }
}
#endif
#if defined(__AVX512BF16__) && defined(__AVX512F__)
/// acc + Σ pairs a·b, one vdpbf16ps: each 32-bit lane of `a` and `b` holds two bf16 (the lower
/// k first). Swift cannot import the __bf16 vector types of the intrinsic, so it is wrapped
/// here, inlined into the bf16 build's tile (compiled with AVX512_BF16).
static inline dydit_float16v dydit_dpbf16_16(dydit_float16v acc, dydit_int16v a, dydit_int16v b) {
    return (dydit_float16v)_mm512_dpbf16_ps((__m512)acc, (__m512bh)a, (__m512bh)b);
}
/// The 32 floats at `src` as 32 bf16 in order at `dst`, i.e. 16 words of pairs, the lower float
/// in each word's low half: one vcvtne2ps2bf16 (nearest even, a NaN made quiet). The
/// instruction reads denormal inputs as zero, which the scalar definition does not: with a
/// denormal among the 32 this writes nothing and returns false (the caller rounds them in
/// integer lanes). In C because Swift's SIMD compares and `pointwiseMin` compile to lane loops
/// and outlined calls.
static inline bool dydit_bf16_convert32(const float *src, void *dst) {
    __m512i lo = _mm512_loadu_si512(src), hi = _mm512_loadu_si512(src + 16);
    __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), one = _mm512_set1_epi32(1);
    // |x|'s bits minus one is below 0x7FFFFF exactly for denormals (zero wraps around).
    __m512i least = _mm512_min_epu32(_mm512_sub_epi32(_mm512_and_si512(lo, magnitude), one),
                                     _mm512_sub_epi32(_mm512_and_si512(hi, magnitude), one));
    if (_mm512_cmplt_epu32_mask(least, _mm512_set1_epi32(0x7FFFFF))) return false;
    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh((__m512)hi, (__m512)lo));
    return true;
}
#endif
#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
typedef float dydit_float8v __attribute__((ext_vector_type(8)));
static inline dydit_float8v dydit_widen_half8(const void *p) {
    return (dydit_float8v)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
typedef int32_t dydit_int8v __attribute__((ext_vector_type(8)));
static inline dydit_float8v dydit_int_to_float8(dydit_int8v v) {
    return (dydit_float8v)_mm256_cvtepi32_ps((__m256i)v);
}
/// The largest lane, by a shuffle tree (see dydit_hmax16).
static inline float dydit_hmax8(dydit_float8v v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128((__m256)v), _mm256_extractf128_ps((__m256)v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
/// The sum of the lanes by a tree of halves (see dydit_hsum16).
static inline float dydit_hsum8(dydit_float8v v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128((__m256)v), _mm256_extractf128_ps((__m256)v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
/// `dst[c][r] = src[r][c]` for an 8 × 8 block of floats (rows `lds` and `ldd` floats apart):
/// unpack 32-bit, then 64-bit halves within 128-bit lanes, then swap lanes (AVX only).
static inline void dydit_transpose8x8(const float *src, long lds, float *dst, long ldd) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    // r[4g + j], lane L: column 4L + j of rows 4g … 4g + 3.
    for (int g = 0; g < 8; g += 4) {
        r[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
        r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
        _mm256_storeu_ps(dst + (j + 4) * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
}
#if defined(__FMA__)
/// 1/d from the 12-bit estimate and one Newton step (see dydit_reciprocal16). d must be finite.
static inline dydit_float8v dydit_reciprocal8(dydit_float8v d) {
    __m256 r = _mm256_rcp_ps((__m256)d);
    return (dydit_float8v)_mm256_fmadd_ps(r, _mm256_fnmadd_ps((__m256)d, r, _mm256_set1_ps(1.0f)), r);
}
#endif
#endif

#endif
