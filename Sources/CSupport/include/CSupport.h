#ifndef DYDIT_CSUPPORT_H
#define DYDIT_CSUPPORT_H
#include <stdint.h>

/// Raw CPUID leaf/subleaf query. Returns 0 when the leaf is not supported.
int dydit_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/// XCR0 (which register states the OS saves); 0 when XGETBV is unavailable.
uint64_t dydit_xgetbv0(void);

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

#endif
