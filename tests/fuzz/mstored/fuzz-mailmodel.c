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
                void *b;
                size_t bl;
                if (mm_message_encode(&m, &b, &bl) < 0)
                        abort();
                if (bl != size || memcmp(b, data, 28) != 0)
                        abort();
                free(b);
        }
        struct mm_mailbox mb;
        (void) mm_mailbox_decode(data, size, &mb);
        char subject[MM_MAX_SUBJECT + 1];
        mm_parse_subject(data, size, subject);
        if (strlen(subject) > MM_MAX_SUBJECT)
                abort();
        return 0;
}
