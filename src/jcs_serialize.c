/*-------------------------------------------------------------------------
 *
 * jcs_serialize.c
 *	  RFC 8785 canonical text: numbers (ECMAScript's Number.prototype.toString
 *	  layout), strings (minimal escaping) and whole trees.
 *
 * PostgreSQL's shortest round-trip double formatting (common/shortest_dec.h)
 * gives the digits; this file lays them out.  Pure: fuzz/ links it outside
 * the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <float.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "miscadmin.h"

/* ----------------------------------------------------------------
 * Numbers out
 * ----------------------------------------------------------------
 */

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
int
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
