/*-------------------------------------------------------------------------
 *
 * epcis_hash.c
 *	  GS1 CBV 2.0 "Event Hash ID" of an EPCIS 2.0 JSON/JSON-LD event:
 *	  the canonical pre-hash string and ni:///sha-256;<hex>?ver=CBV2.0.
 *
 * The pre-hash string is "eventType=<type>", then the standard fields in
 * the canonical property order (key=value, lists sorted, EPC URNs and GS1
 * Digital Link URIs as constrained canonical Digital Link URIs, bare CBV
 * values and CURIEs expanded, times in UTC with milliseconds), then the
 * remaining fields (business transactions, sources, destinations, ILMD,
 * user extensions as {namespace}localName) sorted.  eventID, recordTime,
 * errorDeclaration and comments are left out.  See docs/epcis.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "epcis.h"
#include "tracelink.h"

PG_FUNCTION_INFO_V1(tl_epcis_prehash_sql);
PG_FUNCTION_INFO_V1(tl_epcis_event_hash_sql);

/* Namespace prefixes of the event's @context, plus gs1, cbv, epcis. */
typedef struct EpcisCtx
{
	int			n;
	int			cap;
	char	  **prefix;
	char	  **iri;
} EpcisCtx;

/* A sortable list of pre-hash pieces. */
typedef struct Pieces
{
	int			n;
	int			cap;
	char	  **s;
} Pieces;

static void gen_member(EpcisCtx *ctx, Pieces *out, const char *key,
					   const JcsValue *v);

static void
pieces_add(Pieces *p, char *s)
{
	if (p->n == p->cap)
	{
		p->cap = p->cap ? p->cap * 2 : 8;
		p->s = p->s ? repalloc(p->s, sizeof(char *) * p->cap)
			: palloc(sizeof(char *) * p->cap);
	}
	p->s[p->n++] = s;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort (byte order = UTF-8 code point order) and append. */
static void
pieces_flush(StringInfo buf, Pieces *p)
{
	int			i;

	if (p->n > 1)
		qsort(p->s, p->n, sizeof(char *), cmp_str);
	for (i = 0; i < p->n; i++)
		appendStringInfoString(buf, p->s[i]);
}

static char *
cstr(const char *s, int len)
{
	return pnstrdup(s, len);
}

static void
ctx_put(EpcisCtx *ctx, const char *prefix, const char *iri)
{
	int			i;

	for (i = 0; i < ctx->n; i++)
		if (strcmp(ctx->prefix[i], prefix) == 0)
		{
			ctx->iri[i] = pstrdup(iri);
			return;
		}
	if (ctx->n == ctx->cap)
	{
		ctx->cap = ctx->cap ? ctx->cap * 2 : 8;
		ctx->prefix = ctx->prefix ? repalloc(ctx->prefix, sizeof(char *) * ctx->cap)
			: palloc(sizeof(char *) * ctx->cap);
		ctx->iri = ctx->iri ? repalloc(ctx->iri, sizeof(char *) * ctx->cap)
			: palloc(sizeof(char *) * ctx->cap);
	}
	ctx->prefix[ctx->n] = pstrdup(prefix);
	ctx->iri[ctx->n] = pstrdup(iri);
	ctx->n++;
}

static const char *
ctx_get(EpcisCtx *ctx, const char *prefix, int len)
{
	int			i;

	for (i = ctx->n - 1; i >= 0; i--)
		if ((int) strlen(ctx->prefix[i]) == len &&
			strncmp(ctx->prefix[i], prefix, len) == 0)
			return ctx->iri[i];
	return NULL;
}

/* Prefix definitions of one @context entry (an object of prefix: IRI). */
static void
ctx_load(EpcisCtx *ctx, const JcsValue *c)
{
	int			i;

	if (c->kind == JCS_ARRAY)
	{
		for (i = 0; i < c->u.array.count; i++)
			ctx_load(ctx, c->u.array.elems[i]);
		return;
	}
	if (c->kind != JCS_OBJECT)
		return;					/* a remote context URL: nothing to resolve */
	for (i = 0; i < c->u.object.count; i++)
	{
		JcsMember  *m = &c->u.object.members[i];

		if (m->value->kind == JCS_STRING && m->keylen > 0 && m->key[0] != '@')
			ctx_put(ctx, cstr(m->key, m->keylen),
					cstr(m->value->u.string.str, m->value->u.string.len));
	}
}

/* "prefix:local" with a known prefix -> "{iri}local"; else the key. */
static char *
expand_key(EpcisCtx *ctx, const char *key)
{
	const char *colon = strchr(key, ':');
	const char *iri;

	if (colon == NULL)
		return pstrdup(key);
	iri = ctx_get(ctx, key, colon - key);
	if (iri == NULL)
		return pstrdup(key);
	return psprintf("{%s}%s", iri, colon + 1);
}

static bool
is_comment_key(EpcisCtx *ctx, const char *key)
{
	char	   *k;

	if (strcmp(key, "comment") == 0 || strcmp(key, "rdfs:comment") == 0)
		return true;
	k = expand_key(ctx, key);
	return strcmp(k, "{http://www.w3.org/2000/01/rdf-schema#}comment") == 0;
}

/* ----------------------------------------------------------------
 * Values
 * ----------------------------------------------------------------
 */

/* Python-style shortest repr of a double; integral values as integers. */
static char *
format_number(double x)
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
static bool
numeric_text(const char *s)
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
static char *
epc_urn_to_dl(const char *uri)
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
static char *
dl_canonical(const char *uri)
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
	for (p = strtok(path, "/"); p != NULL && n < lengthof(seg); p = strtok(NULL, "/"))
		seg[n++] = (char *) p;
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

typedef enum Vocab
{
	V_NONE,
	V_BIZSTEP,
	V_DISP,
	V_BTT,
	V_SDT,
	V_GS1,
	V_COMP
} Vocab;

static const char *const vocab_base[] = {
	NULL,
	"https://ref.gs1.org/cbv/BizStep-",
	"https://ref.gs1.org/cbv/Disp-",
	"https://ref.gs1.org/cbv/BTT-",
	"https://ref.gs1.org/cbv/SDT-",
	"https://gs1.org/voc/",
	"https://ref.gs1.org/cbv/Comp-"
};

/* CBV URNs and their Web URI terms. */
static const char *const cbv_urns[][2] = {
	{"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"},
	{"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"},
	{"urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"},
	{"urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"},
	{"urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"}
};

/* One string value, canonical: trimmed, expanded, Digital Link. */
static char *
canon_string(EpcisCtx *ctx, const char *str, int len, Vocab vocab)
{
	char	   *s;
	char	   *colon;
	char	   *dl;
	int			i;

	while (len > 0 && isspace((unsigned char) *str))
		str++, len--;
	while (len > 0 && isspace((unsigned char) str[len - 1]))
		len--;
	s = cstr(str, len);
	if (len == 0)
		return s;
	colon = strchr(s, ':');
	if (colon == NULL && vocab != V_NONE)
		s = psprintf("%s%s", vocab_base[vocab], s);
	else if (colon != NULL && colon[1] != '/')
	{
		const char *iri = ctx_get(ctx, s, colon - s);

		if (iri != NULL)
			s = psprintf("%s%s", iri, colon + 1);
	}
	for (i = 0; i < lengthof(cbv_urns); i++)
	{
		int			l = strlen(cbv_urns[i][0]);

		if (strncmp(s, cbv_urns[i][0], l) == 0)
		{
			s = psprintf("%s%s", cbv_urns[i][1], s + l);
			break;
		}
	}
	if (numeric_text(s))
		return format_number(strtod(s, NULL));
	dl = epc_urn_to_dl(s);
	if (dl == NULL)
		dl = dl_canonical(s);
	return dl ? dl : s;
}

/* Leaf value text, or NULL when absent (null, empty). */
static char *
canon_leaf(EpcisCtx *ctx, const JcsValue *v, Vocab vocab, const char *field)
{
	switch (v->kind)
	{
		case JCS_STRING:
			return canon_string(ctx, v->u.string.str, v->u.string.len, vocab);
		case JCS_NUMBER:
			return format_number(v->u.number);
		case JCS_TRUE:
			return pstrdup("true");
		case JCS_FALSE:
			return pstrdup("false");
		case JCS_NULL:
			return NULL;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("EPCIS field \"%s\" must be a single value, not %s",
							field, jcs_kind_name(v->kind))));
	}
	return NULL;
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
 * xsd:dateTimeStamp -> UTC with milliseconds ("...T10:00:30.000Z"); the
 * third decimal is rounded up when the fourth is 5-9.
 */
static char *
canon_time(const JcsValue *v, const char *field)
{
	const char *s;
	int			len;
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

	if (v->kind != JCS_STRING)
		goto bad;
	s = v->u.string.str;
	len = v->u.string.len;
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
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("EPCIS field \"%s\" is not a date-time with a time zone",
					field),
			 errhint("Use the xsd:dateTimeStamp form, e.g. 2020-03-04T11:00:30.000+01:00.")));
	return NULL;
}

/* ----------------------------------------------------------------
 * Fields
 * ----------------------------------------------------------------
 */

typedef enum Kind
{
	F_LEAF,						/* key=value */
	F_TIME,						/* key=UTC time */
	F_EPCS,						/* key + sorted epc=value */
	F_QTY,						/* key + sorted quantityElement... */
	F_PERSIST,					/* persistentDisposition: set, unset */
	F_PLACE,					/* readPoint / bizLocation: id + extensions */
	F_SENSORS					/* sensorElementList */
} Kind;

typedef struct Field
{
	const char *name;
	Kind		kind;
	Vocab		vocab;
} Field;

static const Field event_order[] = {
	{"eventTime", F_TIME, V_NONE},
	{"eventTimeZoneOffset", F_LEAF, V_NONE},
	{"certificationInfo", F_LEAF, V_NONE},
	{"parentID", F_LEAF, V_NONE},
	{"epcList", F_EPCS, V_NONE},
	{"inputEPCList", F_EPCS, V_NONE},
	{"childEPCs", F_EPCS, V_NONE},
	{"quantityList", F_QTY, V_NONE},
	{"childQuantityList", F_QTY, V_NONE},
	{"inputQuantityList", F_QTY, V_NONE},
	{"outputEPCList", F_EPCS, V_NONE},
	{"outputQuantityList", F_QTY, V_NONE},
	{"action", F_LEAF, V_NONE},
	{"transformationID", F_LEAF, V_NONE},
	{"bizStep", F_LEAF, V_BIZSTEP},
	{"disposition", F_LEAF, V_DISP},
	{"persistentDisposition", F_PERSIST, V_DISP},
	{"readPoint", F_PLACE, V_NONE},
	{"bizLocation", F_PLACE, V_NONE},
	{"sensorElementList", F_SENSORS, V_NONE},
	{NULL}
};

static const Field quantity_order[] = {
	{"epcClass", F_LEAF, V_NONE},
	{"quantity", F_LEAF, V_NONE},
	{"uom", F_LEAF, V_NONE},
	{NULL}
};

static const Field place_order[] = {
	{"id", F_LEAF, V_NONE},
	{NULL}
};

static const Field metadata_order[] = {
	{"time", F_TIME, V_NONE},
	{"startTime", F_TIME, V_NONE},
	{"endTime", F_TIME, V_NONE},
	{"deviceID", F_LEAF, V_NONE},
	{"deviceMetadata", F_LEAF, V_NONE},
	{"rawData", F_LEAF, V_NONE},
	{"dataProcessingMethod", F_LEAF, V_NONE},
	{"bizRules", F_LEAF, V_NONE},
	{NULL}
};

static const Field report_order[] = {
	{"type", F_LEAF, V_GS1},
	{"exception", F_LEAF, V_NONE},
	{"deviceID", F_LEAF, V_NONE},
	{"deviceMetadata", F_LEAF, V_NONE},
	{"rawData", F_LEAF, V_NONE},
	{"dataProcessingMethod", F_LEAF, V_NONE},
	{"time", F_TIME, V_NONE},
	{"microorganism", F_LEAF, V_NONE},
	{"chemicalSubstance", F_LEAF, V_NONE},
	{"value", F_LEAF, V_NONE},
	{"component", F_LEAF, V_COMP},
	{"stringValue", F_LEAF, V_NONE},
	{"booleanValue", F_LEAF, V_NONE},
	{"hexBinaryValue", F_LEAF, V_NONE},
	{"uriValue", F_LEAF, V_NONE},
	{"minValue", F_LEAF, V_NONE},
	{"maxValue", F_LEAF, V_NONE},
	{"meanValue", F_LEAF, V_NONE},
	{"sDev", F_LEAF, V_NONE},
	{"percRank", F_LEAF, V_NONE},
	{"percValue", F_LEAF, V_NONE},
	{"uom", F_LEAF, V_NONE},
	{"coordinateReferenceSystem", F_LEAF, V_NONE},
	{NULL}
};

static const char *const event_types[] = {
	"ObjectEvent", "AggregationEvent", "TransactionEvent",
	"TransformationEvent", "AssociationEvent"
};

static void emit_structured(EpcisCtx *ctx, StringInfo buf, const JcsValue *obj,
							const Field *order, const char *what);

static bool
in_order(const Field *order, const char *key)
{
	for (; order->name; order++)
		if (strcmp(order->name, key) == 0)
			return true;
	return false;
}

static void
need_kind(const JcsValue *v, JcsKind kind, const char *field)
{
	if (v->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("EPCIS field \"%s\" must be %s, not %s", field,
						kind == JCS_ARRAY ? "an array" : "an object",
						jcs_kind_name(v->kind))));
}

/* One value (or each element of an array) as name=value pieces. */
static void
leaf_pieces(EpcisCtx *ctx, Pieces *p, const char *name, const JcsValue *v,
			Kind kind, Vocab vocab)
{
	char	   *text;

	if (v->kind == JCS_ARRAY)
	{
		int			i;

		for (i = 0; i < v->u.array.count; i++)
			leaf_pieces(ctx, p, name, v->u.array.elems[i], kind, vocab);
		return;
	}
	text = kind == F_TIME ? canon_time(v, name) : canon_leaf(ctx, v, vocab, name);
	if (text != NULL && text[0] != '\0')
		pieces_add(p, psprintf("%s=%s", name, text));
}

/* One field of the canonical order. */
static void
emit_field(EpcisCtx *ctx, StringInfo buf, const Field *f, const JcsValue *v)
{
	Pieces		p = {0};
	StringInfoData sub;
	int			i;

	switch (f->kind)
	{
		case F_LEAF:
		case F_TIME:
			leaf_pieces(ctx, &p, f->name, v, f->kind, f->vocab);
			pieces_flush(buf, &p);
			return;
		case F_EPCS:
			need_kind(v, JCS_ARRAY, f->name);
			leaf_pieces(ctx, &p, "epc", v, F_LEAF, V_NONE);
			break;
		case F_QTY:
			need_kind(v, JCS_ARRAY, f->name);
			for (i = 0; i < v->u.array.count; i++)
			{
				initStringInfo(&sub);
				emit_structured(ctx, &sub, v->u.array.elems[i], quantity_order,
								f->name);
				if (sub.len > 0)
					pieces_add(&p, psprintf("quantityElement%s", sub.data));
			}
			break;
		case F_PERSIST:
			need_kind(v, JCS_OBJECT, f->name);
			{
				const JcsValue *set = jcs_object_get(v, "set");
				const JcsValue *unset = jcs_object_get(v, "unset");
				Pieces		q = {0};

				initStringInfo(&sub);
				if (set)
					leaf_pieces(ctx, &q, "set", set, F_LEAF, V_DISP);
				pieces_flush(&sub, &q);
				q.n = 0;
				if (unset)
					leaf_pieces(ctx, &q, "unset", unset, F_LEAF, V_DISP);
				pieces_flush(&sub, &q);
				if (sub.len > 0)
					appendStringInfo(buf, "%s%s", f->name, sub.data);
			}
			return;
		case F_PLACE:
			need_kind(v, JCS_OBJECT, f->name);
			initStringInfo(&sub);
			emit_structured(ctx, &sub, v, place_order, f->name);
			if (sub.len > 0)
				appendStringInfo(buf, "%s%s", f->name, sub.data);
			return;
		case F_SENSORS:
			need_kind(v, JCS_ARRAY, f->name);
			for (i = 0; i < v->u.array.count; i++)
			{
				const JcsValue *el = v->u.array.elems[i];
				const JcsValue *md;
				const JcsValue *rep;
				Pieces		reports = {0};
				Pieces		ext = {0};
				int			j;

				need_kind(el, JCS_OBJECT, "sensorElement");
				initStringInfo(&sub);
				md = jcs_object_get(el, "sensorMetadata");
				if (md)
				{
					StringInfoData m;

					need_kind(md, JCS_OBJECT, "sensorMetadata");
					initStringInfo(&m);
					emit_structured(ctx, &m, md, metadata_order, "sensorMetadata");
					if (m.len > 0)
						appendStringInfo(&sub, "sensorMetadata%s", m.data);
				}
				rep = jcs_object_get(el, "sensorReport");
				if (rep)
				{
					need_kind(rep, JCS_ARRAY, "sensorReport");
					for (j = 0; j < rep->u.array.count; j++)
					{
						StringInfoData r;

						need_kind(rep->u.array.elems[j], JCS_OBJECT, "sensorReport");
						initStringInfo(&r);
						emit_structured(ctx, &r, rep->u.array.elems[j],
										report_order, "sensorReport");
						if (r.len > 0)
							pieces_add(&reports, psprintf("sensorReport%s", r.data));
					}
					pieces_flush(&sub, &reports);
				}
				for (j = 0; j < el->u.object.count; j++)
				{
					JcsMember  *m = &el->u.object.members[j];
					char	   *key = cstr(m->key, m->keylen);

					if (strcmp(key, "sensorMetadata") != 0 &&
						strcmp(key, "sensorReport") != 0 &&
						!is_comment_key(ctx, key))
						gen_member(ctx, &ext, key, m->value);
				}
				pieces_flush(&sub, &ext);
				if (sub.len > 0)
					pieces_add(&p, psprintf("sensorElement%s", sub.data));
			}
			break;
	}
	if (p.n > 0)
	{
		appendStringInfoString(buf, f->name);
		pieces_flush(buf, &p);
	}
}

/*
 * An object with a canonical field order: its fields in that order, then
 * its other members (extensions) sorted.
 */
static void
emit_structured(EpcisCtx *ctx, StringInfo buf, const JcsValue *obj,
				const Field *order, const char *what)
{
	const Field *f;
	Pieces		ext = {0};
	int			i;

	need_kind(obj, JCS_OBJECT, what);
	for (f = order; f->name; f++)
	{
		const JcsValue *v = jcs_object_get(obj, f->name);

		if (v != NULL)
			emit_field(ctx, buf, f, v);
	}
	for (i = 0; i < obj->u.object.count; i++)
	{
		JcsMember  *m = &obj->u.object.members[i];
		char	   *key = cstr(m->key, m->keylen);

		if (!in_order(order, key) && !is_comment_key(ctx, key))
			gen_member(ctx, &ext, key, m->value);
	}
	pieces_flush(buf, &ext);
}

/*
 * A member outside the canonical order (ILMD, extensions): {ns}local=value,
 * nested objects as the key followed by their members sorted, arrays as one
 * piece per element.
 */
static void
gen_member(EpcisCtx *ctx, Pieces *out, const char *key, const JcsValue *v)
{
	char	   *name = expand_key(ctx, key);
	int			i;

	switch (v->kind)
	{
		case JCS_ARRAY:
			for (i = 0; i < v->u.array.count; i++)
				gen_member(ctx, out, key, v->u.array.elems[i]);
			return;
		case JCS_OBJECT:
			{
				Pieces		sub = {0};
				StringInfoData b;

				for (i = 0; i < v->u.object.count; i++)
				{
					JcsMember  *m = &v->u.object.members[i];
					char	   *k = cstr(m->key, m->keylen);

					if (!is_comment_key(ctx, k))
						gen_member(ctx, &sub, k, m->value);
				}
				initStringInfo(&b);
				appendStringInfoString(&b, name);
				pieces_flush(&b, &sub);
				pieces_add(out, b.data);
				return;
			}
		default:
			{
				char	   *text = canon_leaf(ctx, v, V_NONE, key);

				if (text != NULL && text[0] != '\0')
					pieces_add(out, psprintf("%s=%s", name, text));
				else
					pieces_add(out, name);
				return;
			}
	}
}

/* bizTransactionList, sourceList, destinationList: type first, then sorted. */
static char *
typed_list(EpcisCtx *ctx, const char *list, const char *item, Vocab vocab,
		   const JcsValue *v)
{
	Pieces		p = {0};
	StringInfoData b;
	int			i;

	need_kind(v, JCS_ARRAY, list);
	for (i = 0; i < v->u.array.count; i++)
	{
		const JcsValue *el = v->u.array.elems[i];
		const JcsValue *t;
		const JcsValue *id;
		char	   *text;
		Pieces		ext = {0};
		int			j;

		need_kind(el, JCS_OBJECT, item);
		initStringInfo(&b);
		t = jcs_object_get(el, "type");
		id = jcs_object_get(el, item);
		if (t && (text = canon_leaf(ctx, t, vocab, "type")) && text[0])
			appendStringInfo(&b, "type=%s", text);
		if (id && (text = canon_leaf(ctx, id, V_NONE, item)) && text[0])
			appendStringInfo(&b, "%s=%s", item, text);
		for (j = 0; j < el->u.object.count; j++)
		{
			JcsMember  *m = &el->u.object.members[j];
			char	   *key = cstr(m->key, m->keylen);

			if (strcmp(key, "type") != 0 && strcmp(key, item) != 0 &&
				!is_comment_key(ctx, key))
				gen_member(ctx, &ext, key, m->value);
		}
		pieces_flush(&b, &ext);
		if (b.len > 0)
			pieces_add(&p, b.data);
	}
	if (p.n == 0)
		return NULL;
	initStringInfo(&b);
	appendStringInfoString(&b, list);
	pieces_flush(&b, &p);
	return b.data;
}

/* Left out of the hash: identity and bookkeeping, not the event. */
static const char *const left_out[] = {
	"type", "eventID", "recordTime", "errorDeclaration", "@context"
};

char *
tl_epcis_prehash(const JcsValue *event)
{
	EpcisCtx	ctx = {0};
	StringInfoData buf;
	const JcsValue *type;
	const JcsValue *ctxv;
	const Field *f;
	Pieces		rest = {0};
	char	   *typename;
	int			i;
	bool		known = false;

	if (event->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an EPCIS event must be a JSON object, not %s",
						jcs_kind_name(event->kind))));
	type = jcs_object_get(event, "type");
	if (type == NULL || type->kind != JCS_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an EPCIS event needs a string \"type\"")));
	typename = cstr(type->u.string.str, type->u.string.len);
	if (strcmp(typename, "EPCISDocument") == 0 ||
		strcmp(typename, "EPCISQueryDocument") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an %s is not an event", typename),
				 errhint("Hash each element of epcisBody.eventList, with the document's @context.")));
	for (i = 0; i < lengthof(event_types); i++)
		if (strcmp(typename, event_types[i]) == 0)
			known = true;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown EPCIS event type \"%s\"", typename),
				 errhint("The types are ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent and AssociationEvent.")));
	if (jcs_object_get(event, "eventTime") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("EPCIS event has no \"eventTime\"")));

	ctx_put(&ctx, "gs1", "https://gs1.org/voc/");
	ctx_put(&ctx, "cbv", "https://ref.gs1.org/cbv/");
	ctx_put(&ctx, "epcis", "https://ref.gs1.org/epcis/");
	ctxv = jcs_object_get(event, "@context");
	if (ctxv != NULL)
		ctx_load(&ctx, ctxv);

	initStringInfo(&buf);
	appendStringInfo(&buf, "eventType=%s", typename);
	for (f = event_order; f->name; f++)
	{
		const JcsValue *v = jcs_object_get(event, f->name);

		if (v != NULL)
			emit_field(&ctx, &buf, f, v);
	}
	for (i = 0; i < event->u.object.count; i++)
	{
		JcsMember  *m = &event->u.object.members[i];
		char	   *key = cstr(m->key, m->keylen);
		char	   *s = NULL;
		int			j;
		bool		skip = in_order(event_order, key) || is_comment_key(&ctx, key);

		for (j = 0; j < lengthof(left_out); j++)
			if (strcmp(key, left_out[j]) == 0)
				skip = true;
		if (skip)
			continue;
		if (strcmp(key, "bizTransactionList") == 0)
			s = typed_list(&ctx, key, "bizTransaction", V_BTT, m->value);
		else if (strcmp(key, "sourceList") == 0)
			s = typed_list(&ctx, key, "source", V_SDT, m->value);
		else if (strcmp(key, "destinationList") == 0)
			s = typed_list(&ctx, key, "destination", V_SDT, m->value);
		else
		{
			gen_member(&ctx, &rest, key, m->value);
			continue;
		}
		if (s != NULL)
			pieces_add(&rest, s);
	}
	pieces_flush(&buf, &rest);
	if ((Size) buf.len > TL_JSON_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("EPCIS pre-hash string exceeds %d bytes", TL_JSON_MAX_BYTES)));
	return buf.data;
}

void
tl_epcis_event_hash(const JcsValue *event, char *out)
{
	char	   *pre = tl_epcis_prehash(event);
	uint8		hash[TL_HASH_LEN];
	char		hex[TL_HASH_LEN * 2 + 1];

	tl_sha256(pre, strlen(pre), hash);
	tl_hex_encode(hash, TL_HASH_LEN, hex);
	snprintf(out, TL_EPCIS_HASH_LEN, "ni:///sha-256;%s?ver=CBV2.0", hex);
	pfree(pre);
}

Datum
tl_epcis_prehash_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *in = PG_GETARG_JSONB_P(0);
	JcsValue   *event = jcs_from_jsonb(in);

	PG_RETURN_TEXT_P(cstring_to_text(tl_epcis_prehash(event)));
}

Datum
tl_epcis_event_hash_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *in = PG_GETARG_JSONB_P(0);
	JcsValue   *event = jcs_from_jsonb(in);
	char		out[TL_EPCIS_HASH_LEN];

	tl_epcis_event_hash(event, out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
