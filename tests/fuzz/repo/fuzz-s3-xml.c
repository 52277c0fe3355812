/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the parser of S3's XML answers (lib/repo/s3-xml.c):
 * ListObjectsV2 pages, InitiateMultipartUpload results, errors.  Inputs
 * must never crash or leak, and an accepted page must respect the limits
 * (docs/design/repository.md §15.1).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        s3_list_page p = {};

        if (s3_xml_parse((const char *) data, size, &p) < 0)
                return 0;
        if (p.n > S3_MAX_KEYS_PER_PAGE || (p.truncated && !p.next_token))
                abort();
        for (size_t i = 0; i < p.n; i++)
                if (!p.keys[i] || strlen(p.keys[i]) > S3_MAX_KEY)
                        abort();
        if ((p.next_token && strlen(p.next_token) > S3_MAX_KEY) || (p.upload_id && strlen(p.upload_id) > S3_MAX_KEY) ||
            (p.error_code && strlen(p.error_code) > 256))
                abort();
        s3_list_page_done(&p);
        return 0;
}
