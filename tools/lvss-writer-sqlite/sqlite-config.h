/* SPDX-License-Identifier: MIT */
/*
 * sqlite-config.h: the SQLite Writer's configuration (JSON).
 *
 *   {
 *     "host": "db1",                  optional; default: gethostname()
 *     "busy_timeout_ms": 5000,        optional; how long Freeze waits for
 *                                     the write locks (100..600000)
 *     "freeze_timeout_ms": 30000,     optional; declared Freeze->Thaw limit,
 *                                     greater than busy_timeout_ms
 *     "components": [
 *       { "name": "bank", "databases": ["/srv/app/a.db", "/srv/app/b.db"] }
 *     ]
 *   }
 *
 * Limits (anything beyond is refused with a one-line reason): the file at
 * most SQLW_MAX_BYTES, SQLW_MAX_COMPONENTS components, SQLW_MAX_DATABASES
 * databases per component, names 1..SQLW_MAX_NAME bytes of [A-Za-z0-9._-]
 * (not starting with '.'), paths absolute, normalised (no "//", "/./",
 * "/../", no trailing '/'), at most SQLW_MAX_PATH bytes, no control
 * characters; a database belongs to one component only; unknown keys are
 * refused (a typo must not silently drop a database from backups).
 */
#ifndef LVSS_SQLITE_CONFIG_H
#define LVSS_SQLITE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SQLW_MAX_BYTES (64u * 1024u)
#define SQLW_MAX_COMPONENTS 64u
#define SQLW_MAX_DATABASES 64u
#define SQLW_MAX_NAME 128u
#define SQLW_MAX_PATH 1024u
#define SQLW_DEFAULT_BUSY_MS 5000u
#define SQLW_DEFAULT_FREEZE_MS 30000u

typedef struct sqlw_component {
        char *name;
        size_t n_databases;
        char **databases;       /* absolute paths, in configuration order */
} sqlw_component;

typedef struct sqlw_config {
        char *host;             /* NULL: the caller uses gethostname() */
        uint32_t busy_timeout_ms;
        uint32_t freeze_timeout_ms;
        size_t n_components;
        sqlw_component *components;
} sqlw_config;

/* Parse text[0..size) into *ret (zeroed first).  On error returns -EINVAL
 * (or -ENOMEM) with a one-line reason in the thread's ErrorSlot
 * (lib/core/error-slot.h, error_slot_get(NULL)) and *ret left empty. */
int sqlw_config_parse(const char *text, size_t size, sqlw_config *ret);
/* Read and parse a file (at most SQLW_MAX_BYTES); the reason as above. */
int sqlw_config_load(const char *path, sqlw_config *ret);
void sqlw_config_clear(sqlw_config *c);

#endif
