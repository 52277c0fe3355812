/* SPDX-License-Identifier: MIT */
/*
 * btree.h: the B+tree of a .edb file (keys 1..512 bytes in memcmp order,
 * values of any size: inline up to BT_INLINE_MAX, else an overflow chain).
 *
 * B1 Leaves hold all entries and are linked left to right; internal pages
 *    hold separators: child i covers keys in [key_i, key_i+1).
 * B2 Every page a commit changes is "touched" once: stamped with the
 *    commit's version (> any version it had), marked dirty and listed so the
 *    commit can seal and log its image (no page is changed outside a commit).
 * B3 Deletion does not merge pages; empty leaves stay linked (simple, safe).
 * B4 Readers (shared database lock) never modify pages; they follow at most
 *    BT_MAX_DEPTH levels, so a damaged tree cannot loop them forever.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "page.h"
#include "pager.h"

#define BT_INLINE_MAX 1000u
#define BT_MAX_DEPTH 32

/* One commit's modification context of one database. */
typedef struct btx {
        pager *p;
        db_meta *meta;
        pg *meta_pg;
        uint64_t version;
        uint64_t *touched;
        size_t ntouched, cap;
} btx;

/* Page pgno is about to change in this commit (B2); allocation helpers. */
int btx_touch(btx *t, pg *g);
int btx_alloc(btx *t, uint32_t type, pg **ret);
int btx_free(btx *t, uint64_t pgno);

/* Create an empty tree (root leaf) in a fresh database. */
int bt_create(btx *t);
int bt_put(btx *t, const void *key, size_t klen, const void *val, size_t vlen);
int bt_del(btx *t, const void *key, size_t klen);  /* -ENOENT if absent */

/* Readers. */
int bt_get(pager *p, uint64_t root, const void *key, size_t klen, void **ret_val, size_t *ret_len);
/* First entry with key >= k (strict: > k); 1 found (malloc'ed copies), 0 none. */
int bt_seek(pager *p, uint64_t root, const void *key, size_t klen, int strict,
            uint8_t **ret_key, size_t *ret_klen, void **ret_val, size_t *ret_vlen);

/* Page-level structural check of one page image (used by verify/fuzz); the
 * reason of a failure in ES, NULL: none (page.h: page_check). */
int bt_check_page(const uint8_t *page, ErrorSlot *es);

int key_cmp(const void *a, size_t al, const void *b, size_t bl);
