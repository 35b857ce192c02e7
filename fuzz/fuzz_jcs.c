/*-------------------------------------------------------------------------
 *
 * fuzz_jcs.c
 *	  libFuzzer target for the RFC 8785 canonicaliser in src/jcs.c.
 *
 * Each input is JSON text for jcs_parse(); what parses is serialised with
 * jcs_serialize().  Besides "no crash, no sanitizer report", an input that
 * could be a text value (valid UTF-8, no NUL: what the server hands to
 * tracelink.jcs) is held to these oracles:
 *
 * - errors: parsing raises only the expected SQLSTATEs (fuzz_error_expected:
 *	 22P02, 22P05, 22003, 54001), serialising a parsed tree or comparing it
 *	 with itself (jcs_equal) only 54001;
 * - a parsed tree is jcs_equal to itself;
 * - the output is strict UTF-8 with no raw control character;
 * - the output parses again, to a tree equal to the first (nothing lost
 *	 or changed), and serialises to the same bytes (idempotence);
 * - object members are in strictly increasing UTF-16 code unit order, by
 *	 reference.c's comparison rather than jcs_key_compare();
 * - every number is laid out as reference.c's independent ECMAScript
 *	 Number.prototype.toString has it;
 * - jcs_text_is_canonical() (the quick check of ledger payloads) holds
 *	 only for text that parses and serialises to itself, byte for byte.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"

#include "reference.h"
#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* one pass: text in, tree, canonical text out */
typedef struct JcsPass
{
	const char *json;
	int			len;
	JcsValue   *tree;
	StringInfoData out;
} JcsPass;

static void
step_parse(void *arg)
{
	JcsPass    *pass = arg;

	pass->tree = jcs_parse(pass->json, pass->len);
}

static void
step_serialize(void *arg)
{
	JcsPass    *pass = arg;

	initStringInfo(&pass->out);
	jcs_serialize(&pass->out, pass->tree);
}

/* jcs_equal() of a tree with itself; it must hold, or run out of stack */
typedef struct EqualPass
{
	const JcsValue *tree;
	bool		equal;
} EqualPass;

static void
step_equal(void *arg)
{
	EqualPass  *pass = arg;

	pass->equal = jcs_equal(pass->tree, pass->tree);
}

/* ----------------------------------------------------------------
 * The target
 * ----------------------------------------------------------------
 */

/*
 * Member order and number formatting, all through the tree.
 */
static void
check_tree(const JcsValue *v, const char *json, int len)
{
	StringInfoData got;
	StringInfoData want;
	int			i;

	switch (v->kind)
	{
		case JCS_NUMBER:
			initStringInfo(&got);
			initStringInfo(&want);
			jcs_append_number(&got, v->u.number);
			es6_number(v->u.number, &want);
			if (strcmp(got.data, want.data) != 0)
				fuzz_fail(psprintf("number %.17g laid out as %s, ECMAScript gives %s",
								   v->u.number, got.data, want.data),
						  json, len, NULL, 0, NULL);
			/* the harness's own buffers do not count against the input */
			pfree(got.data);
			pfree(want.data);
			break;
		case JCS_ARRAY:
			for (i = 0; i < v->u.array.count; i++)
				check_tree(v->u.array.elems[i], json, len);
			break;
		case JCS_OBJECT:
			for (i = 0; i < v->u.object.count; i++)
			{
				const JcsMember *m = &v->u.object.members[i];

				if (i > 0 && utf16_compare((m - 1)->key, (m - 1)->keylen,
										   m->key, m->keylen) >= 0)
					fuzz_fail(psprintf("members \"%s\" and \"%s\" out of UTF-16 order or duplicate",
									   (m - 1)->key, m->key),
							  json, len, NULL, 0, NULL);
				check_tree(m->value, json, len);
			}
			break;
		default:
			break;
	}
}

static void
canonicalise_and_check(const char *json, int len)
{
	JcsPass		first = {json, len};
	JcsPass		second;
	EqualPass	equal;
	ErrorData  *edata;
	const char *problem;
	bool		quick = jcs_text_is_canonical(json, len, true);

	fuzz_show(quick ? "quick check: canonical" : "quick check: not settled", NULL, 0, NULL);
	edata = fuzz_try(step_parse, &first);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fuzz_fail("jcs_parse raised an unexpected error",
					  json, len, NULL, 0, edata);
		if (quick)
			fuzz_fail("jcs_text_is_canonical accepted text that does not parse",
					  json, len, NULL, 0, edata);
		fuzz_show("jcs_parse refused the input", NULL, 0, edata);
		return;
	}
	equal.tree = first.tree;
	edata = fuzz_try(step_equal, &equal);
	if (edata != NULL)
	{
		if (edata->sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX)
			fuzz_fail("jcs_equal failed on a parsed tree",
					  json, len, NULL, 0, edata);
		fuzz_show("jcs_equal ran out of stack", NULL, 0, edata);
	}
	else if (!equal.equal)
		fuzz_fail("jcs_equal says a tree differs from itself",
				  json, len, NULL, 0, NULL);
	edata = fuzz_try(step_serialize, &first);
	if (edata != NULL)
	{
		if (edata->sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX)
			fuzz_fail("jcs_serialize failed on a parsed tree",
					  json, len, NULL, 0, edata);
		fuzz_show("jcs_serialize ran out of stack", NULL, 0, edata);
		return;
	}
	fuzz_show("canonical", first.out.data, first.out.len, NULL);
	if (quick && (first.out.len != len || memcmp(first.out.data, json, len) != 0))
		fuzz_fail("jcs_text_is_canonical accepted text that is not canonical",
				  json, len, first.out.data, first.out.len, NULL);
	if (!fuzz_is_text(json, len))
	{
		fuzz_show("not a text value: output not checked", NULL, 0, NULL);
		return;
	}

	problem = fuzz_check_utf8(first.out.data, first.out.len);
	if (problem != NULL)
		fuzz_fail(problem, json, len, first.out.data, first.out.len, NULL);

	second.json = first.out.data;
	second.len = first.out.len;
	edata = fuzz_try(step_parse, &second);
	if (edata != NULL)
		fuzz_fail("canonical output does not parse",
				  json, len, first.out.data, first.out.len, edata);
	if (!jcs_equal(first.tree, second.tree))
		fuzz_fail("canonical output parses to a different value",
				  json, len, first.out.data, first.out.len, NULL);
	edata = fuzz_try(step_serialize, &second);
	if (edata != NULL)
		fuzz_fail("canonical output does not serialise",
				  json, len, first.out.data, first.out.len, edata);
	if (second.out.len != first.out.len ||
		memcmp(second.out.data, first.out.data, first.out.len) != 0)
		fuzz_fail("canonicalising the canonical output changed it",
				  first.out.data, first.out.len,
				  second.out.data, second.out.len, NULL);

	check_tree(first.tree, json, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *) data;

	if (size > FUZZ_MAX_INPUT ||
		fuzz_json_nesting(json, size) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input((const char *) data, size);
	canonicalise_and_check(json, (int) size);
	fuzz_end_input();
	return 0;
}
