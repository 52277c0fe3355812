/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/reuse.c: what lvss-backup create needs from the repository to
 * reuse a previous backup's chunks for ranges it proved unchanged
 * (docs/design/backup.md §8): whether the index still names a blob, and the
 * repository's identity.  The storing itself is repo_backup_add_fd_reuse()
 * (backup.c); deciding what is unchanged is the caller's (lib/repo knows
 * nothing of database pages).
 */
#include "repo-int.h"

bool repo_blob_known(repo *r, const repo_id *id, uint32_t *ret_raw) {
        const index_entry *e = repo_index_find(&r->index, id);
        if (!e)
                return false;
        if (ret_raw)
                *ret_raw = e->raw_length;
        return true;
}

void repo_get_id(const repo *r, repo_id *ret) {
        *ret = r->repo_uuid;
}
