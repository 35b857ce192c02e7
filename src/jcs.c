/*-------------------------------------------------------------------------
 *
 * jcs.c
 *	  RFC 8785 JSON Canonicalization Scheme (JCS): trees, and parsing
 *	  JSON text into them.
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
 * This file builds, reads and parses trees; jcs_serialize.c writes them,
 * jcs_jsonb.c reads jsonb (jcs.h lists the part).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <errno.h>
#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#ifndef FRONTEND
#include "utils/memutils.h"
#endif

static void jcs_object_put_owned(JcsValue *object, char *key, int keylen,
								 JcsValue *value);

/* ----------------------------------------------------------------
 * Size limit
 * ----------------------------------------------------------------
 */

/*
 * Refuse a JSON document larger than TL_JSON_MAX_BYTES (jcs.h): its
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
void
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
 * Look up a member of a sorted object (binary search) by a name of keylen
 * bytes, not necessarily NUL-terminated.
 */
JcsValue *
jcs_object_get_len(const JcsValue *object, const char *key, int keylen)
{
	int			lo = 0;
	int			hi;

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
 * Look up a member of a sorted object by a NUL-terminated name.
 */
JcsValue *
jcs_object_get(const JcsValue *object, const char *key)
{
	return jcs_object_get_len(object, key, strlen(key));
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
 * Reading trees
 * ----------------------------------------------------------------
 */

/*
 * A member of an object whose shape is known (a normalised definition):
 * its absence is a bug, not an input error.
 */
const JcsValue *
jcs_member(const JcsValue *obj, const char *key)
{
	const JcsValue *v = jcs_object_get(obj, key);

	if (v == NULL)
		elog(ERROR, "normalised JSON object lacks member \"%s\"", key);
	return v;
}

/* How many elements the array member "key" has. */
int
jcs_member_count(const JcsValue *obj, const char *key)
{
	return jcs_member(obj, key)->u.array.count;
}

/* Element i of the array member "key". */
const JcsValue *
jcs_member_elem(const JcsValue *obj, const char *key, int i)
{
	return jcs_member(obj, key)->u.array.elems[i];
}

/* The NUL-terminated text of the string member "key". */
const char *
jcs_member_string(const JcsValue *obj, const char *key)
{
	return jcs_member(obj, key)->u.string.str;
}

/* The integral number member "key". */
int32
jcs_member_int(const JcsValue *obj, const char *key)
{
	return (int32) jcs_member(obj, key)->u.number;
}

/* Is the boolean member "key" true? */
bool
jcs_member_true(const JcsValue *obj, const char *key)
{
	return jcs_member(obj, key)->kind == JCS_TRUE;
}

/* The string member "key", or NULL when it is absent or not a string. */
const char *
jcs_get_string(const JcsValue *obj, const char *key)
{
	const JcsValue *v = jcs_object_get(obj, key);

	return (v != NULL && v->kind == JCS_STRING) ? v->u.string.str : NULL;
}

/* Is the member "key" present and true? */
bool
jcs_get_true(const JcsValue *obj, const char *key)
{
	const JcsValue *v = jcs_object_get(obj, key);

	return v != NULL && v->kind == JCS_TRUE;
}

static int
jcs_cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The strings of the array member "key" (other elements skipped), sorted
 * by strcmp when asked; *n is how many.  NULL when the member is absent or
 * not an array.
 */
const char **
jcs_get_strings(const JcsValue *obj, const char *key, bool sort, int *n)
{
	const JcsValue *v = jcs_object_get(obj, key);
	const char **out;
	int			i;

	*n = 0;
	if (v == NULL || v->kind != JCS_ARRAY)
		return NULL;
	out = palloc(sizeof(char *) * Max(v->u.array.count, 1));
	for (i = 0; i < v->u.array.count; i++)
		if (v->u.array.elems[i]->kind == JCS_STRING)
			out[(*n)++] = v->u.array.elems[i]->u.string.str;
	if (sort && *n > 1)
		qsort(out, *n, sizeof(char *), jcs_cstring_cmp);
	return out;
}

/* ----------------------------------------------------------------
 * Numbers in
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

double
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


/* ----------------------------------------------------------------
 * Parsing JSON text (PostgreSQL's parser, our semantic actions)
 * ----------------------------------------------------------------
 */


void
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

void
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

/* ----------------------------------------------------------------
 * Checking text without a tree
 * ----------------------------------------------------------------
 */

/* deeper than this, jcs_text_is_canonical() leaves it to the parser */
#define JCS_QUICK_DEPTH 64

/*
 * A string at p (its opening quote) that jcs_append_string()
 * (jcs_serialize.c) would write byte for byte: the end past its closing quote, or NULL.  *escaped tells
 * whether it holds an escape (its bytes are then not its value).
 */
static const char *
jcs_quick_string(const char *p, const char *end, bool utf8, bool *escaped)
{
	*escaped = false;
	for (p++; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c >= 0x80)
		{
			int			n = pg_utf_mblen((const unsigned char *) p);

			if (!utf8 || end - p < n || !pg_utf8_islegal((const unsigned char *) p, n))
				return NULL;
			p += n - 1;
			continue;
		}
		if (c != '\\')
			continue;
		/* the escapes jcs_append_string() writes, and no other */
		*escaped = true;
		if (++p >= end)
			return NULL;
		switch (*p)
		{
			case '"':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				break;
			case 'u':
				{
					static const char hex[] = "0123456789abcdef";
					int			code;

					if (end - p < 5 || p[1] != '0' || p[2] != '0' ||
						(p[3] != '0' && p[3] != '1') ||
						strchr(hex, p[4]) == NULL || p[4] == '\0')
						return NULL;
					code = (p[3] - '0') * 16 + (int) (strchr(hex, p[4]) - hex);
					/* U+0000 is refused by the parser; the rest have short forms */
					if (code == 0 || code == '\b' || code == '\f' || code == '\n' ||
						code == '\r' || code == '\t')
						return NULL;
					p += 4;
				}
				break;
			default:
				return NULL;
		}
	}
	return NULL;
}

/*
 * A number at p laid out as jcs_serialize() lays it out: the end past it,
 * or NULL.  The JSON grammar first, then the number's canonical text by
 * jcs_number_text_fast() (the rule the parser uses), which must be the
 * text itself.
 */
static const char *
jcs_quick_number(const char *p, const char *end)
{
	const char *start = p;
	char		token[JCS_FAST_NUMBER_LEN];
	char		canonical[JCS_FAST_NUMBER_LEN];
	int			len;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < end && *p == '.')
	{
		if (++p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	len = p - start;
	if (len >= JCS_FAST_NUMBER_LEN)
		return NULL;
	memcpy(token, start, len);
	token[len] = '\0';
	if (jcs_number_text_fast(token, canonical) != len || memcmp(canonical, token, len) != 0)
		return NULL;
	return p;
}

/* a value at p, as jcs_text_is_canonical() checks it: its end, or NULL */
static const char *
jcs_quick_value(const char *p, const char *end, bool utf8, int depth)
{
	bool		escaped;

	if (p >= end)
		return NULL;
	switch (*p)
	{
		case '"':
			return jcs_quick_string(p, end, utf8, &escaped);
		case 't':
			return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
		case 'f':
			return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
		case 'n':
			return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
		case '[':
			if (depth >= JCS_QUICK_DEPTH)
				return NULL;
			if (++p < end && *p == ']')
				return p + 1;
			for (;;)
			{
				if ((p = jcs_quick_value(p, end, utf8, depth + 1)) == NULL || p >= end)
					return NULL;
				if (*p == ']')
					return p + 1;
				if (*p++ != ',')
					return NULL;
			}
		case '{':
			{
				const char *prev_key = NULL;
				int			prev_len = 0;

				if (depth >= JCS_QUICK_DEPTH)
					return NULL;
				if (++p < end && *p == '}')
					return p + 1;
				for (;;)
				{
					const char *key = p + 1;
					int			key_len;

					if (p >= end || *p != '"' ||
						(p = jcs_quick_string(p, end, utf8, &escaped)) == NULL || escaped)
						return NULL;
					/* members in strictly increasing order: sorted, no duplicates */
					key_len = p - 1 - key;
					if (prev_key != NULL && jcs_key_compare(prev_key, prev_len, key, key_len) >= 0)
						return NULL;
					prev_key = key;
					prev_len = key_len;
					if (p >= end || *p++ != ':' ||
						(p = jcs_quick_value(p, end, utf8, depth + 1)) == NULL || p >= end)
						return NULL;
					if (*p == '}')
						return p + 1;
					if (*p++ != ',')
						return NULL;
				}
			}
		default:
			return jcs_quick_number(p, end);
	}
}

/*
 * Is JSON text certainly RFC 8785 canonical, i.e. would jcs_parse() and
 * jcs_serialize() give it back byte for byte?  One pass and no tree, for
 * the paths that check every ledger entry's payload (block.c): it accepts
 * only what the serialiser's own rules above write (jcs_append_string()'s
 * escapes, jcs_number_text_fast()'s numbers, jcs_key_compare()'s member
 * order), and says false for anything it does not settle - a key with an
 * escape, a number of 16 digits or more, nesting deeper than
 * JCS_QUICK_DEPTH, non-ASCII text when utf8 is false.  False is "parse and
 * serialise to know", which also says what is wrong.
 */
bool
jcs_text_is_canonical(const char *json, int len, bool utf8)
{
	const char *end = json + len;
	const char *p = jcs_quick_value(json, end, utf8, 0);

	return p == end;
}
