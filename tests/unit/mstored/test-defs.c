/* SPDX-License-Identifier: MIT */
/* Unit tests of mstored's persistent definitions (store/mstored/defs.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "defs.h"

static char dir[] = "/tmp/test-defs.XXXXXX";

static void write_file(const char *text) {
        char fn[256];
        snprintf(fn, sizeof(fn), "%s/%s", dir, DEFS_FILE);
        FILE *f = fopen(fn, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_roundtrip(void **state) {
        struct defs *d = NULL;
        assert_int_equal(defs_load(dir, &d, NULL), 0); /* no file yet: empty */
        assert_int_equal(d->n_sgs, 0);
        char base[4];
        assert_int_equal(defs_next_base(d, base), 0);
        assert_string_equal(base, "E00");
        struct defs_sg *sg = &d->sgs[d->n_sgs++];
        strcpy(sg->name, "SG1");
        memcpy(sg->base, base, 4);
        sg->path = strdup("/srv/SG1");
        sg->log_path = strdup("/srv/SG1/logs");
        sg->dbs[0] = (struct defs_db){.name = "DB1", .mounted = true, .allow_restore_overwrite = true};
        sg->n_dbs = 1;
        assert_int_equal(defs_next_base(d, base), 0);
        assert_string_equal(base, "E01");
        assert_int_equal(defs_add_mailbox(d, "a@x", "SG1", "DB1"), 0);
        assert_int_equal(defs_add_mailbox(d, "a@x", "SG1", "DB1"), -EEXIST);
        assert_int_equal(defs_add_mailbox(d, "a b@x", "SG1", "DB1"), -EINVAL);
        assert_int_equal(defs_save(d, dir), 0);
        defs_free(d);

        assert_int_equal(defs_load(dir, &d, NULL), 0);
        assert_int_equal(d->n_sgs, 1);
        sg = defs_find_sg(d, "SG1");
        assert_non_null(sg);
        assert_string_equal(sg->base, "E00");
        assert_string_equal(sg->log_path, "/srv/SG1/logs");
        struct defs_db *db = defs_find_db(sg, "DB1");
        assert_non_null(db);
        assert_true(db->mounted);
        assert_true(db->allow_restore_overwrite);
        assert_false(db->is_public);
        assert_non_null(defs_find_mailbox(d, "a@x"));
        assert_null(defs_find_mailbox(d, "b@x"));
        defs_free(d);
}

static void test_malformed(void **state) {
        static const char *bad[] = {
                "not json",
                "{\"version\":2}",
                "{\"version\":1,\"storage_groups\":{}}",
                "{\"version\":1,\"storage_groups\":[{\"name\":\"../x\",\"base\":\"E00\",\"path\":\"/a\",\"log_path\":\"/a\"}]}",
                "{\"version\":1,\"storage_groups\":[{\"name\":\"a\",\"base\":\"E0Z\",\"path\":\"/a\",\"log_path\":\"/a\"}]}",
                "{\"version\":1,\"storage_groups\":[{\"name\":\"a\",\"base\":\"E00\",\"path\":\"rel\",\"log_path\":\"/a\"}]}",
                "{\"version\":1,\"storage_groups\":[{\"name\":\"a\",\"base\":\"E00\",\"path\":\"/a\",\"log_path\":\"/a\"},"
                "{\"name\":\"a\",\"base\":\"E01\",\"path\":\"/a\",\"log_path\":\"/a\"}]}",
                "{\"version\":1,\"mailboxes\":[{\"address\":\"a@x\",\"sg\":\"S\"}]}",
                "{\"version\":1,\"mailboxes\":[{\"address\":\"a@x\",\"sg\":\"S\",\"db\":\"D\"},"
                "{\"address\":\"a@x\",\"sg\":\"S\",\"db\":\"D\"}]}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                write_file(bad[i]);
                struct defs *d = NULL;
                ErrorSlot err;
                assert_int_equal(defs_load(dir, &d, &err), -EBADMSG);
                assert_null(d);
                assert_true(*error_slot_get(&err)); /* a reason */
        }
}

static void test_names(void **state) {
        assert_true(defs_name_valid("SG1"));
        assert_true(defs_name_valid("db_2.x-y"));
        assert_false(defs_name_valid(""));
        assert_false(defs_name_valid(".hidden"));
        assert_false(defs_name_valid("a/b"));
        assert_false(defs_name_valid("-x"));
        char longname[80];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[79] = 0;
        assert_false(defs_name_valid(longname));
        assert_true(defs_address_valid("user@example.org"));
        assert_false(defs_address_valid("a/b@x"));
        assert_false(defs_address_valid("a b"));
}

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
