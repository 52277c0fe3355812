/* SPDX-License-Identifier: MIT */
/*
 * providers-cycle: how does a provider's commit time grow over many backups?
 *
 *   providers-cycle DIR MIB CYCLES WRITES [PROVIDER] [COWEXTSIZE_KIB] [LATE_WRITES]
 *
 * Creates DIR/db.edb (MIB MiB, written sequentially, fsynced), then CYCLES
 * times: snapshot DIR (commit timed), WRITES scattered 4 KiB page writes +
 * fsync into the file (copy-on-write against the snapshot), delete the
 * snapshot.  Prints "cycle extents commit_ms" per cycle.  COWEXTSIZE_KIB sets
 * the XFS copy-on-write extent size hint on the file (0 = filesystem default).
 * LATE_WRITES (default 200) scattered writes land between prepare and commit,
 * as a writer keeps working until Freeze.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>

#include "lib/core/macro.h"
#include "lib/core/time-util.h"
#include "providers/providers.h"

int main(int argc, char **argv) {
        char file[LVSS_PROVIDER_PATH_MAX];
        const lvss_provider *p;
        lvss_provider_snapshot s;
        lvss_provider_snapshot *v[1] = { &s };
        static char block[1 << 20];
        int r;

        if (argc < 5) {
                fprintf(stderr, "usage: providers-cycle DIR MIB CYCLES WRITES [PROVIDER] [COWEXTSIZE_KIB] [LATE_WRITES]\n");
                return 2;
        }
        const char *dir = argv[1];
        long mib = atol(argv[2]), cycles = atol(argv[3]), writes = atol(argv[4]);
        const char *name = argc > 5 ? argv[5] : NULL;
        long cowkib = argc > 6 ? atol(argv[6]) : 0;
        long late = argc > 7 ? atol(argv[7]) : 200;

        snprintf(file, sizeof(file), "%s/db.edb", dir);
        int fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                perror(file);
                return 1;
        }
        if (cowkib > 0) {
                struct fsxattr fa;
                if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) == 0) {
                        fa.fsx_xflags |= FS_XFLAG_COWEXTSIZE;
                        fa.fsx_cowextsize = (unsigned) cowkib * 1024;
                        if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
                                perror("FS_IOC_FSSETXATTR cowextsize");
                }
        }
        memset(block, 0x5a, sizeof(block));
        for (long i = 0; i < mib; i++)
                if (write(fd, block, sizeof(block)) != (ssize_t) sizeof(block)) {
                        perror("write");
                        return 1;
                }
        fsync(fd);
        srand(42);
        for (long c = 1; c <= cycles; c++) {
                memset(&s, 0, sizeof(s));
                s.version = LVSS_PROVIDER_VERSION;
                snprintf(s.snapshot_id, sizeof(s.snapshot_id), "cycle-%ld", c);
                strcpy(s.set_id, "bench");
                if (!realpath(dir, s.original))
                        return 1;
                r = lvss_provider_choose(dir, name, &p, s.volume);
                if (r >= 0)
                        r = p->prepare(&s);
                for (long w = 0; r >= 0 && w < late; w++) {
                        off_t page = (off_t) (rand() % (mib * 256));
                        if (pwrite(fd, block, 4096, page * 4096) != 4096)
                                r = -errno;
                }
                if (r >= 0 && fsync(fd) < 0)
                        r = -errno;
                if (r >= 0)
                        r = p->pre_commit(v, 1);
                uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
                if (r >= 0)
                        r = p->commit(v, 1);
                uint64_t t1 = now_nsec(CLOCK_MONOTONIC);
                if (r >= 0 && p->post_commit)
                        r = p->post_commit(v, 1);
                if (r < 0) {
                        fprintf(stderr, "providers-cycle: %s\n", error_slot_get(NULL));
                        return 1;
                }
                /* Check the snapshot against the file as it was at commit. */
                char snapfile[2 * LVSS_PROVIDER_PATH_MAX], cmd[5 * LVSS_PROVIDER_PATH_MAX];
                snprintf(snapfile, sizeof(snapfile), "%s/db.edb", s.path);
                snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", file, snapfile);
                if (c % 10 == 1 && system(cmd) != 0) {
                        fprintf(stderr, "providers-cycle: cycle %ld: snapshot differs from the file\n", c);
                        return 1;
                }
                unsigned ext = 0;
                (void) lvss_provider_count_extents(file, &ext);
                printf("%ld %u %.3f\n", c, ext, (double) (t1 - t0) / 1e6);
                fflush(stdout);
                for (long w = 0; w < writes; w++) {
                        off_t page = (off_t) (rand() % (mib * 256));
                        if (pwrite(fd, block, 4096, page * 4096) != 4096) {
                                perror("pwrite");
                                return 1;
                        }
                }
                fsync(fd);
                if (p->delete_snapshot(&s) < 0) {
                        fprintf(stderr, "providers-cycle: %s\n", error_slot_get(NULL));
                        return 1;
                }
        }
        close(fd);
        return 0;
}
