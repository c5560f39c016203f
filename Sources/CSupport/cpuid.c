// CPUID and XGETBV need inline assembly, which Swift cannot express; this is the only C
// in the package besides the system-library shims.
#include "CSupport.h"
// DYDIT_PORTABLE_ONLY (Package.swift, on a non-x86 host or when asked to build as one): no
// feature is reported, so the dispatcher picks the portable kernels only.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(DYDIT_PORTABLE_ONLY)
#define DYDIT_HAS_CPUID 1
#include <cpuid.h>
#endif

int dydit_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
#if defined(DYDIT_HAS_CPUID)
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(leaf, subleaf, &a, &b, &c, &d)) return 0;
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
    return 1;
#else
    (void)leaf; (void)subleaf; out[0] = out[1] = out[2] = out[3] = 0;
    return 0;
#endif
}

uint64_t dydit_xgetbv0(void) {
#if defined(DYDIT_HAS_CPUID)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & (1u << 27))) return 0; // OSXSAVE
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#else
    return 0;
#endif
}
