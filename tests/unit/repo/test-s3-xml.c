/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/repo/test-s3-xml.c: the bounded parser of S3's XML answers
 * (lib/repo/s3-xml.c, repository.md §15.1): keys with their sizes,
 * truncation and continuation token, entities, UploadId and error codes;
 * malformed or oversized answers are refused, never half-read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"

static int parse(const char *xml, s3_list_page *p) {
        return s3_xml_parse(xml, strlen(xml), p);
}

static void test_list_page(void **state) {
        s3_list_page p = {};
        (void) state;
        assert_int_equal(parse("<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
                               "<NextContinuationToken>tok/+=</NextContinuationToken>"
                               "<Contents><Key>r/data/ab/ab01</Key><ETag>&quot;x&quot;</ETag><Size>16777216</Size></Contents>"
                               "<Contents><Key>r/index/a&amp;b&#x41;&#66;</Key></Contents>"
                               "<Contents><Key>r/k3</Key><Size>7</Size></Contents></ListBucketResult>",
                               &p),
                         0);
        assert_int_equal(p.n, 3);
        assert_string_equal(p.keys[0], "r/data/ab/ab01");
        assert_int_equal(p.sizes[0], 16777216);
        assert_string_equal(p.keys[1], "r/index/a&bAB");
        assert_int_equal(p.sizes[1], 0);   /* no Size before the next Key: not taken from it */
        assert_int_equal(p.sizes[2], 7);
        assert_true(p.truncated);
        assert_string_equal(p.next_token, "tok/+=");
        s3_list_page_done(&p);
}

static void test_upload_and_error(void **state) {
        s3_list_page p = {};
        (void) state;
        assert_int_equal(parse("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                               "<UploadId>2~abc</UploadId></InitiateMultipartUploadResult>", &p), 0);
        assert_string_equal(p.upload_id, "2~abc");
        assert_false(p.truncated);
        s3_list_page_done(&p);
        assert_int_equal(parse("<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>", &p), 0);
        assert_string_equal(p.error_code, "SignatureDoesNotMatch");
        assert_int_equal(p.n, 0);
        s3_list_page_done(&p);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents></ListBucketResult>",
                "<Key><Key>x</Key></Key>",
                "<Key>&#0;</Key>",
                "<Key>&#x110000;</Key>",
                "<Key>&#233;</Key>",
                "<Key>&bogus;</Key>",
                "<Key>a&amp</Key>",
                "<Key>unterminated",
                "<Contents><Key>k</Key><Size>99999999999999999999</Size></Contents>",
                "<Contents><Key>k</Key><Size>-1</Size></Contents>",
                "<Contents><Key>k</Key><Size></Size></Contents>",
        };
        (void) state;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                s3_list_page p = {};
                assert_int_not_equal(parse(bad[i], &p), 0);
                assert_null(p.keys);
        }
}

static void test_limits(void **state) {
        s3_list_page p = {};
        char *xml, *o;
        (void) state;
        /* a key longer than S3_MAX_KEY */
        xml = malloc(S3_MAX_KEY + 64);
        if (!xml)
                abort();
        o = xml + sprintf(xml, "<Key>");
        memset(o, 'a', S3_MAX_KEY + 1);
        strcpy(o + S3_MAX_KEY + 1, "</Key>");
        assert_int_equal(parse(xml, &p), -E2BIG);
        free(xml);
        /* more keys than a page may hold */
        size_t n = S3_MAX_KEYS_PER_PAGE + 1;
        xml = malloc(n * 16 + 1);
        if (!xml)
                abort();
        o = xml;
        for (size_t i = 0; i < n; i++)
                o += sprintf(o, "<Key>k%zu</Key>", i % 100000);
        assert_int_equal(parse(xml, &p), -E2BIG);
        /* exactly the limit is fine */
        xml[strlen(xml) - strlen("<Key>k10000</Key>")] = 0;
        assert_int_equal(parse(xml, &p), 0);
        assert_int_equal(p.n, S3_MAX_KEYS_PER_PAGE);
        s3_list_page_done(&p);
        free(xml);
        /* an answer above S3_MAX_RESPONSE is refused unread */
        assert_int_equal(s3_xml_parse("", (size_t) S3_MAX_RESPONSE + 1, &p), -E2BIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_page),
                cmocka_unit_test(test_upload_and_error),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
