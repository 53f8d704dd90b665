/*
 * test_iscsi_kernel.c — open-iscsi command building (drivers/iscsi/iscsi_kernel.c):
 * the argv vectors for iscsiadm and sg_persist never carry a secret, the node-record
 * CHAP lines do, the by-path device name, and the auto/kernel/userspace choice.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iscsi_conn.h"

static void fill(struct pvi_target *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->portals[0], sizeof(t->portals[0]), "10.0.0.5:3260");
	snprintf(t->portals[1], sizeof(t->portals[1]), "10.0.0.6:3261");
	t->n_portals = 2;
	snprintf(t->iqn, sizeof(t->iqn), "iqn.2026-11.example:web");
	t->lun = 3;
	snprintf(t->user, sizeof(t->user), "alice");
	snprintf(t->pass, sizeof(t->pass), "S3cretPassw0rd");
}

static char *join(const struct pvi_argv *a, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < a->n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " " : "", a->argv[i]);
	assert_null(a->argv[a->n]);
	return buf;
}

static void test_iscsiadm(void **state)
{
	struct pvi_target t;
	struct pvi_argv a;
	char s[1024];
	(void)state;
	fill(&t);
	assert_int_equal(pvi_kernel_cmd_new(&t, 0, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "iscsiadm -m node -T iqn.2026-11.example:web -p 10.0.0.5:3260 -I default -o new");
	assert_int_equal(pvi_kernel_cmd_login(&t, 1, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "iscsiadm -m node -T iqn.2026-11.example:web -p 10.0.0.6:3261 -I default --login");
	assert_int_equal(pvi_kernel_cmd_logout(&t, 0, &a), 0);
	assert_non_null(strstr(join(&a, s, sizeof(s)), "--logout"));
	assert_int_equal(pvi_kernel_cmd_discover(&t, 0, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "iscsiadm -m discovery -t sendtargets -p 10.0.0.5:3260");
	assert_int_equal(pvi_kernel_cmd_login(&t, 2, &a), -EINVAL);
	/* no secret in any argv */
	for (size_t p = 0; p < 2; p++) {
		pvi_kernel_cmd_new(&t, p, &a);
		assert_null(strstr(join(&a, s, sizeof(s)), "S3cret"));
		pvi_kernel_cmd_login(&t, p, &a);
		assert_null(strstr(join(&a, s, sizeof(s)), "S3cret"));
	}
}

static void test_sg_persist(void **state)
{
	struct pvi_argv a;
	char s[512];
	(void)state;
	assert_int_equal(pvi_kernel_cmd_pr("register", "/dev/sdb", 0xabcULL, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)), "sg_persist --out --register-ignore --param-sark=0xabc /dev/sdb");
	assert_int_equal(pvi_kernel_cmd_pr("reserve", "/dev/sdb", 0xabcULL, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "sg_persist --out --reserve --param-rk=0xabc --prout-type=1 /dev/sdb");
	assert_int_equal(pvi_kernel_cmd_pr("preempt", "/dev/sdb", 0xabcULL, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "sg_persist --out --preempt --param-rk=0xabc --param-sark=0xabc --prout-type=1 /dev/sdb");
	assert_int_equal(pvi_kernel_cmd_pr("unregister", "/dev/sdb", 0xabcULL, &a), 0);
	assert_string_equal(join(&a, s, sizeof(s)),
			    "sg_persist --out --register --param-rk=0xabc --param-sark=0 /dev/sdb");
	assert_int_equal(pvi_kernel_cmd_pr("bogus", "/dev/sdb", 1, &a), -EINVAL);
}

static void test_paths_and_auth(void **state)
{
	struct pvi_target t;
	char buf[1024];
	(void)state;
	fill(&t);
	assert_int_equal(pvi_kernel_device_path(&t, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2026-11.example:web-lun-3");
	assert_int_equal(pvi_kernel_record_glob(&t, 1, "/etc/iscsi", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc/iscsi/nodes/iqn.2026-11.example:web/10.0.0.6,3261,*/default");
	assert_true(pvi_kernel_auth_lines(&t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "node.session.auth.authmethod = CHAP\n"));
	assert_non_null(strstr(buf, "node.session.auth.password = S3cretPassw0rd\n"));
	assert_null(strstr(buf, "_in"));
	snprintf(t.user_in, sizeof(t.user_in), "tgt");
	snprintf(t.pass_in, sizeof(t.pass_in), "MutualSecret1");
	assert_true(pvi_kernel_auth_lines(&t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "node.session.auth.password_in = MutualSecret1\n"));
	char small[16];
	assert_int_equal(pvi_kernel_auth_lines(&t, small, sizeof(small)), -ENOSPC);
	assert_int_equal(small[0], 0);   /* wiped, no half secret left */
	t.user[0] = '\0';
	assert_true(pvi_kernel_auth_lines(&t, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "node.session.auth.authmethod = None\n");
}

static void test_choice(void **state)
{
	(void)state;
	assert_int_equal(pvi_choose_initiator(PVI_INIT_AUTO, true), PVI_INIT_KERNEL);
	assert_int_equal(pvi_choose_initiator(PVI_INIT_AUTO, false), PVI_INIT_USERSPACE);
	assert_int_equal(pvi_choose_initiator(PVI_INIT_USERSPACE, true), PVI_INIT_USERSPACE);
	assert_int_equal(pvi_choose_initiator(PVI_INIT_KERNEL, false), PVI_INIT_KERNEL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iscsiadm),
		cmocka_unit_test(test_sg_persist),
		cmocka_unit_test(test_paths_and_auth),
		cmocka_unit_test(test_choice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
