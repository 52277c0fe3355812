/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "array.h"

int array_reserve_one(void **array, size_t *cap, size_t n, size_t elem_size, size_t first) {
        if (n < *cap)
                return 0;
        if (*cap > SIZE_MAX / 2)
                return -ENOMEM;
        size_t nc = *cap ? *cap * 2 : first;
        void *p = reallocarray(*array, nc, elem_size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *cap = nc;
        return 0;
}
