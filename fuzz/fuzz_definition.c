/*-------------------------------------------------------------------------
 *
 * fuzz_definition.c
 *	  libFuzzer target for the definition type input,
 *	  tl_definition_normalise() in src/def_normalize.c.
 *
 * The first byte of an input picks the kind (its value modulo 3: 0 stage,
 * 1 process, 2 link; the seeds use the digits '0', '1', '2'), the rest is
 * the JSON text the type input function would get.  Besides "no crash, no
 * sanitizer report", an input is held to these oracles:
 *
 * - errors are only the expected SQLSTATEs (fuzz_error_expected);
 * - the result is NUL-terminated at the length reported;
 * - for an input that could be a text value: the result is strict UTF-8
 *	 without raw control characters, is RFC 8785 canonical (jcs gives it
 *	 back unchanged), and normalising it again gives the same bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"

#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* one call of tl_definition_normalise */
typedef struct NormalisePass
{
	TlDefKind	kind;
	const char *json;
	int			len;
	char	   *out;
	int			outlen;
} NormalisePass;

static void
step_normalise(void *arg)
{
	NormalisePass *pass = arg;

	pass->out = tl_definition_normalise(pass->kind, pass->json, pass->len,
										&pass->outlen);
}

/* jcs_canonical_text() of a normalised definition */
typedef struct CanonicalPass
{
	const char *json;
	int			len;
	char	   *out;
	int			outlen;
} CanonicalPass;

static void
step_canonical(void *arg)
{
	CanonicalPass *pass = arg;

	pass->out = jcs_canonical_text(pass->json, pass->len, &pass->outlen);
}

static void
normalise_and_check(TlDefKind kind, const char *json, int len)
{
	NormalisePass first = {kind, json, len};
	NormalisePass second;
	CanonicalPass canonical;
	ErrorData  *edata;
	const char *problem;

	edata = fuzz_try(step_normalise, &first);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fuzz_fail("tl_definition_normalise raised an unexpected error",
					  json, len, NULL, 0, edata);
		fuzz_show("tl_definition_normalise refused the input", NULL, 0, edata);
		return;
	}
	if (first.out == NULL || first.outlen < 0 ||
		strlen(first.out) != (size_t) first.outlen)
		fuzz_fail("result is not a NUL-terminated string of the length reported",
				  json, len, NULL, 0, NULL);
	fuzz_show("normalised", first.out, first.outlen, NULL);
	if (!fuzz_is_text(json, len))
	{
		fuzz_show("not a text value: output not checked", NULL, 0, NULL);
		return;
	}

	problem = fuzz_check_utf8(first.out, first.outlen);
	if (problem != NULL)
		fuzz_fail(problem, json, len, first.out, first.outlen, NULL);

	canonical.json = first.out;
	canonical.len = first.outlen;
	edata = fuzz_try(step_canonical, &canonical);
	if (edata != NULL)
		fuzz_fail("normalised definition is not canonical JSON",
				  json, len, first.out, first.outlen, edata);
	if (canonical.outlen != first.outlen ||
		memcmp(canonical.out, first.out, first.outlen) != 0)
		fuzz_fail("normalised definition is not in RFC 8785 canonical form",
				  first.out, first.outlen, canonical.out, canonical.outlen, NULL);

	second.kind = kind;
	second.json = first.out;
	second.len = first.outlen;
	edata = fuzz_try(step_normalise, &second);
	if (edata != NULL)
		fuzz_fail("normalised definition is refused when normalised again",
				  json, len, first.out, first.outlen, edata);
	if (second.outlen != first.outlen ||
		memcmp(second.out, first.out, first.outlen) != 0)
		fuzz_fail("normalising a normalised definition changed it",
				  first.out, first.outlen, second.out, second.outlen, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const TlDefKind kinds[] = {
		TL_DEF_STAGE, TL_DEF_PROCESS, TL_DEF_LINK
	};
	const char *json = (const char *) data + 1;

	if (size < 1 || size > FUZZ_MAX_INPUT ||
		fuzz_json_nesting(json, size - 1) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input((const char *) data, size);
	normalise_and_check(kinds[data[0] % 3], json, (int) size - 1);
	fuzz_end_input();
	return 0;
}
