/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "array.h"

int array_reserve_one(void **array, size_t *cap, size_t n, size_t elem_size, size_t first) {
        if (n < *cap)
                return 0;
        /* An array built elsewhere at its exact size (cap 0 or below n) grows
         * from n, never shrinks below it. */
        size_t base = *cap > n ? *cap : n;
        if (base > SIZE_MAX / 2)
                return -ENOMEM;
        size_t nc = base ? base * 2 : first;
        if (nc <= n)
                nc = n + 1;
        void *p = reallocarray(*array, nc, elem_size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *cap = nc;
        return 0;
}
