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
 *	 22P02, 22P05, 22003, 54001), serialising a parsed tree only 54001;
 * - the output is strict UTF-8 with no raw control character;
 * - the output parses again, to a tree equal to the first (nothing lost
 *	 or changed), and serialises to the same bytes (idempotence);
 * - object members are in strictly increasing UTF-16 code unit order,
 *	 checked with a comparison written here rather than jcs_key_compare();
 * - every number is laid out as an independent ECMAScript
 *	 Number.prototype.toString (es6_number below, on the C library's
 *	 correctly rounded printf/strtod rather than PostgreSQL's Ryu) has it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "tracelink.h"

#include "shim.h"

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

/* ----------------------------------------------------------------
 * Reference ECMAScript number formatting
 * ----------------------------------------------------------------
 */

/*
 * Add (delta = 1) or subtract (delta = -1) one unit in the last of the p
 * digits of d × 10^exp (d read as d[0].d[1]...), staying at p digits.
 */
static void
step_digits(char *digits, int p, int *exp, int delta)
{
	int			i;

	if (delta > 0)
	{
		for (i = p - 1; i >= 0 && digits[i] == '9'; i--)
			digits[i] = '0';
		if (i >= 0)
			digits[i]++;
		else
		{
			digits[0] = '1';	/* 9.99 + 0.01 = 1.00 × 10 */
			(*exp)++;
		}
	}
	else
	{
		for (i = p - 1; i >= 0 && digits[i] == '0'; i--)
			digits[i] = '9';
		Assert(i >= 0);
		digits[i]--;
		if (digits[0] == '0')
		{
			memset(digits, '9', p); /* 1.00 - 0.01 = 9.99 × 10^-1 */
			(*exp)--;
		}
	}
}

/* does digits[0].digits[1..p-1] × 10^exp read back as value? */
static bool
reads_back(double value, const char *digits, int p, int exp)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%c.%.*se%d", digits[0], p - 1, digits + 1, exp);
	return strtod(buf, NULL) == value;
}

/*
 * The p-digit decimal nearest to value that reads back as value, if any.
 * printf's correctly rounded %.*e gives the nearest p-digit decimal; when
 * that misses, only its neighbour on the other side of value can still
 * hit (the rounding interval is lopsided at powers of two).
 */
static bool
digits_at_precision(double value, int p, char *digits, int *exp)
{
	char		buf[64];
	char	   *e;
	double		nearest;

	snprintf(buf, sizeof(buf), "%.*e", p - 1, value);
	nearest = strtod(buf, NULL);
	e = strchr(buf, 'e');
	*exp = atoi(e + 1);
	digits[0] = buf[0];
	if (p > 1)
		memcpy(digits + 1, buf + 2, p - 1);
	digits[p] = '\0';
	if (nearest == value)
		return true;
	step_digits(digits, p, exp, nearest < value ? 1 : -1);
	return reads_back(value, digits, p, *exp);
}

/*
 * ECMAScript Number::toString (ES2015 7.1.12.1, with the note's "closest"
 * choice, as RFC 8785 requires): the fewest significant digits s (k of
 * them) with value = s × 10^(n-k) after rounding, then laid out as an
 * integer, a decimal or an exponent form depending on n.
 */
static void
es6_number(double value, StringInfo out)
{
	char		digits[32];
	int			exp = 0;
	int			k;
	int			n;
	int			p;
	int			i;

	if (value == 0)
	{
		appendStringInfoChar(out, '0');
		return;
	}
	if (value < 0)
	{
		appendStringInfoChar(out, '-');
		value = -value;
	}
	for (p = 1; p < 17; p++)
		if (digits_at_precision(value, p, digits, &exp))
			break;
	if (p == 17)
		digits_at_precision(value, 17, digits, &exp);
	k = strlen(digits);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	n = exp + 1;

	if (k <= n && n <= 21)
	{
		appendBinaryStringInfo(out, digits, k);
		for (i = k; i < n; i++)
			appendStringInfoChar(out, '0');
	}
	else if (0 < n && n <= 21)
		appendStringInfo(out, "%.*s.%.*s", n, digits, k - n, digits + n);
	else if (-6 < n && n <= 0)
	{
		appendStringInfoString(out, "0.");
		for (i = n; i < 0; i++)
			appendStringInfoChar(out, '0');
		appendBinaryStringInfo(out, digits, k);
	}
	else
	{
		appendStringInfoChar(out, digits[0]);
		if (k > 1)
			appendStringInfo(out, ".%.*s", k - 1, digits + 1);
		appendStringInfo(out, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
}

/* ----------------------------------------------------------------
 * Member order
 * ----------------------------------------------------------------
 */

/* UTF-16 code units of a valid UTF-8 string; returns their number */
static int
utf16_units(const char *s, int len, uint16 *units)
{
	int			i = 0;
	int			n = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		uint32		cp;

		if (c < 0x80)
			cp = c, i += 1;
		else if (c < 0xE0)
			cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F), i += 2;
		else if (c < 0xF0)
			cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) |
				(s[i + 2] & 0x3F), i += 3;
		else
			cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) |
				((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F), i += 4;
		if (cp >= 0x10000)
		{
			cp -= 0x10000;
			units[n++] = 0xD800 + (cp >> 10);
			units[n++] = 0xDC00 + (cp & 0x3FF);
		}
		else
			units[n++] = cp;
	}
	return n;
}

/* RFC 8785 §3.2.3 order of two member names: <0, 0, >0 */
static int
utf16_compare(const JcsMember *a, const JcsMember *b)
{
	uint16	   *ua = palloc(sizeof(uint16) * (a->keylen + 1));
	uint16	   *ub = palloc(sizeof(uint16) * (b->keylen + 1));
	int			na = utf16_units(a->key, a->keylen, ua);
	int			nb = utf16_units(b->key, b->keylen, ub);
	int			i;

	for (i = 0; i < na && i < nb; i++)
		if (ua[i] != ub[i])
			return (int) ua[i] - (int) ub[i];
	return na - nb;
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
			break;
		case JCS_ARRAY:
			for (i = 0; i < v->u.array.count; i++)
				check_tree(v->u.array.elems[i], json, len);
			break;
		case JCS_OBJECT:
			for (i = 0; i < v->u.object.count; i++)
			{
				const JcsMember *m = &v->u.object.members[i];

				if (i > 0 && utf16_compare(m - 1, m) >= 0)
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
	ErrorData  *edata;
	const char *problem;

	edata = fuzz_try(step_parse, &first);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fuzz_fail("jcs_parse raised an unexpected error",
					  json, len, NULL, 0, edata);
		fuzz_show("jcs_parse refused the input", NULL, 0, edata);
		return;
	}
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

	if (size > FUZZ_MAX_INPUT || fuzz_json_nesting(json, size) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input();
	canonicalise_and_check(json, (int) size);
	fuzz_end_input();
	return 0;
}
