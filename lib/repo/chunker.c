/* SPDX-License-Identifier: MIT */
/*
 * lib/repo/chunker.c: content-defined chunking (FastCDC with normalized
 * chunking, Xia et al., USENIX ATC 2016), written from the paper.
 *
 * A 64-bit gear hash h = (h << 1) + gear[byte] rolls over the input; since
 * every step shifts one bit out, h depends on the last 64 bytes only, so a cut
 * point depends on local content and an insertion moves only the cut points
 * near it.  Hashing starts `min` bytes into a chunk (nothing shorter is ever
 * cut); before `avg` a harder mask (log2(avg)+2 bits) is used, after it an
 * easier one (log2(avg)-2 bits), which pulls sizes towards avg; `max` forces a
 * cut.
 *
 * The gear table is fixed (a repository format constant): 256 values of
 * splitmix64 seeded with GEAR_SEED.  Changing it changes every cut point and
 * so needs a new format version.
 */
#include "repo-int.h"

#define GEAR_SEED UINT64_C(0x6c7673732d726570)  /* "lvss-rep" */

static uint64_t gear[256];
static bool gear_ready;

static uint64_t splitmix64(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void gear_init(void) {
        uint64_t s = GEAR_SEED;

        if (gear_ready)
                return;
        for (size_t i = 0; i < 256; i++)
                gear[i] = splitmix64(&s);
        gear_ready = true;   /* idempotent: a racing second init writes the same values */
}

static unsigned log2u(uint32_t v) {
        unsigned n = 0;
        while (v > 1) {
                v >>= 1;
                n++;
        }
        return n;
}

int repo_chunker_params_check(const repo_chunker_params *p) {
        if (p->min < 64 || p->avg <= p->min || p->max <= p->avg || p->max > REPO_CHUNK_MAX_LIMIT)
                return repo_error(NULL, -EINVAL,
                                  "chunker: sizes must satisfy 64 <= min < avg < max <= %u (got %u/%u/%u)",
                                  REPO_CHUNK_MAX_LIMIT, p->min, p->avg, p->max);
        if (p->avg & (p->avg - 1))
                return repo_error(NULL, -EINVAL, "chunker: average size %u is not a power of two", p->avg);
        if (log2u(p->avg) < 6)
                return repo_error(NULL, -EINVAL, "chunker: average size %u too small", p->avg);
        return 0;
}

static uint64_t top_mask(unsigned bits) {
        if (bits == 0)
                return 0;
        if (bits >= 64)
                return UINT64_MAX;
        return ((UINT64_C(1) << bits) - 1) << (64 - bits);
}

size_t repo_chunker_cut(const repo_chunker_params *p, const uint8_t *buf, size_t n) {
        unsigned bits = log2u(p->avg);
        uint64_t mask_s = top_mask(bits + 2), mask_l = top_mask(bits - 2), h = 0;
        size_t i, end, normal;

        gear_init();
        if (n <= p->min)
                return n;
        end = MIN(n, (size_t) p->max);
        normal = MIN((size_t) p->avg, end);
        for (i = p->min; i < normal; i++) {
                h = (h << 1) + gear[buf[i]];
                if (!(h & mask_s))
                        return i + 1;
        }
        for (; i < end; i++) {
                h = (h << 1) + gear[buf[i]];
                if (!(h & mask_l))
                        return i + 1;
        }
        return end;
}
