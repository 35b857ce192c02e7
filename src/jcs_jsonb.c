/*-------------------------------------------------------------------------
 *
 * jcs_jsonb.c
 *	  jsonb into canonical JSON: a tree (jcs_from_jsonb) or canonical text
 *	  straight from the jsonb container (jcs_serialize_jsonb); a tree back
 *	  into jsonb (jcs_to_jsonb), and one number into numeric
 *	  (jcs_number_numeric); and the SQL functions tracelink.jcs() and
 *	  tracelink.digest(jsonb).
 *
 * Server only (fmgr, jsonb, numeric): fuzz/ and tools/ leave this file out.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(tl_jcs_text);
PG_FUNCTION_INFO_V1(tl_jcs_jsonb);
PG_FUNCTION_INFO_V1(tl_digest_jsonb);

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
 * To jsonb
 * ----------------------------------------------------------------
 */

/* A JSON number as numeric, from its canonical text. */
Numeric
jcs_number_numeric(const JcsValue *v)
{
	StringInfoData s;

	if (v->number_text != NULL)
		return DatumGetNumeric(DirectFunctionCall3(numeric_in,
												   CStringGetDatum(v->number_text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	initStringInfo(&s);
	jcs_append_number(&s, v->u.number);
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(s.data),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/*
 * Push a tree into a jsonb under construction.  Recursive like
 * jcs_serialize(), so it checks the stack as that does.
 */
static JsonbValue *
jcs_push_jsonb(JsonbParseState **ps, const JcsValue *v, JsonbIteratorToken token)
{
	JsonbValue	s;
	int			i;

	check_stack_depth();
	switch (v->kind)
	{
		case JCS_OBJECT:
			pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
			for (i = 0; i < v->u.object.count; i++)
			{
				JsonbValue	k;

				k.type = jbvString;
				k.val.string.val = v->u.object.members[i].key;
				k.val.string.len = v->u.object.members[i].keylen;
				pushJsonbValue(ps, WJB_KEY, &k);
				jcs_push_jsonb(ps, v->u.object.members[i].value, WJB_VALUE);
			}
			return pushJsonbValue(ps, WJB_END_OBJECT, NULL);
		case JCS_ARRAY:
			pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
			for (i = 0; i < v->u.array.count; i++)
				jcs_push_jsonb(ps, v->u.array.elems[i], WJB_ELEM);
			return pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		case JCS_NULL:
			s.type = jbvNull;
			break;
		case JCS_TRUE:
		case JCS_FALSE:
			s.type = jbvBool;
			s.val.boolean = v->kind == JCS_TRUE;
			break;
		case JCS_NUMBER:
			s.type = jbvNumeric;
			s.val.numeric = jcs_number_numeric(v);
			break;
		case JCS_STRING:
			s.type = jbvString;
			s.val.string.val = v->u.string.str;
			s.val.string.len = v->u.string.len;
			break;
	}
	return pushJsonbValue(ps, token, &s);
}

/*
 * A tree as jsonb, built directly (no text in between).  A scalar becomes
 * jsonb's raw scalar, as jsonb_in makes one.
 */
Jsonb *
jcs_to_jsonb(const JcsValue *v)
{
	JsonbParseState *ps = NULL;
	JsonbValue *result;

	if (v->kind == JCS_OBJECT || v->kind == JCS_ARRAY)
		result = jcs_push_jsonb(&ps, v, WJB_VALUE);
	else
	{
		JsonbValue	scalar_array;

		scalar_array.type = jbvArray;
		scalar_array.val.array.rawScalar = true;
		scalar_array.val.array.nElems = 1;
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, &scalar_array);
		jcs_push_jsonb(&ps, v, WJB_ELEM);
		result = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(result);
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
