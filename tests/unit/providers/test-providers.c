/* SPDX-License-Identifier: MIT */
/*
 * Provider unit tests.  Two groups, chosen by the first argument:
 *   basic  cases that need no root (test "providers-basic");
 *   fs     cases on real filesystems (test "providers"): the driver script
 *          (run-providers-test.sh) mounts scratch XFS (reflink=1 and
 *          reflink=0) and btrfs loop filesystems and passes them in
 *          LVSS_TEST_XFS, LVSS_TEST_XFS_NOREFLINK and LVSS_TEST_BTRFS.  A
 *          case whose filesystem is not given is skipped, and then the
 *          binary exits 77 (skipped), not 0.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <cmocka.h>

#include "lib/core/macro.h"
#include "providers/providers.h"

/* A filesystem case without its filesystem is skipped, and counted: any
 * skip makes the binary exit 77, so Meson reports it as skipped. */
static int skipped;
#define NEED(var) do { if (!(var)) { skipped++; skip(); } } while (0)

static void fmt(char *buf, size_t n, const char *f, ...) _printf_(3, 4);
static void fmt(char *buf, size_t n, const char *f, ...) {
        va_list ap;
        va_start(ap, f);
        int k = vsnprintf(buf, n, f, ap);
        va_end(ap);
        assert_true(k > 0 && (size_t) k < n);
}

static void write_file(const char *path, const char *content, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        size_t n = strlen(content);
        assert_int_equal(write(fd, content, n), (ssize_t) n);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void write_big(const char *path, size_t bytes) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char block[65536];
        assert_true(fd >= 0);
        for (size_t off = 0; off < bytes; off += sizeof(block)) {
                for (size_t i = 0; i < sizeof(block); i++)
                        block[i] = (char) ((off + i) * 31 / 7);
                assert_int_equal(write(fd, block, sizeof(block)), (ssize_t) sizeof(block));
        }
        close(fd);
}

static bool same_content(const char *a, const char *b) {
        char cmd[2 * LVSS_PROVIDER_PATH_MAX + 32];
        fmt(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
        return system(cmd) == 0;
}

static void read_file(const char *path, char *buf, size_t n) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        ssize_t k = read(fd, buf, n - 1);
        assert_true(k >= 0);
        buf[k] = 0;
        close(fd);
}

static void create_subvolume(const char *path) {
        char cmd[LVSS_PROVIDER_PATH_MAX + 128];
        fmt(cmd, sizeof(cmd), "btrfs -q subvolume create '%s' >/dev/null", path);
        assert_int_equal(system(cmd), 0);
}

/* Prepare, pre-commit, commit and post-commit one snapshot, as lvssd does. */
static void take(const lvss_provider *p, lvss_provider_snapshot *s, const char *id, const char *original) {
        lvss_provider_snapshot *v[1] = { s };
        const lvss_provider *chosen;

        memset(s, 0, sizeof(*s));
        s->version = LVSS_PROVIDER_VERSION;
        strcpy(s->snapshot_id, id);
        strcpy(s->set_id, "set-1");
        assert_non_null(realpath(original, s->original));
        int r = lvss_provider_choose(original, p->name, &chosen, s->volume);
        if (r < 0)
                fail_msg("choose %s: %s", original, error_slot_get(NULL));
        assert_ptr_equal(chosen, p);
        r = p->prepare(s);
        if (r < 0)
                fail_msg("prepare %s: %s", original, error_slot_get(NULL));
        assert_int_equal(p->pre_commit(v, 1), 0);
        r = p->commit(v, 1);
        if (r < 0)
                fail_msg("commit %s: %s", original, error_slot_get(NULL));
        if (p->post_commit)
                assert_int_equal(p->post_commit(v, 1), 0);
}

/* ---- no root needed ---- */

static void test_choose_errors(void **state) {
        char vol[LVSS_PROVIDER_PATH_MAX];
        const lvss_provider *p = NULL;
        struct statfs sfs;

        assert_int_equal(lvss_provider_choose("relative/path", NULL, &p, vol), -EINVAL);
        assert_int_equal(lvss_provider_choose("/nonexistent/lvss/x", NULL, &p, vol), -ENOENT);
        assert_int_equal(lvss_provider_choose("/", "nosuch", &p, vol), LVSS_E_PROVIDER_NOT_REGISTERED);
        assert_non_null(strstr(error_slot_get(NULL), "nosuch"));
        assert_ptr_equal(lvss_provider_find("btrfs"), &lvss_provider_btrfs);
        assert_ptr_equal(lvss_provider_find(lvss_provider_reflink.id), &lvss_provider_reflink);
        assert_null(lvss_provider_find("zfs"));

        /* /proc and tmpfs can never be snapshotted. */
        assert_int_equal(lvss_provider_choose("/proc/self", NULL, &p, vol), LVSS_E_VOLUME_NOT_SUPPORTED);
        assert_non_null(strstr(error_slot_get(NULL), "proc"));
        if (statfs("/dev/shm", &sfs) == 0 && sfs.f_type == 0x01021994) {
                assert_int_equal(lvss_provider_choose("/dev/shm", NULL, &p, vol), LVSS_E_VOLUME_NOT_SUPPORTED);
                assert_non_null(strstr(error_slot_get(NULL), "tmpfs"));
                assert_int_equal(lvss_provider_choose("/dev/shm", "btrfs", &p, vol),
                                 LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
                assert_non_null(strstr(error_slot_get(NULL), "not btrfs"));
        }
}

static void test_bad_ids_and_priv(void **state) {
        lvss_provider_snapshot s = { .version = LVSS_PROVIDER_VERSION };

        strcpy(s.original, "/");
        strcpy(s.volume, "/");
        const char *bad[] = { "", "../x", "a/b", ".hidden", "x y",
                              "a.b" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                strcpy(s.snapshot_id, bad[i]);
                assert_int_equal(lvss_provider_btrfs.prepare(&s), -EINVAL);
                assert_int_equal(lvss_provider_reflink.prepare(&s), -EINVAL);
        }

        /* delete must refuse provider data that does not name a snapshot in
         * an area: a damaged registry must not remove anything else. */
        strcpy(s.snapshot_id, "snap1");
        const char *bad_priv[] = { "/etc", "/tmp/.lvss-snapshots/other", "/tmp/x/snap1", "relative/.lvss-snapshots/snap1", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad_priv); i++) {
                strcpy(s.priv, bad_priv[i]);
                assert_int_equal(lvss_provider_btrfs.delete_snapshot(&s), -EINVAL);
                assert_int_equal(lvss_provider_reflink.delete_snapshot(&s), -EINVAL);
        }
        /* Abort of a never-prepared snapshot is a no-op. */
        s.priv[0] = 0;
        assert_int_equal(lvss_provider_btrfs.abort(&s), 0);
        assert_int_equal(lvss_provider_reflink.abort(&s), 0);
}

/* ---- btrfs ---- */

static void test_btrfs_snapshot(void **state) {
        const char *mnt = getenv("LVSS_TEST_BTRFS");
        char sv[512], dir[600], f[700], g[LVSS_PROVIDER_PATH_MAX + 16], buf[64];
        char vol[LVSS_PROVIDER_PATH_MAX];
        const lvss_provider *p;
        lvss_provider_snapshot s, copy;
        struct stat st;

        NEED(mnt);
        fmt(sv, sizeof(sv), "%s/sv", mnt);
        create_subvolume(sv);
        fmt(dir, sizeof(dir), "%s/data", sv);
        assert_int_equal(mkdir(dir, 0750), 0);
        fmt(f, sizeof(f), "%s/file", dir);
        write_file(f, "before", 0640);

        /* Automatic choice prefers btrfs; the unit is the subvolume. */
        assert_int_equal(lvss_provider_choose(dir, NULL, &p, vol), 0);
        assert_ptr_equal(p, &lvss_provider_btrfs);
        assert_string_equal(vol, sv);

        take(&lvss_provider_btrfs, &s, "snap-b1", dir);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/snap-b1/data", sv);
        assert_string_equal(s.path, g);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/snap-b1", sv);
        assert_string_equal(s.priv, g);

        write_file(f, "after", 0640);
        fmt(g, sizeof(g), "%s/file", s.path);
        read_file(g, buf, sizeof(buf));
        assert_string_equal(buf, "before");
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        /* Read-only: writing into the snapshot fails. */
        assert_int_equal(open(g, O_WRONLY), -1);
        assert_int_equal(errno, EROFS);

        /* A snapshot of the snapshot area is refused. */
        assert_int_equal(lvss_provider_choose(s.path, NULL, &p, vol), LVSS_E_VOLUME_NOT_SUPPORTED);
        assert_non_null(strstr(error_slot_get(NULL), "snapshot area"));

        /* Delete from registry data only (as after an lvssd restart). */
        memset(&copy, 0, sizeof(copy));
        strcpy(copy.snapshot_id, s.snapshot_id);
        strcpy(copy.priv, s.priv);
        assert_int_equal(lvss_provider_btrfs.delete_snapshot(&copy), 0);
        assert_int_equal(stat(s.priv, &st), -1);
        assert_int_equal(lvss_provider_btrfs.delete_snapshot(&copy), 0); /* idempotent */

        /* Abort after commit removes the snapshot; abort after prepare is fine. */
        take(&lvss_provider_btrfs, &s, "snap-b2", dir);
        assert_int_equal(stat(s.priv, &st), 0);
        assert_int_equal(lvss_provider_btrfs.abort(&s), 0);
        assert_int_equal(stat(s.priv, &st), -1);
        assert_int_equal(lvss_provider_btrfs.prepare(&s), 0);
        assert_int_equal(lvss_provider_btrfs.abort(&s), 0);

        /* Same id twice is refused at prepare. */
        take(&lvss_provider_btrfs, &s, "snap-b3", dir);
        assert_int_equal(lvss_provider_btrfs.prepare(&s), LVSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(lvss_provider_btrfs.delete_snapshot(&s), 0);
}

static void test_reflink_on_btrfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_BTRFS");
        char dir[600], f[700], g[LVSS_PROVIDER_PATH_MAX + 16];
        lvss_provider_snapshot s;
        struct stat st;

        NEED(mnt);
        fmt(dir, sizeof(dir), "%s/rdir", mnt);
        assert_int_equal(mkdir(dir, 0755), 0);
        fmt(f, sizeof(f), "%s/big", dir);
        write_big(f, 4 << 20);
        take(&lvss_provider_reflink, &s, "snap-r1", dir);
        fmt(g, sizeof(g), "%s/big", s.path);
        assert_true(same_content(f, g));
        assert_int_equal(lvss_provider_reflink.delete_snapshot(&s), 0);
        assert_int_equal(stat(s.priv, &st), -1);
}

/* scan (registry recovery): each provider reports what it made, nothing else. */
struct scanned {
        lvss_provider_snapshot snap[8];
        int complete[8];
        size_t n;
};

static int on_found(const lvss_provider_snapshot *snap, int complete, void *userdata) {
        struct scanned *sc = userdata;

        assert_true(sc->n < 8);
        sc->snap[sc->n] = *snap;
        sc->complete[sc->n++] = complete;
        return 0;
}

static void test_scan_btrfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_BTRFS");
        char sv[512], dir[600], g[LVSS_PROVIDER_PATH_MAX + 16];
        lvss_provider_snapshot b, r;
        struct scanned sc = {};
        struct stat st;

        if (!mnt)
                skip();
        fmt(sv, sizeof(sv), "%s/scan-sv", mnt);
        create_subvolume(sv);
        fmt(dir, sizeof(dir), "%s/data", sv);
        assert_int_equal(mkdir(dir, 0755), 0);
        fmt(g, sizeof(g), "%s/f", dir);
        write_file(g, "x", 0644);
        take(&lvss_provider_btrfs, &b, "scan-b1", dir);
        take(&lvss_provider_reflink, &r, "scan-r1", dir);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.scan-r2.partial", sv);
        assert_int_equal(mkdir(g, 0755), 0);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/not a snapshot", sv);
        assert_int_equal(mkdir(g, 0755), 0);

        /* btrfs: the subvolume snapshot only. */
        assert_int_equal(lvss_provider_btrfs.scan(sv, on_found, &sc), 0);
        assert_int_equal(sc.n, 1);
        assert_string_equal(sc.snap[0].snapshot_id, "scan-b1");
        assert_string_equal(sc.snap[0].priv, b.priv);
        assert_string_equal(sc.snap[0].volume, sv);
        assert_true(sc.complete[0]);
        b = sc.snap[0];  /* delete from what the scan reported */
        /* reflink: its copy (finished) and the leftover (unfinished). */
        sc.n = 0;
        assert_int_equal(lvss_provider_reflink.scan(sv, on_found, &sc), 0);
        assert_int_equal(sc.n, 2);
        for (size_t i = 0; i < 2; i++)
                if (sc.complete[i]) {
                        assert_string_equal(sc.snap[i].snapshot_id, "scan-r1");
                        assert_string_equal(sc.snap[i].priv, r.priv);
                        assert_int_equal(lvss_provider_reflink.delete_snapshot(&sc.snap[i]), 0);
                } else {
                        assert_string_equal(sc.snap[i].snapshot_id, "scan-r2");
                        assert_int_equal(lvss_provider_reflink.abort(&sc.snap[i]), 0);
                }
        assert_int_equal(lvss_provider_btrfs.delete_snapshot(&b), 0);
        assert_int_equal(stat(b.priv, &st), -1);
        assert_int_equal(stat(r.priv, &st), -1);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.scan-r2.partial", sv);
        assert_int_equal(stat(g, &st), -1);
        /* No area: nothing, no error. */
        sc.n = 0;
        assert_int_equal(lvss_provider_btrfs.scan(dir, on_found, &sc), 0);
        assert_int_equal(lvss_provider_reflink.scan(dir, on_found, &sc), 0);
        assert_int_equal(sc.n, 0);
}

/* ---- reflink on XFS ---- */

static void test_reflink_xfs_tree(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS");
        char top[512], dir[600], f[700], g[LVSS_PROVIDER_PATH_MAX + 64], buf[256];
        char vol[LVSS_PROVIDER_PATH_MAX];
        const lvss_provider *p;
        lvss_provider_snapshot s, copy;
        struct stat st, st2;
        unsigned ext = 0;

        NEED(mnt);
        fmt(top, sizeof(top), "%s/private", mnt);
        assert_int_equal(mkdir(top, 0700), 0);
        fmt(dir, sizeof(dir), "%s/private/data", mnt);
        assert_int_equal(mkdir(dir, 0755), 0);
        fmt(f, sizeof(f), "%s/big", dir);
        write_big(f, 8 << 20);
        fmt(f, sizeof(f), "%s/small", dir);
        write_file(f, "small file", 0604);
        struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 5 } };
        assert_int_equal(utimensat(AT_FDCWD, f, ts, 0), 0);
        fmt(f, sizeof(f), "%s/empty", dir);
        write_file(f, "", 0600);
        fmt(f, sizeof(f), "%s/sub", dir);
        assert_int_equal(mkdir(f, 0711), 0);
        fmt(f, sizeof(f), "%s/sub/deep", dir);
        write_file(f, "deep", 0644);
        fmt(f, sizeof(f), "%s/link", dir);
        assert_int_equal(symlink("small", f), 0);
        fmt(f, sizeof(f), "%s/fifo", dir);
        assert_int_equal(mkfifo(f, 0620), 0);

        assert_int_equal(lvss_provider_choose(dir, NULL, &p, vol), 0);
        assert_ptr_equal(p, &lvss_provider_reflink);
        assert_string_equal(vol, dir);

        take(&lvss_provider_reflink, &s, "snap-x1", dir);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/snap-x1/private/data", mnt);
        assert_string_equal(s.path, g);

        /* Change the originals: the snapshot keeps the old content. */
        fmt(f, sizeof(f), "%s/small", dir);
        write_file(f, "changed", 0604);

        fmt(f, sizeof(f), "%s/big", dir);
        fmt(g, sizeof(g), "%s/big", s.path);
        assert_true(same_content(f, g));
        assert_int_equal(lvss_provider_count_extents(g, &ext), 0);
        assert_true(ext >= 1);
        fmt(g, sizeof(g), "%s/small", s.path);
        read_file(g, buf, sizeof(buf));
        assert_string_equal(buf, "small file");
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0604);
        assert_int_equal(st.st_mtim.tv_sec, 1234567890);
        assert_int_equal(st.st_mtim.tv_nsec, 5);
        fmt(g, sizeof(g), "%s/empty", s.path);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_size, 0);
        fmt(g, sizeof(g), "%s/sub/deep", s.path);
        read_file(g, buf, sizeof(buf));
        assert_string_equal(buf, "deep");
        fmt(g, sizeof(g), "%s/sub", s.path);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0711);
        fmt(g, sizeof(g), "%s/link", s.path);
        assert_int_equal(readlink(g, buf, sizeof(buf)), 5);
        fmt(g, sizeof(g), "%s/fifo", s.path);
        assert_int_equal(lstat(g, &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        /* The parent on the way keeps its restrictive mode. */
        fmt(g, sizeof(g), "%s/.lvss-snapshots/snap-x1/private", mnt);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.snap-x1.partial", mnt);
        assert_int_equal(stat(g, &st), -1);

        /* Delete from registry data only (as after an lvssd restart). */
        memset(&copy, 0, sizeof(copy));
        strcpy(copy.snapshot_id, s.snapshot_id);
        strcpy(copy.priv, s.priv);
        assert_int_equal(lvss_provider_reflink.delete_snapshot(&copy), 0);
        assert_int_equal(stat(s.priv, &st), -1);
        assert_int_equal(lvss_provider_reflink.delete_snapshot(&copy), 0);

        /* A crash mid-commit leaves .<id>.partial: abort removes it. */
        take(&lvss_provider_reflink, &s, "snap-x2", dir);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.snap-x2.partial", mnt);
        assert_int_equal(mkdir(g, 0755), 0);
        assert_int_equal(lvss_provider_reflink.abort(&s), 0);
        assert_int_equal(stat(g, &st), -1);
        assert_int_equal(stat(s.priv, &st), -1);

        /* Snapshot of the mount root never copies the snapshot area. */
        take(&lvss_provider_reflink, &s, "snap-x3", mnt);
        take(&lvss_provider_reflink, &copy, "snap-x4", mnt);
        fmt(g, sizeof(g), "%s/.lvss-snapshots", copy.path);
        assert_int_equal(stat(g, &st), -1);
        fmt(g, sizeof(g), "%s/private/data/big", copy.path);
        assert_true(same_content(f, g));
        fmt(g, sizeof(g), "%s", copy.path);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(stat(mnt, &st2), 0);
        assert_int_equal(st.st_mode, st2.st_mode);
        assert_int_equal(lvss_provider_reflink.delete_snapshot(&s), 0);
        assert_int_equal(lvss_provider_reflink.delete_snapshot(&copy), 0);
}

static void test_xfs_without_reflink(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS_NOREFLINK");
        char vol[LVSS_PROVIDER_PATH_MAX];
        const lvss_provider *p;

        NEED(mnt);
        assert_int_equal(lvss_provider_choose(mnt, NULL, &p, vol), LVSS_E_VOLUME_NOT_SUPPORTED);
        assert_non_null(strstr(error_slot_get(NULL), "without reflink"));
}

/* The pre-clone taken at prepare catches up at commit: every kind of change
 * made between prepare and commit shows in the snapshot, nothing else does. */
static void pwrite_at(const char *path, off_t off, const char *data, size_t n) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, data, n, off), (ssize_t) n);
        close(fd);
}

static void preclone_catch_up(const char *mnt, const char *id) {
        char dir[600], f[700], g[LVSS_PROVIDER_PATH_MAX + 64], cmd[2 * LVSS_PROVIDER_PATH_MAX + 64];
        const lvss_provider *p = &lvss_provider_reflink, *chosen;
        lvss_provider_snapshot s = { .version = LVSS_PROVIDER_VERSION };
        lvss_provider_snapshot *v[1] = { &s };
        struct stat st;
        char big[70000];

        fmt(dir, sizeof(dir), "%s/pc-%s", mnt, id);
        assert_int_equal(mkdir(dir, 0755), 0);
        fmt(f, sizeof(f), "%s/big", dir);
        write_big(f, 8 << 20);
        fmt(f, sizeof(f), "%s/grow", dir);
        write_big(f, 100 << 10);
        fmt(f, sizeof(f), "%s/shrink", dir);
        write_big(f, 1 << 20);
        fmt(f, sizeof(f), "%s/gone", dir);
        write_file(f, "gone soon", 0644);
        fmt(f, sizeof(f), "%s/odd", dir);
        memset(big, 'o', 5000);
        big[5000] = 0;
        write_file(f, big, 0644);
        fmt(f, sizeof(f), "%s/ext", dir);
        write_file(f, big, 0644); /* 5000 bytes, extended by truncate later */
        fmt(f, sizeof(f), "%s/sub", dir);
        assert_int_equal(mkdir(f, 0755), 0);
        fmt(f, sizeof(f), "%s/sub/x", dir);
        write_file(f, "x", 0644);
        /* Written through a shared mapping before and after prepare (the
         * same page: the second store changes the file without a write(2)). */
        fmt(f, sizeof(f), "%s/mm", dir);
        write_big(f, 64 << 10);
        int mfd = open(f, O_RDWR | O_CLOEXEC);
        assert_true(mfd >= 0);
        char *mm = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        assert_true(mm != MAP_FAILED);
        close(mfd);
        sync();
        memcpy(mm + 100, "before prepare", 14);

        strcpy(s.snapshot_id, id);
        strcpy(s.set_id, "set-pc");
        assert_non_null(realpath(dir, s.original));
        assert_int_equal(lvss_provider_choose(dir, "reflink", &chosen, s.volume), 0);
        assert_int_equal(p->prepare(&s), 0);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.%s.pre", mnt, id);
        assert_int_equal(stat(g, &st), 0); /* the pre-clone exists */

        /* Changes between prepare and commit. */
        memcpy(mm + 200, "after prepare", 13);
        assert_int_equal(munmap(mm, 64 << 10), 0);
        memset(big, 'W', sizeof(big));
        fmt(f, sizeof(f), "%s/big", dir);
        pwrite_at(f, 7 * 4096, big, 4096);
        pwrite_at(f, (1 << 20) + 123, big, 10);           /* unaligned, inside a block */
        pwrite_at(f, (3 << 20) - 100, big, sizeof(big));  /* spans blocks */
        {
                int fd = open(f, O_WRONLY | O_CLOEXEC);   /* data becomes a hole */
                assert_true(fd >= 0);
                assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 << 20, 1 << 20), 0);
                close(fd);
        }
        fmt(f, sizeof(f), "%s/grow", dir);
        pwrite_at(f, 100 << 10, big, 3000);                /* append, unaligned end */
        fmt(f, sizeof(f), "%s/shrink", dir);
        assert_int_equal(truncate(f, 4097), 0);
        fmt(f, sizeof(f), "%s/gone", dir);
        assert_int_equal(unlink(f), 0);
        fmt(f, sizeof(f), "%s/ext", dir);
        assert_int_equal(truncate(f, (1 << 20) + 7), 0);
        fmt(f, sizeof(f), "%s/odd", dir);                  /* replaced by a new file */
        assert_int_equal(unlink(f), 0);
        write_file(f, "a different, shorter file", 0600);
        fmt(f, sizeof(f), "%s/new", dir);
        write_file(f, "new since prepare", 0644);
        fmt(f, sizeof(f), "%s/sub/x", dir);
        assert_int_equal(unlink(f), 0);
        fmt(f, sizeof(f), "%s/sub", dir);
        assert_int_equal(rmdir(f), 0);
        fmt(f, sizeof(f), "%s/newdir", dir);
        assert_int_equal(mkdir(f, 0700), 0);
        fmt(f, sizeof(f), "%s/newdir/y", dir);
        write_file(f, "y", 0644);

        assert_int_equal(p->pre_commit(v, 1), 0);
        int r = p->commit(v, 1);
        if (r < 0)
                fail_msg("commit: %s", error_slot_get(NULL));
        assert_int_equal(p->post_commit(v, 1), 0);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.%s.pre", mnt, id);
        assert_int_equal(stat(g, &st), -1); /* dropped after thaw */
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.%s.premaps", mnt, id);
        assert_int_equal(stat(g, &st), -1);

        fmt(cmd, sizeof(cmd), "diff -r '%s' '%s'", dir, s.path);
        assert_int_equal(system(cmd), 0);
        fmt(g, sizeof(g), "%s/shrink", s.path);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_size, 4097);
        fmt(g, sizeof(g), "%s/odd", s.path);
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* Later changes do not leak into the snapshot. */
        fmt(f, sizeof(f), "%s/big", dir);
        pwrite_at(f, 0, big, 4096);
        fmt(g, sizeof(g), "%s/big", s.path);
        assert_false(same_content(f, g));
        assert_int_equal(p->delete_snapshot(&s), 0);
}

static void test_reflink_preclone_xfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS");
        NEED(mnt);
        preclone_catch_up(mnt, "pc-x");
}

static void test_reflink_preclone_btrfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_BTRFS");
        NEED(mnt);
        preclone_catch_up(mnt, "pc-b");
}

/* No partial commit: when the second snapshot of a commit fails, the first
 * one (already cut) is removed too (invariant 5). */
static void test_no_partial_commit(void **state) {
        const char *x = getenv("LVSS_TEST_XFS"), *b = getenv("LVSS_TEST_BTRFS");
        char d1[600], d2[600], f[700], area[700];
        const lvss_provider *p = &lvss_provider_reflink, *chosen;
        lvss_provider_snapshot s1 = { .version = LVSS_PROVIDER_VERSION }, s2 = { .version = LVSS_PROVIDER_VERSION };
        lvss_provider_snapshot *v[2] = { &s1, &s2 };
        struct stat st;

        NEED(x && b);
        fmt(d1, sizeof(d1), "%s/np1", x);
        fmt(d2, sizeof(d2), "%s/np2", b);
        assert_int_equal(mkdir(d1, 0755), 0);
        assert_int_equal(mkdir(d2, 0755), 0);
        fmt(f, sizeof(f), "%s/a", d1);
        write_file(f, "a", 0644);
        fmt(f, sizeof(f), "%s/b", d2);
        write_file(f, "b", 0644);
        strcpy(s1.snapshot_id, "np-1");
        strcpy(s2.snapshot_id, "np-2");
        assert_non_null(realpath(d1, s1.original));
        assert_non_null(realpath(d2, s2.original));
        assert_int_equal(lvss_provider_choose(d1, "reflink", &chosen, s1.volume), 0);
        assert_int_equal(lvss_provider_choose(d2, "reflink", &chosen, s2.volume), 0);
        assert_int_equal(p->prepare(&s1), 0);
        assert_int_equal(p->prepare(&s2), 0);
        /* Sabotage the second: its snapshot area disappears. */
        fmt(area, sizeof(area), "%s/.lvss-snapshots", b);
        char cmd[800];
        fmt(cmd, sizeof(cmd), "rm -rf '%s'", area);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(p->pre_commit(v, 2), 0);
        assert_true(p->commit(v, 2) < 0);
        assert_non_null(strstr(error_slot_get(NULL), "snapshot area missing"));
        assert_int_equal(stat(s1.priv, &st), -1);          /* first one undone */
        fmt(f, sizeof(f), "%s/.lvss-snapshots/.np-1.pre", x);
        assert_int_equal(stat(f, &st), -1);
        assert_int_equal(p->abort(&s1), 0);            /* abort stays harmless */
        assert_int_equal(p->abort(&s2), 0);
}

/* abort works from the volume and id alone (lvssd crashed after recording
 * the snapshot but before recording priv). */
static void test_abort_without_priv(void **state) {
        const char *x = getenv("LVSS_TEST_XFS"), *b = getenv("LVSS_TEST_BTRFS");
        char d[600], g[700];
        lvss_provider_snapshot s, copy;
        const lvss_provider *chosen;
        struct stat st;

        NEED(x && b);
        fmt(d, sizeof(d), "%s/ap", x);
        assert_int_equal(mkdir(d, 0755), 0);
        memset(&s, 0, sizeof(s));
        s.version = LVSS_PROVIDER_VERSION;
        strcpy(s.snapshot_id, "ap-1");
        assert_non_null(realpath(d, s.original));
        assert_int_equal(lvss_provider_choose(d, "reflink", &chosen, s.volume), 0);
        assert_int_equal(lvss_provider_reflink.prepare(&s), 0);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.ap-1.pre", x);
        assert_int_equal(stat(g, &st), 0);
        copy = s;
        copy.priv[0] = 0;
        copy.path[0] = 0;
        assert_int_equal(lvss_provider_reflink.abort(&copy), 0);
        assert_int_equal(stat(g, &st), -1);
        fmt(g, sizeof(g), "%s/.lvss-snapshots/.ap-1.premaps", x);
        assert_int_equal(stat(g, &st), -1);

        take(&lvss_provider_btrfs, &s, "ap-2", b);
        assert_int_equal(stat(s.priv, &st), 0);
        copy = s;
        copy.priv[0] = 0;
        assert_int_equal(lvss_provider_btrfs.abort(&copy), 0);
        assert_int_equal(stat(s.priv, &st), -1);
}

/* ---- snapshot trees are root's alone; metadata kept ---- */

#define NOBODY 65534

/* Run fn as uid/gid nobody (no supplementary groups) in a child; its exit
 * status is fn's return (0 = every expectation held). */
static int as_nobody(int (*fn)(const char *), const char *arg) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(100);
                _exit(fn(arg));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* As nobody, the owner of <snapshot>/owned: the file can be neither written,
 * nor replaced, nor removed, nor read at all (the area is root's, 0700). */
static int nobody_attacks(const char *snapfile) {
        char tmp[LVSS_PROVIDER_PATH_MAX + 16];
        int fd = open(snapfile, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES)
                return 1;
        fd = open(snapfile, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES)
                return 2;
        if (unlink(snapfile) == 0 || errno != EACCES)
                return 3;
        snprintf(tmp, sizeof(tmp), "%s.new", snapfile);
        if (mkfifo(tmp, 0644) == 0 || errno != EACCES)
                return 4;
        if (rename(tmp, snapfile) == 0)
                return 5;
        return 0;
}

/* ...while the same user still can write the original (the test is fair). */
static int nobody_writes(const char *file) {
        int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return 1;
        int r = write(fd, "changed by nobody", 17) == 17 ? 0 : 2;
        close(fd);
        return r;
}

static void check_area(const char *priv) {
        char area[LVSS_PROVIDER_PATH_MAX];
        struct stat st;

        fmt(area, sizeof(area), "%s", priv);
        *strrchr(area, '/') = 0;
        assert_int_equal(lstat(area, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_mode & 07777, 0700);
}

static void unprivileged_cannot_change(const lvss_provider *p, const char *top, const char *id) {
        char dir[600], f[700], g[LVSS_PROVIDER_PATH_MAX + 16], buf[64];
        lvss_provider_snapshot s;

        fmt(dir, sizeof(dir), "%s/home-%s", top, id);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
        fmt(f, sizeof(f), "%s/owned", dir);
        write_file(f, "snapshotted", 0644);
        assert_int_equal(chown(f, NOBODY, NOBODY), 0);

        take(p, &s, id, dir);
        fmt(g, sizeof(g), "%s/owned", s.path);
        struct stat st;
        assert_int_equal(stat(g, &st), 0);
        assert_int_equal(st.st_uid, NOBODY); /* owner kept, but out of reach */
        int r = as_nobody(nobody_attacks, g);
        if (r != 0)
                fail_msg("nobody could get at its file in the snapshot '%s' (check %d)", g, r);
        assert_int_equal(as_nobody(nobody_writes, f), 0);
        check_area(s.priv);
        read_file(g, buf, sizeof(buf));
        assert_string_equal(buf, "snapshotted");
        assert_int_equal(p->delete_snapshot(&s), 0);
}

static void test_unprivileged_reflink_xfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS");
        NEED(mnt);
        unprivileged_cannot_change(&lvss_provider_reflink, mnt, "ro-x");
}

static void test_unprivileged_btrfs(void **state) {
        const char *mnt = getenv("LVSS_TEST_BTRFS");
        char sv[512];
        NEED(mnt);
        fmt(sv, sizeof(sv), "%s/sv-ro", mnt);
        create_subvolume(sv);
        unprivileged_cannot_change(&lvss_provider_btrfs, sv, "ro-b");
}

/* The area is made safely: a symlink or a directory of another owner under
 * its name is refused, a root directory with another mode is made 0700. */
static void test_area_refused_or_repaired(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS");
        char area[600], dir[600], cmd[700], target[600];
        lvss_provider_snapshot s;
        const lvss_provider *chosen;
        struct stat st;

        NEED(mnt);
        fmt(area, sizeof(area), "%s/.lvss-snapshots", mnt);
        fmt(cmd, sizeof(cmd), "rm -rf '%s'", area);
        assert_int_equal(system(cmd), 0);
        fmt(dir, sizeof(dir), "%s/area-test", mnt);
        assert_int_equal(mkdir(dir, 0755), 0);
        memset(&s, 0, sizeof(s));
        s.version = LVSS_PROVIDER_VERSION;
        strcpy(s.snapshot_id, "area-1");
        assert_non_null(realpath(dir, s.original));
        assert_int_equal(lvss_provider_choose(dir, "reflink", &chosen, s.volume), 0);

        /* A symlink to a directory of the attacker's. */
        fmt(target, sizeof(target), "%s/elsewhere", mnt);
        assert_int_equal(mkdir(target, 0777), 0);
        assert_int_equal(symlink(target, area), 0);
        assert_true(lvss_provider_reflink.prepare(&s) < 0);
        assert_non_null(strstr(error_slot_get(NULL), "not a directory"));
        assert_non_null(strstr(error_slot_get(NULL), ".lvss-snapshots"));
        assert_int_equal(unlink(area), 0);

        /* A directory owned by someone else. */
        assert_int_equal(mkdir(area, 0777), 0);
        assert_int_equal(chown(area, NOBODY, NOBODY), 0);
        assert_int_equal(lvss_provider_reflink.prepare(&s), -EPERM);
        assert_non_null(strstr(error_slot_get(NULL), "not root"));
        assert_int_equal(rmdir(area), 0);

        /* Root's, but 0755 (as older lvss made it): repaired. */
        assert_int_equal(mkdir(area, 0755), 0);
        assert_int_equal(chmod(area, 0755), 0);
        assert_int_equal(lvss_provider_reflink.prepare(&s), 0);
        assert_int_equal(lstat(area, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(lvss_provider_reflink.abort(&s), 0);
        assert_int_equal(rmdir(target), 0);
}

/* Every extended attribute (names and values) of a and b is the same. */
static void same_xattrs(const char *a, const char *b) {
        char la[4096], lb[4096], va[4096], vb[4096];
        ssize_t na = llistxattr(a, la, sizeof(la)), nb = llistxattr(b, lb, sizeof(lb));
        assert_true(na >= 0 && nb >= 0);
        assert_int_equal(na, nb);
        for (ssize_t i = 0; i < na; i += (ssize_t) strlen(la + i) + 1) {
                ssize_t ka = lgetxattr(a, la + i, va, sizeof(va)), kb = lgetxattr(b, la + i, vb, sizeof(vb));
                if (kb < 0)
                        fail_msg("'%s' lost xattr %s", b, la + i);
                assert_int_equal(ka, kb);
                assert_memory_equal(va, vb, (size_t) ka);
        }
}

static bool has_xattr(const char *path, const char *name) {
        char v[256];
        return lgetxattr(path, name, v, sizeof(v)) >= 0;
}

static void run(const char *f, ...) _printf_(1, 2);
static void run(const char *f, ...) {
        char cmd[2 * LVSS_PROVIDER_PATH_MAX + 256];
        va_list ap;
        va_start(ap, f);
        int k = vsnprintf(cmd, sizeof(cmd), f, ap);
        va_end(ap);
        assert_true(k > 0 && (size_t) k < sizeof(cmd));
        if (system(cmd) != 0)
                fail_msg("failed: %s", cmd);
}

/* xattrs and ACLs survive a reflink snapshot, including changes made
 * between prepare (the pre-clone) and commit. */
static void test_reflink_xattrs_acls(void **state) {
        const char *mnt = getenv("LVSS_TEST_XFS");
        char dir[600], f[700], sub[700], g[LVSS_PROVIDER_PATH_MAX + 64], h[LVSS_PROVIDER_PATH_MAX + 64];
        const lvss_provider *p = &lvss_provider_reflink, *chosen;
        lvss_provider_snapshot s = { .version = LVSS_PROVIDER_VERSION };
        lvss_provider_snapshot *v[1] = { &s };
        struct stat st, st2;

        NEED(mnt);
        if (system("command -v setfacl >/dev/null && command -v getfacl >/dev/null") != 0)
                fail_msg("setfacl/getfacl missing (Debian package acl, scripts/install-deps.sh)");
        fmt(dir, sizeof(dir), "%s/xa", mnt);
        assert_int_equal(mkdir(dir, 0750), 0);
        fmt(sub, sizeof(sub), "%s/plain", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        fmt(f, sizeof(f), "%s/plain/none", dir);
        write_file(f, "no acl here", 0644);
        fmt(f, sizeof(f), "%s/file", dir);
        write_file(f, "with attributes", 0640);
        assert_int_equal(setxattr(f, "user.lvss.keep", "kept", 4, 0), 0);
        assert_int_equal(setxattr(f, "user.lvss.gone", "gone soon", 9, 0), 0);
        assert_int_equal(setxattr(f, "trusted.lvss", "root only", 9, 0), 0);
        run("setfacl -m u:nobody:rw,g:nogroup:r '%s'", f);
        /* Directory: an access ACL, a default ACL (set after its children
         * exist, so they have none) and an xattr. */
        run("setfacl -m u:nobody:rx -d -m u:nobody:r '%s'", dir);
        assert_int_equal(setxattr(dir, "user.lvss.dir", "d", 1, 0), 0);
        struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 123456789 } };
        assert_int_equal(utimensat(AT_FDCWD, dir, ts, 0), 0);

        strcpy(s.snapshot_id, "xa-1");
        assert_non_null(realpath(dir, s.original));
        assert_int_equal(lvss_provider_choose(dir, "reflink", &chosen, s.volume), 0);
        assert_int_equal(p->prepare(&s), 0);
        /* Changed after the pre-clone was made: commit must catch up. */
        assert_int_equal(removexattr(f, "user.lvss.gone"), 0);
        assert_int_equal(setxattr(f, "user.lvss.new", "new", 3, 0), 0);
        assert_int_equal(p->pre_commit(v, 1), 0);
        if (p->commit(v, 1) < 0)
                fail_msg("commit: %s", error_slot_get(NULL));
        assert_int_equal(p->post_commit(v, 1), 0);

        fmt(g, sizeof(g), "%s/file", s.path);
        same_xattrs(f, g);
        assert_true(has_xattr(g, "user.lvss.keep"));
        assert_true(has_xattr(g, "user.lvss.new"));
        assert_true(has_xattr(g, "trusted.lvss"));
        assert_false(has_xattr(g, "user.lvss.gone"));
        assert_true(has_xattr(g, "system.posix_acl_access"));
        run("getfacl -cp '%s' | grep -qx 'user:nobody:rw-'", g);
        run("test \"$(getfacl -cp '%s')\" = \"$(getfacl -cp '%s')\"", f, g);
        assert_int_equal(stat(f, &st), 0);
        assert_int_equal(stat(g, &st2), 0);
        assert_int_equal(st.st_mode, st2.st_mode);

        same_xattrs(dir, s.path);
        assert_true(has_xattr(s.path, "system.posix_acl_default"));
        run("test \"$(getfacl -cp '%s')\" = \"$(getfacl -cp '%s')\"", dir, s.path);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(stat(s.path, &st2), 0);
        assert_int_equal(st.st_mode, st2.st_mode);
        assert_int_equal(st2.st_mtim.tv_sec, 1234567890);
        assert_int_equal(st2.st_mtim.tv_nsec, 123456789);

        /* Children copied before the default ACL was applied inherit
         * nothing: no ACL appears that the original does not have. */
        fmt(h, sizeof(h), "%s/plain/none", dir);
        assert_false(has_xattr(h, "system.posix_acl_access"));
        fmt(h, sizeof(h), "%s/plain/none", s.path);
        assert_false(has_xattr(h, "system.posix_acl_access"));
        fmt(h, sizeof(h), "%s/plain", s.path);
        assert_false(has_xattr(h, "system.posix_acl_access"));
        assert_false(has_xattr(h, "system.posix_acl_default"));
        assert_int_equal(p->delete_snapshot(&s), 0);
}

int main(int argc, char **argv) {
        const struct CMUnitTest basic[] = {
                cmocka_unit_test(test_choose_errors),
                cmocka_unit_test(test_bad_ids_and_priv),
        };
        const struct CMUnitTest fs[] = {
                cmocka_unit_test(test_btrfs_snapshot),
                cmocka_unit_test(test_reflink_on_btrfs),
                cmocka_unit_test(test_scan_btrfs),
                cmocka_unit_test(test_reflink_xfs_tree),
                cmocka_unit_test(test_xfs_without_reflink),
                cmocka_unit_test(test_reflink_preclone_xfs),
                cmocka_unit_test(test_reflink_preclone_btrfs),
                cmocka_unit_test(test_no_partial_commit),
                cmocka_unit_test(test_abort_without_priv),
                cmocka_unit_test(test_unprivileged_reflink_xfs),
                cmocka_unit_test(test_unprivileged_btrfs),
                cmocka_unit_test(test_reflink_xattrs_acls),
                cmocka_unit_test(test_area_refused_or_repaired), /* last: it replaces XFS's area */
        };
        int failed;

        if (argc == 2 && strcmp(argv[1], "basic") == 0)
                return cmocka_run_group_tests_name("providers-basic", basic, NULL, NULL) ? 1 : 0;
        if (argc != 2 || strcmp(argv[1], "fs") != 0) {
                fprintf(stderr, "usage: %s basic|fs\n", argv[0]);
                return 2;
        }
        failed = cmocka_run_group_tests_name("providers-fs", fs, NULL, NULL);
        if (failed)
                return 1;
        if (skipped) {
                fprintf(stderr, "SKIP: %d filesystem case(s) had no filesystem to run on\n", skipped);
                return 77;
        }
        return 0;
}
