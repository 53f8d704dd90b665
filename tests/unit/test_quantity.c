/* Unit tests: Kubernetes quantities (lib/model/quantity.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pvnode/pv.h"

static void parses(void **state)
{
	(void)state;
	struct { const char *in; uint64_t want; } ok[] = {
		{ "512Mi", 512ull << 20 }, { "1Gi", 1ull << 30 }, { "10G", 10000000000ull }, { "1.5Gi", 3ull << 29 },
		{ "4096", 4096 }, { "1k", 1000 }, { "2Ki", 2048 }, { "1Ti", 1ull << 40 }, { "0.5Ki", 512 }, { "1E", 1000000000000000000ull },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t b = 0;
		struct pv_err err = { 0 };
		assert_int_equal(pv_quantity_parse(ok[i].in, &b, &err), 0);
		assert_true(b == ok[i].want);
	}
}

static void refuses(void **state)
{
	(void)state;
	const char *bad[] = { "", "Gi", "1GB", "-1Gi", "1.Gi", "1.3", "abc", "1 Gi", "1Gi ", "0.1Ki", "99999999999Ei", "1e9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t b = 0;
		struct pv_err err = { 0 };
		assert_true(pv_quantity_parse(bad[i], &b, &err) < 0);
		assert_int_equal(err.kind, PV_E_INVALID);
		assert_true(strlen(err.msg) > 0);
	}
}

static void formats(void **state)
{
	(void)state;
	char buf[32];
	pv_quantity_format(1ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "1Gi");
	pv_quantity_format(3ull << 29, buf, sizeof(buf));
	assert_string_equal(buf, "1536Mi");
	pv_quantity_format(10000000000ull, buf, sizeof(buf));
	assert_string_equal(buf, "10G");
	pv_quantity_format(12345, buf, sizeof(buf));
	assert_string_equal(buf, "12345");
	/* round trip */
	uint64_t v[] = { 1, 4096, 1ull << 20, 1500000, 123456789012ull };
	for (size_t i = 0; i < 5; i++) {
		uint64_t back = 0;
		pv_quantity_format(v[i], buf, sizeof(buf));
		assert_int_equal(pv_quantity_parse(buf, &back, NULL), 0);
		assert_true(back == v[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(parses), cmocka_unit_test(refuses), cmocka_unit_test(formats) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
