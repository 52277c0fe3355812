/* SPDX-License-Identifier: MIT */
/*
 * providers/providers.h: the built-in snapshot providers and how lvssd picks
 * one for a path.  Link with providers_dep; include as "providers/providers.h".
 *
 * Thread rules: none of these keep state; call them from one thread at a
 * time per snapshot (lvssd's main thread).
 */
#pragma once

#include <stddef.h>

#include <lvss/sys/provider.h>

#include "lib/core/error-slot.h"

/* Every built-in provider, in order of preference (btrfs first: O(1) and
 * atomic per subvolume; then reflink). */
extern const lvss_provider *const lvss_builtin_providers[];
extern const size_t lvss_builtin_providers_count;

/* Look a provider up by name ("btrfs") or id (UUID string); NULL if none. */
const lvss_provider *lvss_provider_find(const char *name_or_id);

/*
 * Choose the provider for path.  name_or_id NULL = automatic (first provider
 * in preference order that supports it), otherwise only that provider.
 *
 * On success returns 0, *ret_provider (borrowed, static) and
 * ret_volume[LVSS_PROVIDER_PATH_MAX] = the unit to snapshot.
 * Errors, with a one-line reason in the thread's error slot (lib/core):
 *   -ENOENT / -ENOTDIR ...             path does not exist
 *   LVSS_E_PROVIDER_NOT_REGISTERED     no provider of that name
 *   LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER  the named provider cannot
 *   LVSS_E_VOLUME_NOT_SUPPORTED        no provider can (the slot says why, e.g.
 *                                      "'/srv' is on ext4, ...")
 */
int lvss_provider_choose(const char *path, const char *name_or_id,
                         const lvss_provider **ret_provider, char *ret_volume);

/* Number of extents of a file (FIEMAP), for cost estimates and tests. */
int lvss_provider_count_extents(const char *path, unsigned *ret_extents);
