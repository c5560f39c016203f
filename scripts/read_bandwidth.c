// How fast one thread streams a buffer the size of DiT-S/2's stacked adaLN weights
// (28416 × 384 floats, 43.6 MB) from memory: the ceiling a product of one or two rows against
// those weights can reach (BENCHMARKS.md, "adaLN at batch 2"). Four AVX2 accumulators of
// aligned loads, best of 30 passes. Tooling only; not part of the package.
//
//   cc -O2 -mavx2 scripts/read_bandwidth.c -o /tmp/read_bandwidth && /tmp/read_bandwidth
//   # two at once, one per core: taskset -c 0 /tmp/read_bandwidth & taskset -c 1 /tmp/read_bandwidth; wait
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    size_t n = (size_t)28416 * 384;
    float *a = aligned_alloc(64, n * sizeof(float));
    if (!a) return 1;
    for (size_t i = 0; i < n; i++) a[i] = i * 1e-7f;
    double best = 1e9;
    float sink = 0;
    for (int r = 0; r < 30; r++) {
        double t = now();
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t i = 0; i < n; i += 32) {
            s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
            s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
            s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
            s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
        }
        float o[8];
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        sink += o[0];   // keeps the loop alive
        double dt = now() - t;
        if (dt < best) best = dt;
    }
    printf("read %.1f MB: best %.3f ms, %.1f GB/s (%g)\n", n * 4 / 1e6, best * 1e3, n * 4 / best / 1e9, sink);
    free(a);
    return 0;
}
