/* test_http_server_router.c — the routing table on its own: pattern validation,
 * precedence (literal > capture > rest, then order of registration), method bits and
 * the "allowed" set behind 405, captures as slices of the encoded path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/server_int.h"

#include <string.h>

static int h(struct ob_http_req *req, void *arg)
{
    (void)req, (void)arg;
    return OB_HTTP_DONE;
}

static int tag(const struct match *m)
{
    return m->route ? (int)(intptr_t)m->route->arg : 0;
}

static void match(struct ob_http_router *r, unsigned method, const char *path, struct match *m)
{
    router_match(r, method, ob_slice_str(path), m);
}

static bool param_is(const struct match *m, const char *name, const char *value)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (ob_slice_eq_str(m->names[i], name)) return ob_slice_eq_str(m->values[i], value);
    return false;
}

static void test_bad_patterns(void **state)
{
    (void)state;
    struct ob_http_router r;
    router_init(&r, NULL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "no-slash", 0, h, NULL), OB_EINVAL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/a/*/b", 0, h, NULL), OB_EINVAL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/a/{}", 0, h, NULL), OB_EINVAL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/a/x{y}", 0, h, NULL), OB_EINVAL);
    assert_int_equal(
        ob_http_route(&r, OB_HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", 0, h, NULL),
        OB_EINVAL);
    assert_int_equal(ob_http_route(&r, 0, "/a", 0, h, NULL), OB_EINVAL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/a", 0, NULL, NULL), OB_EINVAL);
    assert_int_equal(r.nroutes, 0);
    router_release(&r);
}

static void test_precedence(void **state)
{
    (void)state;
    struct ob_http_router r;
    router_init(&r, NULL);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/v1/streams/{name}", 0, h, (void *)1), 0);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/v1/streams/_all", 0, h, (void *)2), 0);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/v1/*", 0, h, (void *)3), 0);
    assert_int_equal(
        ob_http_route(&r, OB_HTTP_POST | OB_HTTP_DELETE, "/v1/streams/{name}", 0, h, (void *)4), 0);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/v1/streams/{other}", 0, h, (void *)5), 0);
    assert_int_equal(
        ob_http_route(&r, OB_HTTP_GET, "/v1/streams/{name}/consumers/{consumer}", 0, h, (void *)6),
        0);
    assert_int_equal(ob_http_route(&r, OB_HTTP_GET, "/", 0, h, (void *)7), 0);
    struct match m;
    match(&r, OB_HTTP_GET, "/v1/streams/ORD", &m);
    assert_int_equal(tag(&m), 1); /* first of two equal captures */
    assert_true(param_is(&m, "name", "ORD"));
    match(&r, OB_HTTP_GET, "/v1/streams/_all", &m);
    assert_int_equal(tag(&m), 2); /* literal beats capture, whatever the order */
    match(&r, OB_HTTP_HEAD, "/v1/streams/ORD", &m);
    assert_int_equal(tag(&m), 1); /* GET routes answer HEAD */
    match(&r, OB_HTTP_POST, "/v1/streams/ORD", &m);
    assert_int_equal(tag(&m), 4);
    match(&r, OB_HTTP_GET, "/v1/streams/a%2Fb/consumers/c", &m);
    assert_int_equal(tag(&m), 6);
    assert_true(param_is(&m, "name", "a%2Fb")); /* encoded: decoded per capture later */
    assert_true(param_is(&m, "consumer", "c"));
    match(&r, OB_HTTP_GET, "/v1/other/deep/path", &m);
    assert_int_equal(tag(&m), 3);
    assert_true(param_is(&m, "*", "other/deep/path"));
    match(&r, OB_HTTP_GET, "/v1/", &m);
    assert_int_equal(tag(&m), 3);
    assert_true(param_is(&m, "*", ""));
    match(&r, OB_HTTP_GET, "/", &m);
    assert_int_equal(tag(&m), 7);
    match(&r, OB_HTTP_GET, "/v1/streams/", &m); /* an empty capture does not match */
    assert_int_equal(tag(&m), 3);
    match(&r, OB_HTTP_PUT, "/v1/streams/ORD", &m); /* 405: other methods would match */
    assert_null(m.route);
    assert_true(m.allowed & OB_HTTP_GET);
    assert_true(m.allowed & OB_HTTP_POST);
    assert_true(m.allowed & OB_HTTP_DELETE);
    assert_false(m.allowed & OB_HTTP_PUT);
    match(&r, OB_HTTP_GET, "/nothing/here", &m); /* 404 */
    assert_null(m.route);
    assert_int_equal(m.allowed, 0);
    match(&r, OB_HTTP_GET, "*", &m);
    assert_null(m.route);
    router_release(&r);
}

static int freed;

static void on_free(void *arg)
{
    freed += (int)(intptr_t)arg;
}

static void test_on_free(void **state)
{
    (void)state;
    struct ob_http_router r;
    router_init(&r, NULL);
    ob_http_router_on_free(&r, on_free, (void *)2);
    ob_http_router_on_free(&r, on_free, (void *)3);
    router_release(&r);
    assert_int_equal(freed, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_on_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
