/*-------------------------------------------------------------------------
 *
 * epcis_ids.c
 *	  Values of the EPCIS event hash (epcis_hash.c): GS1 keys as canonical
 *	  GS1 Digital Link URIs (from EPC URIs, EPC class and pattern URIs, and
 *	  Digital Link URIs on any domain), numbers without trailing zeros,
 *	  date-times in UTC with milliseconds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"

#include "epcis.h"

/* ----------------------------------------------------------------
 * Values
 * ----------------------------------------------------------------
 */

/* Python-style shortest repr of a double; integral values as integers. */
char *
tl_epcis_format_number(double x)
{
	char		buf[64];
	char		digits[32];
	int			nd = 0;
	int			exp10;
	int			p;
	char	   *e;
	StringInfoData out;
	int			i;

	if (!isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("EPCIS number is not finite")));
	if (x == floor(x) && fabs(x) < 1e300)
	{
		snprintf(buf, sizeof(buf), "%.0f", x == 0 ? 0.0 : x);
		return pstrdup(buf);
	}
	for (p = 1; p <= 17; p++)
	{
		snprintf(buf, sizeof(buf), "%.*e", p - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	initStringInfo(&out);
	e = strchr(buf, 'e');
	exp10 = atoi(e + 1);
	for (i = 0; buf + i < e; i++)
		if (buf[i] >= '0' && buf[i] <= '9')
			digits[nd++] = buf[i];
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (x < 0)
		appendStringInfoChar(&out, '-');
	if (exp10 >= -4 && exp10 < 16)
	{
		if (exp10 < 0)
		{
			appendStringInfoString(&out, "0.");
			for (i = 0; i < -exp10 - 1; i++)
				appendStringInfoChar(&out, '0');
			appendBinaryStringInfo(&out, digits, nd);
		}
		else
		{
			for (i = 0; i <= exp10 || i < nd; i++)
			{
				if (i == exp10 + 1)
					appendStringInfoChar(&out, '.');
				appendStringInfoChar(&out, i < nd ? digits[i] : '0');
			}
		}
	}
	else
	{
		appendStringInfoChar(&out, digits[0]);
		if (nd > 1)
		{
			appendStringInfoChar(&out, '.');
			appendBinaryStringInfo(&out, digits + 1, nd - 1);
		}
		appendStringInfo(&out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
	}
	return out.data;
}

/* A decimal number written as a string ("1.50", "+3", "2e3")? */
bool
tl_epcis_numeric_text(const char *s)
{
	const char *p = s;
	bool		digit = false;

	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char) *p))
		p++, digit = true;
	if (*p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p))
			p++, digit = true;
	}
	if (!digit)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/* GS1 mod-10 check digit of a digit string. */
static char
check_digit(const char *d)
{
	int			len = strlen(d);
	int			sum = 0;
	int			i;

	for (i = 0; i < len; i++)
		sum += (d[len - 1 - i] - '0') * ((i % 2 == 0) ? 3 : 1);
	return '0' + (10 - sum % 10) % 10;
}

static bool
all_digits(const char *s, int len)
{
	int			i;

	if (len <= 0)
		return false;
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char) s[i]))
			return false;
	return true;
}

/* Percent-encode the characters GS1 Digital Link wants encoded. */
static void
append_dl_escaped(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '!':
			case '(':
			case ')':
			case '*':
			case '+':
			case ',':
			case ':':
				appendStringInfo(out, "%%%02X", (unsigned char) *s);
				break;
			default:
				appendStringInfoChar(out, *s);
		}
	}
}

/* Split s at '.' into at most max parts; returns the count. */
static int
split_dots(char *s, char **parts, int max)
{
	int			n = 0;

	parts[n++] = s;
	while (*s && n < max)
	{
		if (*s == '.')
		{
			*s = '\0';
			parts[n++] = s + 1;
		}
		s++;
	}
	return n;
}

/* GTIN-14 from company prefix and indicator+item reference (13 digits). */
static bool
make_gtin(const char *cp, const char *ir, char *gtin)
{
	int			lcp = strlen(cp);
	int			lir = strlen(ir);

	if (lcp < 6 || lcp > 12 || lcp + lir != 13 || !all_digits(cp, lcp) ||
		!all_digits(ir, lir))
		return false;
	gtin[0] = ir[0];
	memcpy(gtin + 1, cp, lcp);
	memcpy(gtin + 1 + lcp, ir + 1, lir - 1);
	gtin[13] = '\0';
	gtin[13] = check_digit(gtin);
	gtin[14] = '\0';
	return true;
}

/* cp + ref of total digits, plus check digit, into out. */
static bool
make_key(const char *cp, const char *ref, int total, const char *lead, char *out)
{
	int			lcp = strlen(cp);
	int			lref = strlen(ref);

	if (lcp < 6 || lcp > 12 || lcp + lref != total || !all_digits(cp, lcp) ||
		(lref > 0 && !all_digits(ref, lref)))
		return false;
	snprintf(out, 40, "%s%s%s", lead, cp, ref);
	out[strlen(out) + 1] = '\0';
	out[strlen(out)] = check_digit(out);
	return true;
}

/* EPC URN (id, class, idpat) -> canonical GS1 Digital Link, or NULL. */
char *
tl_epcis_epc_urn_to_dl(const char *uri)
{
	StringInfoData o;
	char	   *body;
	char	   *parts[6];
	int			n;
	char		key[48];
	const char *scheme;
	bool		pat = false;
	bool		cls = false;

	if (strncmp(uri, "urn:epc:id:", 11) == 0)
		scheme = uri + 11;
	else if (strncmp(uri, "urn:epc:idpat:", 14) == 0)
		scheme = uri + 14, pat = true;
	else if (strncmp(uri, "urn:epc:class:", 14) == 0)
		scheme = uri + 14, cls = true;
	else
		return NULL;
	body = strchr(scheme, ':');
	if (body == NULL)
		return NULL;
	body = pstrdup(body + 1);
	n = split_dots(body, parts, 6);
	initStringInfo(&o);
	appendStringInfoString(&o, "https://id.gs1.org/");

#define SCHEME(name) (strncmp(scheme, name ":", strlen(name) + 1) == 0)
	if (cls)
	{
		if (SCHEME("lgtin") && n == 3 && make_gtin(parts[0], parts[1], key) &&
			parts[2][0])
		{
			appendStringInfo(&o, "01/%s/10/", key);
			append_dl_escaped(&o, parts[2]);
			return o.data;
		}
		return NULL;
	}
	if (pat)
	{
		if ((SCHEME("sgtin") || SCHEME("upui")) && n == 3 &&
			strcmp(parts[2], "*") == 0 && make_gtin(parts[0], parts[1], key))
			appendStringInfo(&o, "01/%s", key);
		else if (SCHEME("grai") && n == 3 && strcmp(parts[2], "*") == 0 &&
				 make_key(parts[0], parts[1], 12, "0", key))
			appendStringInfo(&o, "8003/%s", key);
		else if (SCHEME("gdti") && n == 3 && strcmp(parts[2], "*") == 0 &&
				 make_key(parts[0], parts[1], 12, "", key))
			appendStringInfo(&o, "253/%s", key);
		else if (SCHEME("sgcn") && n == 3 && strcmp(parts[2], "*") == 0 &&
				 make_key(parts[0], parts[1], 12, "", key))
			appendStringInfo(&o, "255/%s", key);
		else if (SCHEME("cpi") && n == 3 && strcmp(parts[2], "*") == 0)
		{
			appendStringInfoString(&o, "8010/");
			append_dl_escaped(&o, parts[0]);
			append_dl_escaped(&o, parts[1]);
		}
		else if (SCHEME("itip") && n == 5 && strcmp(parts[4], "*") == 0 &&
				 make_gtin(parts[0], parts[1], key) &&
				 all_digits(parts[2], 2) && strlen(parts[2]) == 2 &&
				 all_digits(parts[3], 2) && strlen(parts[3]) == 2)
			appendStringInfo(&o, "8006/%s%s%s", key, parts[2], parts[3]);
		else
			return NULL;
		return o.data;
	}
	if (SCHEME("sgtin") && n == 3 && make_gtin(parts[0], parts[1], key) && parts[2][0])
	{
		appendStringInfo(&o, "01/%s/21/", key);
		append_dl_escaped(&o, parts[2]);
	}
	else if (SCHEME("sscc") && n == 2 && strlen(parts[1]) > 0 &&
			 make_key(parts[0], parts[1] + 1, 16, "", key))
	{
		/* extension digit first */
		char		raw[40];

		snprintf(raw, sizeof(raw), "%c%s%s", parts[1][0], parts[0], parts[1] + 1);
		if (!isdigit((unsigned char) parts[1][0]))
			return NULL;
		appendStringInfo(&o, "00/%s%c", raw, check_digit(raw));
	}
	else if (SCHEME("sgln") && n == 3 && make_key(parts[0], parts[1], 12, "", key) &&
			 parts[2][0])
	{
		appendStringInfo(&o, "414/%s", key);
		if (strcmp(parts[2], "0") != 0)
		{
			appendStringInfoString(&o, "/254/");
			append_dl_escaped(&o, parts[2]);
		}
	}
	else if (SCHEME("grai") && n == 3 && make_key(parts[0], parts[1], 12, "0", key) &&
			 parts[2][0])
	{
		appendStringInfo(&o, "8003/%s", key);
		append_dl_escaped(&o, parts[2]);
	}
	else if ((SCHEME("giai") || SCHEME("ginc")) && n >= 2 &&
			 all_digits(parts[0], strlen(parts[0])) &&
			 strlen(parts[0]) >= 6 && strlen(parts[0]) <= 12)
	{
		/* the asset / consignment reference may itself hold dots */
		const char *rest = strchr(strchr(scheme, ':') + 1, '.') + 1;

		appendStringInfo(&o, "%s/%s", SCHEME("giai") ? "8004" : "401", parts[0]);
		append_dl_escaped(&o, rest);
	}
	else if (SCHEME("gsrn") && n == 2 && make_key(parts[0], parts[1], 17, "", key))
		appendStringInfo(&o, "8018/%s", key);
	else if (SCHEME("gsrnp") && n == 2 && make_key(parts[0], parts[1], 17, "", key))
		appendStringInfo(&o, "8017/%s", key);
	else if (SCHEME("gsin") && n == 2 && make_key(parts[0], parts[1], 16, "", key))
		appendStringInfo(&o, "402/%s", key);
	else if (SCHEME("pgln") && n == 2 && make_key(parts[0], parts[1], 12, "", key))
		appendStringInfo(&o, "417/%s", key);
	else if (SCHEME("gdti") && n == 3 && make_key(parts[0], parts[1], 12, "", key) &&
			 parts[2][0])
	{
		appendStringInfo(&o, "253/%s", key);
		append_dl_escaped(&o, parts[2]);
	}
	else if (SCHEME("sgcn") && n == 3 && make_key(parts[0], parts[1], 12, "", key) &&
			 all_digits(parts[2], strlen(parts[2])))
		appendStringInfo(&o, "255/%s%s", key, parts[2]);
	else if (SCHEME("cpi") && n == 3 && all_digits(parts[2], strlen(parts[2])))
	{
		appendStringInfoString(&o, "8010/");
		append_dl_escaped(&o, parts[0]);
		append_dl_escaped(&o, parts[1]);
		appendStringInfo(&o, "/8011/%s", parts[2]);
	}
	else if (SCHEME("itip") && n == 5 && make_gtin(parts[0], parts[1], key) &&
			 strlen(parts[2]) == 2 && all_digits(parts[2], 2) &&
			 strlen(parts[3]) == 2 && all_digits(parts[3], 2) && parts[4][0])
	{
		appendStringInfo(&o, "8006/%s%s%s/21/", key, parts[2], parts[3]);
		append_dl_escaped(&o, parts[4]);
	}
	else if (SCHEME("upui") && n == 3 && make_gtin(parts[0], parts[1], key) && parts[2][0])
	{
		appendStringInfo(&o, "01/%s/235/", key);
		append_dl_escaped(&o, parts[2]);
	}
	else
		return NULL;
#undef SCHEME
	return o.data;
}

/* Digital Link short names of keys and qualifiers, and their AIs. */
static const char *const dl_names[][2] = {
	{"gtin", "01"}, {"itip", "8006"}, {"cpid", "8010"}, {"gln", "414"},
	{"party", "417"}, {"gsrnp", "8017"}, {"gsrn", "8018"}, {"gcn", "255"},
	{"sscc", "00"}, {"gdti", "253"}, {"ginc", "401"}, {"gsin", "402"},
	{"grai", "8003"}, {"giai", "8004"}, {"cpv", "22"}, {"lot", "10"},
	{"ser", "21"}
};

static const char *const dl_primary[] = {
	"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004",
	"8006", "8010", "8017", "8018"
};

static const char *
dl_ai(const char *seg)
{
	int			i;

	for (i = 0; i < lengthof(dl_names); i++)
		if (strcmp(seg, dl_names[i][0]) == 0)
			return dl_names[i][1];
	return seg;
}

static bool
dl_is_primary(const char *ai)
{
	int			i;

	for (i = 0; i < lengthof(dl_primary); i++)
		if (strcmp(ai, dl_primary[i]) == 0)
			return true;
	return false;
}

/*
 * An http(s) URI carrying a GS1 key in its path -> constrained canonical
 * GS1 Digital Link URI (id.gs1.org, AIs, no query, GTIN-14, finest level
 * only: no CPV, no lot when there is a serial), or NULL.
 */
char *
tl_epcis_dl_canonical(const char *uri)
{
	const char *p;
	char	   *path;
	char	   *seg[64];
	int			n = 0;
	int			i;
	int			start = -1;
	StringInfoData o;
	char	   *val;
	const char *ai;
	bool		has_serial = false;

	if (strncmp(uri, "https://", 8) == 0)
		p = uri + 8;
	else if (strncmp(uri, "http://", 7) == 0)
		p = uri + 7;
	else
		return NULL;
	p = strchr(p, '/');
	if (p == NULL)
		return NULL;
	path = pstrdup(p + 1);
	path[strcspn(path, "?#")] = '\0';
	for (p = strtok(path, "/"); p != NULL; p = strtok(NULL, "/"))
	{
		if (n == lengthof(seg))
			return NULL;		/* not a GS1 key path */
		seg[n++] = (char *) p;
	}
	for (i = 0; i + 1 < n; i++)
	{
		if (dl_is_primary(dl_ai(seg[i])) && strlen(seg[i + 1]) >= 4 &&
			all_digits(seg[i + 1], 4))
		{
			start = i;
			break;
		}
	}
	if (start < 0 || (n - start) % 2 != 0)
		return NULL;
	ai = dl_ai(seg[start]);
	val = seg[start + 1];
	for (i = start + 2; i + 1 < n; i += 2)
		if (strcmp(dl_ai(seg[i]), "21") == 0)
			has_serial = true;
	initStringInfo(&o);
	if (strcmp(ai, "01") == 0)
	{
		int			l = strlen(val);

		if (!all_digits(val, l) || (l != 8 && l != 12 && l != 13 && l != 14))
			return NULL;
		appendStringInfo(&o, "https://id.gs1.org/01/%.*s%s", 14 - l,
						 "000000", val);
	}
	else
		appendStringInfo(&o, "https://id.gs1.org/%s/%s", ai, val);
	for (i = start + 2; i + 1 < n; i += 2)
	{
		const char *q = dl_ai(seg[i]);

		if (strcmp(q, "22") == 0)
			continue;
		if (strcmp(q, "10") == 0 && has_serial)
			continue;
		if (!((strcmp(ai, "01") == 0 && (strcmp(q, "21") == 0 || strcmp(q, "10") == 0 ||
										  strcmp(q, "235") == 0)) ||
			  (strcmp(ai, "8006") == 0 && (strcmp(q, "21") == 0 || strcmp(q, "10") == 0)) ||
			  (strcmp(ai, "414") == 0 && strcmp(q, "254") == 0) ||
			  (strcmp(ai, "8010") == 0 && strcmp(q, "8011") == 0)))
			return NULL;
		appendStringInfo(&o, "/%s/%s", q, seg[i + 1]);
	}
	return o.data;
}

/* ----------------------------------------------------------------
 * Time stamps
 * ----------------------------------------------------------------
 */

static int64
days_from_civil(int y, int m, int d)
{
	int			era;
	int			yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64) era * 146097 + doe - 719468;
}

static void
civil_from_days(int64 z, int *y, int *m, int *d)
{
	int64		era;
	int			doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (int) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = (int) (yoe + era * 400) + (*m <= 2);
}

static int
digits_at(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * xsd:dateTimeStamp -> UTC with milliseconds ("...T10:00:30.000Z"), or
 * NULL when s is not one (no zone, no such date); the third decimal is
 * rounded up when the fourth is 5-9.
 */
char *
tl_epcis_utc_time(const char *s, int len)
{
	int			y,
				mo,
				d,
				h,
				mi,
				se;
	int			ms = 0;
	int			off = 0;
	int			i;
	int64		t;

	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
		s[13] != ':' || s[16] != ':')
		goto bad;
	y = digits_at(s, 4);
	mo = digits_at(s + 5, 2);
	d = digits_at(s + 8, 2);
	h = digits_at(s + 11, 2);
	mi = digits_at(s + 14, 2);
	se = digits_at(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 24 ||
		mi < 0 || mi > 59 || se < 0 || se > 59 ||
		d > (int) (days_from_civil(mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1, 1) -
				   days_from_civil(y, mo, 1)))
		goto bad;
	i = 19;
	if (i < len && s[i] == '.')
	{
		int			nd = 0;

		i++;
		while (i < len && isdigit((unsigned char) s[i]))
		{
			if (nd < 3)
				ms = ms * 10 + (s[i] - '0');
			else if (nd == 3 && s[i] >= '5')
				ms++;
			nd++;
			i++;
		}
		if (nd == 0)
			goto bad;
		for (; nd < 3; nd++)
			ms *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
		off = 0;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':')
	{
		int			oh = digits_at(s + i + 1, 2);
		int			om = digits_at(s + i + 4, 2);

		if (oh < 0 || oh > 14 || om < 0 || om > 59)
			goto bad;
		off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
	}
	else
		goto bad;
	if (h == 24 && (mi != 0 || se != 0 || ms != 0))
		goto bad;
	t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60 + se;
	t = t * 1000 + ms;
	{
		int64		days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
		int64		rem = t - days * 86400000;

		civil_from_days(days, &y, &mo, &d);
		return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d,
						(int) (rem / 3600000), (int) (rem / 60000 % 60),
						(int) (rem / 1000 % 60), (int) (rem % 1000));
	}
bad:
	return NULL;
}
