/*-------------------------------------------------------------------------
 *
 * json_schema.c
 *	  JSON Schema draft-07 validation over canonical JSON trees: what EPCIS
 *	  imports and exports are checked with against the GS1 schema, which
 *	  the operator loads (tracelink.set_epcis_schema(), docs/json-schema.md).
 *
 * Keywords: $ref (to "#" and JSON pointers under it), type, enum, const,
 * the string keywords (minLength, maxLength, pattern, format), the number
 * keywords (minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * multipleOf), the array keywords (items, additionalItems, minItems,
 * maxItems, uniqueItems, contains), the object keywords (properties,
 * patternProperties, additionalProperties, required, minProperties,
 * maxProperties, propertyNames, dependencies), allOf, anyOf, oneOf, not,
 * if/then/else, and definitions.  Formats asserted: date-time, date, time
 * (RFC 3339) and uri (RFC 3986); others are annotations.  Other keywords
 * are ignored, as draft-07 says.
 *
 * Patterns are ECMA-262 regular expressions; PostgreSQL's regex engine
 * reads them as advanced regular expressions, after \b and \B (word
 * boundaries in ECMA-262, a backspace in an ARE) are spelled \y and \Y.
 *
 * Bounds: the schema is checked once, before any document is read
 * (tl_json_schema_check); validation recurses as deep as the schema and
 * the document and checks the stack; a $ref that comes back to itself
 * without going one level down the document is refused (it never ends);
 * the problems stop at the caller's maximum, and branches of anyOf,
 * oneOf, not, if and contains that only need a yes or no stop at their
 * first problem.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "json_schema.h"

PG_FUNCTION_INFO_V1(tl_json_schema_problems_sql);

/* ----------------------------------------------------------------
 * Paths: a chain of segments on the C stack, rendered only for a problem
 * ----------------------------------------------------------------
 */

typedef struct PathSeg
{
	const struct PathSeg *parent;
	const char *key;			/* a member name, or NULL for an index */
	int			keylen;
	int			index;
} PathSeg;

static bool
plain_name(const char *key, int len)
{
	int			i;

	if (len == 0 || !(isalpha((unsigned char) key[0]) || key[0] == '_'))
		return false;
	for (i = 1; i < len; i++)
		if (!(isalnum((unsigned char) key[i]) || key[i] == '_'))
			return false;
	return true;
}

static void
render_path(StringInfo out, const PathSeg *seg, bool pointer)
{
	if (seg == NULL)
	{
		appendStringInfoChar(out, pointer ? '#' : '$');
		return;
	}
	render_path(out, seg->parent, pointer);
	if (pointer)
	{
		appendStringInfoChar(out, '/');
		if (seg->key)
			appendBinaryStringInfo(out, seg->key, seg->keylen);
		else
			appendStringInfo(out, "%d", seg->index);
	}
	else if (seg->key == NULL)
		appendStringInfo(out, "[%d]", seg->index);
	else if (plain_name(seg->key, seg->keylen))
	{
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, seg->key, seg->keylen);
	}
	else
	{
		appendStringInfoChar(out, '[');
		jcs_append_string(out, seg->key, seg->keylen);
		appendStringInfoChar(out, ']');
	}
}

static char *
path_text(const PathSeg *seg, bool pointer)
{
	StringInfoData buf;

	initStringInfo(&buf);
	render_path(&buf, seg, pointer);
	return buf.data;
}

/* ----------------------------------------------------------------
 * Keywords
 * ----------------------------------------------------------------
 */

typedef enum Keyword
{
	KW_REF,
	KW_TYPE,
	KW_ENUM,
	KW_CONST,
	KW_MINLENGTH,
	KW_MAXLENGTH,
	KW_PATTERN,
	KW_FORMAT,
	KW_MINIMUM,
	KW_MAXIMUM,
	KW_EXCLUSIVEMINIMUM,
	KW_EXCLUSIVEMAXIMUM,
	KW_MULTIPLEOF,
	KW_ITEMS,
	KW_ADDITIONALITEMS,
	KW_MINITEMS,
	KW_MAXITEMS,
	KW_UNIQUEITEMS,
	KW_CONTAINS,
	KW_PROPERTIES,
	KW_PATTERNPROPERTIES,
	KW_ADDITIONALPROPERTIES,
	KW_REQUIRED,
	KW_MINPROPERTIES,
	KW_MAXPROPERTIES,
	KW_PROPERTYNAMES,
	KW_DEPENDENCIES,
	KW_ALLOF,
	KW_ANYOF,
	KW_ONEOF,
	KW_NOT,
	KW_IF,
	KW_THEN,
	KW_ELSE,
	KW_DEFINITIONS,
	KW_COUNT
} Keyword;

static const char *const keyword_names[KW_COUNT] = {
	"$ref", "type", "enum", "const", "minLength", "maxLength", "pattern",
	"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"multipleOf", "items", "additionalItems", "minItems", "maxItems",
	"uniqueItems", "contains", "properties", "patternProperties",
	"additionalProperties", "required", "minProperties", "maxProperties",
	"propertyNames", "dependencies", "allOf", "anyOf", "oneOf", "not", "if",
	"then", "else", "definitions"
};

typedef struct Keywords
{
	const JcsValue *kw[KW_COUNT];
} Keywords;

/* The keywords of a schema object, each found once. */
static void
read_keywords(const JcsValue *schema, Keywords *k)
{
	static int	lengths[KW_COUNT];
	int			i,
				j;

	if (lengths[0] == 0)
		for (j = 0; j < KW_COUNT; j++)
			lengths[j] = strlen(keyword_names[j]);
	memset(k, 0, sizeof(*k));
	for (i = 0; i < schema->u.object.count; i++)
	{
		const JcsMember *m = &schema->u.object.members[i];

		for (j = 0; j < KW_COUNT; j++)
			if (lengths[j] == m->keylen &&
				memcmp(keyword_names[j], m->key, m->keylen) == 0)
			{
				k->kw[j] = m->value;
				break;
			}
	}
}

static const char *const type_names[] = {
	"null", "boolean", "object", "array", "number", "string", "integer"
};

static bool
valid_type_name(const JcsValue *v)
{
	int			i;

	if (v->kind != JCS_STRING)
		return false;
	for (i = 0; i < lengthof(type_names); i++)
		if (strlen(type_names[i]) == v->u.string.len &&
			memcmp(type_names[i], v->u.string.str, v->u.string.len) == 0)
			return true;
	return false;
}

/* ----------------------------------------------------------------
 * Regular expressions (PostgreSQL's engine; compiled ones are cached)
 * ----------------------------------------------------------------
 */

/* An ECMA-262 pattern as an ARE: \b and \B outside brackets are \y, \Y. */
static text *
are_pattern(const char *pat, int len)
{
	StringInfoData buf;
	bool		bracket = false;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		char		c = pat[i];

		if (c == '\\' && i + 1 < len)
		{
			char		n = pat[++i];

			appendStringInfoChar(&buf, '\\');
			if (!bracket && n == 'b')
				n = 'y';
			else if (!bracket && n == 'B')
				n = 'Y';
			appendStringInfoChar(&buf, n);
			continue;
		}
		if (c == '[' && !bracket)
			bracket = true;
		else if (c == ']' && bracket)
			bracket = false;
		appendStringInfoChar(&buf, c);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

static regex_t *
compile_pattern(const JcsValue *pattern)
{
	return RE_compile_and_cache(are_pattern(pattern->u.string.str,
											pattern->u.string.len),
								REG_ADVANCED, C_COLLATION_OID);
}

static bool
pattern_matches(const JcsValue *pattern, const char *str, int len)
{
	regex_t    *re = compile_pattern(pattern);
	pg_wchar   *w = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(str, w, len);
	int			rc = pg_regexec(re, w, wlen, 0, NULL, 0, NULL, 0);

	pfree(w);
	if (rc == REG_OKAY)
		return true;
	if (rc != REG_NOMATCH)
	{
		char		msg[100];

		pg_regerror(rc, re, msg, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("regular expression failed: %s", msg)));
	}
	return false;
}

/* ----------------------------------------------------------------
 * Formats
 * ----------------------------------------------------------------
 */

static bool
digits(const char *s, int n, int *value)
{
	int			i;

	*value = 0;
	for (i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return false;
		*value = *value * 10 + (s[i] - '0');
	}
	return true;
}

/* RFC 3339 full-date: YYYY-MM-DD, a day the month has. */
static bool
rfc3339_date(const char *s, int len)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;

	if (len != 10 || s[4] != '-' || s[7] != '-' ||
		!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/* RFC 3339 full-time: HH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static bool
rfc3339_time(const char *s, int len)
{
	int			h,
				mi,
				sec,
				i = 8;

	if (len < 9 || s[2] != ':' || s[5] != ':' ||
		!digits(s, 2, &h) || !digits(s + 3, 2, &mi) || !digits(s + 6, 2, &sec))
		return false;
	if (h > 23 || mi > 59 || sec > 60)
		return false;
	if (s[i] == '.')
	{
		i++;
		if (i >= len || !isdigit((unsigned char) s[i]))
			return false;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == len;
	if (i < len && (s[i] == '+' || s[i] == '-'))
	{
		if (len - i != 6 || s[i + 3] != ':' ||
			!digits(s + i + 1, 2, &h) || !digits(s + i + 4, 2, &mi))
			return false;
		return h <= 23 && mi <= 59;
	}
	return false;
}

static bool
rfc3339_date_time(const char *s, int len)
{
	return len > 11 && (s[10] == 'T' || s[10] == 't') &&
		rfc3339_date(s, 10) && rfc3339_time(s + 11, len - 11);
}

/*
 * RFC 3986 URI: a scheme, then only URI characters (percent escapes of two
 * hex digits), at most one '#', and brackets only in the authority.
 */
static bool
rfc3986_uri(const char *s, int len)
{
	int			i = 0;
	int			authority_end = -1;
	bool		fragment = false;

	if (len == 0 || !isalpha((unsigned char) s[0]))
		return false;
	while (i < len && (isalnum((unsigned char) s[i]) || s[i] == '+' ||
					   s[i] == '-' || s[i] == '.'))
		i++;
	if (i >= len || s[i] != ':')
		return false;
	i++;
	if (i + 1 < len && s[i] == '/' && s[i + 1] == '/')
	{
		authority_end = i + 2;
		while (authority_end < len && s[authority_end] != '/' &&
			   s[authority_end] != '?' && s[authority_end] != '#')
			authority_end++;
	}
	for (; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '%')
		{
			if (i + 2 >= len || !isxdigit((unsigned char) s[i + 1]) ||
				!isxdigit((unsigned char) s[i + 2]))
				return false;
			i += 2;
		}
		else if (c == '#')
		{
			if (fragment)
				return false;
			fragment = true;
		}
		else if (c == '[' || c == ']')
		{
			if (i >= authority_end)
				return false;
		}
		else if (!(isalnum(c) || strchr("-._~:/?@!$&'()*+,;=", c) != NULL) ||
				 c == '\0')
			return false;
	}
	return true;
}

/* Does a string have the format?  Unknown formats: yes (annotations). */
static bool
format_holds(const JcsValue *format, const char *s, int len)
{
	const char *f = format->u.string.str;
	int			flen = format->u.string.len;

#define FORMAT_IS(name) (flen == strlen(name) && memcmp(f, name, flen) == 0)
	if (FORMAT_IS("date-time"))
		return rfc3339_date_time(s, len);
	if (FORMAT_IS("date"))
		return rfc3339_date(s, len);
	if (FORMAT_IS("time"))
		return rfc3339_time(s, len);
	if (FORMAT_IS("uri"))
		return rfc3986_uri(s, len);
#undef FORMAT_IS
	return true;
}

/* ----------------------------------------------------------------
 * $ref
 * ----------------------------------------------------------------
 */

/* A member of an object by name (members are sorted), or NULL. */
static const JcsValue *
member_value(const JcsValue *obj, const char *key, int keylen)
{
	return jcs_object_get_len(obj, key, keylen);
}

/* The value of "#..." in the root schema, or NULL when there is none. */
static const JcsValue *
resolve_ref(const JcsValue *root, const JcsValue *ref)
{
	const char *s = ref->u.string.str;
	int			len = ref->u.string.len;
	const JcsValue *cur = root;
	int			i = 1;
	StringInfoData token;

	if (len == 0 || s[0] != '#')
		return NULL;
	if (len == 1)
		return root;
	if (s[1] != '/')
		return NULL;
	initStringInfo(&token);
	while (i < len)
	{
		resetStringInfo(&token);
		i++;					/* the '/' */
		while (i < len && s[i] != '/')
		{
			char		c = s[i];

			if (c == '%' && i + 2 < len && isxdigit((unsigned char) s[i + 1]) &&
				isxdigit((unsigned char) s[i + 2]))
			{
				char		hex[3] = {s[i + 1], s[i + 2], '\0'};

				c = (char) strtol(hex, NULL, 16);
				i += 2;
			}
			else if (c == '~' && i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1'))
			{
				c = s[i + 1] == '0' ? '~' : '/';
				i++;
			}
			appendStringInfoChar(&token, c);
			i++;
		}
		if (cur->kind == JCS_OBJECT)
			cur = member_value(cur, token.data, token.len);
		else if (cur->kind == JCS_ARRAY)
		{
			char	   *end;
			long		n = strtol(token.data, &end, 10);

			if (token.len == 0 || *end != '\0' || n < 0 || n >= cur->u.array.count)
				cur = NULL;
			else
				cur = cur->u.array.elems[n];
		}
		else
			cur = NULL;
		if (cur == NULL)
			break;
	}
	pfree(token.data);
	return cur;
}

/* ----------------------------------------------------------------
 * Checking a schema
 * ----------------------------------------------------------------
 */

typedef struct CheckState
{
	const JcsValue *root;
	List	   *checked_refs;	/* $ref targets checked already */
} CheckState;

static void check_schema(CheckState *cs, const JcsValue *schema,
						 const PathSeg *at);

static void not_a_schema(const PathSeg *at, const char *what) pg_attribute_noreturn();

static void
not_a_schema(const PathSeg *at, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("not a JSON schema: %s at %s", what, path_text(at, true))));
}

static bool
nonneg_integer(const JcsValue *v)
{
	return v->kind == JCS_NUMBER && v->u.number >= 0 &&
		v->u.number == floor(v->u.number) && v->u.number <= INT_MAX;
}

static void
check_schema_array(CheckState *cs, const JcsValue *v, const PathSeg *at,
				   bool nonempty)
{
	int			i;

	if (v->kind != JCS_ARRAY || (nonempty && v->u.array.count == 0))
		not_a_schema(at, nonempty ? "expected a non-empty array of schemas" :
					 "expected an array of schemas");
	for (i = 0; i < v->u.array.count; i++)
	{
		PathSeg		seg = {at, NULL, 0, i};

		check_schema(cs, v->u.array.elems[i], &seg);
	}
}

static void
check_schema_map(CheckState *cs, const JcsValue *v, const PathSeg *at,
				 bool patterns)
{
	int			i;

	if (v->kind != JCS_OBJECT)
		not_a_schema(at, "expected an object of schemas");
	for (i = 0; i < v->u.object.count; i++)
	{
		const JcsMember *m = &v->u.object.members[i];
		PathSeg		seg = {at, m->key, m->keylen, 0};

		if (patterns)
			(void) compile_pattern(jcs_make_string(m->key, m->keylen));
		check_schema(cs, m->value, &seg);
	}
}

static void
check_strings(const JcsValue *v, const PathSeg *at)
{
	int			i;

	if (v->kind != JCS_ARRAY)
		not_a_schema(at, "expected an array of strings");
	for (i = 0; i < v->u.array.count; i++)
		if (v->u.array.elems[i]->kind != JCS_STRING)
			not_a_schema(at, "expected an array of strings");
}

/* Error context: which pattern of the schema PostgreSQL refused. */
static void
pattern_context(void *arg)
{
	errcontext("JSON schema pattern at %s", path_text((const PathSeg *) arg, true));
}

static void
check_schema(CheckState *cs, const JcsValue *schema, const PathSeg *at)
{
	Keywords	k;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (schema->kind == JCS_TRUE || schema->kind == JCS_FALSE)
		return;
	if (schema->kind != JCS_OBJECT)
		not_a_schema(at, "expected an object or a boolean");
	read_keywords(schema, &k);
	for (i = 0; i < KW_COUNT; i++)
	{
		const JcsValue *v = k.kw[i];
		PathSeg		seg = {at, keyword_names[i], strlen(keyword_names[i]), 0};

		if (v == NULL)
			continue;
		switch ((Keyword) i)
		{
			case KW_REF:
				{
					const JcsValue *target;

					if (v->kind != JCS_STRING)
						not_a_schema(&seg, "expected a string");
					if (v->u.string.len == 0 || v->u.string.str[0] != '#')
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("JSON schema $ref %s at %s is not supported",
										pnstrdup(v->u.string.str, v->u.string.len),
										path_text(&seg, true)),
								 errdetail("Only references inside the schema (\"#\", \"#/definitions/...\") are.")));
					target = resolve_ref(cs->root, v);
					if (target == NULL)
						not_a_schema(&seg, psprintf("$ref %s resolves to nothing",
													pnstrdup(v->u.string.str, v->u.string.len)));
					if (!list_member_ptr(cs->checked_refs, target))
					{
						cs->checked_refs = lappend(cs->checked_refs, (void *) target);
						check_schema(cs, target, &seg);
					}
				}
				break;
			case KW_TYPE:
				if (v->kind == JCS_ARRAY)
				{
					int			j;

					if (v->u.array.count == 0)
						not_a_schema(&seg, "expected a type name or a non-empty array of them");
					for (j = 0; j < v->u.array.count; j++)
						if (!valid_type_name(v->u.array.elems[j]))
							not_a_schema(&seg, "expected a type name or a non-empty array of them");
				}
				else if (!valid_type_name(v))
					not_a_schema(&seg, "expected a type name or a non-empty array of them");
				break;
			case KW_ENUM:
				if (v->kind != JCS_ARRAY)
					not_a_schema(&seg, "expected an array");
				break;
			case KW_CONST:
				break;
			case KW_MINLENGTH:
			case KW_MAXLENGTH:
			case KW_MINITEMS:
			case KW_MAXITEMS:
			case KW_MINPROPERTIES:
			case KW_MAXPROPERTIES:
				if (!nonneg_integer(v))
					not_a_schema(&seg, "expected a non-negative integer");
				break;
			case KW_PATTERN:
				{
					ErrorContextCallback cb;

					if (v->kind != JCS_STRING)
						not_a_schema(&seg, "expected a string");
					cb.callback = pattern_context;
					cb.arg = &seg;
					cb.previous = error_context_stack;
					error_context_stack = &cb;
					(void) compile_pattern(v);
					error_context_stack = cb.previous;
				}
				break;
			case KW_PATTERNPROPERTIES:
				{
					ErrorContextCallback cb;

					cb.callback = pattern_context;
					cb.arg = &seg;
					cb.previous = error_context_stack;
					error_context_stack = &cb;
					check_schema_map(cs, v, &seg, true);
					error_context_stack = cb.previous;
				}
				break;
			case KW_FORMAT:
				if (v->kind != JCS_STRING)
					not_a_schema(&seg, "expected a string");
				break;
			case KW_MINIMUM:
			case KW_MAXIMUM:
			case KW_EXCLUSIVEMINIMUM:
			case KW_EXCLUSIVEMAXIMUM:
				if (v->kind != JCS_NUMBER)
					not_a_schema(&seg, "expected a number");
				break;
			case KW_MULTIPLEOF:
				if (v->kind != JCS_NUMBER || !(v->u.number > 0))
					not_a_schema(&seg, "expected a number greater than 0");
				break;
			case KW_ITEMS:
				if (v->kind == JCS_ARRAY)
					check_schema_array(cs, v, &seg, false);
				else
					check_schema(cs, v, &seg);
				break;
			case KW_UNIQUEITEMS:
				if (v->kind != JCS_TRUE && v->kind != JCS_FALSE)
					not_a_schema(&seg, "expected a boolean");
				break;
			case KW_PROPERTIES:
			case KW_DEFINITIONS:
				check_schema_map(cs, v, &seg, false);
				break;
			case KW_REQUIRED:
				check_strings(v, &seg);
				break;
			case KW_DEPENDENCIES:
				{
					int			j;

					if (v->kind != JCS_OBJECT)
						not_a_schema(&seg, "expected an object");
					for (j = 0; j < v->u.object.count; j++)
					{
						const JcsMember *m = &v->u.object.members[j];
						PathSeg		dseg = {&seg, m->key, m->keylen, 0};

						if (m->value->kind == JCS_ARRAY)
							check_strings(m->value, &dseg);
						else
							check_schema(cs, m->value, &dseg);
					}
				}
				break;
			case KW_ALLOF:
			case KW_ANYOF:
			case KW_ONEOF:
				check_schema_array(cs, v, &seg, true);
				break;
			case KW_ADDITIONALITEMS:
			case KW_CONTAINS:
			case KW_ADDITIONALPROPERTIES:
			case KW_PROPERTYNAMES:
			case KW_NOT:
			case KW_IF:
			case KW_THEN:
			case KW_ELSE:
				check_schema(cs, v, &seg);
				break;
			case KW_COUNT:
				break;
		}
	}
}

void
tl_json_schema_check(const JcsValue *schema)
{
	CheckState	cs = {schema, NIL};

	check_schema(&cs, schema, NULL);
	list_free(cs.checked_refs);
}

/* ----------------------------------------------------------------
 * Validating a document
 * ----------------------------------------------------------------
 */

/*
 * Where problems go: at most max of them.  A quiet sink only counts them
 * (for the yes-or-no questions of if, not, contains, and the first look at
 * the alternatives of anyOf and oneOf).
 */
typedef struct Sink
{
	List	   *problems;
	int			count;
	int			max;
	bool		quiet;
} Sink;

#define SINK_FULL(s) ((s)->count >= (s)->max)

/* The $ref applications under way: (target schema, document value). */
typedef struct Validator
{
	const JcsValue *root;
	const JcsValue **ref_schema;
	const JcsValue **ref_doc;
	int			nrefs;
	int			refcap;
	int64		steps_left;		/* validate() calls still allowed */
} Validator;

/*
 * The most validate() calls one document may take: JSON_SCHEMA_STEPS_BASE
 * and JSON_SCHEMA_STEPS_PER_VALUE for each of its values.  GS1's schema
 * takes a few dozen per value; a schema whose references fan out (allOf of
 * two references to an allOf of two references ...) would take time
 * exponential in its depth, and is stopped here with 54000.
 */
#define JSON_SCHEMA_STEPS_BASE			100000
#define JSON_SCHEMA_STEPS_PER_VALUE		1000

static void validate(Validator *v, Sink *sink, const JcsValue *schema,
					 const JcsValue *doc, const PathSeg *path);

static void
add_problem_text(Sink *sink, char *path, char *message)
{
	TlSchemaProblem *p;

	if (SINK_FULL(sink))
		return;
	if (sink->quiet)
	{
		sink->count++;
		return;
	}
	p = palloc(sizeof(TlSchemaProblem));
	p->path = path;
	p->message = message;
	sink->problems = lappend(sink->problems, p);
	sink->count++;
}

static void
add_problem(Sink *sink, const PathSeg *path, const char *fmt,...)
	pg_attribute_printf(3, 4);

static void
add_problem(Sink *sink, const PathSeg *path, const char *fmt,...)
{
	StringInfoData buf;

	if (SINK_FULL(sink))
		return;
	if (sink->quiet)
	{
		sink->count++;
		return;
	}
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	add_problem_text(sink, path_text(path, false), buf.data);
}

static bool
type_matches(const JcsValue *type, const JcsValue *doc)
{
	const char *t = type->u.string.str;
	int			len = type->u.string.len;

	if (len == 7 && memcmp(t, "integer", 7) == 0)
		return doc->kind == JCS_NUMBER && isfinite(doc->u.number) &&
			doc->u.number == floor(doc->u.number);
	return strlen(jcs_kind_name(doc->kind)) == len &&
		memcmp(jcs_kind_name(doc->kind), t, len) == 0;
}

/* JSON text of a value, cut to about limit bytes. */
static char *
short_json(const JcsValue *value, int limit)
{
	StringInfoData buf;

	initStringInfo(&buf);
	jcs_serialize(&buf, value);
	if (buf.len > limit)
	{
		int			cut = limit;

		while (cut > 0 && (buf.data[cut] & 0xC0) == 0x80)
			cut--;
		buf.data[cut] = '\0';
		buf.len = cut;
		appendStringInfoString(&buf, "...");
	}
	return buf.data;
}

static int
utf8_length(const char *s, int len)
{
	int			n = 0,
				i;

	for (i = 0; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static int
canonical_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Are the elements of an array all different (canonically)? */
static int
first_duplicate(const JcsValue *doc)
{
	int			n = doc->u.array.count;
	char	  **texts;
	int			i,
				dup = -1;

	if (n < 2)
		return -1;
	texts = palloc(n * sizeof(char *));
	for (i = 0; i < n; i++)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		jcs_serialize(&buf, doc->u.array.elems[i]);
		texts[i] = buf.data;
	}
	qsort(texts, n, sizeof(char *), canonical_cmp);
	for (i = 1; i < n && dup < 0; i++)
		if (strcmp(texts[i - 1], texts[i]) == 0)
			dup = i;
	for (i = 0; i < n; i++)
		pfree(texts[i]);
	pfree(texts);
	return dup;
}

static void
free_sink(Sink *s)
{
	list_free_deep(s->problems);
	s->problems = NIL;
}

/* Does the document match the schema at all?  (Stops at one problem.) */
static bool
matches(Validator *v, const JcsValue *schema, const JcsValue *doc,
		const PathSeg *path)
{
	Sink		s = {NIL, 0, 1, true};

	validate(v, &s, schema, doc, path);
	free_sink(&s);
	return s.count == 0;
}

static int
longest_path(const Sink *s)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, s->problems)
		n = Max(n, (int) strlen(((TlSchemaProblem *) lfirst(lc))->path));
	return n;
}

/*
 * No alternative of an anyOf or oneOf matched: report the problems of the
 * one that got furthest into the document, when it got further than this
 * value; else one problem here, with the first problem of each
 * alternative.
 */
static void
report_alternatives(Sink *sink, Sink *branches, int n, const char *keyword,
					const PathSeg *path)
{
	char	   *here = path_text(path, false);
	int			best = 0,
				i;
	ListCell   *lc;
	StringInfoData buf;

	for (i = 1; i < n; i++)
		if (longest_path(&branches[i]) > longest_path(&branches[best]))
			best = i;
	if (longest_path(&branches[best]) > strlen(here))
	{
		foreach(lc, branches[best].problems)
		{
			TlSchemaProblem *p = lfirst(lc);

			add_problem_text(sink, pstrdup(p->path), pstrdup(p->message));
		}
		return;
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "matches none of the %d alternatives of %s", n, keyword);
	for (i = 0; i < n; i++)
	{
		TlSchemaProblem *p;
		bool		seen = false;
		int			j;

		if (branches[i].problems == NIL)
			continue;
		p = linitial(branches[i].problems);
		for (j = 0; j < i && !seen; j++)
			seen = branches[j].problems != NIL &&
				strcmp(((TlSchemaProblem *) linitial(branches[j].problems))->message,
					   p->message) == 0;
		if (seen)
			continue;
		if (buf.len > 400)
		{
			appendStringInfoString(&buf, "; ...");
			break;
		}
		appendStringInfo(&buf, "%s %s", i == 0 ? ":" : ";", p->message);
	}
	add_problem_text(sink, here, buf.data);
}

static void
validate_alternatives(Validator *v, Sink *sink, const JcsValue *list,
					  bool one, const JcsValue *doc, const PathSeg *path)
{
	int			n = list->u.array.count;
	Sink	   *branches;
	int			passed = 0,
				i;

	/* first only whether each matches */
	for (i = 0; i < n && (passed == 0 || (one && passed == 1)); i++)
		if (matches(v, list->u.array.elems[i], doc, path))
			passed++;
	if (one && passed > 1)
		add_problem(sink, path, "matches more than one alternative of oneOf");
	if (passed > 0 || SINK_FULL(sink))
		return;
	if (sink->quiet)
	{
		add_problem(sink, path, "matches no alternative");
		return;
	}
	/* none matched: again, for the problems of each */
	branches = palloc0(n * sizeof(Sink));
	for (i = 0; i < n; i++)
	{
		branches[i].max = sink->max - sink->count;
		validate(v, &branches[i], list->u.array.elems[i], doc, path);
	}
	report_alternatives(sink, branches, n, one ? "oneOf" : "anyOf", path);
	for (i = 0; i < n; i++)
		free_sink(&branches[i]);
	pfree(branches);
}

static void
validate_object(Validator *v, Sink *sink, const Keywords *k,
				const JcsValue *doc, const PathSeg *path)
{
	int			i,
				j;

	if (k->kw[KW_REQUIRED])
		for (i = 0; i < k->kw[KW_REQUIRED]->u.array.count && !SINK_FULL(sink); i++)
		{
			const JcsValue *name = k->kw[KW_REQUIRED]->u.array.elems[i];
			char	   *key = pnstrdup(name->u.string.str, name->u.string.len);

			if (jcs_object_get(doc, key) == NULL)
			{
				PathSeg		seg = {path, name->u.string.str, name->u.string.len, 0};

				add_problem(sink, &seg, "required member is missing");
			}
			pfree(key);
		}
	if (k->kw[KW_MINPROPERTIES] &&
		doc->u.object.count < k->kw[KW_MINPROPERTIES]->u.number)
		add_problem(sink, path, "has %d members, fewer than minProperties %.0f",
					doc->u.object.count, k->kw[KW_MINPROPERTIES]->u.number);
	if (k->kw[KW_MAXPROPERTIES] &&
		doc->u.object.count > k->kw[KW_MAXPROPERTIES]->u.number)
		add_problem(sink, path, "has %d members, more than maxProperties %.0f",
					doc->u.object.count, k->kw[KW_MAXPROPERTIES]->u.number);

	for (i = 0; i < doc->u.object.count && !SINK_FULL(sink); i++)
	{
		const JcsMember *m = &doc->u.object.members[i];
		PathSeg		seg = {path, m->key, m->keylen, 0};
		bool		known = false;

		if (k->kw[KW_PROPERTIES])
		{
			const JcsValue *prop = member_value(k->kw[KW_PROPERTIES], m->key, m->keylen);

			if (prop != NULL)
			{
				known = true;
				validate(v, sink, prop, m->value, &seg);
			}
		}
		if (k->kw[KW_PATTERNPROPERTIES])
		{
			const JcsValue *pp = k->kw[KW_PATTERNPROPERTIES];

			for (j = 0; j < pp->u.object.count; j++)
			{
				const JcsMember *p = &pp->u.object.members[j];

				if (pattern_matches(jcs_make_string(p->key, p->keylen), m->key, m->keylen))
				{
					known = true;
					validate(v, sink, p->value, m->value, &seg);
				}
			}
		}
		if (!known && k->kw[KW_ADDITIONALPROPERTIES])
		{
			if (k->kw[KW_ADDITIONALPROPERTIES]->kind == JCS_FALSE)
				add_problem(sink, &seg, "member is not allowed (additionalProperties)");
			else
				validate(v, sink, k->kw[KW_ADDITIONALPROPERTIES], m->value, &seg);
		}
		if (k->kw[KW_PROPERTYNAMES])
		{
			Sink		names = {NIL, 0, sink->max - sink->count, sink->quiet};
			JcsValue   *name = jcs_make_string(m->key, m->keylen);
			ListCell   *lc;

			validate(v, &names, k->kw[KW_PROPERTYNAMES], name, &seg);
			if (names.quiet && names.count > 0)
				add_problem(sink, &seg, "member name");
			foreach(lc, names.problems)
				add_problem(sink, &seg, "member name: %s",
							((TlSchemaProblem *) lfirst(lc))->message);
			free_sink(&names);
		}
		if (k->kw[KW_DEPENDENCIES])
		{
			const JcsValue *dep = member_value(k->kw[KW_DEPENDENCIES], m->key, m->keylen);
			if (dep != NULL && dep->kind == JCS_ARRAY)
			{
				for (j = 0; j < dep->u.array.count; j++)
				{
					const JcsValue *name = dep->u.array.elems[j];
					char	   *key = pnstrdup(name->u.string.str, name->u.string.len);

					if (jcs_object_get(doc, key) == NULL)
					{
						PathSeg		dseg = {path, name->u.string.str, name->u.string.len, 0};

						add_problem(sink, &dseg, "member is missing, required with \"%.*s\" (dependencies)",
									m->keylen, m->key);
					}
					pfree(key);
				}
			}
			else if (dep != NULL)
				validate(v, sink, dep, doc, path);
		}
	}
}

static void
validate_array(Validator *v, Sink *sink, const Keywords *k,
			   const JcsValue *doc, const PathSeg *path)
{
	int			n = doc->u.array.count;
	int			i;
	const JcsValue *items = k->kw[KW_ITEMS];

	if (k->kw[KW_MINITEMS] && n < k->kw[KW_MINITEMS]->u.number)
		add_problem(sink, path, "has %d elements, fewer than minItems %.0f",
					n, k->kw[KW_MINITEMS]->u.number);
	if (k->kw[KW_MAXITEMS] && n > k->kw[KW_MAXITEMS]->u.number)
		add_problem(sink, path, "has %d elements, more than maxItems %.0f",
					n, k->kw[KW_MAXITEMS]->u.number);
	if (k->kw[KW_UNIQUEITEMS] && k->kw[KW_UNIQUEITEMS]->kind == JCS_TRUE &&
		first_duplicate(doc) >= 0)
		add_problem(sink, path, "has equal elements (uniqueItems)");
	for (i = 0; items != NULL && i < n && !SINK_FULL(sink); i++)
	{
		PathSeg		seg = {path, NULL, 0, i};

		if (items->kind != JCS_ARRAY)
			validate(v, sink, items, doc->u.array.elems[i], &seg);
		else if (i < items->u.array.count)
			validate(v, sink, items->u.array.elems[i], doc->u.array.elems[i], &seg);
		else if (k->kw[KW_ADDITIONALITEMS])
		{
			if (k->kw[KW_ADDITIONALITEMS]->kind == JCS_FALSE)
				add_problem(sink, &seg, "element is not allowed (additionalItems)");
			else
				validate(v, sink, k->kw[KW_ADDITIONALITEMS], doc->u.array.elems[i], &seg);
		}
		else
			break;
	}
	if (k->kw[KW_CONTAINS])
	{
		bool		found = false;

		for (i = 0; i < n && !found; i++)
		{
			PathSeg		seg = {path, NULL, 0, i};

			found = matches(v, k->kw[KW_CONTAINS], doc->u.array.elems[i], &seg);
		}
		if (!found)
			add_problem(sink, path, "no element matches contains");
	}
}

static void
validate(Validator *v, Sink *sink, const JcsValue *schema,
		 const JcsValue *doc, const PathSeg *path)
{
	Keywords	k;
	const JcsValue *kw;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (--v->steps_left < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JSON schema validation takes more than %d steps plus %d for each value of the document",
						JSON_SCHEMA_STEPS_BASE, JSON_SCHEMA_STEPS_PER_VALUE),
				 errhint("The schema's references fan out too much.")));
	if (SINK_FULL(sink) || schema->kind == JCS_TRUE)
		return;
	if (schema->kind == JCS_FALSE)
	{
		add_problem(sink, path, "no value is allowed here (schema false)");
		return;
	}
	read_keywords(schema, &k);

	/* draft-07: next to $ref, other keywords are ignored */
	if (k.kw[KW_REF])
	{
		const JcsValue *target = resolve_ref(v->root, k.kw[KW_REF]);

		/*
		 * The same reference again at the same value: a loop.  The values of
		 * the references under way only go down the document, so only the
		 * last ones can be this one.
		 */
		for (i = v->nrefs - 1; i >= 0 && v->ref_doc[i] == doc; i--)
			if (v->ref_schema[i] == target)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("JSON schema $ref %.*s loops at %s without going down the document",
								k.kw[KW_REF]->u.string.len, k.kw[KW_REF]->u.string.str,
								path_text(path, false))));
		if (v->nrefs == v->refcap)
		{
			v->refcap = v->refcap * 2 + 8;
			v->ref_schema = repalloc_array(v->ref_schema, const JcsValue *, v->refcap);
			v->ref_doc = repalloc_array(v->ref_doc, const JcsValue *, v->refcap);
		}
		v->ref_schema[v->nrefs] = target;
		v->ref_doc[v->nrefs] = doc;
		v->nrefs++;
		validate(v, sink, target, doc, path);
		v->nrefs--;
		return;
	}

	if ((kw = k.kw[KW_TYPE]) != NULL)
	{
		bool		ok = false;

		if (kw->kind == JCS_STRING)
			ok = type_matches(kw, doc);
		else
			for (i = 0; i < kw->u.array.count && !ok; i++)
				ok = type_matches(kw->u.array.elems[i], doc);
		if (!ok)
			add_problem(sink, path, "expected %s, got %s",
						kw->kind == JCS_STRING ?
						pnstrdup(kw->u.string.str, kw->u.string.len) :
						short_json(kw, 200),
						jcs_kind_name(doc->kind));
	}
	if ((kw = k.kw[KW_ENUM]) != NULL)
	{
		bool		ok = false;

		for (i = 0; i < kw->u.array.count && !ok; i++)
			ok = jcs_equal(kw->u.array.elems[i], doc);
		if (!ok)
			add_problem(sink, path, "%s is not one of the allowed values %s",
						short_json(doc, 100), short_json(kw, 200));
	}
	if ((kw = k.kw[KW_CONST]) != NULL && !jcs_equal(kw, doc))
		add_problem(sink, path, "%s is not the constant %s",
					short_json(doc, 100), short_json(kw, 200));

	switch (doc->kind)
	{
		case JCS_STRING:
			{
				const char *s = doc->u.string.str;
				int			len = doc->u.string.len;

				if (k.kw[KW_MINLENGTH] &&
					utf8_length(s, len) < k.kw[KW_MINLENGTH]->u.number)
					add_problem(sink, path, "is shorter than minLength %.0f",
								k.kw[KW_MINLENGTH]->u.number);
				if (k.kw[KW_MAXLENGTH] &&
					utf8_length(s, len) > k.kw[KW_MAXLENGTH]->u.number)
					add_problem(sink, path, "is longer than maxLength %.0f",
								k.kw[KW_MAXLENGTH]->u.number);
				if ((kw = k.kw[KW_PATTERN]) != NULL && !pattern_matches(kw, s, len))
					add_problem(sink, path, "%s does not match the pattern %s",
								short_json(doc, 100), short_json(kw, 200));
				if ((kw = k.kw[KW_FORMAT]) != NULL && !format_holds(kw, s, len))
					add_problem(sink, path, "%s is not a valid %.*s",
								short_json(doc, 100), kw->u.string.len, kw->u.string.str);
			}
			break;
		case JCS_NUMBER:
			{
				double		x = doc->u.number;

				if (k.kw[KW_MINIMUM] && x < k.kw[KW_MINIMUM]->u.number)
					add_problem(sink, path, "%s is less than minimum %s",
								short_json(doc, 40), short_json(k.kw[KW_MINIMUM], 40));
				if (k.kw[KW_MAXIMUM] && x > k.kw[KW_MAXIMUM]->u.number)
					add_problem(sink, path, "%s is greater than maximum %s",
								short_json(doc, 40), short_json(k.kw[KW_MAXIMUM], 40));
				if (k.kw[KW_EXCLUSIVEMINIMUM] && x <= k.kw[KW_EXCLUSIVEMINIMUM]->u.number)
					add_problem(sink, path, "%s is not greater than exclusiveMinimum %s",
								short_json(doc, 40), short_json(k.kw[KW_EXCLUSIVEMINIMUM], 40));
				if (k.kw[KW_EXCLUSIVEMAXIMUM] && x >= k.kw[KW_EXCLUSIVEMAXIMUM]->u.number)
					add_problem(sink, path, "%s is not less than exclusiveMaximum %s",
								short_json(doc, 40), short_json(k.kw[KW_EXCLUSIVEMAXIMUM], 40));
				if (k.kw[KW_MULTIPLEOF])
				{
					double		q = x / k.kw[KW_MULTIPLEOF]->u.number;

					if (!isfinite(q) || q != floor(q))
						add_problem(sink, path, "%s is not a multiple of %s",
									short_json(doc, 40), short_json(k.kw[KW_MULTIPLEOF], 40));
				}
			}
			break;
		case JCS_ARRAY:
			validate_array(v, sink, &k, doc, path);
			break;
		case JCS_OBJECT:
			validate_object(v, sink, &k, doc, path);
			break;
		default:
			break;
	}

	if ((kw = k.kw[KW_ALLOF]) != NULL)
		for (i = 0; i < kw->u.array.count && !SINK_FULL(sink); i++)
			validate(v, sink, kw->u.array.elems[i], doc, path);
	if ((kw = k.kw[KW_ANYOF]) != NULL && !SINK_FULL(sink))
		validate_alternatives(v, sink, kw, false, doc, path);
	if ((kw = k.kw[KW_ONEOF]) != NULL && !SINK_FULL(sink))
		validate_alternatives(v, sink, kw, true, doc, path);
	if ((kw = k.kw[KW_NOT]) != NULL && !SINK_FULL(sink) &&
		matches(v, kw, doc, path))
		add_problem(sink, path, "matches the schema of not");
	if ((kw = k.kw[KW_IF]) != NULL && !SINK_FULL(sink))
	{
		if (matches(v, kw, doc, path))
		{
			if (k.kw[KW_THEN])
				validate(v, sink, k.kw[KW_THEN], doc, path);
		}
		else if (k.kw[KW_ELSE])
			validate(v, sink, k.kw[KW_ELSE], doc, path);
	}
}

/* The number of values in a tree. */
static int64
count_values(const JcsValue *doc)
{
	int64		n = 1;
	int			i;

	check_stack_depth();
	if (doc->kind == JCS_ARRAY)
		for (i = 0; i < doc->u.array.count; i++)
			n += count_values(doc->u.array.elems[i]);
	else if (doc->kind == JCS_OBJECT)
		for (i = 0; i < doc->u.object.count; i++)
			n += count_values(doc->u.object.members[i].value);
	return n;
}

/* The problems of a document against a schema that has been checked. */
static List *
checked_schema_problems(const JcsValue *schema, const JcsValue *doc,
						int max_problems)
{
	Validator	v = {schema, NULL, NULL, 0, 0, 0};
	Sink		sink = {NIL, 0, max_problems, false};

	if (max_problems < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of problems to report must be at least 1")));
	v.steps_left = JSON_SCHEMA_STEPS_BASE +
		(int64) JSON_SCHEMA_STEPS_PER_VALUE * count_values(doc);
	v.refcap = 16;
	v.ref_schema = palloc_array(const JcsValue *, v.refcap);
	v.ref_doc = palloc_array(const JcsValue *, v.refcap);
	validate(&v, &sink, schema, doc, NULL);
	pfree(v.ref_schema);
	pfree(v.ref_doc);
	return sink.problems;
}

List *
tl_json_schema_problems(const JcsValue *schema, const JcsValue *doc,
						int max_problems)
{
	tl_json_schema_check(schema);
	return checked_schema_problems(schema, doc, max_problems);
}

/*
 * The last schema this backend checked, as jsonb and as a tree, in a
 * context of its own: the same schema (byte for byte) is not read and
 * checked again for each document.  Keyed by content, so nothing
 * invalidates it; a schema that fails its check is never kept.
 */
static MemoryContext schema_cache_context = NULL;
static Jsonb *schema_cache_jsonb = NULL;
static const JcsValue *schema_cache_tree = NULL;

static const JcsValue *
checked_schema(Jsonb *schema)
{
	MemoryContext cxt;
	MemoryContext old;
	Jsonb	   *copy;
	const JcsValue *tree;

	if (schema_cache_jsonb != NULL &&
		VARSIZE(schema_cache_jsonb) == VARSIZE(schema) &&
		memcmp(schema_cache_jsonb, schema, VARSIZE(schema)) == 0)
		return schema_cache_tree;

	/* under the caller's context until it is checked: an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink JSON schema cache",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	copy = palloc(VARSIZE(schema));
	memcpy(copy, schema, VARSIZE(schema));
	tree = jcs_from_jsonb(schema);
	tl_json_schema_check(tree);
	MemoryContextSwitchTo(old);

	if (schema_cache_context != NULL)
		MemoryContextDelete(schema_cache_context);
	MemoryContextSetParent(cxt, TopMemoryContext);
	schema_cache_context = cxt;
	schema_cache_jsonb = copy;
	schema_cache_tree = tree;
	return tree;
}

/*
 * tracelink.json_schema_problems(schema jsonb, doc jsonb, max_problems int)
 * returns table(path text, problem text)
 */
Datum
tl_json_schema_problems_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *schema = PG_GETARG_JSONB_P(0);
	Jsonb	   *doc = PG_GETARG_JSONB_P(1);
	int32		max = PG_GETARG_INT32(2);
	const JcsValue *tree;
	MemoryContext work;
	MemoryContext old;
	List	   *problems;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	tree = checked_schema(schema);
	work = AllocSetContextCreate(CurrentMemoryContext, "tracelink JSON schema",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	problems = checked_schema_problems(tree, jcs_from_jsonb(doc), max);
	MemoryContextSwitchTo(old);
	foreach(lc, problems)
	{
		TlSchemaProblem *p = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(p->path);
		values[1] = CStringGetTextDatum(p->message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(work);
	return (Datum) 0;
}
