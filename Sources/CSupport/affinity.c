// The CPUs this process may run on (sched_getaffinity), which taskset, cpusets, Docker's
// --cpuset-cpus and Slurm narrow below the CPUs online. In C because CPU_COUNT_S is a macro.
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <stdlib.h>
#include "CSupport.h"

int dydit_affinity_cpu_count(void) {
#if defined(__linux__)
    // Grow the mask until the kernel's fits (EINVAL means it is larger than ours).
    for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
        size_t size = CPU_ALLOC_SIZE(cpus);
        cpu_set_t *set = CPU_ALLOC(cpus);
        if (set == NULL) return 0;
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            int count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count;
        }
        int error = errno;
        CPU_FREE(set);
        if (error != EINVAL) return 0;
    }
#endif
    return 0;
}
