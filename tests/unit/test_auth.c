/* test_auth.c — authenticator (argon2id hashes, plain passwords, tokens, anonymous on
 * loopback) and authorizer (rule order, default deny, filter coverage and overlap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "core/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static char *tokens_bob[] = {"bob-token-1", "bob-token-2"};
static char *tokens_eve[] = {"eve-token"};

static struct ob_auth *make_auth(int anonymous, struct ob_auth_rule *rules, size_t nrules,
                                 const char *alice_hash)
{
    struct ob_auth_user users[] = {
        {.name = "alice",
         .password_hash = (char *)alice_hash,
         .password = alice_hash ? NULL : "alice-pw"},
        {.name = "bob", .password = "bob-pw", .tokens = tokens_bob, .ntokens = 2},
        {.name = "eve", .tokens = tokens_eve, .ntokens = 1},
    };
    struct ob_auth_config cfg = {
        .anonymous = anonymous, .users = users, .nusers = 3, .rules = rules, .nrules = nrules};
    struct ob_auth *a;
    assert_int_equal(ob_auth_new(&a, &cfg), 0);
    return a;
}

static int login(struct ob_auth *a, const char *user, const char *secret, const char *ip,
                 char *name_out)
{
    struct sockaddr_storage ss = addr(ip ? ip : "10.1.2.3");
    struct ob_principal *p;
    int rc =
        ob_auth_authenticate(a, user, secret, secret ? strlen(secret) : 0, ip ? SA(ss) : NULL, &p);
    if (rc == 0) {
        if (name_out) strcpy(name_out, ob_principal_name(p));
        ob_principal_free(p);
    } else {
        assert_null(p);
    }
    return rc;
}

static void test_password_hash(void **state)
{
    (void)state;
    char hash[OB_AUTH_HASH_MAX], hash2[OB_AUTH_HASH_MAX];
    assert_int_equal(ob_auth_hash_password("s3cret", 6, hash), 0);
    assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
    assert_int_equal(ob_auth_hash_password("s3cret", 6, hash2), 0);
    assert_string_not_equal(hash, hash2); /* salted */
    struct ob_auth *a = make_auth(OB_ANON_NEVER, NULL, 0, hash);
    char name[64];
    assert_int_equal(login(a, "alice", "s3cret", "10.0.0.1", name), 0);
    assert_string_equal(name, "alice");
    assert_int_equal(login(a, "alice", "s3cret!", "10.0.0.1", NULL), OB_EAUTH);
    assert_int_equal(login(a, "alice", "", "10.0.0.1", NULL), OB_EAUTH);
    assert_int_equal(login(a, "alice", NULL, "127.0.0.1", NULL), OB_EAUTH);
    assert_int_equal(login(a, "mallory", "s3cret", "10.0.0.1", NULL), OB_EAUTH);
    ob_auth_unref(a);
}

static void test_plain_password_and_tokens(void **state)
{
    (void)state;
    struct ob_auth *a = make_auth(OB_ANON_NEVER, NULL, 0, "$argon2id$v=19$m=65536,t=2,p=1$x$y");
    char name[64];
    assert_int_equal(login(a, "bob", "bob-pw", NULL, name), 0);
    assert_string_equal(name, "bob");
    assert_int_equal(login(a, "bob", "bob-pw ", NULL, NULL), OB_EAUTH);
    assert_int_equal(login(a, NULL, "bob-token-2", NULL, name), 0); /* token alone */
    assert_string_equal(name, "bob");
    assert_int_equal(login(a, "", "eve-token", NULL, name), 0);
    assert_string_equal(name, "eve");
    assert_int_equal(login(a, "bob", "bob-token-1", NULL, name), 0);      /* token as password */
    assert_int_equal(login(a, "bob", "eve-token", NULL, NULL), OB_EAUTH); /* not bob's */
    assert_int_equal(login(a, NULL, "nobody's token", NULL, NULL), OB_EAUTH);
    assert_int_equal(login(a, "alice", "anything", NULL, NULL), OB_EAUTH); /* bogus hash */
    ob_auth_unref(a);
}

static void test_anonymous_policy(void **state)
{
    (void)state;
    const char *loop[] = {"127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"};
    const char *remote[] = {"10.0.0.1", "192.168.1.1", "::2", "::ffff:10.0.0.1", "128.0.0.1"};
    struct ob_auth *a = make_auth(OB_ANON_LOOPBACK, NULL, 0, NULL);
    char name[64];
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(login(a, NULL, NULL, loop[i], name), 0);
        assert_string_equal(name, "anonymous");
    }
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(login(a, NULL, NULL, remote[i], NULL), OB_EAUTH);
    assert_int_equal(login(a, "", NULL, NULL, NULL), OB_EAUTH); /* unknown peer */
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    struct ob_principal *p;
    assert_int_equal(ob_auth_authenticate(a, NULL, NULL, 0, SA(un), &p), 0);
    assert_true(ob_principal_is_anonymous(p));
    ob_principal_free(p);
    ob_auth_unref(a);

    a = make_auth(OB_ANON_ALWAYS, NULL, 0, NULL);
    assert_int_equal(login(a, NULL, NULL, "10.0.0.1", NULL), 0);
    ob_auth_unref(a);
    a = make_auth(OB_ANON_NEVER, NULL, 0, NULL);
    assert_int_equal(login(a, NULL, NULL, "127.0.0.1", NULL), OB_EAUTH);
    ob_auth_unref(a);
}

static struct ob_principal *principal(struct ob_auth *a, const char *user, const char *secret)
{
    struct sockaddr_storage ss = addr("127.0.0.1");
    struct ob_principal *p;
    assert_int_equal(ob_auth_authenticate(a, user, secret, secret ? strlen(secret) : 0, SA(ss), &p),
                     0);
    return p;
}

static char *s_orders[] = {"orders.>"};
static char *s_secret[] = {"orders.secret.>"};
static char *s_all[] = {">"};
static char *s_pub[] = {"public.*"};

static void test_rule_order_and_default(void **state)
{
    (void)state;
    struct ob_auth_rule rules[] = {
        /* bob: deny the secret orders first, then allow all orders */
        {.user = "bob",
         .effect = OB_RULE_DENY,
         .actions = OB_ACT_PUBLISH | OB_ACT_SUBSCRIBE,
         .subjects = s_secret,
         .nsubjects = 1},
        {.user = "bob",
         .effect = OB_RULE_ALLOW,
         .actions = OB_ACT_PUBLISH | OB_ACT_SUBSCRIBE,
         .subjects = s_orders,
         .nsubjects = 1},
        /* eve: the allow comes first, so the later deny never applies */
        {.user = "eve",
         .effect = OB_RULE_ALLOW,
         .actions = OB_ACT_SUBSCRIBE,
         .subjects = s_all,
         .nsubjects = 1},
        {.user = "eve",
         .effect = OB_RULE_DENY,
         .actions = OB_ACT_SUBSCRIBE,
         .subjects = s_secret,
         .nsubjects = 1},
        {.user = "anonymous",
         .effect = OB_RULE_ALLOW,
         .actions = OB_ACT_SUBSCRIBE,
         .subjects = s_pub,
         .nsubjects = 1},
    };
    struct ob_auth *a = make_auth(OB_ANON_LOOPBACK, rules, 5, NULL);
    struct ob_principal *bob = principal(a, "bob", "bob-pw");
    struct ob_principal *eve = principal(a, NULL, "eve-token");
    struct ob_principal *anon = principal(a, NULL, NULL);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "orders.eu"), 0);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "orders.secret.x"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "invoices.1"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_SUBSCRIBE, "orders.*"), 0);
    /* orders.> overlaps the denied orders.secret.> */
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_SUBSCRIBE, "orders.>"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_SUBSCRIBE, ">"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, eve, OB_ACT_SUBSCRIBE, "orders.secret.x"), 0);
    assert_int_equal(ob_auth_authorize(a, eve, OB_ACT_PUBLISH, "x"), OB_EPERM); /* default */
    assert_int_equal(ob_auth_authorize(a, anon, OB_ACT_SUBSCRIBE, "public.news"), 0);
    assert_int_equal(ob_auth_authorize(a, anon, OB_ACT_SUBSCRIBE, "public.>"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, anon, OB_ACT_PUBLISH, "public.news"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "orders.*"), OB_EBADSUBJECT);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_SUBSCRIBE, "a..b"), OB_EBADSUBJECT);
    /* a principal outlives its ob_auth: the rules of the one in force apply */
    struct ob_auth *open = make_auth(OB_ANON_LOOPBACK, NULL, 0, NULL);
    assert_int_equal(ob_auth_authorize(open, bob, OB_ACT_PUBLISH, "invoices.1"), 0);
    ob_auth_unref(open);
    ob_principal_free(bob);
    ob_principal_free(eve);
    ob_principal_free(anon);
    ob_auth_unref(a);
}

static void test_star_rules(void **state)
{
    (void)state;
    struct ob_auth_rule rules[] = {
        {.user = "*",
         .effect = OB_RULE_DENY,
         .actions = OB_ACT_PUBLISH,
         .subjects = s_secret,
         .nsubjects = 1},
    };
    struct ob_auth *a = make_auth(OB_ANON_LOOPBACK, rules, 1, NULL);
    struct ob_principal *bob = principal(a, "bob", "bob-pw");
    /* "*" names everyone, so anything not allowed is denied */
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "orders.secret.1"), OB_EPERM);
    assert_int_equal(ob_auth_authorize(a, bob, OB_ACT_PUBLISH, "orders.1"), OB_EPERM);
    ob_principal_free(bob);
    ob_auth_unref(a);
}

static bool covers(const char *p, const char *f)
{
    return ob_filter_covers(ob_slice_str(p), ob_slice_str(f));
}

static bool overlaps(const char *a, const char *b)
{
    return ob_filter_overlaps(ob_slice_str(a), ob_slice_str(b));
}

static void test_filter_covers_table(void **state)
{
    (void)state;
    static const struct {
        const char *p, *f;
        bool want;
    } t[] = {
        {">", ">", true},          {">", "a", true},     {">", "a.b.*", true},
        {"a.>", "a.b", true},      {"a.>", "a.>", true}, {"a.>", "a.*.>", true},
        {"a.>", "a", false},       {"a.>", ">", false},  {"a.>", "b.c", false},
        {"a.*", "a.b", true},      {"a.*", "a.*", true}, {"a.*", "a.>", false},
        {"a.*", "a.b.c", false},   {"a.b", "a.b", true}, {"a.b", "a.*", false},
        {"*.b", "x.b", true},      {"*.b", "*.b", true}, {"*.b", "*.c", false},
        {"*", ">", false},         {"*.*", "a.*", true}, {"a.*.c", "a.b.c", true},
        {"a.*.c", "a.b.*", false}, {"a", "a.b", false},  {"a.b", "a", false},
        {"*.>", "a.b", true},      {"*.>", "a", false},  {"*.>", ">", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (covers(t[i].p, t[i].f) != t[i].want)
            fail_msg("covers(%s, %s) != %d", t[i].p, t[i].f, t[i].want);
    }
}

static void test_filter_overlaps_table(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool want;
    } t[] = {
        {">", "a", true},       {">", "a.b", true},      {"a.>", "b.>", false},
        {"a.>", "a", false},    {"a.*", "*.b", true},    {"a.*", "a.b.c", false},
        {"a.>", "*.b.c", true}, {"*", "a.b", false},     {"a.b", "a.b", true},
        {"a.b", "a.c", false},  {"secret.>", ">", true}, {"*.*", "a.>", true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (overlaps(t[i].a, t[i].b) != t[i].want || overlaps(t[i].b, t[i].a) != t[i].want)
            fail_msg("overlaps(%s, %s) != %d", t[i].a, t[i].b, t[i].want);
    }
}

/* Random filters over a tiny alphabet, checked against brute force over every subject
 * of up to four tokens from the same alphabet (plus a token no filter names). */
static void random_filter(char *out, unsigned *seed)
{
    static const char *const toks[] = {"a", "b", "*", ">"};
    int n = 1 + rand_r(seed) % 3;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *t = toks[rand_r(seed) % (i == n - 1 ? 4 : 3)];
        if (i) strcat(out, ".");
        strcat(out, t);
    }
}

static void all_subjects(char subjects[][16], size_t *n)
{
    static const char *const toks[] = {"a", "b", "z"};
    *n = 0;
    for (int len = 1; len <= 4; len++) {
        int total = 1;
        for (int i = 0; i < len; i++)
            total *= 3;
        for (int k = 0; k < total; k++) {
            char *s = subjects[(*n)++];
            s[0] = 0;
            for (int i = 0, v = k; i < len; i++, v /= 3) {
                if (i) strcat(s, ".");
                strcat(s, toks[v % 3]);
            }
        }
    }
}

static void test_filter_algebra_random(void **state)
{
    (void)state;
    static char subjects[128][16];
    size_t ns;
    all_subjects(subjects, &ns);
    unsigned seed = 42;
    for (int round = 0; round < 3000; round++) {
        char p[32], f[32];
        random_filter(p, &seed);
        random_filter(f, &seed);
        bool all = true, any = false;
        for (size_t i = 0; i < ns; i++) {
            bool mf = ob_subject_matches(ob_slice_str(f), ob_slice_str(subjects[i]));
            bool mp = ob_subject_matches(ob_slice_str(p), ob_slice_str(subjects[i]));
            if (mf && !mp) all = false;
            if (mf && mp) any = true;
        }
        /* four-token subjects bound the brute force: filters have at most three tokens,
         * so a counterexample, if any, has at most four */
        if (covers(p, f) != all) fail_msg("covers(%s, %s) should be %d", p, f, all);
        if (overlaps(p, f) != any) fail_msg("overlaps(%s, %s) should be %d", p, f, any);
    }
}

static void test_invalid_configs(void **state)
{
    (void)state;
    struct ob_auth *a;
    struct ob_auth_user bad_users[][1] = {
        {{.name = "x"}},                           /* no credential */
        {{.name = "*", .password = "p"}},          /* reserved */
        {{.name = "x", .password_hash = "plain"}}, /* not argon2 */
    };
    for (size_t i = 0; i < 3; i++) {
        struct ob_auth_config cfg = {.users = bad_users[i], .nusers = 1};
        assert_int_equal(ob_auth_new(&a, &cfg), OB_ECONFIG);
        assert_null(a);
    }
    struct ob_auth_user dup[] = {{.name = "x", .password = "p"}, {.name = "x", .password = "q"}};
    struct ob_auth_config cfg = {.users = dup, .nusers = 2};
    assert_int_equal(ob_auth_new(&a, &cfg), OB_ECONFIG);
    char *bad_filter[] = {"a..b"};
    struct ob_auth_rule r = {
        .user = "*", .actions = OB_ACT_PUBLISH, .subjects = bad_filter, .nsubjects = 1};
    struct ob_auth_config cfg2 = {.rules = &r, .nrules = 1};
    assert_int_equal(ob_auth_new(&a, &cfg2), OB_ECONFIG);
}

struct async_result {
    int status;
    char name[64];
    int calls;
};

static void on_auth(void *arg, int status, struct ob_principal *p)
{
    struct async_result *r = arg;
    r->status = status;
    r->calls++;
    if (p) {
        strcpy(r->name, ob_principal_name(p));
        ob_principal_free(p);
    }
}

static void test_async(void **state)
{
    (void)state;
    char hash[OB_AUTH_HASH_MAX];
    assert_int_equal(ob_auth_hash_password("pw", 2, hash), 0);
    struct ob_auth *a = make_auth(OB_ANON_NEVER, NULL, 0, hash);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sockaddr_storage ss = addr("10.0.0.1");
    struct async_result ok = {0}, bad = {0};
    assert_int_equal(ob_auth_authenticate_async(a, &loop, "alice", "pw", 2, SA(ss), on_auth, &ok),
                     0);
    assert_int_equal(ob_auth_authenticate_async(a, &loop, "alice", "no", 2, NULL, on_auth, &bad),
                     0);
    ob_auth_unref(a); /* the pending checks keep it alive */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_string_equal(ok.name, "alice");
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.status, OB_EAUTH);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash),
        cmocka_unit_test(test_plain_password_and_tokens),
        cmocka_unit_test(test_anonymous_policy),
        cmocka_unit_test(test_rule_order_and_default),
        cmocka_unit_test(test_star_rules),
        cmocka_unit_test(test_filter_covers_table),
        cmocka_unit_test(test_filter_overlaps_table),
        cmocka_unit_test(test_filter_algebra_random),
        cmocka_unit_test(test_invalid_configs),
        cmocka_unit_test(test_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
