/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the document model (WMD/BCD parsing, validation, limits,
 * round trips, writer edit windows), error names, thread ownership and the
 * requestor/writer API's argument and state checks that need no daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <lvss/lvss.h>

#include "lib/core/error-slot.h"
#include "lib/lvss/doc.h"

#define CLASS "5d1c8f0e-6a77-4a5e-9a39-0c7a1f7e2b11"
#define INST "0f6f2a99-9eac-4eb9-a6b7-d9480619050f"

static const char *wmd_ok =
        "{\"WRITER_METADATA\":{\"version\":1,"
        "\"IDENTIFICATION\":{\"writerId\":\"" CLASS "\",\"instanceId\":\"" INST "\",\"friendlyName\":\"W\","
        "\"usage\":\"user_data\",\"dataSource\":\"transacted_db\",\"level\":\"back_end\",\"freezeTimeout\":20000},"
        "\"RESTORE_METHOD\":{\"method\":\"restore_if_can_replace\",\"writerRestore\":\"always\",\"rebootRequired\":false},"
        "\"backupSchema\":3,"
        "\"EXCLUDE_FILES\":[{\"path\":\"/srv/x\",\"filespec\":\"*.tmp\",\"recursive\":true}],"
        "\"BACKUP_LOCATIONS\":["
        "{\"componentType\":\"filegroup\",\"logicalPath\":\"Mail\",\"componentName\":\"SG1\",\"selectable\":true,"
        " \"FILE_LIST\":[{\"path\":\"/srv/sg1\",\"filespec\":\"*\",\"recursive\":true,\"filespecBackupType\":3855}],"
        " \"DEPENDENCY\":[{\"writerId\":\"" CLASS "\",\"logicalPath\":\"\",\"componentName\":\"other\"}]},"
        "{\"componentType\":\"database\",\"logicalPath\":\"Mail/SG1\",\"componentName\":\"DB1\",\"selectable\":false,"
        " \"selectableForRestore\":true,"
        " \"DATABASE_FILES\":[{\"path\":\"/srv/sg1\",\"filespec\":\"DB1.edb\"}],"
        " \"DATABASE_LOGFILES\":[{\"path\":\"/srv/sg1\",\"filespec\":\"E00*.log\"}]}]}}";

static int parse_wm(const char *json, struct lvss_writer_metadata **ret) {
        ErrorSlot why;
        int r = lvss_doc_wm_parse(json, ret, &why);
        if (r < 0)
                printf("  (why: %s)\n", error_slot_get(&why));
        return r;
}

static void test_wmd_parse_and_roundtrip(void **state) {
        struct lvss_writer_metadata *wm, *wm2;
        char *text;
        json_t *j;

        assert_int_equal(parse_wm(wmd_ok, &wm), 0);
        assert_string_equal(wm->writer_id, CLASS);
        assert_int_equal(wm->level, LVSS_APP_BACK_END);
        assert_int_equal(wm->freeze_timeout_ms, 20000);
        assert_int_equal(wm->n_comps, 2);
        assert_int_equal(wm->comps[0].files.n, 1);
        assert_true(wm->comps[0].files.v[0].recursive);
        assert_int_equal(wm->comps[1].type, LVSS_CT_DATABASE);
        assert_int_equal(wm->comps[1].logs.n, 1);
        assert_int_equal(wm->comps[0].n_deps, 1);
        assert_int_equal(wm->method, LVSS_RME_RESTORE_IF_CAN_REPLACE);
        j = lvss_doc_wm_to_json(wm);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_int_equal(parse_wm(text, &wm2), 0);
        assert_int_equal(wm2->n_comps, 2);
        assert_string_equal(wm2->comps[1].logs.v[0].filespec, "E00*.log");
        assert_int_equal(wm2->schema, 3);
        free(text);
        lvss_doc_wm_free(wm);
        lvss_doc_wm_free(wm2);
}

static char *replace(const char *s, const char *from, const char *to) {
        const char *p = strstr(s, from);
        char *out;
        assert_non_null(p);
        out = malloc(strlen(s) + strlen(to) + 1);
        sprintf(out, "%.*s%s%s", (int) (p - s), s, to, p + strlen(from));
        return out;
}

static void expect_wm_invalid(const char *from, const char *to, int code) {
        struct lvss_writer_metadata *wm = NULL;
        char *bad = replace(wmd_ok, from, to);
        assert_int_equal(parse_wm(bad, &wm), code);
        assert_null(wm);
        free(bad);
}

static void test_wmd_refused(void **state) {
        struct lvss_writer_metadata *wm = NULL;

        assert_int_equal(parse_wm("not json", &wm), LVSS_E_CORRUPT_XML_DOCUMENT);
        assert_int_equal(parse_wm("{\"x\":1}", &wm), LVSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(parse_wm("[]", &wm), LVSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(parse_wm(NULL, &wm), LVSS_E_CORRUPT_XML_DOCUMENT);
        expect_wm_invalid("\"writerId\":\"" CLASS "\"", "\"writerId\":\"nope\"", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"usage\":\"user_data\"", "\"usage\":\"bogus\"", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"freezeTimeout\":20000", "\"freezeTimeout\":0", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"freezeTimeout\":20000", "\"freezeTimeout\":\"x\"", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"logicalPath\":\"Mail/SG1\",\"componentName\":\"DB1\"",
                          "\"logicalPath\":\"Mail\",\"componentName\":\"SG1\"", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"filespec\":\"DB1.edb\"", "\"filespec\":\"DB1.edb\",\"recursive\":true",
                          LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"friendlyName\":\"W\"", "\"friendlyName\":\"W\\u0000X\"", LVSS_E_CORRUPT_XML_DOCUMENT);
        expect_wm_invalid("\"version\":1", "\"version\":2", LVSS_E_INVALID_XML_DOCUMENT);
        expect_wm_invalid("\"backupSchema\":3", "\"backupSchema\":3,\"backupSchema\":4", LVSS_E_CORRUPT_XML_DOCUMENT);
        expect_wm_invalid("\"componentType\":\"filegroup\"", "\"componentType\":\"database\"",
                          LVSS_E_INVALID_XML_DOCUMENT);
}

static void test_wmd_limits(void **state) {
        struct lvss_writer_metadata *wm = NULL;
        size_t n = LVSS_DOC_MAX_FILES + 1, len = n * 20 + 64;
        char *files = malloc(len), *p = files, *doc;
        char *big;

        p += sprintf(p, "\"FILE_LIST\":[");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s{\"path\":\"/a\"}", i ? "," : "");
        sprintf(p, "],\"x\":[");
        doc = replace(wmd_ok, "\"FILE_LIST\":[", files);
        assert_int_equal(parse_wm(doc, &wm), LVSS_E_INVALID_XML_DOCUMENT);
        free(doc);
        free(files);

        /* a string longer than LVSS_DOC_MAX_STRING */
        big = malloc(LVSS_DOC_MAX_STRING + 32);
        memset(big, 'a', LVSS_DOC_MAX_STRING + 1);
        big[LVSS_DOC_MAX_STRING + 1] = 0;
        {
                char *to = malloc(LVSS_DOC_MAX_STRING + 64);
                sprintf(to, "\"caption\":\"%s\",\"componentName\":\"DB1\"", big);
                doc = replace(wmd_ok, "\"componentName\":\"DB1\"", to);
                assert_int_equal(parse_wm(doc, &wm), LVSS_E_INVALID_XML_DOCUMENT);
                free(doc);
                free(to);
        }
        free(big);

        /* a document larger than LVSS_DOC_MAX_BYTES */
        big = malloc(LVSS_DOC_MAX_BYTES + 16);
        memset(big, ' ', LVSS_DOC_MAX_BYTES + 8);
        big[LVSS_DOC_MAX_BYTES + 8] = 0;
        assert_int_equal(parse_wm(big, &wm), LVSS_E_CORRUPT_XML_DOCUMENT);
        free(big);
}

static const char *bcd_ok =
        "{\"BACKUP_COMPONENTS\":{\"version\":1,\"selectComponents\":true,\"backupType\":\"incremental\","
        "\"context\":0,\"snapshotSetId\":\"" INST "\","
        "\"WRITER_COMPONENTS\":[{\"instanceId\":\"" INST "\",\"writerId\":\"" CLASS "\",\"COMPONENT\":["
        "{\"componentType\":\"filegroup\",\"logicalPath\":\"Mail\",\"componentName\":\"SG1\","
        " \"previousBackupStamp\":\"p1\",\"backupSucceeded\":false}]}],"
        "\"SNAPSHOT_SET_DESCRIPTION\":{\"SNAPSHOT_DESCRIPTION\":[{\"snapshotId\":\"" INST "\","
        "\"originalVolumeName\":\"/srv/data/app\",\"volume\":\"/srv/data\","
        "\"snapshotDeviceObject\":\"/srv/data/.lvss-snapshots/x/app\"}]}}}";

static void test_bcd_roundtrip_and_merge(void **state) {
        ErrorSlot why;
        lvss_bcd *bcd, *edited;
        struct lvss_component *c, *ce;
        char *text, *p;
        json_t *j;

        assert_int_equal(lvss_doc_bcd_parse(bcd_ok, &bcd, &why), 0);
        assert_int_equal(bcd->backup_type, LVSS_BT_INCREMENTAL);
        assert_int_equal(bcd->n_writers, 1);
        c = bcd->writers[0]->comps[0];
        assert_string_equal(c->previous_backup_stamp, "p1");

        /* A writer edits its stamp (allowed) and backupSucceeded (not its field). */
        assert_int_equal(lvss_doc_bcd_parse(bcd_ok, &edited, &why), 0);
        edited->edit = LVSS_EDIT_WRITER_BACKUP;
        ce = edited->writers[0]->comps[0];
        assert_int_equal(lvss_component_set_backup_stamp(ce, "new-stamp"), 0);
        assert_int_equal(lvss_component_set_backup_succeeded(ce, 1), LVSS_E_BAD_STATE);
        assert_int_equal(lvss_component_set_restore_target(ce, LVSS_RT_ALTERNATE), LVSS_E_BAD_STATE);
        assert_int_equal(lvss_component_add_partial_file(ce, "/srv/x", "db.edb", "0:4096,0x10000:512", NULL), 0);
        assert_int_equal(lvss_component_add_partial_file(ce, "/srv/x", "db.edb", "0:4096,", NULL), -EINVAL);
        assert_int_equal(lvss_component_add_partial_file(ce, "/srv/x", "db.edb", "12", NULL), -EINVAL);
        assert_int_equal(lvss_component_add_differenced_files_by_last_modify_time(ce, "/srv/x", "*.log", 1, 42), 0);
        ce->backup_succeeded = true;  /* a hostile writer writes it anyway */
        assert_int_equal(lvss_doc_bcd_merge_writer(bcd, edited, INST, LVSS_EDIT_WRITER_BACKUP), 0);
        assert_string_equal(c->backup_stamp, "new-stamp");
        assert_false(c->backup_succeeded);
        lvss_doc_bcd_free(edited);

        j = lvss_doc_bcd_to_json(bcd);
        text = json_dumps(j, 0);
        json_decref(j);
        lvss_doc_bcd_free(bcd);
        assert_int_equal(lvss_doc_bcd_parse(text, &bcd, &why), 0);
        assert_string_equal(bcd->writers[0]->comps[0]->backup_stamp, "new-stamp");
        {
                lvss_partial_file pf;
                lvss_differenced_file df;
                c = bcd->writers[0]->comps[0];
                assert_int_equal(lvss_component_get_partial_file_count(c), 1);
                assert_int_equal(lvss_component_get_partial_file(c, 0, &pf), 0);
                assert_string_equal(pf.ranges, "0:4096,0x10000:512");
                assert_int_equal(lvss_component_get_differenced_files_count(c), 1);
                assert_int_equal(lvss_component_get_differenced_file(c, 0, &df), 0);
                assert_int_equal(df.last_modify_usec, 42);
                assert_true(df.recursive);
                /* the requestor cannot add them */
                assert_int_equal(lvss_component_add_partial_file(c, "/a", "b", "0:1", NULL), LVSS_E_BAD_STATE);
        }
        free(text);

        /* snapshot path mapping through the volume */
        assert_int_equal(lvss_doc_snapshot_path(&bcd->snaps[0], "/srv/data/app/sub/f", &p), 0);
        assert_string_equal(p, "/srv/data/.lvss-snapshots/x/app/sub/f");
        free(p);
        assert_int_equal(lvss_doc_snapshot_path(&bcd->snaps[0], "/srv/data/other", &p), 0);
        assert_string_equal(p, "/srv/data/.lvss-snapshots/x/other");
        free(p);
        assert_int_equal(lvss_doc_snapshot_path(&bcd->snaps[0], "/srv/database", &p), LVSS_E_OBJECT_NOT_FOUND);
        assert_non_null(lvss_doc_bcd_find_snapshot_for(bcd, "/srv/data/app"));
        assert_null(lvss_doc_bcd_find_snapshot_for(bcd, "/srv/dat"));
        lvss_doc_bcd_free(bcd);
}

static void test_bcd_refused(void **state) {
        ErrorSlot why;
        lvss_bcd *bcd = NULL;
        char *bad;

        assert_int_equal(lvss_doc_bcd_parse("{", &bcd, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        bad = replace(bcd_ok, "\"backupType\":\"incremental\"", "\"backupType\":\"weekly\"");
        assert_int_equal(lvss_doc_bcd_parse(bad, &bcd, &why), LVSS_E_INVALID_XML_DOCUMENT);
        assert_non_null(strstr(error_slot_get(&why), "backupType"));
        free(bad);
        bad = replace(bcd_ok, "\"context\":0", "\"context\":77");
        assert_int_equal(lvss_doc_bcd_parse(bad, &bcd, &why), LVSS_E_INVALID_XML_DOCUMENT);
        free(bad);
        bad = replace(bcd_ok, "\"backupSucceeded\":false}]", "\"backupSucceeded\":false},"
                      "{\"componentType\":\"filegroup\",\"logicalPath\":\"Mail\",\"componentName\":\"SG1\"}]");
        assert_int_equal(lvss_doc_bcd_parse(bad, &bcd, &why), LVSS_E_INVALID_XML_DOCUMENT);
        free(bad);
        bad = replace(bcd_ok, "\"snapshotDeviceObject\":\"/srv/data/.lvss-snapshots/x/app\"", "\"x\":1");
        assert_int_equal(lvss_doc_bcd_parse(bad, &bcd, &why), LVSS_E_INVALID_XML_DOCUMENT);
        free(bad);
        assert_null(bcd);
}

static void test_error_names(void **state) {
        static const int codes[] = { LVSS_E_BAD_STATE, LVSS_E_SNAPSHOT_SET_IN_PROGRESS, LVSS_E_ACCESS_DENIED,
                                     LVSS_E_WRITERERROR_TIMEOUT, LVSS_E_BACKUP_REFUSED, LVSS_E_WRONG_THREAD };
        assert_string_equal(lvss_error_name(LVSS_E_BAD_STATE), "LVSS_E_BAD_STATE");
        assert_string_equal(lvss_error_name(-ENOMEM), "ENOMEM");
        assert_string_equal(lvss_error_name(0), "OK");
        assert_string_equal(lvss_error_name(-0x5199), "LVSS_E_UNKNOWN");
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
                assert_int_equal(lvss_error_from_name(lvss_error_name(codes[i])), codes[i]);
                assert_non_null(lvss_strerror(codes[i]));
        }
        assert_string_equal(lvss_strerror(LVSS_E_BAD_STATE), "call out of order");
        assert_string_equal(lvss_writer_state_to_string(LVSS_WRITER_STATE_FAILED_AT_BACKUP_SHUTDOWN),
                            "failed_at_backup_shutdown");
        assert_int_equal(lvss_writer_state_from_string("waiting_for_freeze"), LVSS_WRITER_STATE_WAITING_FOR_FREEZE);
        assert_int_equal(lvss_backup_type_from_string("nope"), -EINVAL);
        assert_null(lvss_backup_type_to_string((lvss_backup_type) 99));
}

static void *other_thread(void *p) {
        lvss_writer_metadata_identity id;
        return (void *) (intptr_t) lvss_writer_metadata_get_identity(p, &id);
}

static void test_wrong_thread(void **state) {
        lvss_writer_metadata *wm;
        lvss_writer_metadata_identity id;
        pthread_t t;
        void *res;

        assert_int_equal(lvss_writer_metadata_load(wmd_ok, &wm), 0);
        assert_int_equal(lvss_writer_metadata_get_identity(wm, &id), 0);
        assert_string_equal(id.writer_name, "W");
        assert_int_equal(pthread_create(&t, NULL, other_thread, wm), 0);
        pthread_join(t, &res);
        assert_int_equal((int) (intptr_t) res, LVSS_E_WRONG_THREAD);
        lvss_writer_metadata_free(wm);
}

static void test_metadata_builder(void **state) {
        struct lvss_writer_metadata *wm = lvss_doc_wm_new();
        lvss_metadata_builder md = { .wm = wm };

        assert_int_equal(lvss_metadata_builder_add_component(&md, LVSS_CT_FILEGROUP, "a", "b", NULL, 0, 0, 1, 0, 0), 0);
        assert_int_equal(lvss_metadata_builder_add_component(&md, LVSS_CT_FILEGROUP, "a", "b", NULL, 0, 0, 1, 0, 0),
                         LVSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(lvss_metadata_builder_add_component(&md, LVSS_CT_UNDEFINED, "a", "c", NULL, 0, 0, 1, 0, 0), -EINVAL);
        assert_int_equal(lvss_metadata_builder_add_files_to_file_group(&md, "a", "zz", "/x", "*", 1, NULL, 0), LVSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(lvss_metadata_builder_add_files_to_file_group(&md, "a", "b", "/x", "*", 1, NULL, 0), 0);
        assert_int_equal(lvss_metadata_builder_add_database_files(&md, "a", "b", "/x", "*", 0), -EINVAL);
        assert_int_equal(lvss_metadata_builder_add_component_dependency(&md, "a", "b", "not-a-uuid", "", "c"), -EINVAL);
        assert_int_equal(lvss_metadata_builder_set_restore_method(&md, (lvss_restore_method) 42, NULL, NULL, LVSS_WRE_NEVER, 0), -EINVAL);
        assert_int_equal(wm->comps[0].files.v[0].mask, LVSS_FSBT_DEFAULT);
        lvss_doc_wm_free(wm);
}

static void test_api_without_daemon(void **state) {
        lvss_writer_identity id = LVSS_WRITER_IDENTITY_INIT;
        lvss_writer_events ev = LVSS_WRITER_EVENTS_INIT;
        lvss_backup *b = NULL;
        lvss_writer *w = NULL;

        setenv("LVSS_BUS", "unix:path=/nonexistent/lvss-test-bus", 1);
        assert_int_equal(lvss_backup_new(&b), LVSS_E_WRITER_INFRASTRUCTURE);
        assert_null(b);
        id.name = "x";
        id.class_id = "bad";
        assert_int_equal(lvss_writer_new(&id, &ev, NULL, &w), -EINVAL);
        id.class_id = CLASS;
        assert_int_equal(lvss_writer_new(&id, &ev, NULL, &w), 0);
        assert_int_equal(lvss_writer_set_failure(w, LVSS_E_WRITERERROR_RETRYABLE), LVSS_E_BAD_STATE);
        assert_int_equal(lvss_writer_get_backup_type(w), LVSS_BT_UNDEFINED);
        assert_int_equal(lvss_writer_subscribe(w, 0), LVSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(lvss_writer_get_fd(w), LVSS_E_BAD_STATE);
        lvss_writer_free(w);
}

static void test_identity(void **state) {
        ErrorSlot why;
        lvss_doc_identity id;

        assert_int_equal(lvss_doc_identity_parse("{\"writerId\":\"" CLASS "\",\"friendlyName\":\"W\",\"level\":\"system\","
                                                 "\"freezeTimeout\":1000}", &id, &why), 0);
        assert_string_equal(id.class_id, CLASS);
        assert_int_equal(id.level, LVSS_APP_SYSTEM);
        assert_int_equal(id.freeze_timeout_ms, 1000);
        assert_string_equal(id.instance_name, "");
        lvss_doc_identity_clear(&id);
        assert_int_equal(lvss_doc_identity_parse("{\"writerId\":\"x\",\"friendlyName\":\"W\"}", &id, &why),
                         LVSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(lvss_doc_identity_parse("{\"writerId\":\"" CLASS "\",\"friendlyName\":\"\"}", &id, &why),
                         LVSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(lvss_doc_identity_parse("{\"writerId\":\"" CLASS "\",\"friendlyName\":\"W\",\"level\":\"top\"}",
                                                 &id, &why), LVSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(lvss_doc_identity_parse("[1]", &id, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
}

/* Writer event arguments: what lvssd encodes, the writer decodes. */
static char *event_text(const lvss_doc_event_args *a, const char *instance_id) {
        json_t *j = lvss_doc_event_args_to_json(a, instance_id);
        char *text;

        assert_non_null(j);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(text);
        return text;
}

static void test_event_args_roundtrip(void **state) {
        ErrorSlot why;
        char *text;
        char *vols[] = { "/srv/a", "/srv/b b", NULL };
        lvss_doc_event_args a = { .context = 0x19, .has_level = true, .level = LVSS_APP_BACK_END,
                                  .volumes = vols, .n_volumes = 2 }, d;

        memcpy(a.session_id, CLASS, LVSS_ID_MAX);
        memcpy(a.set_id, INST, LVSS_ID_MAX);
        assert_int_equal(lvss_doc_bcd_parse(bcd_ok, &a.bcd, &why), 0);
        text = event_text(&a, INST);
        lvss_doc_bcd_free(a.bcd);
        assert_int_equal(lvss_doc_event_args_parse(text, &d, &why), 0);
        free(text);
        assert_string_equal(d.session_id, CLASS);
        assert_string_equal(d.set_id, INST);
        assert_int_equal(d.context, 0x19);
        assert_true(d.has_level);
        assert_int_equal(d.level, LVSS_APP_BACK_END);
        assert_int_equal(d.n_volumes, 2);
        assert_string_equal(d.volumes[0], "/srv/a");
        assert_string_equal(d.volumes[1], "/srv/b b");
        assert_null(d.volumes[2]);
        assert_non_null(d.bcd);
        assert_int_equal(d.bcd->n_writers, 1);
        assert_string_equal(d.bcd->writers[0]->instance_id, INST);
        assert_string_equal(d.bcd->writers[0]->comps[0]->previous_backup_stamp, "p1");
        lvss_doc_event_args_clear(&d);
        assert_null(d.volumes);
        assert_null(d.bcd);

        /* Before AddToSnapshotSet: no set (null), no volumes, no document. */
        a = (lvss_doc_event_args) { .has_level = true, .level = LVSS_APP_SYSTEM };
        memcpy(a.session_id, CLASS, LVSS_ID_MAX);
        text = event_text(&a, INST);
        assert_non_null(strstr(text, "\"snapshotSetId\":null"));
        assert_null(strstr(text, "volumes"));
        assert_null(strstr(text, "document"));
        assert_int_equal(lvss_doc_event_args_parse(text, &d, &why), 0);
        free(text);
        assert_string_equal(d.set_id, "");
        assert_null(d.volumes);
        assert_int_equal(d.n_volumes, 0);
        assert_null(d.bcd);
        assert_int_equal(d.level, LVSS_APP_SYSTEM);
        lvss_doc_event_args_clear(&d);
}

static void test_event_args_limits(void **state) {
        ErrorSlot why;
        char *big, *p;
        lvss_doc_event_args d;
        json_t *o = json_object(), *vols = json_array();
        size_t n;

        /* Over LVSS_DOC_MAX_BYTES: refused before parsing. */
        n = LVSS_DOC_MAX_BYTES + 16;
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, "{\"sessionId\":\"", 14);
        big[n - 2] = '"';
        big[n - 1] = '}';
        big[n] = 0;
        assert_int_equal(lvss_doc_event_args_parse(big, &d, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        assert_non_null(strstr(error_slot_get(&why), "larger than"));
        free(big);

        /* LVSS_DOC_MAX_SNAPSHOTS volumes are taken, one more and none are. */
        for (unsigned i = 0; i < LVSS_DOC_MAX_SNAPSHOTS; i++)
                json_array_append_new(vols, json_string("/v"));
        json_object_set_new(o, "volumes", vols);
        p = json_dumps(o, JSON_COMPACT);
        assert_int_equal(lvss_doc_event_args_parse(p, &d, &why), 0);
        assert_int_equal(d.n_volumes, LVSS_DOC_MAX_SNAPSHOTS);
        lvss_doc_event_args_clear(&d);
        free(p);
        json_array_append_new(vols, json_string("/v"));
        p = json_dumps(o, JSON_COMPACT);
        assert_int_equal(lvss_doc_event_args_parse(p, &d, &why), 0);
        assert_null(d.volumes);
        assert_int_equal(d.n_volumes, 0);
        free(p);

        /* A volume of LVSS_DOC_MAX_STRING bytes or more is skipped; a shorter one is kept. */
        json_array_clear(vols);
        big = malloc(LVSS_DOC_MAX_STRING + 1);
        assert_non_null(big);
        memset(big, 'x', LVSS_DOC_MAX_STRING);
        big[0] = '/';
        big[LVSS_DOC_MAX_STRING] = 0;
        json_array_append_new(vols, json_string(big));
        big[LVSS_DOC_MAX_STRING - 1] = 0;
        json_array_append_new(vols, json_string(big));
        json_array_append_new(vols, json_integer(7));
        /* A sessionId longer than LVSS_DOC_SESSION_ID_MAX - 1 is cut. */
        json_object_set_new(o, "sessionId", json_string(big));
        p = json_dumps(o, JSON_COMPACT);
        assert_int_equal(lvss_doc_event_args_parse(p, &d, &why), 0);
        assert_int_equal(d.n_volumes, 1);
        assert_int_equal(strlen(d.volumes[0]), LVSS_DOC_MAX_STRING - 1);
        assert_int_equal(strlen(d.session_id), LVSS_DOC_SESSION_ID_MAX - 1);
        lvss_doc_event_args_clear(&d);
        free(p);
        free(big);
        json_decref(o);
}

static void test_event_args_malformed(void **state) {
        ErrorSlot why;
        char *bad;
        lvss_doc_event_args d = { .context = 0xdead };

        /* Refused: not JSON, not an object, no text, a bad document; *ret untouched. */
        assert_int_equal(lvss_doc_event_args_parse("{", &d, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        assert_int_equal(lvss_doc_event_args_parse(NULL, &d, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        assert_int_equal(lvss_doc_event_args_parse("[1]", &d, &why), LVSS_E_INVALID_XML_DOCUMENT);
        assert_non_null(strstr(error_slot_get(&why), "not a JSON object"));
        assert_int_equal(lvss_doc_event_args_parse("\"x\"", &d, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        assert_int_equal(lvss_doc_event_args_parse("{\"a\":1,\"a\":2}", &d, &why), LVSS_E_CORRUPT_XML_DOCUMENT);
        bad = replace(bcd_ok, "\"backupType\":\"incremental\"", "\"backupType\":\"weekly\"");
        {
                char *text = malloc(strlen(bad) + 64);
                assert_non_null(text);
                sprintf(text, "{\"volumes\":[\"/a\"],\"document\":%s}", bad);
                assert_int_equal(lvss_doc_event_args_parse(text, &d, &why), LVSS_E_INVALID_XML_DOCUMENT);
                assert_non_null(strstr(error_slot_get(&why), "components document: "));
                assert_non_null(strstr(error_slot_get(&why), "backupType"));
                free(text);
        }
        free(bad);
        assert_int_equal(d.context, 0xdead);
        assert_null(d.volumes);

        /* Optional fields of the wrong kind are left unset, as writers always took them. */
        assert_int_equal(lvss_doc_event_args_parse("{\"snapshotSetId\":\"not-a-uuid\",\"sessionId\":5,"
                                                   "\"context\":\"x\",\"level\":\"top\",\"volumes\":\"/a\","
                                                   "\"document\":null}", &d, &why), 0);
        assert_string_equal(d.set_id, "");
        assert_string_equal(d.session_id, "");
        assert_int_equal(d.context, 0);
        assert_false(d.has_level);
        assert_null(d.volumes);
        assert_null(d.bcd);
        lvss_doc_event_args_clear(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wmd_parse_and_roundtrip),
                cmocka_unit_test(test_wmd_refused),
                cmocka_unit_test(test_wmd_limits),
                cmocka_unit_test(test_bcd_roundtrip_and_merge),
                cmocka_unit_test(test_bcd_refused),
                cmocka_unit_test(test_error_names),
                cmocka_unit_test(test_wrong_thread),
                cmocka_unit_test(test_metadata_builder),
                cmocka_unit_test(test_api_without_daemon),
                cmocka_unit_test(test_identity),
                cmocka_unit_test(test_event_args_roundtrip),
                cmocka_unit_test(test_event_args_limits),
                cmocka_unit_test(test_event_args_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
