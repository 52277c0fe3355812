/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the document parser of lvss (lib/lvss/doc.c): every
 * input is tried as a writer metadata document, a writer identity, a
 * backup components document and writer event arguments; whatever parses must serialize and parse again to the same
 * text (round trip), and a parsed BCD must survive a writer-edit merge.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/error-slot.h"
#include "lib/lvss/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(json_t *j) {
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ErrorSlot why;
        struct lvss_writer_metadata *wm, *wm2;
        lvss_bcd *bcd, *bcd2;
        char *text = malloc(size + 1), *a, *b;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        if (lvss_doc_wm_parse(text, &wm, &why) == 0) {
                a = dump(lvss_doc_wm_to_json(wm));
                if (!a || lvss_doc_wm_parse(a, &wm2, &why) != 0)
                        abort();
                b = dump(lvss_doc_wm_to_json(wm2));
                if (!b || strcmp(a, b) != 0)
                        abort();
                for (size_t i = 0; i < wm->n_comps; i++)
                        (void) lvss_doc_wm_find(wm, wm->comps[i].logical_path, wm->comps[i].name);
                free(a);
                free(b);
                lvss_doc_wm_free(wm);
                lvss_doc_wm_free(wm2);
        }
        {
                lvss_doc_identity id;
                if (lvss_doc_identity_parse(text, &id, &why) == 0) {
                        if (!lvss_doc_is_uuid(id.class_id) || !id.name || !id.name[0] || !id.instance_name)
                                abort();
                        lvss_doc_identity_clear(&id);
                }
        }
        {
                lvss_doc_event_args ea, ea2;
                if (lvss_doc_event_args_parse(text, &ea, &why) == 0) {
                        const char *inst = ea.bcd && ea.bcd->n_writers ? ea.bcd->writers[0]->instance_id : "";
                        a = dump(lvss_doc_event_args_to_json(&ea, inst));
                        if (!a || lvss_doc_event_args_parse(a, &ea2, &why) != 0)
                                abort();
                        b = dump(lvss_doc_event_args_to_json(&ea2, inst));
                        if (!b || strcmp(a, b) != 0 || ea2.n_volumes != ea.n_volumes)
                                abort();
                        free(a);
                        free(b);
                        lvss_doc_event_args_clear(&ea);
                        lvss_doc_event_args_clear(&ea2);
                }
        }
        if (lvss_doc_bcd_parse(text, &bcd, &why) == 0) {
                a = dump(lvss_doc_bcd_to_json(bcd));
                if (!a || lvss_doc_bcd_parse(a, &bcd2, &why) != 0)
                        abort();
                b = dump(lvss_doc_bcd_to_json(bcd2));
                if (!b || strcmp(a, b) != 0)
                        abort();
                for (size_t i = 0; i < bcd->n_writers; i++)
                        (void) lvss_doc_bcd_merge_writer(bcd, bcd2, bcd->writers[i]->instance_id,
                                                         LVSS_EDIT_WRITER_BACKUP | LVSS_EDIT_WRITER_RESTORE);
                for (size_t i = 0; i < bcd->n_snaps; i++) {
                        char *p;
                        if (lvss_doc_snapshot_path(&bcd->snaps[i], bcd->snaps[i].original, &p) == 0)
                                free(p);
                }
                free(a);
                free(b);
                lvss_doc_bcd_free(bcd);
                lvss_doc_bcd_free(bcd2);
        }
        free(text);
        return 0;
}
