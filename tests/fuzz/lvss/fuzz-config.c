/* SPDX-License-Identifier: MIT */
/* Fuzz target for lvssd's configuration parser (daemon/lvssd/config.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon/lvssd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c;

        if (config_parse((const char *) data, size, &c) == 0) {
                for (size_t i = 0; i < c.n_rules; i++)
                        if (!c.rules[i].name || (c.rules[i].roles != -1 && (c.rules[i].roles & ~3)))
                                abort();
                config_clear(&c);
        }
        return 0;
}
