/* SPDX-License-Identifier: MIT */
/*
 * Test hooks: the one way production code lets a test reach inside it
 * (kill at a chosen point, hold a freeze, weaken the KDF).  A hook reads an
 * environment variable, and only in builds configured with -Dtest_hooks=true
 * (the default for debug/debugoptimized builds, which `make check` uses).
 * In release and plain builds (what packages and `meson install
 * --buildtype=release` ship) TEST_HOOK_ENV() is the constant NULL, the
 * variable's name is not even in the binary, and the compiler removes the
 * hooked code; tests/integration/test-hooks-release.sh checks that.
 */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

#ifndef LVSS_TEST_HOOKS
#error "LVSS_TEST_HOOKS must be defined by the build (meson option test_hooks)"
#endif

#if LVSS_TEST_HOOKS
#define TEST_HOOK_ENV(name) getenv(name)
#else
#define TEST_HOOK_ENV(name) ((const char *) NULL)
#endif

/* True when the hook variable NAME is set to exactly VALUE. */
#define TEST_HOOK_IS(name, value) test_hook_is_(TEST_HOOK_ENV(name), value)

static inline bool test_hook_is_(const char *v, const char *want) {
        if (!v)
                return false;
        for (; *v && *v == *want; v++, want++)
                ;
        return *v == *want;
}
