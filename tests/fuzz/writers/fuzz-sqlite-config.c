/* SPDX-License-Identifier: MIT */
/* Fuzz target for the SQLite Writer's configuration parser
 * (tools/lvss-writer-sqlite/sqlite-config.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/error-slot.h"
#include "tools/lvss-writer-sqlite/sqlite-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sqlw_config c;

        error_slot_clear(NULL);
        if (sqlw_config_parse((const char *) data, size, &c) == 0) {
                if (c.n_components == 0 || c.n_components > SQLW_MAX_COMPONENTS ||
                    c.freeze_timeout_ms <= c.busy_timeout_ms)
                        abort();
                for (size_t i = 0; i < c.n_components; i++) {
                        if (!c.components[i].name || c.components[i].n_databases == 0 ||
                            c.components[i].n_databases > SQLW_MAX_DATABASES)
                                abort();
                        for (size_t j = 0; j < c.components[i].n_databases; j++)
                                if (c.components[i].databases[j][0] != '/' ||
                                    strlen(c.components[i].databases[j]) > SQLW_MAX_PATH)
                                        abort();
                }
                sqlw_config_clear(&c);
        } else if (c.n_components || c.components || c.host || !error_slot_get(NULL)[0])
                abort(); /* refused: nothing left allocated, and a reason given (in the thread's slot) */
        return 0;
}
