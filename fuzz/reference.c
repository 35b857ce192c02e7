/*-------------------------------------------------------------------------
 *
 * reference.c
 *	  Independent implementations the fuzz targets compare src/jcs.c with.
 *
 * Written from the specifications (ECMAScript Number::toString, RFC 8785
 * member order), on different foundations from jcs.c: the C library's
 * correctly rounded printf and strtod instead of PostgreSQL's Ryu, and
 * explicit UTF-16 conversion instead of a byte-wise trick.  es6_number()
 * reproduces every line of the first 100,000 of the RFC 8785 number test
 * file (checked once by hand, see docs/fuzzing.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"

#include "reference.h"

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
void
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

/*
 * RFC 8785 §3.2.3 order of two member names (valid UTF-8): by UTF-16 code
 * units.  Returns <0, 0 or >0.
 */
int
utf16_compare(const char *a, int alen, const char *b, int blen)
{
	uint16	   *ua = palloc(sizeof(uint16) * (alen + 1));
	uint16	   *ub = palloc(sizeof(uint16) * (blen + 1));
	int			na = utf16_units(a, alen, ua);
	int			nb = utf16_units(b, blen, ub);
	int			i;

	int			result = na - nb;

	for (i = 0; i < na && i < nb; i++)
		if (ua[i] != ub[i])
		{
			result = (int) ua[i] - (int) ub[i];
			break;
		}
	pfree(ua);
	pfree(ub);
	return result;
}
