/*
 * quantity.c — Kubernetes quantities as PV capacities: "512Mi", "1Gi", "10G", "1.5Gi",
 * plain bytes. Only whole numbers of bytes are accepted; nothing is rounded silently.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pvnode/pv.h"

struct suffix {
	const char *s;
	uint64_t mult;
};

static const struct suffix suffixes[] = {
	{ "Ki", 1ull << 10 }, { "Mi", 1ull << 20 }, { "Gi", 1ull << 30 }, { "Ti", 1ull << 40 },
	{ "Pi", 1ull << 50 }, { "Ei", 1ull << 60 }, { "k", 1000ull }, { "M", 1000000ull },
	{ "G", 1000000000ull }, { "T", 1000000000000ull }, { "P", 1000000000000000ull },
	{ "E", 1000000000000000000ull }, { "", 1 },
};

#define QUANTITY_ALLOWED "a whole number of bytes, optionally with a suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E (e.g. 512Mi, 1Gi, 10G)"

int pv_quantity_parse(const char *s, uint64_t *bytes, struct pv_err *err)
{
	const char *p = s, *frac = NULL;
	uint64_t whole = 0, fnum = 0, fden = 1, mult = 0;
	size_t fdigits = 0;

	if (!s || !*s)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "empty quantity (allowed: %s)", QUANTITY_ALLOWED);
	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto big;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		frac = ++p;
		for (; isdigit((unsigned char)*p); p++) {
			if (++fdigits > 18)
				goto bad;
			fnum = fnum * 10 + (uint64_t)(*p - '0');
			fden *= 10;
		}
		if (fdigits == 0)
			goto bad;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(p, suffixes[i].s) == 0) {
			mult = suffixes[i].mult;
			break;
		}
	if (!mult)
		goto bad;
	if (whole > UINT64_MAX / mult)
		goto big;
	whole *= mult;
	if (frac && fnum) {
		/* fnum/fden * mult must be whole: reduce first to avoid overflow */
		uint64_t a = fnum, b = fden, g;
		while (b) {
			uint64_t t = a % b;
			a = b;
			b = t;
		}
		g = a;
		fnum /= g;
		fden /= g;
		if (mult % fden != 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "quantity '%s' is not a whole number of bytes (allowed: %s)", s,
					  QUANTITY_ALLOWED);
		if (fnum > UINT64_MAX / (mult / fden) || whole > UINT64_MAX - fnum * (mult / fden))
			goto big;
		whole += fnum * (mult / fden);
	}
	if (whole > (uint64_t)INT64_MAX)
		goto big; /* a file, a device and CSI's int64 capacity all stop there */
	*bytes = whole;
	return 0;
bad:
	return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a quantity (allowed: %s)", s,
			  QUANTITY_ALLOWED);
big:
	return pv_err_set(err, -ERANGE, PV_E_INVALID, "quantity '%s' is too large (at most 8Ei less one byte)", s);
}

void pv_quantity_format(uint64_t bytes, char *buf, size_t len)
{
	char best[32], cand[32];

	/* the shortest exact form; binary suffixes win ties (1Gi, 10G, 1536Mi) */
	snprintf(best, sizeof(best), "%llu", (unsigned long long)bytes);
	for (size_t i = 0; bytes && i < 12; i++)
		if (bytes % suffixes[i].mult == 0) {
			snprintf(cand, sizeof(cand), "%llu%s", (unsigned long long)(bytes / suffixes[i].mult), suffixes[i].s);
			if (strlen(cand) < strlen(best))
				memcpy(best, cand, sizeof(best));
		}
	snprintf(buf, len, "%s", best);
}
