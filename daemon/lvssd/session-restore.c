/* SPDX-License-Identifier: MIT */
/*
 * A restore session's steps: PreRestore and PostRestore, each after the
 * saved components document's writer instances are mapped to the writers
 * running now.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/lvssd/lvssd.h"
#include "daemon/lvssd/session-int.h"

/* The saved document names the writer instances of the backup; the running
 * instances take their place: same class and same instance name, or the
 * only running instance of the class.  Returns how many selected
 * components have no running writer in *ret_missing (first class id). */
static int remap_instances(Session *s, const char **ret_missing) {
        *ret_missing = NULL;
        for (size_t i = 0; i < s->bcd->n_writers; i++) {
                struct lvss_writer_components *wc = s->bcd->writers[i];
                SessionWriter *match = NULL;
                size_t same_class = 0;
                bool any = false;

                for (size_t j = 0; j < wc->n; j++)
                        any |= wc->comps[j]->selected_for_restore;
                for (size_t j = 0; j < s->n_writers; j++) {
                        SessionWriter *sw = s->writers[j];
                        if (!sw->wm || strcmp(sw->class_id, wc->writer_id) != 0)
                                continue;
                        same_class++;
                        if (strcmp(sw->instance_name, wc->instance_name) == 0)
                                match = sw;
                }
                if (!match && same_class == 1)
                        for (size_t j = 0; j < s->n_writers; j++)
                                if (s->writers[j]->wm && strcmp(s->writers[j]->class_id, wc->writer_id) == 0)
                                        match = s->writers[j];
                if (!match) {
                        if (any && !*ret_missing)
                                *ret_missing = wc->writer_id;
                        continue;
                }
                free(wc->instance_id);
                wc->instance_id = strdup(match->instance_id);
                if (!wc->instance_id)
                        return -ENOMEM;
        }
        return 0;
}

int m_pre_restore(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *missing;
        int r;

        r = load_bcd(s, msg, "PreRestore", error);
        if (r < 0)
                return r;
        if (remap_instances(s, &missing) < 0)
                return bus_error_set(error, -ENOMEM, "out of memory");
        /* Selected components of writers that are not running cannot be restored through them. */
        if (missing)
                return bus_error_set(error, LVSS_E_OBJECT_NOT_FOUND,
                                     "PreRestore: writer %s has components selected for restore but is not running",
                                     missing);
        mark_participants(s);
        return start_step(s, STEP_PRE_RESTORE, msg, true, true, EVENT_TIMEOUT_USEC);
}

int m_post_restore(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        const char *missing;
        int r;

        r = load_bcd(s, msg, "PostRestore", error);
        if (r < 0)
                return r;
        if (remap_instances(s, &missing) < 0)
                return bus_error_set(error, -ENOMEM, "out of memory");
        return start_step(s, STEP_POST_RESTORE, msg, true, false, EVENT_TIMEOUT_USEC);
}
