/* SPDX-License-Identifier: MIT */
/* snapshot.h: snapshot sessions (JetOSSnapshot counterpart), internal side. */
#pragma once

#include "mstore/mstore.h"

/* Close path: abort any session of the group (thaw first). */
void snapshot_abort_for_close(mstore_sg *sg);
