/* SPDX-License-Identifier: MIT */
/*
 * lvss/lvss.h: umbrella header of liblvss, the Linux Volume Shadow Copy
 * Service client library.  Link with liblvss (meson: lvss_dep).
 *
 *   types.h      enums with the VSS names, ids, lvss_strerror()
 *   error.h      LVSS_E_* codes
 *   async.h      lvss_async     [IVssAsync]
 *   metadata.h   writer metadata document: builder and reader
 *   component.h  backup components document: components
 *   requestor.h  lvss_backup    [IVssBackupComponents]
 *   writer.h     lvss_writer    [CVssWriter]
 *   admin.h      lvss_admin     (lvssadm queries)
 */
#ifndef LVSS_LVSS_H
#define LVSS_LVSS_H

#include <lvss/error.h>
#include <lvss/types.h>
#include <lvss/async.h>
#include <lvss/metadata.h>
#include <lvss/component.h>
#include <lvss/requestor.h>
#include <lvss/writer.h>
#include <lvss/admin.h>

#define LVSS_VERSION_MAJOR 0
#define LVSS_VERSION_MINOR 1

#endif
