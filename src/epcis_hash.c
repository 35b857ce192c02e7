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

#include "miscadmin.h"
#include "lib/stringinfo.h"
#ifndef FRONTEND
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#endif

#include "epcis.h"
#include "tracelink.h"

#ifndef FRONTEND
PG_FUNCTION_INFO_V1(tl_epcis_prehash_sql);
PG_FUNCTION_INFO_V1(tl_epcis_event_hash_sql);
#endif

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

/*
 * Sort (byte order = UTF-8 code point order), append and free: a nested
 * value's text lives in one place at a time, so memory stays linear.
 */
static void
pieces_flush(StringInfo buf, Pieces *p)
{
	int			i;

	if (p->n > 1)
		qsort(p->s, p->n, sizeof(char *), cmp_str);
	for (i = 0; i < p->n; i++)
	{
		appendStringInfoString(buf, p->s[i]);
		pfree(p->s[i]);
	}
	if (p->s)
		pfree(p->s);
	p->s = NULL;
	p->n = p->cap = 0;
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

	check_stack_depth();
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
	if (tl_epcis_numeric_text(s))
		return tl_epcis_format_number(strtod(s, NULL));
	dl = tl_epcis_epc_urn_to_dl(s);
	if (dl == NULL)
		dl = tl_epcis_dl_canonical(s);
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
			return tl_epcis_format_number(v->u.number);
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

/*
 * A date-time field in UTC with milliseconds; anything else is refused.
 */
static char *
canon_time(const JcsValue *v, const char *field)
{
	char	   *t = NULL;

	if (v->kind == JCS_STRING)
		t = tl_epcis_utc_time(v->u.string.str, v->u.string.len);
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("EPCIS field \"%s\" is not a date-time with a time zone",
						field),
				 errhint("Use the xsd:dateTimeStamp form, e.g. 2020-03-04T11:00:30.000+01:00.")));
	return t;
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
	{"exception", F_LEAF, V_GS1},
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

	check_stack_depth();
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
	char	   *name;
	int			i;

	check_stack_depth();
	name = expand_key(ctx, key);
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

#ifndef FRONTEND

/* the SQL functions (the fuzz target, built with FRONTEND, calls the C ones) */
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

#endif							/* FRONTEND */
