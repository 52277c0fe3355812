/* SPDX-License-Identifier: MIT */
/*
 * providers/reflink.c: FICLONE copies of the files under a directory.
 *
 * The unit ("volume") is the added directory (or file) itself.  commit walks
 * it and clones every regular file with FICLONE into
 *   <mount root>/.lvss-snapshots/.<id>.partial/<path relative to mount root>
 * recreating directories, symlinks, fifos and device nodes, giving every
 * entry the owner, extended attributes (ACLs too), mode and ns times of its
 * original (invariant 12), then renames ".<id>.partial" to "<id>": a directory named
 * <id> is always complete (invariant 3 of docs/design/providers.md).
 *
 * Keeping the commit window small (invariant 10): cloning costs about 13 us
 * per extent, and files rewritten in place fragment into thousands of
 * extents after many backup cycles.  So prepare, which runs before writers
 * freeze, already clones the whole tree into ".<id>.pre".  commit then moves
 * each pre-cloned file into the snapshot (rename) and re-clones only the
 * ranges that changed since: a range whose source and pre-clone map the
 * same physical blocks is identical (shared blocks are never written in
 * place), so only ranges mapped differently are cloned again with
 * FICLONERANGE (FIEMAP with FIEMAP_FLAG_SYNC first, so the map includes
 * dirty pages; the pre-clone's own map was saved at prepare in
 * ".<id>.premaps").  Any doubt falls back to a whole-file FICLONE.  post_commit,
 * after thaw, removes what is left of ".<id>.pre".
 *
 * A file that no write touched since its pre-clone (same inode, size,
 * ctime and mtime as right after a clone that no write raced; the header
 * of its saved map records them) is taken as it is, without reading any
 * map: the window then costs nothing per extent for files that are quiet
 * between prepare and freeze, however fragmented (issue 14).
 *
 * Cost in the window is O(files + extents of changed files read by FIEMAP
 * + changed ranges).
 * Consistency across files comes from the writers' freeze.
 * Not preserved: hard links (each name becomes its own clone), sockets;
 * other mounts below the directory are skipped (like a volume snapshot, it
 * stops at filesystem boundaries).  The copies are not read-only in
 * themselves: the root-owned 0700 area keeps everyone but root out
 * (providers.md invariant 12).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "lib/core/fs-util.h"
#include "lib/core/test-hook.h"
#include "providers/util.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

#define MAX_DEPTH 256

/* Does this filesystem clone?  Probe with two unnamed temporary files in dir:
 * XFS without reflink answers EOPNOTSUPP.  Nothing becomes visible. */
static int probe_reflink(const char *dir) {
        _cleanup_close_ int a = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (a < 0)
                return -errno;
        _cleanup_close_ int b = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (b < 0)
                return -errno;
        if (write(a, "lvss", 4) != 4)
                return -EIO;
        if (ioctl(b, FICLONE, a) < 0)
                return -errno;
        return 0;
}

/* The probe writes a block and clones it: on a busy XFS that is a log
 * force, several milliseconds of every snapshot cycle (issue 14).  A
 * mount that cloned a moment ago still clones: a success is remembered
 * for PROBE_TTL_USEC per mount (device, mount id, root inode: a remount
 * is a new mount id).  Failures are never remembered.  Should the mount
 * have changed all the same, commit's FICLONE fails with its own error. */
#define PROBE_TTL_USEC (60ull * 1000000ull)
#define PROBE_CACHE 8

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000u;
}

static int probe_cached(const char *root) {
        static _Thread_local struct {
                uint64_t dev, mnt_id, ino, at;
        } cache[PROBE_CACHE];
        static _Thread_local unsigned next;
        struct statx sx;
        uint64_t now = mono_usec(), dev;

        if (statx(AT_FDCWD, root, AT_STATX_SYNC_AS_STAT, STATX_INO | STATX_MNT_ID, &sx) < 0 ||
            !(sx.stx_mask & STATX_MNT_ID))
                return probe_reflink(root);
        dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        for (unsigned i = 0; i < PROBE_CACHE; i++)
                if (cache[i].at && cache[i].dev == dev && cache[i].mnt_id == sx.stx_mnt_id &&
                    cache[i].ino == sx.stx_ino && now - cache[i].at < PROBE_TTL_USEC)
                        return 0;
        int r = probe_reflink(root);
        if (r == 0) {
                unsigned i = next++ % PROBE_CACHE;
                cache[i].dev = dev;
                cache[i].mnt_id = sx.stx_mnt_id;
                cache[i].ino = sx.stx_ino;
                cache[i].at = now;
        }
        return r;
}

static int reflink_is_supported(const char *path, char *volume) {
        char canon[LVSS_PROVIDER_PATH_MAX], root[LVSS_PROVIDER_PATH_MAX];
        long magic;
        const char *fsname;
        struct stat st;
        int r;

        r = pv_canonical(path, canon);
        if (r < 0)
                return r == -ENOENT ? r : LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        r = pv_fs_type(canon, &magic, &fsname);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': statfs failed: %s", path, strerror(-r));
        if (magic != (long) XFS_SUPER_MAGIC && magic != (long) BTRFS_SUPER_MAGIC)
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is on %s, which cannot clone files (reflink needs XFS with reflink=1 or btrfs)",
                               path, fsname);
        if (stat(canon, &st) < 0)
                return error_slot_set(NULL, -errno, "'%s': %m", path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is neither a directory nor a regular file", path);
        r = pv_find_root(canon, false, root);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot find its mount root: %s", path, strerror(-r));
        r = probe_cached(root);
        if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY)
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s' is on %s without reflink (create it with mkfs.xfs -m reflink=1)",
                               path, magic == (long) XFS_SUPER_MAGIC ? "XFS" : fsname);
        if (r < 0)
                return error_slot_set(NULL, LVSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                               "'%s': cannot clone files in '%s': %s", path, root, strerror(-r));
        strcpy(volume, canon);
        return 0;
}

/* Names inside the area: ".<id>.partial" (commit in progress) and
 * ".<id>.pre" (prepare's pre-clone). */
static int aux_name(const lvss_provider_snapshot *s, const char *suffix, char *buf, size_t n) {
        int k = snprintf(buf, n, ".%s.%s", s->snapshot_id, suffix);
        return (k < 0 || (size_t) k >= n) ? -ENAMETOOLONG : 0;
}

/* Copy context: what to skip and where errors are reported. */
struct copy {
        dev_t dev;             /* the unit's device: other mounts are skipped */
        dev_t area_dev;        /* the snapshot area: never copied into itself */
        ino_t area_ino;
        const char *top;       /* for messages */
        size_t patched;        /* files taken from the pre-clone (statistics) */
        size_t unchanged;      /* of those, unchanged since prepare: no map read */
        int maps;              /* ".<id>.premaps": prepare writes, commit reads; or -1 */
        bool preparing;        /* building the pre-clone (write maps) */
};

/* ---- metadata: owner, extended attributes (ACLs too), mode, times ---- */

/* One file to read or set attributes of: an open fd (fd >= 0), or the
 * entry name in directory dir, never followed when it is a symlink. */
typedef struct node {
        int fd, dir;
        const char *name;
} node;

#define NODE_FD(f) ((node) { .fd = (f), .dir = -1, .name = NULL })
#define NODE_AT(d, n) ((node) { .fd = -1, .dir = (d), .name = (n) })
#define XATTR_LIST_MAX_ 65536   /* the kernel's own limits (linux/limits.h) */
#define XATTR_SIZE_MAX_ 65536

/* The *xattr() calls have no *at() form in glibc 2.36: reach the file
 * through /proc/self/fd (the fd itself, or dir fd + one name component,
 * with the l* calls so a symlink is not followed). */
static int node_path(const node *n, char *buf, size_t size) {
        int k = n->fd >= 0 ? snprintf(buf, size, "/proc/self/fd/%d", n->fd)
                           : snprintf(buf, size, "/proc/self/fd/%d/%s", n->dir, n->name);
        return k < 0 || (size_t) k >= size ? -ENAMETOOLONG : 0;
}

static ssize_t x_list(const node *n, const char *path, char *buf, size_t size) {
        return n->fd >= 0 ? listxattr(path, buf, size) : llistxattr(path, buf, size);
}

static ssize_t x_get(const node *n, const char *path, const char *name, void *buf, size_t size) {
        return n->fd >= 0 ? getxattr(path, name, buf, size) : lgetxattr(path, name, buf, size);
}

/* The names of n's extended attributes, in ret[XATTR_LIST_MAX_]; all of
 * them for root (trusted.*, security.*, system.posix_acl_*), what the
 * kernel shows otherwise.  A filesystem without xattrs has none. */
static ssize_t list_names(const node *n, const char *path, char *ret) {
        ssize_t k = x_list(n, path, ret, XATTR_LIST_MAX_);
        if (k < 0 && (errno == ENOTSUP || errno == ENOSYS))
                return 0;
        return k < 0 ? -errno : k;
}

static bool in_list(const char *list, ssize_t len, const char *name) {
        for (ssize_t i = 0; i < len; i += (ssize_t) strlen(list + i) + 1)
                if (strcmp(list + i, name) == 0)
                        return true;
        return false;
}

/* Make dst's extended attributes exactly src's: set every one src has,
 * remove those only dst has (a pre-clone keeps what the file had at
 * prepare).  POSIX ACLs are the system.posix_acl_access/default
 * attributes and so are copied as they are. */
static int copy_xattrs(const node *src, const node *dst) {
        char sp[64 + NAME_MAX], dp[64 + NAME_MAX];
        _cleanup_free_ char *snames = malloc(XATTR_LIST_MAX_), *dnames = malloc(XATTR_LIST_MAX_);
        _cleanup_free_ char *val = malloc(XATTR_SIZE_MAX_);
        ssize_t ns, nd;

        if (!snames || !dnames || !val)
                return -ENOMEM;
        if (node_path(src, sp, sizeof(sp)) < 0 || node_path(dst, dp, sizeof(dp)) < 0)
                return -ENAMETOOLONG;
        ns = list_names(src, sp, snames);
        if (ns < 0)
                return (int) ns;
        nd = list_names(dst, dp, dnames);
        if (nd < 0)
                return (int) nd;
        for (ssize_t i = 0; i < nd; i += (ssize_t) strlen(dnames + i) + 1) {
                const char *name = dnames + i;
                if (in_list(snames, ns, name))
                        continue;
                int k = dst->fd >= 0 ? removexattr(dp, name) : lremovexattr(dp, name);
                if (k < 0 && errno != ENODATA)
                        return -errno;
        }
        for (ssize_t i = 0; i < ns; i += (ssize_t) strlen(snames + i) + 1) {
                const char *name = snames + i;
                ssize_t len = x_get(src, sp, name, val, XATTR_SIZE_MAX_);
                if (len < 0) {
                        if (errno == ENODATA)
                                continue; /* removed while we copied */
                        return -errno;
                }
                int k = dst->fd >= 0 ? setxattr(dp, name, val, (size_t) len, 0)
                                     : lsetxattr(dp, name, val, (size_t) len, 0);
                /* Only root may set some namespaces; a test run without
                 * root keeps what it can (as for the owner below). */
                if (k < 0 && !(errno == EPERM && geteuid() != 0))
                        return -errno;
        }
        return 0;
}

/* Give dst the metadata of src (described by st): owner first (chown
 * drops set-id bits and file capabilities), then extended attributes and
 * ACLs, then the mode, then the times (nanoseconds) last. */
static int set_meta(const node *src, const node *dst, const struct stat *st) {
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        bool link = S_ISLNK(st->st_mode);
        int k;

        k = dst->fd >= 0 ? fchown(dst->fd, st->st_uid, st->st_gid)
                         : fchownat(dst->dir, dst->name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
        if (k < 0 && errno != EPERM)
                return -errno;
        k = copy_xattrs(src, dst);
        if (k < 0)
                return k;
        if (!link) {
                k = dst->fd >= 0 ? fchmod(dst->fd, st->st_mode & 07777)
                                 : fchmodat(dst->dir, dst->name, st->st_mode & 07777, 0);
                if (k < 0)
                        return -errno;
        }
        k = dst->fd >= 0 ? futimens(dst->fd, ts) : utimensat(dst->dir, dst->name, ts, AT_SYMLINK_NOFOLLOW);
        return k < 0 ? -errno : 0;
}

/* ---- extent maps ---- */

typedef struct extent {
        uint64_t logical, physical, length;
        uint32_t flags, reserved; /* no padding: maps are saved to files */
} extent;

#define MAX_EXTENTS (4u << 20)  /* past this, just clone the whole file */
#define FIEMAP_BATCH 512

/* The whole extent map of fd.  sync: flush dirty pages first so the map
 * shows where the current data is. */
static int get_map(int fd, bool sync, extent **ret, size_t *ret_n) {
        size_t bufsize = sizeof(struct fiemap) + FIEMAP_BATCH * sizeof(struct fiemap_extent);
        _cleanup_free_ struct fiemap *fm = malloc(bufsize);
        _cleanup_free_ extent *v = NULL;
        size_t n = 0, cap = 0;
        uint64_t start = 0;
        bool last = false;

        if (!fm)
                return -ENOMEM;
        while (!last) {
                uint64_t before = start;
                memset(fm, 0, bufsize);
                fm->fm_start = start;
                fm->fm_length = FIEMAP_MAX_OFFSET - start;
                fm->fm_flags = sync ? FIEMAP_FLAG_SYNC : 0;
                fm->fm_extent_count = FIEMAP_BATCH;
                if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
                        return -errno;
                if (fm->fm_mapped_extents == 0)
                        break;
                for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
                        struct fiemap_extent *e = &fm->fm_extents[i];
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 64;
                                if (ncap > MAX_EXTENTS)
                                        return -E2BIG;
                                extent *nv = realloc(v, ncap * sizeof(*nv));
                                if (!nv)
                                        return -ENOMEM;
                                v = nv;
                                cap = ncap;
                        }
                        v[n++] = (extent) { e->fe_logical, e->fe_physical, e->fe_length, e->fe_flags, 0 };
                        if (e->fe_flags & FIEMAP_EXTENT_LAST)
                                last = true;
                        start = e->fe_logical + e->fe_length;
                }
                sync = false; /* flushed once is enough */
                if (start <= before)
                        return -EIO; /* no progress: do not trust this map */
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* The pre-clone's extent map, saved at prepare under ".<id>.premaps/<inode
 * of the pre-clone>", so that commit reads one map (the source's) instead
 * of two.  Reading a map costs about 2 us per extent on XFS. */
#define MAP_MAGIC 0x4c56534d41503032ull /* "LVSMAP02" */
struct map_header {
        uint64_t magic, ino, size, n;
        /* The source as it was cloned: when quiet, no write had touched it
         * since before the clone began (see source_unchanged()). */
        uint64_t src_dev, src_ino, src_size, quiet;
        int64_t src_ctime_sec, src_ctime_nsec, src_mtime_sec, src_mtime_nsec;
};

static bool ts_before(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* src: the source, cloned into dst at clone_start (CLOCK_REALTIME_COARSE
 * read just before FICLONE). */
static void save_map(int maps, int dst, int src, const struct timespec *clone_start) {
        _cleanup_free_ extent *v = NULL;
        struct stat st, sst;
        size_t n = 0;
        char name[32];

        if (maps < 0 || fstat(dst, &st) < 0 || fstat(src, &sst) < 0 || get_map(dst, true, &v, &n) < 0)
                return;
        snprintf(name, sizeof(name), "%llu", (unsigned long long) st.st_ino);
        _cleanup_close_ int fd = openat(maps, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        struct map_header h = {
                MAP_MAGIC, st.st_ino, (uint64_t) st.st_size, n,
                (uint64_t) sst.st_dev, (uint64_t) sst.st_ino, (uint64_t) sst.st_size,
                /* Every write, truncate, fallocate or first store into an
                 * mmap'd page after FICLONE began (it flushes and
                 * write-protects the pages) sets ctime to at least the
                 * coarse clock then: a ctime before that clock means the
                 * clone holds everything written so far. */
                ts_before(&sst.st_ctim, clone_start) && sst.st_size == st.st_size,
                sst.st_ctim.tv_sec, sst.st_ctim.tv_nsec, sst.st_mtim.tv_sec, sst.st_mtim.tv_nsec,
        };
        if (write(fd, &h, sizeof(h)) != (ssize_t) sizeof(h) ||
            write(fd, v, n * sizeof(*v)) != (ssize_t) (n * sizeof(*v)))
                (void) unlinkat(maps, name, 0); /* commit will read the map itself */
}

/* The saved map of dst, if it is there and still describes dst; its
 * header in *ret_h. */
static int load_map(int maps, int dst, extent **ret, size_t *ret_n, struct map_header *ret_h) {
        struct map_header h;
        struct stat st, mst;
        char name[32];

        if (maps < 0 || fstat(dst, &st) < 0)
                return -ENOENT;
        snprintf(name, sizeof(name), "%llu", (unsigned long long) st.st_ino);
        _cleanup_close_ int fd = openat(maps, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &mst) < 0)
                return -ENOENT;
        if (read(fd, &h, sizeof(h)) != (ssize_t) sizeof(h) || h.magic != MAP_MAGIC || h.ino != st.st_ino ||
            h.size != (uint64_t) st.st_size || h.n > MAX_EXTENTS ||
            (uint64_t) mst.st_size != sizeof(h) + h.n * sizeof(extent))
                return -EBADMSG;
        _cleanup_free_ extent *v = malloc(h.n ? h.n * sizeof(extent) : 1);
        if (!v)
                return -ENOMEM;
        if (read(fd, v, h.n * sizeof(extent)) != (ssize_t) (h.n * sizeof(extent)))
                return -EIO;
        for (size_t i = 1; i < h.n; i++)
                if (v[i].logical < v[i - 1].logical + v[i - 1].length)
                        return -EBADMSG; /* must be sorted and disjoint */
        *ret = TAKE_PTR(v);
        *ret_n = h.n;
        *ret_h = h;
        return 0;
}

/* The pre-clone needs no patching when the source is the file that was
 * cloned (device, inode, size) and its ctime and mtime are still those seen
 * right after a clone that no write had raced (quiet): a change since would
 * have set ctime to a later time.  The window then reads no extent map of
 * the file at all, however fragmented it is (issue 14). */
static bool source_unchanged(const struct map_header *h, const struct stat *st) {
        return h->quiet && h->src_dev == (uint64_t) st->st_dev && h->src_ino == (uint64_t) st->st_ino &&
               h->src_size == (uint64_t) st->st_size && h->size == (uint64_t) st->st_size &&
               h->src_ctime_sec == (int64_t) st->st_ctim.tv_sec && h->src_ctime_nsec == (int64_t) st->st_ctim.tv_nsec &&
               h->src_mtime_sec == (int64_t) st->st_mtim.tv_sec && h->src_mtime_nsec == (int64_t) st->st_mtim.tv_nsec;
}

/* Flags that make a mapping's physical address meaningless for comparison. */
#define UNSURE_FLAGS (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED | \
                      FIEMAP_EXTENT_DATA_ENCRYPTED | FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE | \
                      FIEMAP_EXTENT_DATA_TAIL)

/* Advance *i past extents ending at or before pos; the extent covering pos
 * or NULL (hole), and in *next the next boundary after pos. */
static const extent *cover(const extent *v, size_t n, size_t *i, uint64_t pos, uint64_t *next) {
        while (*i < n && v[*i].logical + v[*i].length <= pos)
                (*i)++;
        if (*i < n && v[*i].logical <= pos) {
                uint64_t end = v[*i].logical + v[*i].length;
                if (end < *next)
                        *next = end;
                return &v[*i];
        }
        if (*i < n && v[*i].logical < *next)
                *next = v[*i].logical;
        return NULL;
}

static int clone_range(int src, int dst, uint64_t start, uint64_t end, uint64_t size, uint64_t bs) {
        /* Block-align; a range reaching EOF clones to EOF (length 0).  Widening
         * into identical neighbours is harmless. */
        uint64_t s0 = start / bs * bs, e0 = (end + bs - 1) / bs * bs;
        struct file_clone_range fcr = {
                .src_fd = src, .src_offset = s0, .dest_offset = s0,
                .src_length = e0 >= size ? 0 : e0 - s0,
        };
        return ioctl(dst, FICLONERANGE, &fcr) < 0 ? -errno : 0;
}

/* Make dst (a clone of src taken earlier) identical to src by re-cloning
 * only the ranges whose mappings differ.  Returns 0, or an error after
 * which the caller clones the whole file. */
static int patch_clone(int src, int dst, int maps, const struct stat *st, bool *ret_unchanged) {
        _cleanup_free_ extent *a = NULL, *b = NULL;
        struct map_header h = { 0 };
        struct stat now;
        size_t na = 0, nb = 0, i = 0, j = 0;
        uint64_t size = (uint64_t) st->st_size, bs = st->st_blksize > 0 ? (uint64_t) st->st_blksize : 4096;
        uint64_t pos, next, rs = 0, re = 0, old_size, force = UINT64_MAX;
        struct stat dst_st;
        bool have = false;
        int r;

        if (fstat(dst, &dst_st) < 0)
                return -errno;
        old_size = (uint64_t) dst_st.st_size;
        r = load_map(maps, dst, &b, &nb, &h);
        /* The walk's stat may be older than the writers' freeze: look now. */
        if (r == 0 && fstat(src, &now) == 0 && source_unchanged(&h, &now)) {
                *ret_unchanged = true;
                return 0;
        }
        /* Size next: extending zeroes the tail of the old last block
         * (copy-on-write).  A map read now shows that; a map saved at
         * prepare does not, so then that block onwards is cloned again. */
        if (ftruncate(dst, (off_t) size) < 0)
                return -errno;
        if (r < 0) {
                r = get_map(dst, true, &b, &nb);
                if (r < 0)
                        return r;
        } else if (size > old_size)
                force = old_size / bs * bs;
        r = get_map(src, true, &a, &na);
        if (r < 0)
                return r;

        for (pos = 0; pos < size; pos = next) {
                next = size;
                const extent *x = cover(a, na, &i, pos, &next);
                const extent *y = cover(b, nb, &j, pos, &next);
                bool same;
                if (pos < force && force < next)
                        next = force;
                if (!x || !y)
                        same = !x && !y; /* both holes read as zeros */
                else
                        /* Shared blocks are never written in place: the same
                         * physical block means the same content. */
                        same = !((x->flags | y->flags) & UNSURE_FLAGS) &&
                               (x->flags & FIEMAP_EXTENT_UNWRITTEN) == (y->flags & FIEMAP_EXTENT_UNWRITTEN) &&
                               x->physical + (pos - x->logical) == y->physical + (pos - y->logical);
                if (pos >= force) {
                        same = false;
                        next = size; /* everything from the old end on */
                }
                if (same)
                        continue;
                if (have && pos == re) {
                        re = next;
                        continue;
                }
                if (have && (r = clone_range(src, dst, rs, re, size, bs)) < 0)
                        return r;
                rs = pos;
                re = next;
                have = true;
        }
        if (have)
                return clone_range(src, dst, rs, re, size, bs);
        return 0;
}

/* ---- copying a tree ---- */

static int copy_entry(struct copy *c, int sfd, int dfd, int pfd, const char *name, int depth);

/* Test hook (tests/integration/mariadb-writer-redo.sh): at commit, the
 * regular file LVSS_TEST_REFLINK_ORDER = "first:NAME" or "last:NAME" of a
 * directory is copied before or after its siblings, and in between commit
 * makes LVSS_TEST_REFLINK_HOLD/held and waits (at most 120 s) for
 * LVSS_TEST_REFLINK_HOLD/go: the window between files as long as the test
 * needs.  Past the cap it makes LVSS_TEST_REFLINK_HOLD/expired and goes on
 * (the test fails on it: the window it meant to hold was not held). */
static void test_hold(void) {
        const char *d = TEST_HOOK_ENV("LVSS_TEST_REFLINK_HOLD");
        char path[LVSS_PROVIDER_PATH_MAX];
        if (!d)
                return;
        snprintf(path, sizeof(path), "%s/held", d);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
                close(fd);
        snprintf(path, sizeof(path), "%s/go", d);
        for (int i = 0; i < 12000 && access(path, F_OK) != 0; i++)
                usleep(10000);
        if (access(path, F_OK) != 0) {
                snprintf(path, sizeof(path), "%s/expired", d);
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                if (fd >= 0)
                        close(fd);
        }
}

static int copy_children(struct copy *c, int s, int d, int p, int depth) {
        DIR *dir;
        struct dirent *de;
        int r = 0;
        const char *order = c->preparing ? NULL : TEST_HOOK_ENV("LVSS_TEST_REFLINK_ORDER");
        const char *oname = order && (strncmp(order, "first:", 6) == 0 || strncmp(order, "last:", 5) == 0) ?
                strchr(order, ':') + 1 : NULL;
        struct stat ost;
        if (oname && (fstatat(s, oname, &ost, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(ost.st_mode)))
                oname = NULL;
        if (oname && order[0] == 'f') {
                r = copy_entry(c, s, d, p, oname, depth + 1);
                if (r < 0)
                        return r;
                test_hold();
        }
        int s2 = fcntl(s, F_DUPFD_CLOEXEC, 3);

        if (s2 < 0)
                return -errno;
        dir = fdopendir(s2);
        if (!dir) {
                close(s2);
                return -errno;
        }
        while ((errno = 0, de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    (oname && strcmp(de->d_name, oname) == 0))
                        continue;
                r = copy_entry(c, s, d, p, de->d_name, depth + 1);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = error_slot_set(NULL, -errno, "'%s': readdir: %m", c->top);
        closedir(dir);
        if (r == 0 && oname && order[0] == 'l') {
                test_hold();
                r = copy_entry(c, s, d, p, oname, depth + 1);
        }
        return r;
}

/* pfd: the matching directory of the pre-clone, or -1. */
static int copy_dir(struct copy *c, int sfd, int dfd, int pfd, const char *name, const struct stat *st,
                    int depth) {
        _cleanup_close_ int s = -1, d = -1, p = -1;
        int r;

        if (depth > MAX_DEPTH)
                return error_slot_set(NULL, -ELOOP, "'%s': directory tree deeper than %d", c->top, MAX_DEPTH);
        if (mkdirat(dfd, name, 0700) < 0)
                return error_slot_set(NULL, -errno, "'%s': mkdir '%s' in snapshot: %m", c->top, name);
        s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
                return error_slot_set(NULL, -errno, "'%s': open directory '%s': %m", c->top, name);
        d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0)
                return error_slot_set(NULL, -errno, "'%s': open snapshot directory '%s': %m", c->top, name);
        if (pfd >= 0)
                p = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = copy_children(c, s, d, p, depth);
        if (r < 0)
                return r;
        /* Attributes last: creating entries changed the directory's mtime,
         * and a default ACL set before would be inherited by the copies. */
        r = set_meta(&NODE_FD(s), &NODE_FD(d), st);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': set attributes of '%s': %s", c->top, name, strerror(-r));
        return 0;
}

/* Take the pre-cloned file into the snapshot and patch it; false if there
 * is none or patching failed (then the caller clones the whole file). */
static bool take_preclone(struct copy *c, int s, int dfd, int pfd, const char *name, const struct stat *st,
                          int *ret_fd) {
        struct stat pst;

        if (pfd < 0 || fstatat(pfd, name, &pst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(pst.st_mode))
                return false;
        if (renameat(pfd, name, dfd, name) < 0)
                return false;
        int d = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        bool unchanged = false;
        if (d >= 0 && patch_clone(s, d, c->maps, st, &unchanged) == 0) {
                c->patched++;
                c->unchanged += unchanged;
                *ret_fd = d;
                return true;
        }
        if (d >= 0)
                close(d);
        (void) unlinkat(dfd, name, 0);
        return false;
}

static int copy_file(struct copy *c, int sfd, int dfd, int pfd, const char *name, const struct stat *st) {
        struct stat now;
        _cleanup_close_ int s = open_regular_at(sfd, name, &now);
        _cleanup_close_ int d = -1;

        /* Replaced by a FIFO or device since the walk saw a file: never
         * block on it (the writers are frozen while commit runs). */
        if (s == -EFTYPE_ || s == -ELOOP)
                return error_slot_set(NULL, -EAGAIN, "'%s': '%s' changed from a regular file to %s while it was copied",
                               c->top, name, s == -ELOOP ? "a symlink" : file_type_name(now.st_mode));
        if (s < 0)
                return error_slot_set(NULL, s, "'%s': open '%s': %s", c->top, name, strerror(-s));
        if (!take_preclone(c, s, dfd, pfd, name, st, &d)) {
                d = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (d < 0)
                        return error_slot_set(NULL, -errno, "'%s': create '%s' in snapshot: %m", c->top, name);
                struct timespec clone_start;
                clock_gettime(CLOCK_REALTIME_COARSE, &clone_start);
                if (ioctl(d, FICLONE, s) < 0)
                        return error_slot_set(NULL, -errno, "'%s': FICLONE of '%s' failed: %m", c->top, name);
                if (c->preparing)
                        save_map(c->maps, d, s, &clone_start);
        }
        int r = set_meta(&NODE_FD(s), &NODE_FD(d), st);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': set attributes of '%s': %s", c->top, name, strerror(-r));
        return 0;
}

static int copy_entry(struct copy *c, int sfd, int dfd, int pfd, const char *name, int depth) {
        struct stat st;
        int r;

        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0; /* removed while we walked: not part of the snapshot */
                return error_slot_set(NULL, -errno, "'%s': stat '%s': %m", c->top, name);
        }
        if (st.st_dev == c->area_dev && st.st_ino == c->area_ino)
                return 0;
        if (st.st_dev != c->dev)
                return 0; /* another mount or subvolume: not part of this unit */

        switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
                return copy_dir(c, sfd, dfd, pfd, name, &st, depth);
        case S_IFREG:
                return copy_file(c, sfd, dfd, pfd, name, &st);
        case S_IFLNK: {
                char target[PATH_MAX];
                ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return error_slot_set(NULL, -errno, "'%s': readlink '%s': %m", c->top, name);
                target[n] = 0;
                if (symlinkat(target, dfd, name) < 0)
                        return error_slot_set(NULL, -errno, "'%s': symlink '%s' in snapshot: %m", c->top, name);
                r = set_meta(&NODE_AT(sfd, name), &NODE_AT(dfd, name), &st);
                break;
        }
        case S_IFIFO:
        case S_IFCHR:
        case S_IFBLK:
                if (mknodat(dfd, name, st.st_mode, st.st_rdev) < 0)
                        return error_slot_set(NULL, -errno, "'%s': mknod '%s' in snapshot: %m", c->top, name);
                r = set_meta(&NODE_AT(sfd, name), &NODE_AT(dfd, name), &st);
                break;
        default:
                return 0; /* sockets have no content to keep */
        }
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': set attributes of '%s': %s", c->top, name, strerror(-r));
        return 0;
}

/* The directories between the snapshot dir and the unit's parent: walk
 * rel's directory part under root (source) and under snapfd (snapshot),
 * creating each snapshot directory (0700) when create, otherwise giving it
 * the attributes of its original.  Attributes come after the unit is
 * copied (a default ACL must not be inherited by the copies), so that
 * permissions on the way to the data stay what they were. */
static int walk_parents(const char *root, const char *rel, int snapfd, bool create, int *ret_parent_fd) {
        char buf[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int cur = fcntl(snapfd, F_DUPFD_CLOEXEC, 3);
        _cleanup_close_ int src = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *p, *slash;
        int r;

        if (cur < 0 || src < 0)
                return error_slot_set(NULL, -errno, "'%s': open: %m", root);
        strcpy(buf, rel);
        p = buf;
        while ((slash = strchr(p, '/'))) {
                *slash = 0;
                if (create && mkdirat(cur, p, 0700) < 0)
                        return error_slot_set(NULL, -errno, "mkdir '%s' in snapshot: %m", buf);
                int nsrc = openat(src, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int ncur = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nsrc < 0 || ncur < 0) {
                        r = -errno;
                        if (nsrc >= 0)
                                close(nsrc);
                        if (ncur >= 0)
                                close(ncur);
                        return error_slot_set(NULL, r, "open '%s': %s", buf, strerror(-r));
                }
                close(src);
                close(cur);
                src = nsrc;
                cur = ncur;
                if (!create) {
                        struct stat st;
                        if (fstat(src, &st) < 0)
                                return error_slot_set(NULL, -errno, "'%s/%s': %m", root, buf);
                        r = set_meta(&NODE_FD(src), &NODE_FD(cur), &st);
                        if (r < 0)
                                return error_slot_set(NULL, r, "set attributes of '%s' in snapshot: %s", buf,
                                               strerror(-r));
                }
                *slash = '/';
                p = slash + 1;
        }
        if (ret_parent_fd)
                *ret_parent_fd = TAKE_FD(cur);
        return 0;
}

/* The directory of the pre-clone that corresponds to the unit's parent
 * (pre/<dirname of rel>), or -1. */
static int open_pre_parent(int prefd, const char *rel) {
        char buf[LVSS_PROVIDER_PATH_MAX];
        int cur = fcntl(prefd, F_DUPFD_CLOEXEC, 3);
        char *p, *slash;

        strcpy(buf, rel);
        p = buf;
        while (cur >= 0 && (slash = strchr(p, '/'))) {
                *slash = 0;
                int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(cur);
                cur = next;
                p = slash + 1;
        }
        return cur;
}

/* Copy a unit that is not the mount root: recreate its parents (relative
 * path rel under root) inside the snapshot directory, then copy it there. */
static int copy_below_root(struct copy *c, const char *root, const char *rel, int snapfd, int prefd) {
        char up[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int parent = -1, srcparent = -1, preparent = -1;
        const char *base = strrchr(c->top, '/') + 1;
        int r;

        r = walk_parents(root, rel, snapfd, true, &parent);
        if (r < 0)
                return r;
        strcpy(up, c->top);
        char *sl = strrchr(up, '/');
        if (sl == up)
                sl[1] = 0;
        else
                *sl = 0;
        srcparent = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (srcparent < 0)
                return error_slot_set(NULL, -errno, "'%s': open: %m", up);
        if (prefd >= 0)
                preparent = open_pre_parent(prefd, rel);
        r = copy_entry(c, srcparent, parent, preparent, base, 0);
        if (r < 0)
                return r;
        return walk_parents(root, rel, snapfd, false, NULL);
}

/* The unit is the mount root: its children go straight into the snapshot
 * directory (the area itself is skipped), then the root's attributes. */
static int copy_root(struct copy *c, const char *root, int snapfd, int prefd) {
        struct stat rst;
        _cleanup_close_ int src = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (src < 0 || fstat(src, &rst) < 0)
                return error_slot_set(NULL, -errno, "'%s': open: %m", root);
        r = copy_children(c, src, snapfd, prefd, 0);
        if (r < 0)
                return r;
        r = set_meta(&NODE_FD(src), &NODE_FD(snapfd), &rst);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': set attributes of snapshot: %s", root, strerror(-r));
        return 0;
}

/* Copy the unit of s into area/<target>.  Preparing (pre == NULL): also save
 * each clone's extent map under area/<maps>.  Committing: take files from
 * area/<pre> with the maps saved in area/<maps>.  The caller publishes or
 * removes target. */
static int copy_unit(lvss_provider_snapshot *s, int area, const char *target, const char *pre,
                     const char *maps, size_t *ret_patched) {
        char root[LVSS_PROVIDER_PATH_MAX];
        _cleanup_close_ int snapfd = -1, prefd = -1, mapsfd = -1;
        struct stat ast, vst;
        const char *rel;
        int r;

        r = pv_find_root(s->volume, false, root);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot find its mount root: %s", s->volume, strerror(-r));
        rel = pv_relative(root, s->volume);
        if (!rel)
                return error_slot_set(NULL, -EINVAL, "'%s' is not below '%s'", s->volume, root);
        if (fstat(area, &ast) < 0 || stat(s->volume, &vst) < 0)
                return error_slot_set(NULL, -errno, "'%s': stat: %m", s->volume);
        (void) pv_rm_tree(area, target); /* leftover of a crash */
        if (mkdirat(area, target, 0700) < 0)
                return error_slot_set(NULL, -errno, "'%s': mkdir %s: %m", root, target);
        snapfd = openat(area, target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (snapfd < 0)
                return error_slot_set(NULL, -errno, "'%s': open %s: %m", root, target);
        if (pre)
                prefd = openat(area, pre, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (maps && !pre) {
                (void) pv_rm_tree(area, maps);
                (void) mkdirat(area, maps, 0700);
        }
        if (maps)
                mapsfd = openat(area, maps, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        struct copy c = {
                .dev = vst.st_dev, .area_dev = ast.st_dev, .area_ino = ast.st_ino,
                .top = s->volume, .maps = mapsfd, .preparing = !pre,
        };
        r = rel[0] == 0 ? copy_root(&c, root, snapfd, prefd)
                        : copy_below_root(&c, root, rel, snapfd, prefd);
        if (ret_patched)
                *ret_patched = c.patched;
        return r;
}

static int reflink_prepare(lvss_provider_snapshot *snap) {
        char root[LVSS_PROVIDER_PATH_MAX], pre[LVSS_PROVIDER_ID_MAX + 16], maps[LVSS_PROVIDER_ID_MAX + 16];
        _cleanup_close_ int area = -1;
        int r;

        r = pv_find_root(snap->volume, false, root);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot find its mount root: %s", snap->volume, strerror(-r));
        /* The snapshot shows the added unit; content lives under priv. */
        r = pv_fill_paths(snap, root);
        if (r < 0)
                return r;
        r = pv_area_open(root, true, &area);
        if (r < 0)
                return r;
        if (faccessat(area, snap->snapshot_id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return error_slot_set(NULL, LVSS_E_OBJECT_ALREADY_EXISTS, "snapshot '%s' already exists", snap->priv);
        /* Pre-clone now, while writers still run, so that commit only has
         * to catch up.  Best effort: without it commit clones everything. */
        if (aux_name(snap, "pre", pre, sizeof(pre)) < 0 || aux_name(snap, "premaps", maps, sizeof(maps)) < 0)
                return error_slot_set(NULL, -ENAMETOOLONG, "snapshot id too long");
        if (copy_unit(snap, area, pre, NULL, maps, NULL) < 0) {
                (void) pv_rm_tree(area, pre);
                (void) pv_rm_tree(area, maps);
                error_slot_clear(NULL);   /* not a failure of prepare */
        }
        return 0;
}

/* No syncfs (issue 14): a clone needs the source's page cache, not the
 * disk.  FICLONE and FICLONERANGE write back and wait for the dirty pages
 * of the ranges they share, FIEMAP_FLAG_SYNC those of the file it maps, so
 * the pre-clone at prepare already wrote out each file's data and commit
 * writes only what changed since, file by file.  syncfs would add a log
 * force and a cache flush of the whole device (the bulk of an empty
 * cycle; inside the window, of a loaded writer's) that no clone needs. */
static int reflink_pre_commit(lvss_provider_snapshot *const *snaps, size_t n) {
        (void) snaps;
        (void) n;
        return 0;
}

static int clone_one(lvss_provider_snapshot *s) {
        char root[LVSS_PROVIDER_PATH_MAX], partial[LVSS_PROVIDER_ID_MAX + 16], pre[LVSS_PROVIDER_ID_MAX + 16];
        char maps[LVSS_PROVIDER_ID_MAX + 16];
        _cleanup_close_ int area = -1;
        int r;

        r = pv_find_root(s->volume, false, root);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot find its mount root: %s", s->volume, strerror(-r));
        r = pv_area_open(root, false, &area);
        if (r < 0)
                return r == -ENOENT ? error_slot_set(NULL, r, "'%s': snapshot area missing: %s", root, strerror(-r)) : r;
        if (aux_name(s, "partial", partial, sizeof(partial)) < 0 || aux_name(s, "pre", pre, sizeof(pre)) < 0 ||
            aux_name(s, "premaps", maps, sizeof(maps)) < 0)
                return error_slot_set(NULL, -ENAMETOOLONG, "snapshot id too long");
        r = copy_unit(s, area, partial, pre, maps, NULL);
        if (r < 0)
                return r;
        /* Publish atomically: a directory named <id> is always complete. */
        if (renameat(area, partial, area, s->snapshot_id) < 0)
                return error_slot_set(NULL, -errno, "'%s': rename %s: %m", root, partial);
        return 0;
}

static int reflink_abort(lvss_provider_snapshot *snap);

static int reflink_commit(lvss_provider_snapshot *const *snaps, size_t n) {
        size_t i;
        int r = 0;

        for (i = 0; i < n; i++) {
                r = clone_one(snaps[i]);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                /* No partial commit: remove this one's partial copy and the
                 * snapshots already made, keeping the failure's reason. */
                ErrorSlot reason = *error_slot_thread();
                for (size_t j = 0; j <= i && j < n; j++)
                        (void) reflink_abort(snaps[j]);
                *error_slot_thread() = reason;
        }
        return r;
}

/* After thaw: drop what is left of the pre-clones (files deleted since
 * prepare), outside the window. */
static int reflink_post_commit(lvss_provider_snapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char pre[LVSS_PROVIDER_ID_MAX + 16];
                _cleanup_close_ int area = -1;
                if (pv_priv_open_area(snaps[i], &area) < 0) {
                        error_slot_clear(NULL);   /* best effort; post-commit does not fail */
                        continue;
                }
                if (aux_name(snaps[i], "pre", pre, sizeof(pre)) == 0)
                        (void) pv_rm_tree(area, pre);
                if (aux_name(snaps[i], "premaps", pre, sizeof(pre)) == 0)
                        (void) pv_rm_tree(area, pre);
        }
        return 0;
}

static int remove_snapshot(const lvss_provider_snapshot *snap) {
        static const char *const suffixes[] = { "pre", "premaps", "partial" };
        char name[LVSS_PROVIDER_ID_MAX + 16];
        _cleanup_close_ int area = -1;
        int r;

        r = pv_priv_open_area(snap, &area);
        if (r == -ENOENT)
                return 0; /* area gone: nothing left to delete */
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                r = aux_name(snap, suffixes[i], name, sizeof(name));
                if (r >= 0)
                        r = pv_rm_tree(area, name);
                if (r < 0)
                        return error_slot_set(NULL, r, "'%s': cannot delete %s: %s", snap->priv, name, strerror(-r));
        }
        r = pv_rm_tree(area, snap->snapshot_id);
        if (r < 0)
                return error_slot_set(NULL, r, "'%s': cannot delete snapshot: %s", snap->priv, strerror(-r));
        return 0;
}

static int reflink_abort(lvss_provider_snapshot *snap) {
        if (!snap->priv[0]) {
                /* Maybe prepared by an lvssd that crashed before recording
                 * priv: derive it from the volume's mount root. */
                char root[LVSS_PROVIDER_PATH_MAX];
                lvss_provider_snapshot copy;
                if (!snap->volume[0] || pv_find_root(snap->volume, false, root) < 0 ||
                    pv_priv_derive(snap, root, &copy) < 0)
                        return 0; /* never prepared, or the volume is gone */
                return remove_snapshot(&copy);
        }
        return remove_snapshot(snap);
}

static int reflink_delete(const lvss_provider_snapshot *snap) {
        /* Test builds: LVSS_TEST_REFLINK_DELETE=fail-once makes the process's
         * first deletion fail (a leftover the next deletion removes). */
        static bool failed_once;
        if (!failed_once && TEST_HOOK_IS("LVSS_TEST_REFLINK_DELETE", "fail-once")) {
                failed_once = true;
                return error_slot_set(NULL, -EIO, "deletion failed (test hook)");
        }
        return remove_snapshot(snap);
}

static int reflink_scan(const char *root,
                       int (*found)(const lvss_provider_snapshot *snap, int complete, void *userdata),
                       void *userdata) {
        return pv_scan_area(root, false, found, userdata);
}

const lvss_provider lvss_provider_reflink = {
        .version = LVSS_PROVIDER_VERSION,
        .id = "6a1e3b52-4c1f-4b0e-9d3a-2f6c8e9b1a02",
        .name = "reflink",
        .type = "filesystem",
        .is_supported = reflink_is_supported,
        .prepare = reflink_prepare,
        .pre_commit = reflink_pre_commit,
        .commit = reflink_commit,
        .post_commit = reflink_post_commit,
        .abort = reflink_abort,
        .delete_snapshot = reflink_delete,
        .scan = reflink_scan,
};
