/* SPDX-License-Identifier: MIT */
/* providers/choose.c: provider table, lookup and automatic choice by path. */
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "providers/providers.h"
#include "providers/util.h"

const lvss_provider *const lvss_builtin_providers[] = {
        &lvss_provider_btrfs,
        &lvss_provider_reflink,
};
const size_t lvss_builtin_providers_count = ELEMENTSOF(lvss_builtin_providers);

const lvss_provider *lvss_provider_find(const char *name_or_id) {
        if (!name_or_id)
                return NULL;
        for (size_t i = 0; i < lvss_builtin_providers_count; i++) {
                const lvss_provider *p = lvss_builtin_providers[i];
                if (strcmp(p->name, name_or_id) == 0 || strcasecmp(p->id, name_or_id) == 0)
                        return p;
        }
        return NULL;
}

int lvss_provider_choose(const char *path, const char *name_or_id,
                         const lvss_provider **ret_provider, char *ret_volume) {
        char reason[ERROR_SLOT_SIZE] = "";
        char volume[LVSS_PROVIDER_PATH_MAX];
        int r;

        if (!path || path[0] != '/')
                return error_slot_set(NULL, -EINVAL, "'%s': path must be absolute", path ? path : "(null)");
        if (access(path, F_OK) < 0)
                return error_slot_set(NULL, -errno, "'%s': %m", path);

        if (name_or_id) {
                const lvss_provider *p = lvss_provider_find(name_or_id);
                if (!p)
                        return error_slot_set(NULL, LVSS_E_PROVIDER_NOT_REGISTERED, "no provider named '%s'", name_or_id);
                r = p->is_supported(path, volume);
                if (r < 0)
                        return r;   /* the reason is in the thread's slot */
                strcpy(ret_volume, volume);
                *ret_provider = p;
                return 0;
        }

        for (size_t i = 0; i < lvss_builtin_providers_count; i++) {
                const lvss_provider *p = lvss_builtin_providers[i];
                error_slot_clear(NULL);
                r = p->is_supported(path, volume);
                if (r == 0) {
                        strcpy(ret_volume, volume);
                        *ret_provider = p;
                        return 0;
                }
                if (r != LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                        return r;
                /* Keep the most specific reason: the last provider's
                 * (reflink) explains XFS without reflink as well as ext4. */
                memcpy(reason, error_slot_get(NULL), sizeof(reason));
        }
        return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED, "%s", reason);
}

int lvss_provider_count_extents(const char *path, unsigned *ret_extents) {
        struct fiemap fm = { .fm_start = 0, .fm_length = FIEMAP_MAX_OFFSET, .fm_extent_count = 0 };
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        /* fm_extent_count = 0 asks only for the number of extents. */
        if (ioctl(fd, FS_IOC_FIEMAP, &fm) < 0)
                return -errno;
        *ret_extents = fm.fm_mapped_extents;
        return 0;
}
