/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for every parser of repository data (lib/repo).  The first
 * byte selects the parser, the rest is the input:
 *   0  pack header (plaintext)            repo_pack_header_parse
 *   1  whole pack file (unencrypted repo) repo_pack_parse + every blob decode
 *   2  index document                     repo_index_parse_check
 *   3  backup record                      repo_record_parse (+ serialize again)
 *   4  manifest path                      repo_path_check
 *   5  config                             repo_config_parse
 *   6  key file                           repo_keyfile_parse
 * Inputs must never crash, leak, or be accepted with out-of-range values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static repo plain = {.encrypted = false};
        size_t count = 0;

        if (size < 1)
                return 0;
        uint8_t sel = data[0];
        data++;
        size--;
        switch (sel % 7) {
        case 0:
                (void) repo_pack_header_parse(data, size, &count);
                break;
        case 1: {
                pack_blob *blobs = NULL;
                if (repo_pack_parse(&plain, data, size, &blobs, &count) == 0) {
                        uint64_t off = 0;
                        for (size_t i = 0; i < count; i++) {
                                uint8_t *out = malloc(blobs[i].raw ? blobs[i].raw : 1);
                                if (!out)
                                        abort();
                                (void) repo_blob_decode(&plain, data + off, blobs[i].stored, blobs[i].flags,
                                                        blobs[i].raw, &blobs[i].id, out);
                                free(out);
                                off += blobs[i].stored;
                        }
                        free(blobs);
                }
                break;
        }
        case 2:
                (void) repo_index_parse_check((const char *) data, size);
                break;
        case 3: {
                repo_record *rec = NULL;
                if (repo_record_parse((const char *) data, size, &rec) == 0) {
                        char *json = NULL;
                        for (size_t i = 0; i < rec->n_files; i++)
                                if (repo_path_check(rec->files[i].path) < 0)
                                        abort();   /* the parser must never accept an escaping path */
                        if (repo_record_to_json(rec, &json) == 0)
                                free(json);
                        repo_record_free(rec);
                }
                break;
        }
        case 4: {
                char *s = strndup((const char *) data, size);
                if (s) {
                        (void) repo_path_check(s);
                        free(s);
                }
                break;
        }
        case 5: {
                repo_config c;
                if (repo_config_parse((const char *) data, size, &c) == 0 &&
                    repo_chunker_params_check(&c.chunker) < 0)
                        abort();   /* accepted parameters must be usable */
                break;
        }
        case 6: {
                repo_keyfile kf;
                (void) repo_keyfile_parse((const char *) data, size, &kf);
                break;
        }
        }
        return 0;
}
