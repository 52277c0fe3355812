/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the mail model's record decoders and the subject parser
 * (store/mstored/mailmodel.c): records come from database pages, messages
 * from the network.  A decoded record re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct mm_message m;
        if (mm_message_decode(data, size, &m) == 0) {
                unsigned char *b;
                size_t bl;
                if (mm_message_encode(&m, (void **) &b, &bl) < 0)
                        abort();
                /* Version 1 records re-encode as version 2 (4 bytes more). */
                if (bl != size + (data[0] == 1 ? 4 : 0) || memcmp(b + 1, data + 1, 27) != 0)
                        abort();
                struct mm_message m2;
                if (mm_message_decode(b, bl, &m2) < 0 || m2.uid != m.uid || m2.flags != m.flags ||
                    strcmp(m2.folder, m.folder) != 0)
                        abort();
                free(b);
        }
        int sub;
        (void) mm_folder_decode(data, size, &sub);
        struct mm_mailbox mb;
        (void) mm_mailbox_decode(data, size, &mb);
        char subject[MM_MAX_SUBJECT + 1];
        mm_parse_subject(data, size, subject);
        if (strlen(subject) > MM_MAX_SUBJECT)
                abort();
        return 0;
}
