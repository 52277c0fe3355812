/* SPDX-License-Identifier: MIT */
/*
 * io-sim.h: an in-memory implementation of the I/O layer for tests.
 *
 * Files live in memory.  Every pwrite is kept "pending" until the file is
 * synced; io_sim_power_cut() then decides for each pending write whether it
 * reached the disk: all of it, none of it, or a random subset of its 512-byte
 * sectors (a torn write).  Directory operations (create, rename, unlink) and
 * size extensions are durable at once.  Faults: fail the Nth write or sync
 * with an errno, or "lose power" at the Nth write/sync (that call and every
 * later one fail with -EIO until io_sim_power_cut()).  Locks (io->lock)
 * are held per path within one sim: a second lock of a path fails with
 * -EWOULDBLOCK naming this process as the holder.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "io.h"

typedef struct io_sim io_sim;

io_sim *io_sim_new(uint64_t seed);
void io_sim_free(io_sim *sim);
const struct mstore_io *io_sim_io(io_sim *sim);

/* Number of pwrite + sync calls so far. */
uint64_t io_sim_ops(io_sim *sim);

/* Number of injected faults (failed write/sync, full path, power loss)
 * that were returned to a caller so far: tests assert theirs fired.  With
 * ret_path, also the path of the file the last one hit ("" if none). */
uint64_t io_sim_faults_fired(io_sim *sim, char *ret_path, size_t len);

/* The n-th (1-based, counted from now) pwrite / sync fails with -err. */
void io_sim_fail_write(io_sim *sim, uint64_t n, int err);
void io_sim_fail_sync(io_sim *sim, uint64_t n, int err);

/* Creating, allocating or growing a file whose path contains @substr fails
 * with -err (a full disk for new logs, say); NULL clears. */
void io_sim_fail_path(io_sim *sim, const char *substr, int err);

/* Lose power at the n-th pwrite-or-sync from now. */
void io_sim_crash_at(io_sim *sim, uint64_t n);
int io_sim_crashed(io_sim *sim);

/* Reboot: resolve every unsynced write (tear = 0: drop all of them; 1: each
 * kept, dropped or torn at random), clear faults. */
void io_sim_power_cut(io_sim *sim, int tear);

/* Flip one bit of a file's durable content (for corruption tests). */
int io_sim_flip_bit(io_sim *sim, const char *path, uint64_t bit);
