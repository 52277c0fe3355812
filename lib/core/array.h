/* SPDX-License-Identifier: MIT */
/*
 * Growing arrays: the "double when full" step every dynamic array repeats.
 */
#pragma once

#include <stddef.h>

/* Make room for one more element in *array (n in use, *cap allocated),
 * doubling the allocation, FIRST elements the first time.  0, or -ENOMEM
 * (also when the size would overflow) with *array and *cap unchanged.
 * An array allocated elsewhere at exactly n elements may come with *cap 0:
 * it then grows from n.  Whoever frees the array or empties it resets *cap. */
int array_reserve_one(void **array, size_t *cap, size_t n, size_t elem_size, size_t first);

/* (Elements may be pointers to structs: sizeof *(array) is what is meant.) */
#define ARRAY_RESERVE_ONE(array, cap, n, first) \
        array_reserve_one((void **) &(array), &(cap), (n), sizeof *(array), (first)) /* NOLINT(bugprone-sizeof-expression) */
