/* SPDX-License-Identifier: MIT */
/* tools/common/requestor.c: the backup half of the requestor sequence (requestor.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "requestor.h"

static const struct {
        const char *name;
        int (*start)(lvss_backup *b, lvss_async **ret_async);
} steps[] = {
        [REQUESTOR_GATHER] = { "gather writer metadata", lvss_backup_gather_writer_metadata },
        [REQUESTOR_PREPARE] = { "prepare for backup", lvss_backup_prepare_for_backup },
        [REQUESTOR_SNAPSHOT] = { "snapshot set", lvss_backup_do_snapshot_set },
        [REQUESTOR_COMPLETE] = { "backup complete", lvss_backup_backup_complete },
};

const char *requestor_step_name(requestor_step s) {
        return (unsigned) s < sizeof steps / sizeof steps[0] ? steps[s].name : "?";
}

int requestor_begin(uint32_t context, lvss_backup_type type, lvss_backup **ret) {
        lvss_backup *b = NULL;
        int r;

        *ret = NULL;
        r = lvss_backup_new(&b);
        if (r < 0)
                return r;
        *ret = b;
        r = lvss_backup_initialize_for_backup(b, NULL);
        if (r >= 0)
                r = lvss_backup_set_context(b, context);
        if (r >= 0)
                r = lvss_backup_set_backup_state(b, 1, 0, type, 0);
        return r;
}

int requestor_run(lvss_backup *b, requestor_step s, requestor_wait_fn wait, bool wait_frees, void *userdata) {
        lvss_async *a = NULL;

        if ((unsigned) s >= sizeof steps / sizeof steps[0])
                return -EINVAL;
        /* The operation is started before wait sees a (an argument list would
         * leave the order of the two unspecified). */
        int r = steps[s].start(b, &a);
        r = wait(b, a, r, steps[s].name, userdata);
        if (!wait_frees)
                lvss_async_free(a);
        return r;
}
