/* test_config.c — concurd flag/env parsing, validation and ID derivation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "server/config.h"
#include "util/err.h"

#define ARGV(...) ((char *[]){"concurd", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"concurd", __VA_ARGS__}) / sizeof(char *)))

#define IC                                                                                         \
    "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380"

static void test_defaults(void **state)
{
    (void)state;
    struct member_config c;
    char err[256];
    char *argv[] = {"concurd", NULL};
    assert_int_equal(config_parse(&c, 1, argv, NULL, err, sizeof(err)), CONFIG_OK);
    assert_string_equal(c.name, "default");
    assert_string_equal(c.data_dir, "default.etcd");
    assert_int_equal(c.heartbeat_ms, 100);
    assert_int_equal(c.election_ms, 1000);
    assert_true(c.snapshot_count == 100000);
    assert_string_equal(c.listen_client_urls.v[0].text, "http://localhost:2379");
    assert_int_equal(c.listen_peer_urls.v[0].port, 2380);
    assert_int_equal(c.n_initial, 1);
    assert_false(c.redis_enabled);
    assert_true(c.member_id != 0 && c.cluster_id != 0);
}

static void test_cluster_flags_both_forms(void **state)
{
    (void)state;
    struct member_config a, b;
    char err[256];
    char *argv1[] = {"concurd",
                     "--name",
                     "infra2",
                     "--initial-advertise-peer-urls",
                     "http://127.0.0.1:22380",
                     "--initial-cluster",
                     IC,
                     "--redis-addr",
                     "127.0.0.1:26379",
                     "--initial-cluster-token",
                     "tok",
                     NULL};
    assert_int_equal(config_parse(&a, 11, argv1, NULL, err, sizeof(err)), CONFIG_OK);
    char ic[300];
    snprintf(ic, sizeof(ic), "-initial-cluster=%s", IC);
    char *argv2[] = {"concurd",
                     "-name=infra2",
                     "-initial-advertise-peer-urls=http://127.0.0.1:22380",
                     ic,
                     "--initial-cluster-token=tok",
                     NULL};
    assert_int_equal(config_parse(&b, 5, argv2, NULL, err, sizeof(err)), CONFIG_OK);
    assert_int_equal(a.n_initial, 3);
    assert_true(a.member_id == b.member_id);
    assert_true(a.cluster_id == b.cluster_id);
    assert_true(a.member_id == a.initial[1].id);
    assert_true(a.redis_enabled);
    assert_int_equal(a.redis_port, 26379);
    /* IDs are distinct per member and depend on the token. */
    assert_true(a.initial[0].id != a.initial[1].id && a.initial[1].id != a.initial[2].id);
    struct member_config d;
    char *argv3[] = {"concurd",
                     "--name",
                     "infra2",
                     "--initial-advertise-peer-urls",
                     "http://127.0.0.1:22380",
                     "--initial-cluster",
                     IC,
                     NULL};
    assert_int_equal(config_parse(&d, 7, argv3, NULL, err, sizeof(err)), CONFIG_OK);
    assert_true(d.member_id != a.member_id);
    assert_true(d.cluster_id != a.cluster_id);
}

static void test_snapshot_catchup_entries(void **state)
{
    (void)state;
    struct member_config c;
    char err[256];
    char *argv0[] = {"concurd", NULL};
    assert_int_equal(config_parse(&c, 1, argv0, NULL, err, sizeof(err)), CONFIG_OK);
    assert_true(c.snapshot_catchup_entries == 5000); /* etcd's default */
    char *argv1[] = {"concurd", "--experimental-snapshot-catchup-entries", "20", NULL};
    assert_int_equal(config_parse(&c, 3, argv1, NULL, err, sizeof(err)), CONFIG_OK);
    assert_true(c.snapshot_catchup_entries == 20);
    char *envp[] = {"CONCUR_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES=7", NULL};
    assert_int_equal(config_parse(&c, 1, argv0, envp, err, sizeof(err)), CONFIG_OK);
    assert_true(c.snapshot_catchup_entries == 7);
    char *argv2[] = {"concurd", "--experimental-snapshot-catchup-entries", "-1", NULL};
    assert_int_equal(config_parse(&c, 3, argv2, NULL, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "snapshot-catchup-entries"));
}

static void test_durations(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(config_parse_duration_ms("10m", &ms), 0);
    assert_true(ms == 600000);
    assert_int_equal(config_parse_duration_ms("1m30s", &ms), 0);
    assert_true(ms == 90000);
    assert_int_equal(config_parse_duration_ms("250ms", &ms), 0);
    assert_true(ms == 250);
    assert_int_equal(config_parse_duration_ms("1.5s", &ms), 0);
    assert_true(ms == 1500);
    assert_int_equal(config_parse_duration_ms("10", &ms), CC_EINVAL);
    assert_int_equal(config_parse_duration_ms("-1s", &ms), CC_EINVAL);
    assert_int_equal(config_parse_duration_ms("1x", &ms), CC_EINVAL);
    assert_int_equal(config_parse_duration_ms("", &ms), CC_EINVAL);
    struct member_config c;
    char err[256];
    char *argv[] = {"concurd", "--experimental-watch-progress-notify-interval", "2s", NULL};
    assert_int_equal(config_parse(&c, 3, argv, NULL, err, sizeof(err)), CONFIG_OK);
    assert_true(c.watch_progress_notify_ms == 2000);
    char *argv0[] = {"concurd", NULL};
    assert_int_equal(config_parse(&c, 1, argv0, NULL, err, sizeof(err)), CONFIG_OK);
    assert_true(c.watch_progress_notify_ms == 600000);
}

static void test_env_and_override(void **state)
{
    (void)state;
    struct member_config c;
    char err[256];
    char *envp[] = {"CONCUR_NAME=envname", "CONCUR_HEARTBEAT_INTERVAL=50",
                    "CONCUR_ELECTION_TIMEOUT=500", "PATH=/bin", NULL};
    char *argv[] = {"concurd", "--heartbeat-interval", "20", NULL};
    assert_int_equal(config_parse(&c, 3, argv, envp, err, sizeof(err)), CONFIG_OK);
    assert_string_equal(c.name, "envname");
    assert_int_equal(c.heartbeat_ms, 20);
    assert_int_equal(c.election_ms, 500);
}

static void expect_invalid(int argc, char **argv, const char *needle)
{
    struct member_config c;
    char err[256];
    assert_int_equal(config_parse(&c, argc, argv, NULL, err, sizeof(err)), CC_EINVAL);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_rejections(void **state)
{
    (void)state;
    expect_invalid(ARGC("--bogus"), ARGV("--bogus"), "unknown flag");
    expect_invalid(ARGC("--heartbeat-interval", "x"), ARGV("--heartbeat-interval", "x"),
                   "heartbeat");
    expect_invalid(ARGC("--election-timeout", "300"), ARGV("--election-timeout", "300"), "5 times");
    expect_invalid(ARGC("--initial-cluster-state", "old"), ARGV("--initial-cluster-state", "old"),
                   "new' or 'existing");
    expect_invalid(ARGC("--listen-client-urls", "https://a:1"),
                   ARGV("--listen-client-urls", "https://a:1"), "scheme");
    expect_invalid(ARGC("--listen-client-urls", "http://a"),
                   ARGV("--listen-client-urls", "http://a"), "host:port");
    expect_invalid(ARGC("--redis-addr", "nope"), ARGV("--redis-addr", "nope"), "HOST:PORT");
    expect_invalid(ARGC("--name"), ARGV("--name"), "needs an argument");
    expect_invalid(ARGC("stray"), ARGV("stray"), "unexpected argument");
    /* Duplicate peer URLs across members are refused (NO_DUPES). */
    expect_invalid(ARGC("--name", "a", "--initial-advertise-peer-urls", "http://h:1",
                        "--initial-cluster", "a=http://h:1,b=http://h:1"),
                   ARGV("--name", "a", "--initial-advertise-peer-urls", "http://h:1",
                        "--initial-cluster", "a=http://h:1,b=http://h:1"),
                   "duplicate peer URL");
    /* Our name must be in the cluster with our advertised URLs. */
    expect_invalid(ARGC("--name", "zz", "--initial-cluster", IC),
                   ARGV("--name", "zz", "--initial-cluster", IC), "couldn't find local name");
    expect_invalid(ARGC("--name", "infra1", "--initial-cluster", IC),
                   ARGV("--name", "infra1", "--initial-cluster", IC),
                   "missing from --initial-advertise-peer-urls");
}

static void test_help_version(void **state)
{
    (void)state;
    struct member_config c;
    char err[64];
    assert_int_equal(config_parse(&c, ARGC("--help"), ARGV("--help"), NULL, err, sizeof(err)),
                     CONFIG_HELP);
    assert_int_equal(config_parse(&c, ARGC("-h"), ARGV("-h"), NULL, err, sizeof(err)), CONFIG_HELP);
    assert_int_equal(config_parse(&c, ARGC("--version"), ARGV("--version"), NULL, err, sizeof(err)),
                     CONFIG_VERSION);
}

static void test_existing_member_id_matches_runtime_add(void **state)
{
    (void)state;
    struct member_config c;
    char err[256];
    const char *ic4 = "infra1=http://127.0.0.1:12380,infra4=http://127.0.0.1:42380";
    char *argv[] = {"concurd",
                    "--name",
                    "infra4",
                    "--initial-advertise-peer-urls",
                    "http://127.0.0.1:42380",
                    "--initial-cluster",
                    (char *)ic4,
                    "--initial-cluster-state",
                    "existing",
                    NULL};
    assert_int_equal(config_parse(&c, 9, argv, NULL, err, sizeof(err)), CONFIG_OK);
    struct cfg_urls u;
    assert_int_equal(config_parse_urls("http://127.0.0.1:42380", &u, err, sizeof(err)), 0);
    assert_true(c.member_id == config_member_id("", &u, "etcd-cluster"));
    assert_true(c.cluster_id == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_cluster_flags_both_forms),
        cmocka_unit_test(test_env_and_override),
        cmocka_unit_test(test_snapshot_catchup_entries),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_existing_member_id_matches_runtime_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
