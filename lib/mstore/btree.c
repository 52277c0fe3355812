/* SPDX-License-Identifier: MIT */
/*
 * btree.c: B+tree over the pager.  Node body (after the 32-byte page
 * header): 32 u16 ncells | 34 u16 0 | 36 u32 0 | 40 u64 link (leaf: right
 * sibling, internal: leftmost child) | 48 cells packed in key order.
 *   leaf cell:     u16 klen | u8 flags (1 = overflow) | u8 0 | u32 vlen | key | value or u64 first overflow page
 *   internal cell: u16 klen | u16 0 | u64 child | key
 * Overflow page body: 32 u64 next | 40 u32 len | 44 data.
 * Modifications decode a node, edit the cell list and re-encode it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "err.h"
#include "lib/core/array.h"
#include "lib/core/macro.h"

#define NODE_CELLS 48u
#define NODE_SPACE (PAGE_SIZE - NODE_CELLS)
#define OVF_DATA 44u
#define OVF_CAP (PAGE_SIZE - OVF_DATA)
#define MAX_CELLS 1024

typedef struct cell {
        const uint8_t *key;
        uint16_t klen;
        uint8_t flags;
        uint32_t vlen;
        const uint8_t *val;   /* inline value or 8-byte overflow pgno */
        uint64_t child;
} cell;

int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
        int c = memcmp(a, b, MIN(al, bl));
        if (c)
                return c;
        return al < bl ? -1 : al > bl;
}

static size_t leaf_cell_size(const cell *c) {
        return 8u + c->klen + ((c->flags & 1) ? 8u : c->vlen);
}
static size_t int_cell_size(const cell *c) {
        return 12u + c->klen;
}

/* Decode a node's cells, checking bounds.  Returns count or MSTORE_E_CORRUPT
 * (the reason in ES, NULL: none). */
static int decode(const uint8_t *page, int leaf, cell *cells, ErrorSlot *es) {
        unsigned n = unaligned_read_le16(page + 32);
        size_t o = NODE_CELLS;
        if (n > MAX_CELLS)
                return err_reason(es, MSTORE_E_CORRUPT, "too many cells");
        for (unsigned i = 0; i < n; i++) {
                cell c = { 0 };
                if (o + (leaf ? 8 : 12) > PAGE_SIZE)
                        return err_reason(es, MSTORE_E_CORRUPT, "cell header beyond page end");
                c.klen = unaligned_read_le16(page + o);
                if (c.klen == 0 || c.klen > MSTORE_MAX_KEY_SIZE)
                        return err_reason(es, MSTORE_E_CORRUPT, "bad key length");
                if (leaf) {
                        c.flags = page[o + 2];
                        c.vlen = unaligned_read_le32(page + o + 4);
                        c.key = page + o + 8;
                        c.val = c.key + c.klen;
                        if (c.flags > 1 || (!(c.flags & 1) && c.vlen > BT_INLINE_MAX) ||
                            c.vlen > MSTORE_MAX_VALUE_SIZE)
                                return err_reason(es, MSTORE_E_CORRUPT, "bad value length");
                        o += leaf_cell_size(&c);
                } else {
                        c.child = unaligned_read_le64(page + o + 4);
                        c.key = page + o + 12;
                        o += int_cell_size(&c);
                }
                if (o > PAGE_SIZE)
                        return err_reason(es, MSTORE_E_CORRUPT, "cell beyond page end");
                if (i > 0 && key_cmp(cells[i - 1].key, cells[i - 1].klen, c.key, c.klen) >= 0)
                        return err_reason(es, MSTORE_E_CORRUPT, "keys out of order");
                cells[i] = c;
        }
        return (int) n;
}

/* A node of PATH that failed decode(): decode it again for the reason and
 * raise it.  Its own frame (noinline) keeps the slot off the stack of the
 * recursive insert. */
__attribute__((noinline, cold)) static int node_corrupt(const char *path, uint64_t pgno, const uint8_t *page,
                                                        int leaf, cell *cells) {
        ErrorSlot es;
        int n = decode(page, leaf, cells, &es);
        return mstore__error(n < 0 ? n : MSTORE_E_CORRUPT, "%s: page %llu: %s", path, (unsigned long long) pgno,
                             n < 0 ? error_slot_get(&es) : "changed while read");
}

int bt_check_page(const uint8_t *page, ErrorSlot *es) {
        uint32_t t = page_type(page);
        if (t != PT_LEAF && t != PT_INTERNAL)
                return 0;
        cell *cells = malloc(MAX_CELLS * sizeof *cells);
        if (!cells)
                return err_reason(es, -ENOMEM, "out of memory");
        int r = decode(page, t == PT_LEAF, cells, es);
        free(cells);
        return r < 0 ? r : 0;
}

static size_t cells_size(const cell *c, int n, int leaf) {
        size_t s = 0;
        for (int i = 0; i < n; i++)
                s += leaf ? leaf_cell_size(&c[i]) : int_cell_size(&c[i]);
        return s;
}

/* Encode into a scratch buffer first: cells may point into the page itself. */
static void encode(uint8_t *page, const cell *c, int n, int leaf, uint64_t link) {
        uint8_t buf[PAGE_SIZE];
        memcpy(buf, page, NODE_CELLS);
        memset(buf + NODE_CELLS, 0, PAGE_SIZE - NODE_CELLS);
        unaligned_write_le16(buf + 32, (uint16_t) n);
        unaligned_write_le64(buf + 40, link);
        size_t o = NODE_CELLS;
        for (int i = 0; i < n; i++) {
                unaligned_write_le16(buf + o, c[i].klen);
                if (leaf) {
                        buf[o + 2] = c[i].flags;
                        unaligned_write_le32(buf + o + 4, c[i].vlen);
                        memcpy(buf + o + 8, c[i].key, c[i].klen);
                        size_t vl = (c[i].flags & 1) ? 8 : c[i].vlen;
                        if (vl)
                                memcpy(buf + o + 8 + c[i].klen, c[i].val, vl);
                        o += 8 + c[i].klen + vl;
                } else {
                        unaligned_write_le64(buf + o + 4, c[i].child);
                        memcpy(buf + o + 12, c[i].key, c[i].klen);
                        o += 12 + c[i].klen;
                }
        }
        memcpy(page, buf, PAGE_SIZE);
}

/* ------------------------------------------------------- allocation */

int btx_touch(btx *t, pg *g) {
        if (page_version(g->data) == t->version && g->dirty)
                return 0;
        if (ARRAY_RESERVE_ONE(t->touched, t->cap, t->ntouched, 16) < 0)
                return -ENOMEM;
        t->touched[t->ntouched++] = g->pgno;
        page_set_version(g->data, t->version);
        pager_dirty(t->p, g);
        return 0;
}

int btx_alloc(btx *t, uint32_t type, pg **ret) {
        pg *g;
        int r;
        uint64_t pgno;
        if (t->meta->free_head) {
                pgno = t->meta->free_head;
                r = pager_get(t->p, pgno, &g);
                if (r < 0)
                        return r;
                if (page_type(g->data) != PT_FREE)
                        return mstore__error(MSTORE_E_CORRUPT, "%s: free list page %llu is in use",
                                             t->p->path, (unsigned long long) pgno);
                t->meta->free_head = unaligned_read_le64(g->data + 32);
        } else {
                pgno = t->meta->page_count++;
                r = pager_new(t->p, pgno, &g);
                if (r < 0)
                        return r;
        }
        page_init(g->data, pgno, type, 0);
        r = btx_touch(t, g);
        if (r < 0)
                return r;
        *ret = g;
        return 0;
}

int btx_free(btx *t, uint64_t pgno) {
        pg *g;
        int r = pager_get(t->p, pgno, &g);
        if (r < 0)
                return r;
        page_init(g->data, pgno, PT_FREE, 0);
        unaligned_write_le64(g->data + 32, t->meta->free_head);
        t->meta->free_head = pgno;
        return btx_touch(t, g);
}

/* --------------------------------------------------------- overflow */

static int ovf_write(btx *t, const uint8_t *val, size_t vlen, uint64_t *ret_first) {
        uint64_t first = 0;
        pg *prev = NULL;
        for (size_t o = 0; o < vlen; o += OVF_CAP) {
                pg *g;
                int r = btx_alloc(t, PT_OVERFLOW, &g);
                if (r < 0)
                        return r;
                size_t l = MIN(OVF_CAP, vlen - o);
                unaligned_write_le32(g->data + 40, (uint32_t) l);
                memcpy(g->data + OVF_DATA, val + o, l);
                if (prev)
                        unaligned_write_le64(prev->data + 32, g->pgno);
                else
                        first = g->pgno;
                prev = g;
        }
        *ret_first = first;
        return 0;
}

static int ovf_free(btx *t, uint64_t pgno, uint32_t vlen) {
        for (uint64_t n = (vlen + OVF_CAP - 1) / OVF_CAP; pgno && n > 0; n--) {
                pg *g;
                int r = pager_get(t->p, pgno, &g);
                if (r < 0)
                        return r;
                uint64_t next = unaligned_read_le64(g->data + 32);
                r = btx_free(t, pgno);
                if (r < 0)
                        return r;
                pgno = next;
        }
        return 0;
}

static int ovf_read(pager *p, uint64_t pgno, uint32_t vlen, uint8_t *out) {
        size_t o = 0;
        while (o < vlen) {
                pg *g;
                int r = pager_get(p, pgno, &g);
                if (r < 0)
                        return r;
                uint32_t l = unaligned_read_le32(g->data + 40);
                if (page_type(g->data) != PT_OVERFLOW || l > OVF_CAP || l > vlen - o || l == 0)
                        return mstore__error(MSTORE_E_CORRUPT, "%s: overflow page %llu is malformed", p->path,
                                             (unsigned long long) pgno);
                memcpy(out + o, g->data + OVF_DATA, l);
                o += l;
                pgno = unaligned_read_le64(g->data + 32);
        }
        return 0;
}

static int value_copy(pager *p, const cell *c, void **ret_val, size_t *ret_len) {
        uint8_t *v = malloc(c->vlen + 1);
        if (!v)
                return -ENOMEM;
        int r = 0;
        if (c->flags & 1)
                r = ovf_read(p, unaligned_read_le64(c->val), c->vlen, v);
        else
                memcpy(v, c->val, c->vlen);
        if (r < 0) {
                free(v);
                return r;
        }
        v[c->vlen] = 0;
        *ret_val = v;
        *ret_len = c->vlen;
        return 0;
}

/* ------------------------------------------------------------ search */

static int node_get(pager *p, uint64_t pgno, pg **ret, int *ret_leaf) {
        int r = pager_get(p, pgno, ret);
        if (r < 0)
                return r;
        uint32_t t = page_type((*ret)->data);
        if (t != PT_LEAF && t != PT_INTERNAL)
                return mstore__error(MSTORE_E_CORRUPT, "%s: page %llu is not a B+tree page", p->path,
                                     (unsigned long long) pgno);
        *ret_leaf = t == PT_LEAF;
        return 0;
}

static int child_for(const cell *c, int n, uint64_t link, const void *key, size_t klen) {
        (void) link;
        int i = -1;
        for (int j = 0; j < n; j++) {
                if (key_cmp(key, klen, c[j].key, c[j].klen) >= 0)
                        i = j;
                else
                        break;
        }
        return i; /* -1 = leftmost (link) */
}

static int descend(pager *p, uint64_t root, const void *key, size_t klen, pg **ret_leaf, cell *cells,
                   int *ret_n) {
        uint64_t pgno = root;
        for (int depth = 0; depth < BT_MAX_DEPTH; depth++) {
                pg *g;
                int leaf;
                int r = node_get(p, pgno, &g, &leaf);
                if (r < 0)
                        return r;
                int n = decode(g->data, leaf, cells, NULL);
                if (n < 0)
                        return node_corrupt(p->path, pgno, g->data, leaf, cells);
                if (leaf) {
                        *ret_leaf = g;
                        *ret_n = n;
                        return 0;
                }
                int i = child_for(cells, n, 0, key, klen);
                pgno = i < 0 ? unaligned_read_le64(g->data + 40) : cells[i].child;
        }
        return mstore__error(MSTORE_E_CORRUPT, "%s: B+tree deeper than %d levels", p->path, BT_MAX_DEPTH);
}

int bt_get(pager *p, uint64_t root, const void *key, size_t klen, void **ret_val, size_t *ret_len) {
        _cleanup_free_ cell *cells = malloc(MAX_CELLS * sizeof *cells);
        if (!cells)
                return -ENOMEM;
        pg *leaf;
        int n;
        int r = descend(p, root, key, klen, &leaf, cells, &n);
        if (r < 0)
                return r;
        for (int i = 0; i < n; i++) {
                int c = key_cmp(key, klen, cells[i].key, cells[i].klen);
                if (c == 0)
                        return value_copy(p, &cells[i], ret_val, ret_len);
                if (c < 0)
                        break;
        }
        return -ENOENT;
}

int bt_seek(pager *p, uint64_t root, const void *key, size_t klen, int strict,
            uint8_t **ret_key, size_t *ret_klen, void **ret_val, size_t *ret_vlen) {
        _cleanup_free_ cell *cells = malloc(MAX_CELLS * sizeof *cells);
        if (!cells)
                return -ENOMEM;
        pg *leaf;
        int n, r;
        if (key)
                r = descend(p, root, key, klen, &leaf, cells, &n);
        else
                r = descend(p, root, "", 0, &leaf, cells, &n);
        if (r < 0)
                return r;
        for (uint64_t hops = 0;; hops++) {
                for (int i = 0; i < n; i++) {
                        int c = key ? key_cmp(cells[i].key, cells[i].klen, key, klen) : 1;
                        if (c > 0 || (c == 0 && !strict)) {
                                uint8_t *k = malloc(cells[i].klen + 1u);
                                if (!k)
                                        return -ENOMEM;
                                memcpy(k, cells[i].key, cells[i].klen);
                                k[cells[i].klen] = 0;
                                if (ret_val) {
                                        r = value_copy(p, &cells[i], ret_val, ret_vlen);
                                        if (r < 0) {
                                                free(k);
                                                return r;
                                        }
                                }
                                *ret_key = k;
                                *ret_klen = cells[i].klen;
                                return 1;
                        }
                }
                uint64_t next = unaligned_read_le64(leaf->data + 40);
                if (!next)
                        return 0;
                if (hops > (1ull << 40))
                        return MSTORE_E_CORRUPT;
                int isleaf;
                r = node_get(p, next, &leaf, &isleaf);
                if (r < 0)
                        return r;
                if (!isleaf || (n = decode(leaf->data, 1, cells, NULL)) < 0)
                        return mstore__error(MSTORE_E_CORRUPT, "%s: leaf chain page %llu is malformed", p->path,
                                             (unsigned long long) next);
        }
}

/* ------------------------------------------------------------ update */

typedef struct split {
        int happened;
        uint8_t key[MSTORE_MAX_KEY_SIZE];
        uint16_t klen;
        uint64_t right;
} split;

/* Write n cells into g, or split g into g + a new right page. */
static int store_cells(btx *t, pg *g, cell *c, int n, int leaf, split *sp) {
        uint64_t link = unaligned_read_le64(g->data + 40);
        int r = btx_touch(t, g);
        if (r < 0)
                return r;
        if (cells_size(c, n, leaf) <= NODE_SPACE) {
                encode(g->data, c, n, leaf, link);
                sp->happened = 0;
                return 0;
        }
        size_t total = cells_size(c, n, leaf), acc = 0;
        int m = 0;
        while (m < n - 1 && acc + (leaf ? leaf_cell_size(&c[m]) : int_cell_size(&c[m])) <= total / 2)
                acc += leaf ? leaf_cell_size(&c[m]) : int_cell_size(&c[m]), m++;
        if (m == 0)
                m = 1;
        pg *right;
        r = btx_alloc(t, leaf ? PT_LEAF : PT_INTERNAL, &right);
        if (r < 0)
                return r;
        /* Copy the separator before re-encoding g (cells point into g). */
        sp->happened = 1;
        sp->right = right->pgno;
        if (leaf) {
                sp->klen = c[m].klen;
                memcpy(sp->key, c[m].key, c[m].klen);
                encode(right->data, c + m, n - m, 1, link);
                encode(g->data, c, m, 1, right->pgno);
        } else {
                sp->klen = c[m].klen;
                memcpy(sp->key, c[m].key, c[m].klen);
                encode(right->data, c + m + 1, n - m - 1, 0, c[m].child);
                encode(g->data, c, m, 0, link);
        }
        return 0;
}

static int ins(btx *t, uint64_t pgno, const cell *nc, int depth, split *sp, int *ret_replaced) {
        if (depth >= BT_MAX_DEPTH)
                return mstore__error(MSTORE_E_CORRUPT, "%s: B+tree too deep", t->p->path);
        pg *g;
        int leaf;
        int r = node_get(t->p, pgno, &g, &leaf);
        if (r < 0)
                return r;
        _cleanup_free_ cell *c = malloc((MAX_CELLS + 1) * sizeof *c);
        if (!c)
                return -ENOMEM;
        int n = decode(g->data, leaf, c, NULL);
        if (n < 0)
                return node_corrupt(t->p->path, pgno, g->data, leaf, c);
        if (leaf) {
                int pos = 0;
                while (pos < n && key_cmp(c[pos].key, c[pos].klen, nc->key, nc->klen) < 0)
                        pos++;
                if (pos < n && key_cmp(c[pos].key, c[pos].klen, nc->key, nc->klen) == 0) {
                        if (c[pos].flags & 1) {
                                r = ovf_free(t, unaligned_read_le64(c[pos].val), c[pos].vlen);
                                if (r < 0)
                                        return r;
                        }
                        c[pos] = *nc;
                        *ret_replaced = 1;
                } else {
                        if (n >= MAX_CELLS)
                                return -E2BIG;
                        memmove(c + pos + 1, c + pos, (size_t) (n - pos) * sizeof *c);
                        c[pos] = *nc;
                        n++;
                }
                return store_cells(t, g, c, n, 1, sp);
        }
        int i = child_for(c, n, 0, nc->key, nc->klen);
        uint64_t child = i < 0 ? unaligned_read_le64(g->data + 40) : c[i].child;
        split csp = { 0 };
        r = ins(t, child, nc, depth + 1, &csp, ret_replaced);
        if (r < 0)
                return r;
        if (!csp.happened) {
                sp->happened = 0;
                return 0;
        }
        /* g may have been re-read: decode again (pages are stable in cache) */
        n = decode(g->data, 0, c, NULL);
        if (n < 0 || n >= MAX_CELLS)
                return MSTORE_E_CORRUPT;
        int pos = i + 1;
        memmove(c + pos + 1, c + pos, (size_t) (n - pos) * sizeof *c);
        c[pos] = (cell) { .key = csp.key, .klen = csp.klen, .child = csp.right };
        n++;
        return store_cells(t, g, c, n, 0, sp);
}

int bt_create(btx *t) {
        pg *root;
        int r = btx_alloc(t, PT_LEAF, &root);
        if (r < 0)
                return r;
        t->meta->root = root->pgno;
        return 0;
}

int bt_put(btx *t, const void *key, size_t klen, const void *val, size_t vlen) {
        if (klen == 0 || klen > MSTORE_MAX_KEY_SIZE || vlen > MSTORE_MAX_VALUE_SIZE)
                return -E2BIG;
        cell nc = { .key = key, .klen = (uint16_t) klen, .vlen = (uint32_t) vlen, .val = val };
        uint8_t ref[8];
        if (8 + klen + vlen > BT_INLINE_MAX) {
                uint64_t first;
                int r = ovf_write(t, val, vlen, &first);
                if (r < 0)
                        return r;
                unaligned_write_le64(ref, first);
                nc.flags = 1;
                nc.val = ref;
        }
        split sp = { 0 };
        int replaced = 0;
        int r = ins(t, t->meta->root, &nc, 0, &sp, &replaced);
        if (r < 0)
                return r;
        if (sp.happened) {
                pg *nr;
                r = btx_alloc(t, PT_INTERNAL, &nr);
                if (r < 0)
                        return r;
                cell c = { .key = sp.key, .klen = sp.klen, .child = sp.right };
                encode(nr->data, &c, 1, 0, t->meta->root);
                t->meta->root = nr->pgno;
        }
        if (!replaced)
                t->meta->nkeys++;
        return 0;
}

int bt_del(btx *t, const void *key, size_t klen) {
        _cleanup_free_ cell *c = malloc(MAX_CELLS * sizeof *c);
        if (!c)
                return -ENOMEM;
        pg *leaf;
        int n;
        int r = descend(t->p, t->meta->root, key, klen, &leaf, c, &n);
        if (r < 0)
                return r;
        for (int i = 0; i < n; i++)
                if (key_cmp(c[i].key, c[i].klen, key, klen) == 0) {
                        if (c[i].flags & 1) {
                                r = ovf_free(t, unaligned_read_le64(c[i].val), c[i].vlen);
                                if (r < 0)
                                        return r;
                        }
                        memmove(c + i, c + i + 1, (size_t) (n - i - 1) * sizeof *c);
                        r = btx_touch(t, leaf);
                        if (r < 0)
                                return r;
                        encode(leaf->data, c, n - 1, 1, unaligned_read_le64(leaf->data + 40));
                        t->meta->nkeys--;
                        return 0;
                }
        return -ENOENT;
}
