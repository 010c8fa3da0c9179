/* Unit tests for sse.c: the event-stream rules, and that where the bytes are
 * split between feeds never changes the events delivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "sse.h"

/* Every event as "<type-len>:<type>|<data-len>:<data>;" so that two runs can
 * be compared as strings, embedded newlines included. */
typedef struct {
    buf_t log;
    int events;
    int stop_after; /* return stop_value once this many events arrived (0: never) */
    int stop_value;
} recorder_t;

static int record_event(void *ud, const char *event, const char *data, size_t data_len)
{
    recorder_t *r = ud;
    assert_non_null(event);
    assert_non_null(data);
    assert_int_equal(data[data_len], '\0');
    assert_int_equal(strlen(data), data_len);
    assert_int_equal(buf_printf(&r->log, "%zu:%s|%zu:", strlen(event), event, data_len), 0);
    assert_int_equal(buf_append(&r->log, data, data_len), 0);
    assert_int_equal(buf_append_char(&r->log, ';'), 0);
    r->events++;
    if (r->stop_after > 0 && r->events == r->stop_after)
        return r->stop_value;
    return 0;
}

static void recorder_init(recorder_t *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->log, 1 << 20);
}

/* Feeds `s` in pieces cut at `cuts` (ascending offsets) and checks that
 * every feed succeeds and the stream ends on an event boundary. */
static void feed_cut(const char *s, size_t len, const size_t *cuts, size_t n_cuts, recorder_t *r)
{
    sse_parser_t *p = sse_parser_new(4096);
    assert_non_null(p);
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        assert_int_equal(sse_parser_feed(p, s + at, end - at, record_event, r), 0);
        at = end;
    }
    assert_false(sse_parser_has_partial(p));
    sse_parser_free(p);
}

static void parse_whole(const char *s, recorder_t *r)
{
    feed_cut(s, strlen(s), NULL, 0, r);
}

/* One parse of `s` in one piece; the log is compared with `want`. */
static void expect_events(const char *s, const char *want)
{
    recorder_t r;
    recorder_init(&r);
    parse_whole(s, &r);
    /* Free before failing so a failing case does not also report a leak. */
    char *got = buf_take(&r.log);
    assert_non_null(got);
    int same = strcmp(got, want) == 0;
    if (!same)
        print_error("got  \"%s\"\nwant \"%s\"\n", got, want);
    free(got);
    assert_true(same);
}

/* A stream exercising every rule: CRLF, CR and LF endings, a BOM, comments,
 * event types, multi-line data, no-space values, a field without a colon,
 * ignored id/retry fields and an event with no data. */
static const char mixed_stream[] = "\xEF\xBB\xBF"
                                   ": keep-alive comment\r\n"
                                   "data: first\r\n"
                                   "\r\n"
                                   "event: update\n"
                                   "data:line one\n"
                                   "data: line two\n"
                                   "id: 42\n"
                                   "retry: 1000\n"
                                   "\n"
                                   "event: orphan\r"
                                   "\r"
                                   "data:  two spaces\r"
                                   "data\r"
                                   "\r"
                                   "data: {\"x\":[1,2]}\r\n"
                                   "\r\n"
                                   "data: [DONE]\n"
                                   "\n";

static const char mixed_want[] = "0:|5:first;"
                                 "6:update|17:line one\nline two;"
                                 "0:|12: two spaces\n;"
                                 "0:|11:{\"x\":[1,2]};"
                                 "0:|6:[DONE];";

static void test_sse_mixed_stream_in_one_piece(void **state)
{
    expect_events(mixed_stream, mixed_want);
}

static void test_sse_event_split_across_reads_at_every_byte(void **state)
{
    size_t len = sizeof(mixed_stream) - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        recorder_t r;
        recorder_init(&r);
        feed_cut(mixed_stream, len, &cut, 1, &r);
        if (strcmp(buf_cstr(&r.log), mixed_want) != 0)
            fail_msg("split at %zu: got \"%s\"", cut, buf_cstr(&r.log));
        buf_free(&r.log);
    }
}

static void test_sse_event_fed_byte_by_byte(void **state)
{
    size_t len = sizeof(mixed_stream) - 1;
    size_t cuts[sizeof(mixed_stream)];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    recorder_t r;
    recorder_init(&r);
    feed_cut(mixed_stream, len, cuts, len - 1, &r);
    assert_string_equal(buf_cstr(&r.log), mixed_want);
    buf_free(&r.log);
}

static void test_sse_empty_feeds_change_nothing(void **state)
{
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(64);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, "data: a\r", 8, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "", 0, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "\n\n", 2, record_event, &r), 0);
    assert_string_equal(buf_cstr(&r.log), "0:|1:a;");
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_lf_crlf_and_cr_line_ends_are_equivalent(void **state)
{
    const char *want = "1:e|3:a\nb;0:|1:c;";
    expect_events("event: e\ndata: a\ndata: b\n\ndata: c\n\n", want);
    expect_events("event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", want);
    expect_events("event: e\rdata: a\rdata: b\r\rdata: c\r\r", want);
    expect_events("event: e\r\ndata: a\rdata: b\n\r\ndata: c\r\r\n", want);
}

static void test_sse_crlf_split_between_feeds_is_one_line_end(void **state)
{
    /* If the LF opening the second feed were taken as an empty line, "a"
     * would be dispatched on its own. */
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(64);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, "data: a\r", 8, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "\ndata: b\r\n\r", 11, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "\n", 1, record_event, &r), 0);
    assert_string_equal(buf_cstr(&r.log), "0:|3:a\nb;");
    assert_false(sse_parser_has_partial(p));
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_lone_cr_at_feed_end_then_blank_cr(void **state)
{
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(64);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, "data: a\r", 8, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "\r", 1, record_event, &r), 0);
    assert_string_equal(buf_cstr(&r.log), "0:|1:a;");
    /* The pending-LF state must not swallow a non-LF byte. */
    assert_int_equal(sse_parser_feed(p, "data: b\r", 8, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "data: c\r\r", 9, record_event, &r), 0);
    assert_string_equal(buf_cstr(&r.log), "0:|1:a;0:|3:b\nc;");
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_comments_are_ignored(void **state)
{
    expect_events(": hello\n:\ndata: x\n: between\ndata: y\n\n: trailing\n\n", "0:|3:x\ny;");
}

static void test_sse_multiline_data_joined_with_newline(void **state)
{
    expect_events("data: one\ndata: two\ndata:\ndata: four\n\n", "0:|13:one\ntwo\n\nfour;");
}

static void test_sse_event_type_applies_to_one_event(void **state)
{
    expect_events("event: ping\ndata: 1\n\ndata: 2\n\nevent: a\nevent: b\ndata: 3\n\n",
                  "4:ping|1:1;0:|1:2;1:b|1:3;");
}

static void test_sse_value_without_space_and_only_one_space_dropped(void **state)
{
    expect_events("data:x\n\ndata: y\n\ndata:  z\n\nevent:t\ndata:\tw\n\n",
                  "0:|1:x;0:|1:y;0:|2: z;1:t|2:\tw;");
}

static void test_sse_field_without_colon_has_empty_value(void **state)
{
    /* "data" alone appends an empty line (WHATWG), "event" alone resets the
     * type, an unknown bare field is ignored. */
    expect_events("event: t\nevent\ndata\n\nunknown\ndata: x\n\n", "0:|0:;0:|1:x;");
}

static void test_sse_event_without_data_not_dispatched(void **state)
{
    /* The type of a dropped event must not leak into the next one. */
    expect_events("event: lost\n\nid: 7\n\nretry: 5\n\n: c\n\n\n\ndata: kept\n\n", "0:|4:kept;");
}

static void test_sse_colon_inside_value_is_kept(void **state)
{
    expect_events("data: a:b: c\n\n", "0:|6:a:b: c;");
}

static void test_sse_done_marker_is_plain_data(void **state)
{
    expect_events("data: {\"a\":1}\n\ndata: [DONE]\n\n", "0:|7:{\"a\":1};0:|6:[DONE];");
}

static void test_sse_bom_stripped_only_at_stream_start(void **state)
{
    expect_events("\xEF\xBB\xBF"
                  "data: x\n\n",
                  "0:|1:x;");
    /* Later, the same bytes are part of a field name, so the line is an
     * unknown field. */
    expect_events("data: x\n\n\xEF\xBB\xBF"
                  "data: y\n\n",
                  "0:|1:x;");
    /* A BOM split across feeds. */
    const char s[] = "\xEF\xBB\xBF"
                     "data: z\n\n";
    size_t cuts[] = {1, 2};
    recorder_t r;
    recorder_init(&r);
    feed_cut(s, sizeof(s) - 1, cuts, 2, &r);
    assert_string_equal(buf_cstr(&r.log), "0:|1:z;");
    buf_free(&r.log);
}

static void test_sse_openai_stream_events(void **state)
{
    expect_events("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                  "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n"
                  "data: [DONE]\n\n",
                  "0:|40:{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]};"
                  "0:|41:{\"choices\":[],\"usage\":{\"total_tokens\":3}};"
                  "0:|6:[DONE];");
}

static void test_sse_line_over_cap_across_feeds_fails(void **state)
{
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(16);
    assert_non_null(p);
    /* Exactly the cap is accepted ... */
    assert_int_equal(sse_parser_feed(p, "data: 0123456789", 16, record_event, &r), 0);
    /* ... one byte more is not, even before the line ends. */
    assert_int_equal(sse_parser_feed(p, "x", 1, record_event, &r), -1);
    /* The parser stays failed: nothing more is buffered or dispatched. */
    assert_int_equal(sse_parser_feed(p, "\n\ndata: ok\n\n", 12, record_event, &r), -1);
    assert_int_equal(r.events, 0);
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_line_over_cap_within_one_feed_fails(void **state)
{
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(16);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, "data: 0123456789\n\n", 18, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "data: 0123456789A\n\n", 19, record_event, &r), -1);
    assert_int_equal(r.events, 1);
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_event_over_cap_fails(void **state)
{
    /* Each line fits but the accumulated data does not. */
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(16);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, "data: 0123456\n", 14, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "data: 0123456\n", 14, record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, "data: 0123456\n", 14, record_event, &r), -1);
    assert_int_equal(sse_parser_feed(p, "\n", 1, record_event, &r), -1);
    assert_int_equal(r.events, 0);
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_endless_line_does_not_grow(void **state)
{
    /* An upstream sending one endless line: every feed after the cap fails
     * at once instead of buffering more. */
    char chunk[4096];
    memset(chunk, 'a', sizeof(chunk));
    recorder_t r;
    recorder_init(&r);
    sse_parser_t *p = sse_parser_new(10000);
    assert_non_null(p);
    assert_int_equal(sse_parser_feed(p, chunk, sizeof(chunk), record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, chunk, sizeof(chunk), record_event, &r), 0);
    assert_int_equal(sse_parser_feed(p, chunk, sizeof(chunk), record_event, &r), -1);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sse_parser_feed(p, chunk, sizeof(chunk), record_event, &r), -1);
    sse_parser_free(p);
    buf_free(&r.log);
}

static void test_sse_has_partial_at_truncated_end(void **state)
{
    static const struct {
        const char *bytes;
        bool partial;
    } cases[] = {
        {"", false},
        {"da", true},
        {"data: a", true},
        {"data: a\n", true},
        {"data: a\n\n", false},
        {"event: x\n", true},
        {": comment\n", false},
        {"data: a\n\ndata: b\r", true},
        {"data: a\r\r", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        recorder_t r;
        recorder_init(&r);
        sse_parser_t *p = sse_parser_new(64);
        assert_non_null(p);
        assert_int_equal(
            sse_parser_feed(p, cases[i].bytes, strlen(cases[i].bytes), record_event, &r), 0);
        if (sse_parser_has_partial(p) != cases[i].partial)
            fail_msg("\"%s\": has_partial should be %d", cases[i].bytes, cases[i].partial);
        sse_parser_free(p);
        buf_free(&r.log);
    }
}

static void test_sse_callback_stop_value_propagated(void **state)
{
    recorder_t r;
    recorder_init(&r);
    r.stop_after = 1;
    r.stop_value = 7;
    sse_parser_t *p = sse_parser_new(64);
    assert_non_null(p);
    const char s[] = "data: a\n\ndata: b\n\n";
    assert_int_equal(sse_parser_feed(p, s, sizeof(s) - 1, record_event, &r), 7);
    assert_int_equal(r.events, 1);
    assert_string_equal(buf_cstr(&r.log), "0:|1:a;");
    sse_parser_free(p);
    buf_free(&r.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_mixed_stream_in_one_piece),
        cmocka_unit_test(test_sse_event_split_across_reads_at_every_byte),
        cmocka_unit_test(test_sse_event_fed_byte_by_byte),
        cmocka_unit_test(test_sse_empty_feeds_change_nothing),
        cmocka_unit_test(test_sse_lf_crlf_and_cr_line_ends_are_equivalent),
        cmocka_unit_test(test_sse_crlf_split_between_feeds_is_one_line_end),
        cmocka_unit_test(test_sse_lone_cr_at_feed_end_then_blank_cr),
        cmocka_unit_test(test_sse_comments_are_ignored),
        cmocka_unit_test(test_sse_multiline_data_joined_with_newline),
        cmocka_unit_test(test_sse_event_type_applies_to_one_event),
        cmocka_unit_test(test_sse_value_without_space_and_only_one_space_dropped),
        cmocka_unit_test(test_sse_field_without_colon_has_empty_value),
        cmocka_unit_test(test_sse_event_without_data_not_dispatched),
        cmocka_unit_test(test_sse_colon_inside_value_is_kept),
        cmocka_unit_test(test_sse_done_marker_is_plain_data),
        cmocka_unit_test(test_sse_bom_stripped_only_at_stream_start),
        cmocka_unit_test(test_sse_openai_stream_events),
        cmocka_unit_test(test_sse_line_over_cap_across_feeds_fails),
        cmocka_unit_test(test_sse_line_over_cap_within_one_feed_fails),
        cmocka_unit_test(test_sse_event_over_cap_fails),
        cmocka_unit_test(test_sse_endless_line_does_not_grow),
        cmocka_unit_test(test_sse_has_partial_at_truncated_end),
        cmocka_unit_test(test_sse_callback_stop_value_propagated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
