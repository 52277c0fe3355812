/* SPDX-License-Identifier: MIT */
/*
 * names.c: the one formatter and parser of a group's log file names
 * (BASE.log, BASE + 8 hex + .log, BASE.chk, BASEtmp.log, BASEresNNNNN.jrs);
 * see include/mstore/mstore.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mstore/mstore.h"

#define BASE_LEN 3

static int base_valid(const char *b, size_t len) {
        if (len != BASE_LEN)
                return 0;
        for (size_t i = 0; i < len; i++)
                if (!((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9')))
                        return 0;
        return 1;
}

int mstore_log_name(const char *base, uint32_t gen, char buf[MSTORE_LOG_NAME_SIZE]) {
        if (!base || !base_valid(base, strlen(base)))
                return -EINVAL;
        snprintf(buf, MSTORE_LOG_NAME_SIZE, "%s%08X.log", base, gen);
        return 0;
}

static int hex_upper(const char *s, size_t n, uint32_t *ret) {
        uint32_t v = 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return 0;
                v = v * 16 + (uint32_t) d;
        }
        *ret = v;
        return 1;
}

static int digits(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return 0;
        return 1;
}

mstore_log_name_kind mstore_log_name_parse(const char *name, char ret_base[MSTORE_LOG_BASE_SIZE],
                                           uint32_t *ret_gen) {
        size_t l = name ? strlen(name) : 0;
        mstore_log_name_kind k;
        uint32_t gen = 0;

        if (l <= BASE_LEN || !base_valid(name, BASE_LEN))
                return MSTORE_LOG_NAME_NONE;
        const char *rest = name + BASE_LEN;
        if (strcmp(rest, ".log") == 0)
                k = MSTORE_LOG_NAME_CURRENT;
        else if (strcmp(rest, ".chk") == 0)
                k = MSTORE_LOG_NAME_CHECKPOINT;
        else if (strcmp(rest, "tmp.log") == 0)
                k = MSTORE_LOG_NAME_TMP;
        else if (l == BASE_LEN + 8 + 4 && strcmp(rest + 8, ".jrs") == 0 && strncmp(rest, "res", 3) == 0 &&
                 digits(rest + 3, 5))
                k = MSTORE_LOG_NAME_RESERVE;
        else if (l == BASE_LEN + 8 + 4 && strcmp(rest + 8, ".log") == 0 && hex_upper(rest, 8, &gen))
                k = MSTORE_LOG_NAME_CLOSED;
        else
                return MSTORE_LOG_NAME_NONE;
        if (ret_base) {
                memcpy(ret_base, name, BASE_LEN);
                ret_base[BASE_LEN] = '\0';
        }
        if (ret_gen)
                *ret_gen = gen;
        return k;
}
