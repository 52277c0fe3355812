/* SPDX-License-Identifier: MIT */
/*
 * lvssd's configuration file (--config): parsing only, no I/O, so it can be
 * fuzzed (tests/fuzz/lvss/fuzz-config.c).  Format in auth.c / lvssd(8).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { ROLE_WRITER = 1, ROLE_REQUESTOR = 2 };

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_LINE 1024
#define CONFIG_MAX_RULES 1024
#define CONFIG_MAX_SCAN_ROOTS 64

typedef struct AccessRule {
        bool is_group;
        char *name;
        int roles;                      /* -1 deny, else ROLE_* bits */
} AccessRule;

typedef struct Config {
        AccessRule *rules;
        size_t n_rules, cap_rules;
        bool have_set_timeout;
        uint64_t set_timeout_usec;
        char **scan_roots;              /* [recovery] scan = PATH (absolute) */
        size_t n_scan_roots, cap_scan_roots;
} Config;

/* Parse text[len] (need not be NUL-terminated).  On failure returns -EINVAL,
 * -E2BIG or -ENOMEM with a one-line reason ("line 3: ...") in the thread's
 * ErrorSlot (lib/core/error-slot.h: error_slot_get(NULL)), and leaves *ret
 * empty. */
int config_parse(const char *text, size_t len, Config *ret);
void config_clear(Config *c);
