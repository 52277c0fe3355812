/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for mstored's definitions file parser (store/mstored/defs.c):
 * the input is written as DIR/mstored.json and loaded; a successful load is
 * saved and loaded again and must give the same counts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "defs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void) {
        rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!dir[0]) {
                strcpy(dir, "/tmp/fuzz-defs.XXXXXX");
                if (!mkdtemp(dir))
                        abort();
                atexit(cleanup);
        }
        char fn[128];
        snprintf(fn, sizeof(fn), "%s/%s", dir, DEFS_FILE);
        FILE *f = fopen(fn, "wb");
        if (!f)
                abort();
        fwrite(data, 1, size, f);
        fclose(f);
        struct defs *d = NULL;
        ErrorSlot err;
        if (defs_load(dir, &d, &err) == 0) {
                size_t sgs = d->n_sgs, mbs = d->n_mailboxes;
                if (defs_save(d, dir) < 0)
                        abort();
                defs_free(d);
                d = NULL;
                if (defs_load(dir, &d, NULL) < 0 || d->n_sgs != sgs || d->n_mailboxes != mbs)
                        abort();
                defs_free(d);
        } else if (d)
                abort(); /* ret untouched on failure */
        unlink(fn);
        return 0;
}
