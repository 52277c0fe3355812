/* SPDX-License-Identifier: MIT */
/* verify.h: the offline checks over any I/O layer (tests use io-sim). */
#pragma once

#include "io.h"
#include "mstore/mstore.h"

int verify_file_io(const struct mstore_io *io, const char *path, mstore_verify_cb cb, void *ud,
                   mstore_verify_result *ret, mstore_page_sum **ret_sums, uint64_t *ret_n);
int verify_logs_io(const struct mstore_io *io, const char *dir, const char *base, mstore_verify_cb cb, void *ud,
                   mstore_verify_result *ret);
