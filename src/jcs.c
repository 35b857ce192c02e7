/*-------------------------------------------------------------------------
 *
 * jcs.c
 *	  RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Every hash and signature in tracelink is computed over canonical bytes so
 * that any node, PostgreSQL version or outside verifier gets the same result.
 * jsonb's text output is not canonical (key order is by length, numbers keep
 * their scale), hence this file.
 *
 * We reuse what PostgreSQL has: its JSON lexer/parser (common/jsonapi.h)
 * builds a small tree, and its shortest round-trip double formatting
 * (common/shortest_dec.h) gives the digits that ECMAScript's
 * Number.prototype.toString lays out.  Object members are sorted by UTF-16
 * code units, duplicate keys, lone surrogates and numbers outside IEEE-754
 * double are refused.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <errno.h>
#include <float.h>
#include <math.h>

#include "common/jsonapi.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#ifndef FRONTEND
#include "utils/memutils.h"
#endif

/*
 * The fuzz harness (fuzz/) compiles this file with FRONTEND defined and links
 * it outside the server; as in src/common/jsonapi.c, the parts that need the
 * running backend (jsonb, fmgr) are left out of that build.
 */
#ifndef FRONTEND
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(tl_jcs_text);
PG_FUNCTION_INFO_V1(tl_jcs_jsonb);
PG_FUNCTION_INFO_V1(tl_digest_jsonb);
#endif

static void jcs_object_put_owned(JcsValue *object, char *key, int keylen,
								 JcsValue *value);

/* ----------------------------------------------------------------
 * Size limit
 * ----------------------------------------------------------------
 */

/*
 * Refuse a JSON document larger than TL_JSON_MAX_BYTES (tracelink.h): its
 * text has len bytes, or (exact = false) its canonical text was found to be
 * longer than len bytes while it was being read.  Every way tracelink reads
 * JSON comes through here (jcs_parse, jcs_from_jsonb, jcs_serialize_jsonb),
 * so the limit is the same everywhere.
 */
void
jcs_check_size(size_t len, bool exact)
{
	if (len <= TL_JSON_MAX_BYTES)
		return;
	if (exact)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JSON document is too large"),
				 errdetail("The document has %zu bytes; tracelink reads JSON documents of at most %d bytes.",
						   len, TL_JSON_MAX_BYTES)));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("JSON document is too large"),
			 errdetail("Its canonical text has more than %d bytes, the most tracelink reads.",
					   TL_JSON_MAX_BYTES)));
}

/* ----------------------------------------------------------------
 * Building values
 * ----------------------------------------------------------------
 */

static JcsValue *
jcs_new(JcsKind kind)
{
	JcsValue   *v = palloc0(sizeof(JcsValue));

	v->kind = kind;
	return v;
}

JcsValue *
jcs_make_null(void)
{
	return jcs_new(JCS_NULL);
}

JcsValue *
jcs_make_bool(bool value)
{
	return jcs_new(value ? JCS_TRUE : JCS_FALSE);
}

JcsValue *
jcs_make_number(double value)
{
	JcsValue   *v = jcs_new(JCS_NUMBER);

	v->u.number = value;
	return v;
}

JcsValue *
jcs_make_string(const char *str, int len)
{
	JcsValue   *v = jcs_new(JCS_STRING);

	v->u.string.str = pnstrdup(str, len);
	v->u.string.len = len;
	return v;
}

/*
 * Containers get room for `capacity` elements; with 0, none is allocated
 * until the first one comes (the parser's empty containers then cost only
 * their JcsValue).
 */
JcsValue *
jcs_make_array(int capacity)
{
	JcsValue   *v = jcs_new(JCS_ARRAY);

	v->u.array.capacity = Max(capacity, 0);
	if (capacity > 0)
		v->u.array.elems = palloc(sizeof(JcsValue *) * capacity);
	return v;
}

JcsValue *
jcs_make_object(int capacity)
{
	JcsValue   *v = jcs_new(JCS_OBJECT);

	v->u.object.capacity = Max(capacity, 0);
	if (capacity > 0)
		v->u.object.members = palloc(sizeof(JcsMember) * capacity);
	return v;
}

void
jcs_array_append(JcsValue *array, JcsValue *elem)
{
	Assert(array->kind == JCS_ARRAY);
	if (array->u.array.count == array->u.array.capacity)
	{
		if (array->u.array.capacity == 0)
		{
			array->u.array.capacity = 4;
			array->u.array.elems = palloc(sizeof(JcsValue *) * 4);
		}
		else
		{
			array->u.array.capacity *= 2;
			array->u.array.elems = repalloc(array->u.array.elems,
											sizeof(JcsValue *) * array->u.array.capacity);
		}
	}
	array->u.array.elems[array->u.array.count++] = elem;
}

/*
 * Add a member; the caller sorts the object (jcs_object_sort) when done.
 */
void
jcs_object_put(JcsValue *object, const char *key, JcsValue *value)
{
	int			keylen = strlen(key);

	jcs_object_put_owned(object, pnstrdup(key, keylen), keylen, value);
}

/*
 * jcs_object_put() for a key that is already the caller's palloc'd copy
 * (the parser's field names): the member takes it over.
 */
static void
jcs_object_put_owned(JcsValue *object, char *key, int keylen, JcsValue *value)
{
	JcsMember  *m;

	Assert(object->kind == JCS_OBJECT);
	if (object->u.object.count == object->u.object.capacity)
	{
		if (object->u.object.capacity == 0)
		{
			object->u.object.capacity = 4;
			object->u.object.members = palloc(sizeof(JcsMember) * 4);
		}
		else
		{
			object->u.object.capacity *= 2;
			object->u.object.members = repalloc(object->u.object.members,
												sizeof(JcsMember) * object->u.object.capacity);
		}
	}
	m = &object->u.object.members[object->u.object.count++];
	m->keylen = keylen;
	m->key = key;
	m->value = value;
}

/*
 * Compare two UTF-8 strings by their UTF-16 code units, as RFC 8785 §3.2.3
 * orders object members.  UTF-8 byte order equals code point order; the two
 * orders only disagree between U+E000..U+FFFF (lead byte 0xEE/0xEF) and the
 * supplementary planes (lead byte 0xF0..0xF4), whose surrogate code units
 * sort below U+E000.  Since the strings agree up to the first differing
 * byte, that byte is either a lead byte in both or a continuation byte of
 * the same-length sequence in both.
 */
int
jcs_key_compare(const char *a, int alen, const char *b, int blen)
{
	int			n = Min(alen, blen);
	int			i;

	for (i = 0; i < n; i++)
	{
		unsigned char ca = (unsigned char) a[i];
		unsigned char cb = (unsigned char) b[i];

		if (ca == cb)
			continue;
		if ((ca == 0xEE || ca == 0xEF) && cb >= 0xF0)
			return 1;
		if ((cb == 0xEE || cb == 0xEF) && ca >= 0xF0)
			return -1;
		return (int) ca - (int) cb;
	}
	return (alen > blen) - (alen < blen);
}

/*
 * Sort members: objects are mostly small, where an insertion sort beats
 * qsort's setup and indirect calls.  Keys are unique after the duplicate
 * check, so stability does not matter.
 */
static void
jcs_sort_members(void *base, int n, size_t size,
				 int (*cmp) (const void *, const void *))
{
	char	   *a = base;
	union
	{
		char		data[128];
		void	   *align_pointer;
		double		align_double;
		int64		align_int64;
	}			tmp;
	int			i;

	if (n > 16 || size > sizeof(tmp.data))
	{
		qsort(base, n, size, cmp);
		return;
	}
	for (i = 1; i < n; i++)
	{
		int			j = i;

		if (cmp(a + (j - 1) * size, a + i * size) <= 0)
			continue;
		memcpy(tmp.data, a + i * size, size);
		while (j > 0 && cmp(a + (j - 1) * size, tmp.data) > 0)
		{
			memcpy(a + j * size, a + (j - 1) * size, size);
			j--;
		}
		memcpy(a + j * size, tmp.data, size);
	}
}

static int
jcs_member_cmp(const void *x, const void *y)
{
	const JcsMember *a = x;
	const JcsMember *b = y;

	return jcs_key_compare(a->key, a->keylen, b->key, b->keylen);
}

/*
 * Sort an object's members into canonical order and refuse duplicates.
 */
void
jcs_object_sort(JcsValue *object)
{
	JcsMember  *m = object->u.object.members;
	int			n = object->u.object.count;
	int			i;

	if (n > 1)
		jcs_sort_members(m, n, sizeof(JcsMember), jcs_member_cmp);
	for (i = 1; i < n; i++)
	{
		if (m[i - 1].keylen == m[i].keylen &&
			memcmp(m[i - 1].key, m[i].key, m[i].keylen) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("duplicate key \"%s\" in JSON object",
							pnstrdup(m[i].key, m[i].keylen)),
					 errdetail("RFC 8785 canonical JSON requires unique member names.")));
	}
}

/*
 * Look up a member of a sorted object (binary search).
 */
JcsValue *
jcs_object_get(const JcsValue *object, const char *key)
{
	int			lo = 0;
	int			hi;
	int			keylen = strlen(key);

	if (object == NULL || object->kind != JCS_OBJECT)
		return NULL;
	hi = object->u.object.count - 1;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		JcsMember  *m = &object->u.object.members[mid];
		int			c = jcs_key_compare(m->key, m->keylen, key, keylen);

		if (c == 0)
			return m->value;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * Are two trees the same JSON value?  Members are compared in stored
 * order, which is canonical for parsed and sorted objects.  Recursive like
 * jcs_serialize(), so it checks the stack as that does: trees as deep as
 * the parser allows must raise an error, not overflow the stack.
 */
bool
jcs_equal(const JcsValue *a, const JcsValue *b)
{
	int			i;

	check_stack_depth();
	if (a->kind != b->kind)
		return false;
	switch (a->kind)
	{
		case JCS_NULL:
		case JCS_TRUE:
		case JCS_FALSE:
			return true;
		case JCS_NUMBER:
			return a->u.number == b->u.number;
		case JCS_STRING:
			return a->u.string.len == b->u.string.len &&
				memcmp(a->u.string.str, b->u.string.str, a->u.string.len) == 0;
		case JCS_ARRAY:
			if (a->u.array.count != b->u.array.count)
				return false;
			for (i = 0; i < a->u.array.count; i++)
				if (!jcs_equal(a->u.array.elems[i], b->u.array.elems[i]))
					return false;
			return true;
		case JCS_OBJECT:
			if (a->u.object.count != b->u.object.count)
				return false;
			for (i = 0; i < a->u.object.count; i++)
			{
				JcsMember  *ma = &a->u.object.members[i];
				JcsMember  *mb = &b->u.object.members[i];

				if (ma->keylen != mb->keylen ||
					memcmp(ma->key, mb->key, ma->keylen) != 0 ||
					!jcs_equal(ma->value, mb->value))
					return false;
			}
			return true;
	}
	return false;
}

const char *
jcs_kind_name(JcsKind kind)
{
	switch (kind)
	{
		case JCS_NULL:
			return "null";
		case JCS_TRUE:
		case JCS_FALSE:
			return "boolean";
		case JCS_NUMBER:
			return "number";
		case JCS_STRING:
			return "string";
		case JCS_ARRAY:
			return "array";
		case JCS_OBJECT:
			return "object";
	}
	return "unknown";
}

/* ----------------------------------------------------------------
 * Numbers
 * ----------------------------------------------------------------
 */

/*
 * Convert a JSON number token (already checked by the lexer, or produced by
 * numeric_out) to a double, refusing values that IEEE-754 double precision
 * cannot hold: overflow to infinity, or a non-zero literal that rounds to 0.
 */
/* quote at most 40 characters of a number in messages */
#define JCS_SHOWN(token) \
	(strlen(token) > 40 ? psprintf("%.37s...", (token)) : (token))

static double
jcs_parse_number(const char *token)
{
	double		d;
	char	   *end;
	const char *p;

	errno = 0;
	d = strtod(token, &end);
	if (*end != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid JSON number \"%s\"", JCS_SHOWN(token))));
	if (isinf(d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("JSON number \"%s\" is outside the range of IEEE-754 double precision",
						JCS_SHOWN(token)),
				 errhint("Store such values as JSON strings.")));
	if (d == 0.0)
	{
		for (p = token; *p && *p != 'e' && *p != 'E'; p++)
		{
			if (*p >= '1' && *p <= '9')
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("JSON number \"%s\" is outside the range of IEEE-754 double precision",
								JCS_SHOWN(token)),
						 errdetail("The value underflows to zero."),
						 errhint("Store such values as JSON strings.")));
		}
	}
	return d;
}

/*
 * Does the decimal 0.digits[0..k-1] × 10^n parse back to exactly |value|?
 */
static bool
jcs_digits_round_trip(double absvalue, const char *digits, int k, int n)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN + 16];

	snprintf(buf, sizeof(buf), "0.%.*se%d", k, digits, n);
	return strtod(buf, NULL) == absvalue;
}

/*
 * PostgreSQL builds Ryu without STRICTLY_SHORTEST: it never picks a decimal
 * lying exactly on the boundary of the rounding interval, so for about one
 * double in 5000 (1e23, for one) it prints a digit more than ECMAScript,
 * whose shortest form may sit on that boundary (round-half-even input gets
 * it back).  Ryu's k digits are the shortest strictly inside the interval,
 * so a shorter form on the boundary, padded to k-1 digits, is either the
 * truncation t of our digits or t plus one unit; we try both and keep the
 * one that round-trips, then drop trailing zeros.
 */
static void
jcs_shorten_digits(double absvalue, char *digits, int *k, int *n)
{
	char		up[DOUBLE_SHORTEST_DECIMAL_LEN + 2];
	int			m = *k - 1;
	int			upn = *n;
	int			i;
	bool		down_ok;
	bool		up_ok;

	/*
	 * With k <= 15 digits no shorter form can sit on the boundary: it would
	 * be a second k-digit decimal within one ulp of the first, closer than
	 * 15-digit decimals can be (DBL_DIG).
	 */
	if (*k <= DBL_DIG)
		return;

	/* t + one unit in the last of m digits, carrying */
	memcpy(up, digits, m);
	for (i = m - 1; i >= 0 && up[i] == '9'; i--)
		up[i] = '0';
	if (i >= 0)
		up[i]++;
	else
	{
		/* all nines: 99..9 + 1 = 100..0, one more decimal place */
		memmove(up + 1, up, m - 1);
		up[0] = '1';
		upn++;
	}

	down_ok = jcs_digits_round_trip(absvalue, digits, m, *n);
	up_ok = jcs_digits_round_trip(absvalue, up, m, upn);
	if (up_ok && (!down_ok || ((up[m - 1] - '0') % 2 == 0)))
	{
		/* both on the boundary can only mean a tie: ECMAScript takes even */
		memcpy(digits, up, m);
		*n = upn;
	}
	else if (!down_ok)
		return;
	while (m > 1 && digits[m - 1] == '0')
		m--;
	*k = m;
	digits[m] = '\0';
}

/*
 * Lay out significant digits d (k of them, value 0.d × 10^n, sign already
 * written) as ECMAScript's Number.prototype.toString does.
 */
static void
jcs_layout_digits(StringInfo out, const char *digits, int k, int n)
{
	int			i;

	if (k <= n && n <= 21)
	{
		/* integer: digits then zeros */
		appendBinaryStringInfo(out, digits, k);
		for (i = 0; i < n - k; i++)
			appendStringInfoCharMacro(out, '0');
	}
	else if (0 < n && n <= 21)
	{
		/* point inside the digits */
		appendBinaryStringInfo(out, digits, n);
		appendStringInfoCharMacro(out, '.');
		appendBinaryStringInfo(out, digits + n, k - n);
	}
	else if (-6 < n && n <= 0)
	{
		/* small: 0.000ddd */
		appendStringInfoString(out, "0.");
		for (i = 0; i < -n; i++)
			appendStringInfoCharMacro(out, '0');
		appendBinaryStringInfo(out, digits, k);
	}
	else
	{
		/* exponential: d.ddde±x */
		appendStringInfoCharMacro(out, digits[0]);
		if (k > 1)
		{
			appendStringInfoCharMacro(out, '.');
			appendBinaryStringInfo(out, digits + 1, k - 1);
		}
		appendStringInfo(out, "e%c%d", (n - 1) >= 0 ? '+' : '-', abs(n - 1));
	}
}

/*
 * Room for the canonical text jcs_number_text_fast() produces: at most 23
 * characters ("-0.00000" and 15 digits; an integer has at most 21 digits,
 * an exponential form 17 characters and "e-290"), and the 16 bytes that
 * appendStringInfo() wants free before it formats the exponent (with
 * less, it would enlarge the buffer, which is on the stack).
 */
#define JCS_FAST_NUMBER_LEN 64

/*
 * Canonical text of a number literal (JSON grammar, or numeric_out's plain
 * decimals) straight from its digits, when it has at most 15 significant
 * digits and a moderate exponent.  Such a decimal is the shortest form of
 * the double nearest to it, since no two decimals of 15 digits or fewer
 * share a double (DBL_DIG), so ECMAScript prints exactly its digits and no
 * binary round trip is needed.  Writes the NUL-terminated text into buf
 * (JCS_FAST_NUMBER_LEN bytes) and returns its length, or -1 when the
 * general path must decide.  Nothing is allocated: this runs once per
 * number of every document, and a per-number allocation that outlived the
 * call made memory grow with the count of numbers (issue 9).
 */
static int
jcs_number_text_fast(const char *token, char *buf)
{
	char		digits[40];
	int			len = 0;
	int			int_digits = 0;
	int			leading_zeros = 0;
	bool		in_fraction = false;
	bool		negative = false;
	int			exponent = 0;
	const char *p = token;
	StringInfoData out;

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++)
	{
		if (*p == '.')
		{
			in_fraction = true;
			continue;
		}
		if (!in_fraction)
			int_digits++;
		if (len == 0 && *p == '0')
			leading_zeros++;
		else if (len < (int) sizeof(digits))
			digits[len++] = *p;
		else
			return -1;
	}
	if (*p == 'e' || *p == 'E')
	{
		bool		exp_negative = false;
		int			exp_digits = 0;

		p++;
		if (*p == '+' || *p == '-')
			exp_negative = (*p++ == '-');
		for (; *p >= '0' && *p <= '9'; p++)
		{
			if (++exp_digits > 4)
				return -1;
			exponent = exponent * 10 + (*p - '0');
		}
		if (exp_negative)
			exponent = -exponent;
	}
	if (*p != '\0')
		return -1;
	while (len > 0 && digits[len - 1] == '0')
		len--;
	if (len == 0)
	{
		strcpy(buf, "0");
		return 1;
	}
	if (len > DBL_DIG ||
		abs(int_digits - leading_zeros + exponent) > 290)
		return -1;

	/*
	 * A StringInfo over the caller's buffer, for jcs_layout_digits(); the
	 * text always fits (see JCS_FAST_NUMBER_LEN), so it is never enlarged.
	 */
	out.data = buf;
	out.len = 0;
	out.maxlen = JCS_FAST_NUMBER_LEN;
	out.cursor = 0;
	buf[0] = '\0';
	if (negative)
		appendStringInfoCharMacro(&out, '-');
	jcs_layout_digits(&out, digits, len, int_digits - leading_zeros + exponent);
	Assert(out.data == buf && out.len < JCS_FAST_NUMBER_LEN);
	return out.len;
}

/*
 * Append a double as ECMAScript's Number.prototype.toString does (RFC 8785
 * §3.2.2.3).  PostgreSQL's shortest round-trip conversion gives the digits;
 * it prints either "d.ddde±x" or a plain decimal, from which we take the
 * significant digits s (k of them) and the exponent n with
 * value = 0.s × 10^n, then lay them out by ECMAScript's rules.
 */
void
jcs_append_number(StringInfo out, double value)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN + 1];
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN + 2];
	int			len;
	int			k = 0;
	int			n = 0;
	int			point = -1;
	int			i;
	const char *p;

	if (value == 0.0)
	{
		/* covers -0 too */
		appendStringInfoCharMacro(out, '0');
		return;
	}
	Assert(!isnan(value) && !isinf(value));

	len = double_to_shortest_decimal_bufn(value, buf);
	buf[len] = '\0';
	p = buf;
	if (*p == '-')
	{
		appendStringInfoCharMacro(out, '-');
		p++;
	}

	/*
	 * Collect significant digits.  Every zero before the first significant
	 * digit moves the point one place left ("0.001" = 0.1 × 10^-2: three
	 * leading zeros, point after the first character).
	 */
	for (i = 0; p[i] && p[i] != 'e'; i++)
	{
		if (p[i] == '.')
			point = i;
		else if (k == 0 && p[i] == '0')
			n--;
		else
			digits[k++] = p[i];
	}
	n += (point >= 0) ? point : i;
	if (p[i] == 'e')
		n += atoi(p + i + 1);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';

	jcs_shorten_digits(fabs(value), digits, &k, &n);
	jcs_layout_digits(out, digits, k, n);
}

/* ----------------------------------------------------------------
 * Strings
 * ----------------------------------------------------------------
 */

/*
 * Append a JSON string with RFC 8785 escaping: only '"', '\\' and control
 * characters are escaped, with the two-character forms where JSON has them
 * and lower-case \u00xx otherwise; everything else is copied as UTF-8.
 */
void
jcs_append_string(StringInfo out, const char *str, int len)
{
	static const char hex[] = "0123456789abcdef";
	int			start = 0;
	int			i;

	appendStringInfoCharMacro(out, '"');
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) str[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (i > start)
			appendBinaryStringInfo(out, str + start, i - start);
		start = i + 1;
		switch (c)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				appendStringInfoString(out, "\\u00");
				appendStringInfoCharMacro(out, hex[c >> 4]);
				appendStringInfoCharMacro(out, hex[c & 0xF]);
				break;
		}
	}
	if (len > start)
		appendBinaryStringInfo(out, str + start, len - start);
	appendStringInfoCharMacro(out, '"');
}

/* ----------------------------------------------------------------
 * Serialising
 * ----------------------------------------------------------------
 */

void
jcs_serialize(StringInfo out, const JcsValue *value)
{
	int			i;

	check_stack_depth();
	switch (value->kind)
	{
		case JCS_NULL:
			appendStringInfoString(out, "null");
			break;
		case JCS_TRUE:
			appendStringInfoString(out, "true");
			break;
		case JCS_FALSE:
			appendStringInfoString(out, "false");
			break;
		case JCS_NUMBER:
			if (value->number_text)
				appendStringInfoString(out, value->number_text);
			else
				jcs_append_number(out, value->u.number);
			break;
		case JCS_STRING:
			jcs_append_string(out, value->u.string.str, value->u.string.len);
			break;
		case JCS_ARRAY:
			appendStringInfoCharMacro(out, '[');
			for (i = 0; i < value->u.array.count; i++)
			{
				if (i > 0)
					appendStringInfoCharMacro(out, ',');
				jcs_serialize(out, value->u.array.elems[i]);
			}
			appendStringInfoCharMacro(out, ']');
			break;
		case JCS_OBJECT:
			appendStringInfoCharMacro(out, '{');
			for (i = 0; i < value->u.object.count; i++)
			{
				const JcsMember *m = &value->u.object.members[i];

				if (i > 0)
					appendStringInfoCharMacro(out, ',');
				jcs_append_string(out, m->key, m->keylen);
				appendStringInfoCharMacro(out, ':');
				jcs_serialize(out, m->value);
			}
			appendStringInfoCharMacro(out, '}');
			break;
	}
}

/* ----------------------------------------------------------------
 * Parsing JSON text (PostgreSQL's parser, our semantic actions)
 * ----------------------------------------------------------------
 */

typedef struct JcsParseState
{
	JcsValue  **stack;			/* open containers, innermost last */
	int			depth;
	int			stack_size;
	JcsValue   *root;
	char	   *pending_key;	/* member name awaiting its value (palloc'd) */
	int			pending_keylen;
	size_t		size;			/* jcs_from_jsonb: canonical bytes so far */
} JcsParseState;

static void
jcs_attach(JcsParseState *st, JcsValue *v)
{
	JcsValue   *parent;

	if (st->depth == 0)
	{
		st->root = v;
		return;
	}
	parent = st->stack[st->depth - 1];
	if (parent->kind == JCS_ARRAY)
		jcs_array_append(parent, v);
	else
	{
		jcs_object_put_owned(parent, st->pending_key, st->pending_keylen, v);
		st->pending_key = NULL;
	}
}

static void
jcs_push(JcsParseState *st, JcsValue *v)
{
	jcs_attach(st, v);
	if (st->depth == st->stack_size)
	{
		st->stack_size *= 2;
		st->stack = repalloc(st->stack, sizeof(JcsValue *) * st->stack_size);
	}
	st->stack[st->depth++] = v;
}

static void
jcs_sem_object_start(void *state)
{
	jcs_push(state, jcs_make_object(0));
}

static void
jcs_sem_object_end(void *state)
{
	JcsParseState *st = state;

	jcs_object_sort(st->stack[--st->depth]);
}

static void
jcs_sem_array_start(void *state)
{
	jcs_push(state, jcs_make_array(0));
}

static void
jcs_sem_array_end(void *state)
{
	JcsParseState *st = state;

	st->depth--;
}

static void
jcs_sem_field_start(void *state, char *fname, bool isnull)
{
	JcsParseState *st = state;

	st->pending_key = fname;
	st->pending_keylen = strlen(fname);
}

static void
jcs_sem_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JcsParseState *st = state;
	JcsValue   *v;

	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			v = jcs_new(JCS_STRING);
			v->u.string.str = token;
			v->u.string.len = strlen(token);
			break;
		case JSON_TOKEN_NUMBER:
			{
				char		buf[JCS_FAST_NUMBER_LEN];
				int			len = jcs_number_text_fast(token, buf);

				v = jcs_make_number(jcs_parse_number(token));
				if (len >= 0)
					v->number_text = pnstrdup(buf, len);
				pfree(token);
			}
			break;
		case JSON_TOKEN_TRUE:
			v = jcs_make_bool(true);
			break;
		case JSON_TOKEN_FALSE:
			v = jcs_make_bool(false);
			break;
		default:
			v = jcs_make_null();
			break;
	}
	jcs_attach(st, v);
}

/*
 * Parse JSON text into a tree whose objects are sorted canonically.
 * Errors are raised with PostgreSQL's own JSON error details; text longer
 * than TL_JSON_MAX_BYTES is refused before parsing.  The lexer reads the
 * text in place (it stops at len), and every value holds only its own
 * token, so the tree costs a small constant per value (docs/benchmarks.md).
 */
JcsValue *
jcs_parse(const char *json, int len)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JcsParseState st;
	JsonParseErrorType rc;

	jcs_check_size(len, true);

	memset(&st, 0, sizeof(st));
	st.stack_size = 16;
	st.stack = palloc(sizeof(JcsValue *) * st.stack_size);

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = jcs_sem_object_start;
	sem.object_end = jcs_sem_object_end;
	sem.array_start = jcs_sem_array_start;
	sem.array_end = jcs_sem_array_end;
	sem.object_field_start = jcs_sem_field_start;
	sem.scalar = jcs_sem_scalar;

	lex = makeJsonLexContextCstringLen((char *) json, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(rc == JSON_UNICODE_CODE_POINT_ZERO ?
						 ERRCODE_UNTRANSLATABLE_CHARACTER :
						 ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for canonical JSON"),
				 errdetail("%s", json_errdetail(rc, lex))));
	pfree(st.stack);
	return st.root;
}

/*
 * Canonical bytes of JSON text, palloc'd and NUL-terminated.  In the server
 * the tree lives in a context of its own, deleted before returning, so only
 * the result stays in the caller's context.
 */
char *
jcs_canonical_text(const char *json, int len, int *outlen)
{
	StringInfoData out;
	JcsValue   *tree;
#ifndef FRONTEND
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext,
											   "tracelink canonical JSON",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	initStringInfo(&out);
	old = MemoryContextSwitchTo(work);
	tree = jcs_parse(json, len);
	jcs_serialize(&out, tree);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
#else
	initStringInfo(&out);
	tree = jcs_parse(json, len);
	jcs_serialize(&out, tree);
#endif
	if (outlen)
		*outlen = out.len;
	return out.data;
}

#ifndef FRONTEND

/* ----------------------------------------------------------------
 * From jsonb
 * ----------------------------------------------------------------
 */

/*
 * Bytes jcs_append_string() writes for a string: the quotes, and escapes
 * where RFC 8785 has them.
 */
static size_t
jcs_string_size(const char *str, int len)
{
	size_t		n = (size_t) len + 2;
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) str[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
			c == '\r' || c == '\t')
			n += 1;
		else if (c < 0x20)
			n += 5;
	}
	return n;
}

/*
 * Bytes jcs_append_number() writes for a double: at most 24, and
 * appendStringInfo() wants 16 free before it formats (see
 * JCS_FAST_NUMBER_LEN), so 64 bytes on the stack never need enlarging.
 */
static size_t
jcs_number_size(double value)
{
	char		buf[64];
	StringInfoData out;

	out.data = buf;
	out.len = 0;
	out.maxlen = sizeof(buf);
	out.cursor = 0;
	jcs_append_number(&out, value);
	Assert(out.data == buf);
	return out.len;
}

/*
 * A jsonb scalar as a tree value; *size is the length of its canonical
 * text.  Nothing is left allocated but the value.
 */
static JcsValue *
jcs_from_jsonb_scalar(JsonbValue *v, size_t *size)
{
	switch (v->type)
	{
		case jbvNull:
			*size = 4;
			return jcs_make_null();
		case jbvBool:
			*size = v->val.boolean ? 4 : 5;
			return jcs_make_bool(v->val.boolean);
		case jbvString:
			*size = jcs_string_size(v->val.string.val, v->val.string.len);
			return jcs_make_string(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));
				JcsValue   *n;
				char		buf[JCS_FAST_NUMBER_LEN];
				int			len;

				if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 ||
					strcmp(s, "-Infinity") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("JSON number \"%s\" is outside the range of IEEE-754 double precision", s)));
				n = jcs_make_number(jcs_parse_number(s));
				len = jcs_number_text_fast(s, buf);
				if (len >= 0)
				{
					n->number_text = pnstrdup(buf, len);
					*size = len;
				}
				else
					*size = jcs_number_size(n->u.number);
				pfree(s);
				return n;
			}
		default:
			elog(ERROR, "unexpected jsonb scalar type %d", (int) v->type);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * Count n more bytes of canonical text; refuse the document once it passes
 * TL_JSON_MAX_BYTES.
 */
static inline void
jcs_count_size(JcsParseState *st, size_t n)
{
	st->size += n;
	if (st->size > TL_JSON_MAX_BYTES)
		jcs_check_size(st->size, false);
}

/* Does the value about to be attached need a comma before it? */
static inline bool
jcs_needs_comma(const JcsParseState *st)
{
	const JcsValue *parent;

	if (st->depth == 0)
		return false;
	parent = st->stack[st->depth - 1];
	return parent->kind == JCS_ARRAY && parent->u.array.count > 0;
}

/*
 * Build a canonical tree from jsonb.  jsonb already merged duplicate keys,
 * but sorts keys by length first, so every object is sorted again.  The
 * length of the canonical text is counted on the way, so that a document
 * over TL_JSON_MAX_BYTES is refused as jcs_parse() refuses one, before its
 * tree has grown much past the limit.
 */
JcsValue *
jcs_from_jsonb(Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JcsParseState st;
	size_t		size;
	JcsValue   *value;

	memset(&st, 0, sizeof(st));
	st.stack_size = 16;
	st.stack = palloc(sizeof(JcsValue *) * st.stack_size);

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (v.val.array.rawScalar)
				{
					/* a scalar document: [elem] wrapper, skip it */
					tok = JsonbIteratorNext(&it, &v, false);
					Assert(tok == WJB_ELEM);
					st.root = jcs_from_jsonb_scalar(&v, &size);
					jcs_count_size(&st, size);
					tok = JsonbIteratorNext(&it, &v, false);
					Assert(tok == WJB_END_ARRAY);
					break;
				}
				jcs_count_size(&st, 2 + jcs_needs_comma(&st));
				jcs_push(&st, jcs_make_array(v.val.array.nElems));
				break;
			case WJB_BEGIN_OBJECT:
				jcs_count_size(&st, 2 + jcs_needs_comma(&st));
				jcs_push(&st, jcs_make_object(v.val.object.nPairs));
				break;
			case WJB_KEY:
				/* a comma before every member but the first, the colon */
				jcs_count_size(&st, (st.stack[st.depth - 1]->u.object.count > 0) + 1 +
							   jcs_string_size(v.val.string.val, v.val.string.len));
				st.pending_key = pnstrdup(v.val.string.val, v.val.string.len);
				st.pending_keylen = v.val.string.len;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				value = jcs_from_jsonb_scalar(&v, &size);
				jcs_count_size(&st, size + (tok == WJB_ELEM && jcs_needs_comma(&st)));
				jcs_attach(&st, value);
				break;
			case WJB_END_ARRAY:
				st.depth--;
				break;
			case WJB_END_OBJECT:
				jcs_object_sort(st.stack[--st.depth]);
				break;
			case WJB_DONE:
				break;
		}
	}
	pfree(st.stack);
	return st.root;
}

/*
 * Canonical text of a jsonb number: the digits-only form when it applies,
 * else through the double.
 */
static void
jcs_append_jsonb_number(StringInfo out, Numeric num)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	char		buf[JCS_FAST_NUMBER_LEN];
	int			len;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("JSON number \"%s\" is outside the range of IEEE-754 double precision", s)));
	len = jcs_number_text_fast(s, buf);
	if (len >= 0)
		appendBinaryStringInfo(out, buf, len);
	else
		jcs_append_number(out, jcs_parse_number(s));
	pfree(s);
}

/* a member of a jsonb object, for sorting */
typedef struct JsonbMember
{
	JsonbValue	key;
	JsonbValue	value;
} JsonbMember;

static int
jsonb_member_cmp(const void *x, const void *y)
{
	const JsonbMember *a = x;
	const JsonbMember *b = y;

	return jcs_key_compare(a->key.val.string.val, a->key.val.string.len,
						   b->key.val.string.val, b->key.val.string.len);
}

static void jcs_serialize_jsonb_container(StringInfo out, JsonbContainer *jc,
										  int limit);

/*
 * Append one value; limit is the output length past which the document is
 * over TL_JSON_MAX_BYTES.
 */
static void
jcs_serialize_jsonb_value(StringInfo out, JsonbValue *v, int limit)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			jcs_append_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			jcs_append_jsonb_number(out, v->val.numeric);
			break;
		case jbvBinary:
			jcs_serialize_jsonb_container(out, v->val.binary.data, limit);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	if (out->len > limit)
		jcs_check_size((size_t) TL_JSON_MAX_BYTES + 1, false);
}

/*
 * Serialise one jsonb container canonically, reading it in place: values
 * and keys point into the jsonb, nested containers are read when reached,
 * and only an object's members are collected, to be sorted.
 */
static void
jcs_serialize_jsonb_container(StringInfo out, JsonbContainer *jc, int limit)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;

	check_stack_depth();
	tok = JsonbIteratorNext(&it, &v, true);
	if (tok == WJB_BEGIN_ARRAY)
	{
		bool		scalar = v.val.array.rawScalar;

		if (!scalar)
			appendStringInfoCharMacro(out, '[');
		while ((tok = JsonbIteratorNext(&it, &v, true)) == WJB_ELEM)
		{
			if (!first)
				appendStringInfoCharMacro(out, ',');
			first = false;
			jcs_serialize_jsonb_value(out, &v, limit);
		}
		if (!scalar)
			appendStringInfoCharMacro(out, ']');
	}
	else if (tok == WJB_BEGIN_OBJECT)
	{
		int			n = v.val.object.nPairs;
		JsonbMember *members = palloc(sizeof(JsonbMember) * Max(n, 1));
		int			i = 0;

		while ((tok = JsonbIteratorNext(&it, &v, true)) == WJB_KEY)
		{
			members[i].key = v;
			tok = JsonbIteratorNext(&it, &members[i].value, true);
			Assert(tok == WJB_VALUE);
			i++;
		}
		n = i;
		/* jsonb orders keys by length first; canonical order is by UTF-16 */
		if (n > 1)
			jcs_sort_members(members, n, sizeof(JsonbMember), jsonb_member_cmp);
		appendStringInfoCharMacro(out, '{');
		for (i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoCharMacro(out, ',');
			jcs_append_string(out, members[i].key.val.string.val, members[i].key.val.string.len);
			appendStringInfoCharMacro(out, ':');
			jcs_serialize_jsonb_value(out, &members[i].value, limit);
		}
		appendStringInfoCharMacro(out, '}');
		pfree(members);
	}
	else
		elog(ERROR, "unexpected jsonb iterator token %d", (int) tok);
}

/*
 * Append the RFC 8785 canonical text of a jsonb value.  The same bytes as
 * jcs_serialize(jcs_from_jsonb(jb)) (tests compare them), without building
 * a tree: this is on the append path.  Memory is the output and one member
 * array per open object; a document whose canonical text passes
 * TL_JSON_MAX_BYTES is refused as soon as the output does.
 */
void
jcs_serialize_jsonb(StringInfo out, Jsonb *jb)
{
	int			start = out->len;

	/* start + TL_JSON_MAX_BYTES stays below MaxAllocSize */
	jcs_serialize_jsonb_container(out, &jb->root, start + TL_JSON_MAX_BYTES);
	jcs_check_size(out->len - start, true);
}

/* ----------------------------------------------------------------
 * SQL-callable
 * ----------------------------------------------------------------
 */

/*
 * The SQL functions below work in a context of their own, deleted before
 * they return, and build their result in the caller's context: a text
 * result is serialised straight into its varlena (room for the header
 * first), so the canonical bytes are never copied.
 */
static MemoryContext
jcs_work_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "tracelink canonical JSON",
								 ALLOCSET_DEFAULT_SIZES);
}

/* a StringInfo in the current context, with room for a varlena header */
static void
jcs_begin_text(StringInfo out)
{
	initStringInfo(out);
	appendStringInfoSpaces(out, VARHDRSZ);
}

/* the text datum whose bytes follow the header jcs_begin_text() left */
static text *
jcs_end_text(StringInfo out)
{
	SET_VARSIZE(out->data, out->len);
	return (text *) out->data;
}

/*
 * tracelink.jcs(text) returns text
 */
Datum
tl_jcs_text(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	MemoryContext work = jcs_work_context();
	MemoryContext old;
	StringInfoData out;

	jcs_begin_text(&out);
	old = MemoryContextSwitchTo(work);
	jcs_serialize(&out, jcs_parse(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	PG_RETURN_TEXT_P(jcs_end_text(&out));
}

/*
 * tracelink.jcs(jsonb) returns text
 */
Datum
tl_jcs_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *in = PG_GETARG_JSONB_P(0);
	MemoryContext work = jcs_work_context();
	MemoryContext old;
	StringInfoData out;

	jcs_begin_text(&out);
	old = MemoryContextSwitchTo(work);
	jcs_serialize_jsonb(&out, in);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	PG_RETURN_TEXT_P(jcs_end_text(&out));
}

/*
 * tracelink.digest(jsonb) returns bytea: SHA-256 of the canonical bytes.
 */
Datum
tl_digest_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *in = PG_GETARG_JSONB_P(0);
	MemoryContext work = jcs_work_context();
	MemoryContext old;
	StringInfoData out;
	uint8		hash[TL_HASH_LEN];

	old = MemoryContextSwitchTo(work);
	initStringInfo(&out);
	jcs_serialize_jsonb(&out, in);
	tl_sha256(out.data, out.len, hash);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

#endif							/* !FRONTEND */
