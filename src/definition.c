/*-------------------------------------------------------------------------
 *
 * definition.c
 *	  Trace link definitions (stage, process, link): shape checking and
 *	  normalisation, validation, and the mesh of data between processes.
 *
 * A definition is JSON in the format of docs/definitions.md.  Its canonical
 * form is the RFC 8785 serialisation of the *normalised* tree: unknown keys
 * refused, defaults filled in, stages and processes put in their order, so
 * that equal definitions have equal bytes and equal digests.
 *
 * Three layers, all over jcs.c's trees:
 *	- normalisation (tl_definition_normalise) checks the JSON shape and
 *	  raises 22P02 with a detail naming the element and its JSON path; the
 *	  type input, receive and jsonb cast functions are thin wrappers of it;
 *	- validation (tl_definition_validate) lists every semantic problem of a
 *	  normalised definition, in document order, each with a TL SQLSTATE;
 *	- the mesh (tl_definition_mesh) resolves process inputs to producer
 *	  outputs and layers the data graph (Kahn's algorithm), naming a cycle
 *	  when there is one (Tarjan's strongly connected components).
 *
 * This file is deliberately free of fmgr, SPI, catalog and jsonb calls: it
 * uses only palloc, StringInfo, ereport, check_stack_depth and the jcs_*
 * API, so that the fuzzing harness (fuzz/) links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "miscadmin.h"

/* ----------------------------------------------------------------
 * Vocabulary
 * ----------------------------------------------------------------
 */

static const char *const kind_words[] = {"stage", "process", "link"};

static const char *const data_types[] = {
	"text", "numeric", "time", "image", "video", "file"
};
static const char *const data_sources[] = {
	"manual", "upload", "external", "device"
};
static const char *const widgets[] = {
	"textbox", "checkbox", "dropdown", "textarea"
};
static const char *const voting_rules[] = {
	"unanimous", "majority", "fraction", "k_of_n"
};

/*
 * The keys each JSON object of a definition may have, sorted by byte value
 * (all ASCII, so this is also RFC 8785 member order).
 */
typedef struct DefShape
{
	const char *noun;			/* for hints: "a stage" */
	const char *const *keys;
	int			nkeys;
} DefShape;

static const char *const item_keys[] = {
	"creator", "description", "name", "options", "required", "sources",
	"trace_code", "type", "widget"
};
static const char *const form_keys[] = {"description", "items", "key", "name"};
static const char *const stage_keys[] = {
	"creator", "description", "forms", "members", "name", "order", "role"
};
static const char *const process_keys[] = {
	"description", "inputs", "name", "node", "outputs", "stages"
};
static const char *const output_keys[] = {"description", "level", "name"};
static const char *const input_keys[] = {"from", "level", "name", "output"};
static const char *const link_keys[] = {
	"creator", "info", "invitations", "name", "process_order", "processes",
	"voting"
};
static const char *const voting_keys[] = {"adoption", "modification"};
static const char *const rule_keys[] = {"denominator", "k", "numerator", "rule"};

#define DEF_SHAPE(noun, keys) {(noun), (keys), lengthof(keys)}

static const DefShape item_shape = DEF_SHAPE("an item", item_keys);
static const DefShape form_shape = DEF_SHAPE("a form", form_keys);
static const DefShape stage_shape = DEF_SHAPE("a stage", stage_keys);
static const DefShape process_shape = DEF_SHAPE("a process", process_keys);
static const DefShape output_shape = DEF_SHAPE("an output", output_keys);
static const DefShape input_shape = DEF_SHAPE("an input", input_keys);
static const DefShape link_shape = DEF_SHAPE("a link", link_keys);
static const DefShape voting_shape = DEF_SHAPE("\"voting\"", voting_keys);
static const DefShape rule_shape = DEF_SHAPE("a voting rule", rule_keys);

/*
 * The word naming a definition kind ("stage", "process", "link"), as used
 * in type names and messages.
 */
const char *
tl_definition_kind_name(TlDefKind kind)
{
	if ((int) kind < TL_DEF_STAGE || (int) kind > TL_DEF_LINK)
		elog(ERROR, "unrecognised definition kind %d", (int) kind);
	return kind_words[kind];
}

/* Is str (len bytes) one of the NUL-terminated words? */
static bool
word_in(const char *str, int len, const char *const *words, int nwords)
{
	int			i;

	for (i = 0; i < nwords; i++)
	{
		if ((int) strlen(words[i]) == len && memcmp(words[i], str, len) == 0)
			return true;
	}
	return false;
}

/* Is the string value v equal to the NUL-terminated word? */
static bool
string_is(const JcsValue *v, const char *word)
{
	return v->kind == JCS_STRING &&
		(int) strlen(word) == v->u.string.len &&
		memcmp(word, v->u.string.str, v->u.string.len) == 0;
}

/* "a, b and c": the words of a list, for hints. */
static char *
word_list(const char *const *words, int nwords)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < nwords; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == nwords - 1 ? " and " : ", ");
		appendStringInfoString(&buf, words[i]);
	}
	return buf.data;
}

/*
 * A string from the document, fit to quote in a message: copied, and cut
 * to at most 64 bytes on a UTF-8 character boundary.
 */
#define TL_SHOWN_MAX 64

static char *
shown(const char *str, int len)
{
	int			cut;

	if (len <= TL_SHOWN_MAX)
		return pnstrdup(str, len);
	cut = TL_SHOWN_MAX - 3;
	while (cut > 0 && ((unsigned char) str[cut] & 0xC0) == 0x80)
		cut--;
	return psprintf("%.*s...", cut, str);
}

static char *
shown_value(const JcsValue *v)
{
	return shown(v->u.string.str, v->u.string.len);
}

static bool
is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/*
 * What is wrong with a name, or NULL when nothing is.  Names are non-empty,
 * at most TL_NAME_MAX_BYTES bytes, without leading or trailing (ASCII)
 * whitespace.
 */
static const char *
name_problem(const char *str, int len)
{
	if (len == 0)
		return "must not be empty";
	if (len > TL_NAME_MAX_BYTES)
		return "must not be longer than " CppAsString2(TL_NAME_MAX_BYTES) " bytes";
	if (is_ascii_space(str[0]) || is_ascii_space(str[len - 1]))
		return "must not begin or end with whitespace";
	return NULL;
}

/* ----------------------------------------------------------------
 * Name index: the strings of an array, sorted, for lookups by name
 *
 * Definitions come from other members of the consortium, so the cost of
 * checking one must not depend on how its names are chosen: a hash table
 * with a fixed hash function degrades to quadratic time on names crafted
 * to collide.  Sorting (a bottom-up merge sort, O(n log n) for any input)
 * and binary search have no such worst case.
 * ----------------------------------------------------------------
 */

typedef struct NameEntry
{
	const char *str;
	int			len;
	int			position;		/* index in the array */
} NameEntry;

typedef struct NameIndex
{
	int			count;
	NameEntry  *entries;		/* by bytes, then position */
} NameIndex;

/* Byte order of two strings; a prefix sorts first. */
static int
name_cmp(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int
name_entry_cmp(const NameEntry *a, const NameEntry *b)
{
	int			c = name_cmp(a->str, a->len, b->str, b->len);

	if (c != 0)
		return c;
	return (a->position > b->position) - (a->position < b->position);
}

/* Bottom-up merge sort of the entries. */
static void
name_sort(NameEntry *entries, int n)
{
	NameEntry  *from = entries;
	NameEntry  *to = palloc(sizeof(NameEntry) * Max(n, 1));
	int			width;

	for (width = 1; width < n; width *= 2)
	{
		NameEntry  *swap;
		int			lo;

		for (lo = 0; lo < n; lo += 2 * width)
		{
			int			mid = Min(lo + width, n);
			int			hi = Min(lo + 2 * width, n);
			int			i = lo;
			int			j = mid;
			int			k = lo;

			while (i < mid && j < hi)
				to[k++] = name_entry_cmp(&from[i], &from[j]) <= 0 ?
					from[i++] : from[j++];
			while (i < mid)
				to[k++] = from[i++];
			while (j < hi)
				to[k++] = from[j++];
		}
		swap = from;
		from = to;
		to = swap;
	}
	if (from != entries)
		memcpy(entries, from, sizeof(NameEntry) * n);
	pfree(from == entries ? to : from);
}

/*
 * Index the strings of an array: the elements themselves, or when field is
 * given the string member of that name of each element.
 */
static void
nameindex_build(NameIndex *ix, const JcsValue *arr, const char *field)
{
	int			i;

	ix->count = arr->u.array.count;
	ix->entries = palloc(sizeof(NameEntry) * Max(ix->count, 1));
	for (i = 0; i < ix->count; i++)
	{
		const JcsValue *s = arr->u.array.elems[i];

		if (field != NULL)
			s = jcs_object_get(s, field);
		ix->entries[i].str = s->u.string.str;
		ix->entries[i].len = s->u.string.len;
		ix->entries[i].position = i;
	}
	name_sort(ix->entries, ix->count);
}

/* The first position holding str, or -1. */
static int
nameindex_find(const NameIndex *ix, const char *str, int len)
{
	int			lo = 0;
	int			hi = ix->count;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (name_cmp(ix->entries[mid].str, ix->entries[mid].len, str, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ix->count &&
		name_cmp(ix->entries[lo].str, ix->entries[lo].len, str, len) == 0)
		return ix->entries[lo].position;
	return -1;
}

/* Does the string value s at position i occur earlier in the array? */
static bool
nameindex_is_repeat(const NameIndex *ix, const JcsValue *s, int i)
{
	return nameindex_find(ix, s->u.string.str, s->u.string.len) != i;
}

/* ----------------------------------------------------------------
 * Where we are: frames, paths and element chains for messages
 * ----------------------------------------------------------------
 */

/*
 * One step from the root of a document to the value at hand.  Frames live
 * on the C stack and point upwards; an element frame (a stage, a form, ...)
 * also carries the element's name once it is known.
 */
typedef struct DefFrame
{
	const struct DefFrame *up;	/* enclosing frame; NULL at the root */
	const char *key;			/* member name leading here, or NULL */
	int			keylen;
	int			index;			/* array index leading here, when no key */
	const char *element;		/* "stage", "item", ...: an element is here */
	const char *name;			/* the element's name, NUL-terminated */
} DefFrame;

static void
frame_root(DefFrame *f, const char *element)
{
	memset(f, 0, sizeof(DefFrame));
	f->index = -1;
	f->element = element;
}

static void
frame_key(DefFrame *f, const DefFrame *up, const char *key, int keylen)
{
	memset(f, 0, sizeof(DefFrame));
	f->up = up;
	f->key = key;
	f->keylen = keylen;
	f->index = -1;
}

static void
frame_index(DefFrame *f, const DefFrame *up, int index, const char *element)
{
	memset(f, 0, sizeof(DefFrame));
	f->up = up;
	f->index = index;
	f->element = element;
}

/* A key that SQL/JSON path accepts unquoted (conservatively: ASCII). */
static bool
is_path_identifier(const char *key, int len)
{
	int			i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/*
 * The path of a frame as an SQL/JSON path expression ("$.stages[1].forms",
 * "$.invitations.\"Tea growing\""), so it can be fed to jsonb_path_query.
 */
static void
append_path(StringInfo buf, const DefFrame *f)
{
	check_stack_depth();
	if (f->up == NULL)
	{
		appendStringInfoChar(buf, '$');
		return;
	}
	append_path(buf, f->up);
	if (f->key == NULL)
		appendStringInfo(buf, "[%d]", f->index);
	else if (is_path_identifier(f->key, f->keylen))
	{
		appendStringInfoChar(buf, '.');
		appendBinaryStringInfo(buf, f->key, f->keylen);
	}
	else
	{
		appendStringInfoChar(buf, '.');
		jcs_append_string(buf, f->key, f->keylen);
	}
}

static char *
path_text(const DefFrame *f)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_path(&buf, f);
	return buf.data;
}

/*
 * The chain of elements around a frame, innermost first, up to the
 * enclosing process: 'Item "Weight" of form "Intake" of stage "Harvest" of
 * process "Growing"'.  Elements whose name is not known yet are numbered
 * from 1 ("Stage 2 of process ...").
 */
static char *
element_chain(const DefFrame *f)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	for (; f != NULL; f = f->up)
	{
		if (f->element == NULL)
			continue;
		if (!first)
			appendStringInfoString(&buf, " of ");
		if (first && f->element[0] >= 'a' && f->element[0] <= 'z')
		{
			appendStringInfoChar(&buf, f->element[0] - 'a' + 'A');
			appendStringInfoString(&buf, f->element + 1);
		}
		else
			appendStringInfoString(&buf, f->element);
		if (f->name != NULL)
			appendStringInfo(&buf, " \"%s\"", f->name);
		else if (f->up != NULL)
			appendStringInfo(&buf, " %d", f->index + 1);
		first = false;
		if (strcmp(f->element, "process") == 0)
			break;
	}
	return buf.data;
}

/* ----------------------------------------------------------------
 * Input errors (22P02)
 * ----------------------------------------------------------------
 */

static void def_syntax_error(const DefFrame *f, const char *hint,
							 const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

/*
 * Raise the input error for the value at frame f: "invalid input syntax for
 * type tracelink.<kind>", detail "<element chain>: <problem> (at <path>)."
 */
static void
def_syntax_error(const DefFrame *f, const char *hint, const char *fmt,...)
{
	const DefFrame *root = f;
	StringInfoData problem;

	while (root->up != NULL)
		root = root->up;

	initStringInfo(&problem);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&problem, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&problem, needed);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type tracelink.%s", root->element),
			 errdetail("%s: %s (at %s).",
					   element_chain(f), problem.data, path_text(f)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* "a string", "an array", ...: what a key must hold. */
static const char *
kind_with_article(JcsKind kind)
{
	switch (kind)
	{
		case JCS_STRING:
			return "a string";
		case JCS_TRUE:
		case JCS_FALSE:
			return "a boolean";
		case JCS_ARRAY:
			return "an array";
		case JCS_OBJECT:
			return "an object";
		case JCS_NUMBER:
			return "a number";
		case JCS_NULL:
			break;
	}
	return "null";
}

/*
 * Refuse members of obj that the shape does not list.  Both lists are
 * sorted (the members canonically, the shape's keys are ASCII), so one
 * merge pass finds the first unknown key in canonical order.
 */
static void
check_keys(const JcsValue *obj, const DefShape *shape, const DefFrame *f)
{
	int			k = 0;
	int			i;

	for (i = 0; i < obj->u.object.count; i++)
	{
		const JcsMember *m = &obj->u.object.members[i];
		int			c = 1;

		while (k < shape->nkeys &&
			   (c = jcs_key_compare(m->key, m->keylen, shape->keys[k],
									strlen(shape->keys[k]))) > 0)
			k++;
		if (c != 0)
		{
			DefFrame	kf;

			frame_key(&kf, f, m->key, m->keylen);
			def_syntax_error(&kf,
							 psprintf("The keys of %s are %s.", shape->noun,
									  word_list(shape->keys, shape->nkeys)),
							 "unknown key \"%s\"", shown(m->key, m->keylen));
		}
	}
}

/* The member "key" of obj, or NULL; raise when required and absent. */
static JcsValue *
get_member(const JcsValue *obj, const char *key, bool required,
		   const DefFrame *f)
{
	JcsValue   *v = jcs_object_get(obj, key);

	if (v == NULL && required)
		def_syntax_error(f, NULL, "missing required key \"%s\"", key);
	return v;
}

/* Raise unless v (the member "key" of f's object) has the given kind. */
static void
check_kind(const JcsValue *v, const char *key, JcsKind kind, const DefFrame *f)
{
	bool		ok;

	if (kind == JCS_TRUE || kind == JCS_FALSE)
		ok = (v->kind == JCS_TRUE || v->kind == JCS_FALSE);
	else
		ok = (v->kind == kind);
	if (!ok)
	{
		DefFrame	kf;

		frame_key(&kf, f, key, strlen(key));
		def_syntax_error(&kf, NULL, "key \"%s\" must be %s",
						 key, kind_with_article(kind));
	}
}

static JcsValue *
get_typed(const JcsValue *obj, const char *key, JcsKind kind, bool required,
		  const DefFrame *f)
{
	JcsValue   *v = get_member(obj, key, required, f);

	if (v != NULL)
		check_kind(v, key, kind, f);
	return v;
}

/* A string member, or the given default when absent. */
static JcsValue *
get_string_or(const JcsValue *obj, const char *key, const char *dflt,
			  const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_STRING, false, f);

	return v ? v : jcs_make_string(dflt, strlen(dflt));
}

/* A boolean member, or the given default when absent. */
static JcsValue *
get_bool_or(const JcsValue *obj, const char *key, bool dflt, const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_TRUE, false, f);

	return v ? v : jcs_make_bool(dflt);
}

/* A member that must be a name (see name_problem). */
static JcsValue *
get_name(const JcsValue *obj, const char *key, bool required,
		 const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_STRING, required, f);
	const char *problem;

	if (v != NULL &&
		(problem = name_problem(v->u.string.str, v->u.string.len)) != NULL)
	{
		DefFrame	kf;

		frame_key(&kf, f, key, strlen(key));
		def_syntax_error(&kf, NULL, "key \"%s\" %s", key, problem);
	}
	return v;
}

/*
 * An integer member (a JSON number with an integral value that fits an
 * int32), or NULL when absent.  With positive, values below 1 are refused.
 */
static JcsValue *
get_integer(const JcsValue *obj, const char *key, bool positive,
			const DefFrame *f, int *value)
{
	JcsValue   *v = get_member(obj, key, false, f);
	DefFrame	kf;
	double		d;

	if (v == NULL)
		return NULL;
	frame_key(&kf, f, key, strlen(key));
	if (v->kind != JCS_NUMBER)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an integer", key);
	d = v->u.number;
	if (!(d >= (double) PG_INT32_MIN && d <= (double) PG_INT32_MAX))
		def_syntax_error(&kf, NULL, "key \"%s\" is out of range for an integer",
						 key);
	if (d != (double) (int32) d)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an integer", key);
	if (positive && d < 1)
		def_syntax_error(&kf, NULL, "key \"%s\" must be a positive integer",
						 key);
	*value = (int) d;
	return v;
}

/*
 * Check an array of strings (of names, when names is set), the member "key"
 * of f's object.  The array is returned as it is.
 */
static JcsValue *
check_string_array(JcsValue *arr, const char *key, int keylen, bool names,
				   const DefFrame *f)
{
	DefFrame	kf;
	int			i;

	frame_key(&kf, f, key, keylen);
	if (arr->kind != JCS_ARRAY)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an array",
						 shown(key, keylen));
	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *e = arr->u.array.elems[i];
		DefFrame	ef;
		const char *problem;

		frame_index(&ef, &kf, i, NULL);
		if (e->kind != JCS_STRING)
			def_syntax_error(&ef, NULL, "each element of \"%s\" must be a string",
							 shown(key, keylen));
		if (names &&
			(problem = name_problem(e->u.string.str, e->u.string.len)) != NULL)
			def_syntax_error(&ef, NULL, "each element of \"%s\" %s",
							 shown(key, keylen), problem);
	}
	return arr;
}

/*
 * Start an element: v must be an object with only the shape's keys and a
 * valid "name"; the frame learns the name (before the keys are checked
 * when it is a good one, so that messages can name the element).  Returns
 * the name value.
 */
static JcsValue *
begin_element(const JcsValue *v, const DefShape *shape, DefFrame *f)
{
	JcsValue   *name;

	if (v->kind != JCS_OBJECT)
		def_syntax_error(f, NULL, "value must be an object");
	name = jcs_object_get(v, "name");
	if (name != NULL && name->kind == JCS_STRING &&
		name_problem(name->u.string.str, name->u.string.len) == NULL)
		f->name = pnstrdup(name->u.string.str, name->u.string.len);
	check_keys(v, shape, f);
	name = get_name(v, "name", true, f);
	f->name = pnstrdup(name->u.string.str, name->u.string.len);
	return name;
}

/* ----------------------------------------------------------------
 * Normalisation
 * ----------------------------------------------------------------
 */

static JcsValue *
norm_item(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(9);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &item_shape, f));
	if ((m = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", m);
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_member(v, "options", false, f)) != NULL)
		jcs_object_put(out, "options",
					   check_string_array(m, "options", 7, false, f));
	jcs_object_put(out, "required", get_bool_or(v, "required", false, f));
	if ((m = get_member(v, "sources", false, f)) != NULL)
		m = check_string_array(m, "sources", 7, false, f);
	else
	{
		m = jcs_make_array(1);
		jcs_array_append(m, jcs_make_string("manual", 6));
	}
	jcs_object_put(out, "sources", m);
	jcs_object_put(out, "trace_code", get_bool_or(v, "trace_code", false, f));
	jcs_object_put(out, "type", get_typed(v, "type", JCS_STRING, true, f));
	jcs_object_put(out, "widget", get_string_or(v, "widget", "textbox", f));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_form(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(4);
	JcsValue   *items = jcs_make_array(0);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &form_shape, f));
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_typed(v, "items", JCS_ARRAY, false, f)) != NULL)
	{
		DefFrame	kf;
		int			i;

		frame_key(&kf, f, "items", 5);
		for (i = 0; i < m->u.array.count; i++)
		{
			DefFrame	ef;

			frame_index(&ef, &kf, i, "item");
			jcs_array_append(items, norm_item(m->u.array.elems[i], &ef));
		}
	}
	jcs_object_put(out, "items", items);
	jcs_object_put(out, "key", get_bool_or(v, "key", false, f));
	jcs_object_sort(out);
	return out;
}

/*
 * A stage.  position > 0 means the stage is element position of a
 * process's stages and gets order = position when it has none; a
 * standalone stage (position 0) keeps "order" only when given.  *given is
 * set to the given order, or 0.
 */
static JcsValue *
norm_stage(JcsValue *v, DefFrame *f, int position, int *given)
{
	JcsValue   *out = jcs_make_object(7);
	JcsValue   *forms = jcs_make_array(0);
	JcsValue   *creator;
	JcsValue   *m;
	int			order = 0;

	jcs_object_put(out, "name", begin_element(v, &stage_shape, f));
	if ((creator = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", creator);
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_typed(v, "forms", JCS_ARRAY, false, f)) != NULL)
	{
		DefFrame	kf;
		int			i;

		frame_key(&kf, f, "forms", 5);
		for (i = 0; i < m->u.array.count; i++)
		{
			DefFrame	ef;

			frame_index(&ef, &kf, i, "form");
			jcs_array_append(forms, norm_form(m->u.array.elems[i], &ef));
		}
	}
	jcs_object_put(out, "forms", forms);
	if ((m = get_member(v, "members", false, f)) != NULL)
		m = check_string_array(m, "members", 7, true, f);
	else
	{
		m = jcs_make_array(1);
		if (creator != NULL)
			jcs_array_append(m, creator);
	}
	jcs_object_put(out, "members", m);
	if ((m = get_integer(v, "order", true, f, &order)) != NULL)
		jcs_object_put(out, "order", m);
	else if (position > 0)
		jcs_object_put(out, "order", jcs_make_number(position));
	jcs_object_put(out, "role", get_string_or(v, "role", "", f));
	jcs_object_sort(out);
	if (given)
		*given = order;
	return out;
}

typedef struct OrderedStage
{
	int			order;
	int			index;			/* in the given array */
	JcsValue   *stage;
} OrderedStage;

static int
ordered_stage_cmp(const void *a, const void *b)
{
	const OrderedStage *x = a;
	const OrderedStage *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->index - y->index;
}

/*
 * A process's stages.  Either no stage has "order" (creation order: order
 * becomes the position) or every stage has one (a pre-ordered catalogue:
 * distinct numbers, stages sorted by them); a mix is refused.
 */
static JcsValue *
norm_stages(JcsValue *arr, const DefFrame *f)
{
	int			n = arr->u.array.count;
	OrderedStage *st = palloc(sizeof(OrderedStage) * Max(n, 1));
	bool		ordered = false;
	JcsValue   *out;
	DefFrame	kf;
	int			i;

	frame_key(&kf, f, "stages", 6);
	for (i = 0; i < n; i++)
	{
		DefFrame	ef;

		frame_index(&ef, &kf, i, "stage");
		st[i].stage = norm_stage(arr->u.array.elems[i], &ef, i + 1,
								 &st[i].order);
		st[i].index = i;
		if (i == 0)
			ordered = (st[i].order > 0);
		else if (ordered && st[i].order == 0)
			def_syntax_error(&ef, NULL,
							 "key \"order\" is missing, but the first stage of the process has one");
		else if (!ordered && st[i].order > 0)
			def_syntax_error(&ef, NULL,
							 "key \"order\" is given, but the first stage of the process has none");
	}
	if (ordered)
	{
		qsort(st, n, sizeof(OrderedStage), ordered_stage_cmp);
		for (i = 1; i < n; i++)
		{
			if (st[i].order == st[i - 1].order)
			{
				DefFrame	ef;
				DefFrame	of;
				const JcsValue *name = jcs_object_get(st[i].stage, "name");
				const JcsValue *other = jcs_object_get(st[i - 1].stage, "name");

				frame_index(&ef, &kf, st[i].index, "stage");
				ef.name = pnstrdup(name->u.string.str, name->u.string.len);
				frame_key(&of, &ef, "order", 5);
				def_syntax_error(&of, NULL,
								 "order %d is also used by stage \"%s\"",
								 st[i].order, shown_value(other));
			}
		}
	}
	out = jcs_make_array(n);
	for (i = 0; i < n; i++)
		jcs_array_append(out, st[i].stage);
	return out;
}

static JcsValue *
norm_output(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(3);
	JcsValue   *m;
	int			level;

	jcs_object_put(out, "name", begin_element(v, &output_shape, f));
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	m = get_integer(v, "level", false, f, &level);
	jcs_object_put(out, "level", m ? m : jcs_make_number(1));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_input(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(4);
	JcsValue   *m;
	int			level;

	jcs_object_put(out, "name", begin_element(v, &input_shape, f));
	jcs_object_put(out, "from", get_name(v, "from", true, f));
	m = get_integer(v, "level", false, f, &level);
	jcs_object_put(out, "level", m ? m : jcs_make_number(1));
	jcs_object_put(out, "output", get_name(v, "output", true, f));
	jcs_object_sort(out);
	return out;
}

/* The elements of an array member, each normalised by fn. */
static JcsValue *
norm_elements(const JcsValue *obj, const char *key, const char *element,
			  JcsValue *(*fn) (JcsValue *, DefFrame *), const DefFrame *f)
{
	JcsValue   *arr = get_typed(obj, key, JCS_ARRAY, false, f);
	JcsValue   *out;
	DefFrame	kf;
	int			i;

	if (arr == NULL)
		return jcs_make_array(0);
	out = jcs_make_array(arr->u.array.count);
	frame_key(&kf, f, key, strlen(key));
	for (i = 0; i < arr->u.array.count; i++)
	{
		DefFrame	ef;

		frame_index(&ef, &kf, i, element);
		jcs_array_append(out, fn(arr->u.array.elems[i], &ef));
	}
	return out;
}

static JcsValue *
norm_process(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(6);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &process_shape, f));
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	jcs_object_put(out, "inputs", norm_elements(v, "inputs", "input", norm_input, f));
	if ((m = get_name(v, "node", false, f)) != NULL)
		jcs_object_put(out, "node", m);
	jcs_object_put(out, "outputs", norm_elements(v, "outputs", "output", norm_output, f));
	if ((m = get_typed(v, "stages", JCS_ARRAY, false, f)) != NULL)
		m = norm_stages(m, f);
	else
		m = jcs_make_array(0);
	jcs_object_put(out, "stages", m);
	jcs_object_sort(out);
	return out;
}

/* A voting rule: {"rule": ..., "numerator"/"denominator"/"k": integers}. */
static JcsValue *
norm_rule(JcsValue *v, const char *key, const DefFrame *f)
{
	JcsValue   *out = jcs_make_object(4);
	DefFrame	kf;
	JcsValue   *m;
	int			n;

	frame_key(&kf, f, key, strlen(key));
	if (v->kind != JCS_OBJECT)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an object", key);
	check_keys(v, &rule_shape, &kf);
	if ((m = get_integer(v, "denominator", false, &kf, &n)) != NULL)
		jcs_object_put(out, "denominator", m);
	if ((m = get_integer(v, "k", false, &kf, &n)) != NULL)
		jcs_object_put(out, "k", m);
	if ((m = get_integer(v, "numerator", false, &kf, &n)) != NULL)
		jcs_object_put(out, "numerator", m);
	jcs_object_put(out, "rule", get_typed(v, "rule", JCS_STRING, true, &kf));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_voting(JcsValue *v, const DefFrame *f)
{
	JcsValue   *out = jcs_make_object(2);
	DefFrame	kf;
	JcsValue   *m;

	frame_key(&kf, f, "voting", 6);
	check_keys(v, &voting_shape, &kf);
	if ((m = get_member(v, "adoption", false, &kf)) != NULL)
		jcs_object_put(out, "adoption", norm_rule(m, "adoption", &kf));
	if ((m = get_member(v, "modification", false, &kf)) != NULL)
		jcs_object_put(out, "modification", norm_rule(m, "modification", &kf));
	jcs_object_sort(out);
	return out;
}

/* "invitations": process name -> array of node names. */
static JcsValue *
norm_invitations(JcsValue *v, const DefFrame *f)
{
	DefFrame	kf;
	int			i;

	frame_key(&kf, f, "invitations", 11);
	for (i = 0; i < v->u.object.count; i++)
	{
		const JcsMember *m = &v->u.object.members[i];
		const char *problem = name_problem(m->key, m->keylen);

		if (problem != NULL)
		{
			DefFrame	pf;

			frame_key(&pf, &kf, m->key, m->keylen);
			def_syntax_error(&pf, NULL, "key \"%s\" of \"invitations\" %s",
							 shown(m->key, m->keylen), problem);
		}
		check_string_array(m->value, m->key, m->keylen, true, &kf);
	}
	return v;
}

typedef struct RankedProcess
{
	int			rank;
	int			index;
	JcsValue   *process;
} RankedProcess;

static int
ranked_process_cmp(const void *a, const void *b)
{
	const RankedProcess *x = a;
	const RankedProcess *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->index - y->index;
}

/*
 * A link.  Its processes are put in process order (the first place a name
 * has in process_order); processes not named there follow in given order.
 * A missing process_order is the list of process names, without repeats.
 */
static JcsValue *
norm_link(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(7);
	JcsValue   *processes;
	JcsValue   *order;
	JcsValue   *sorted;
	JcsValue   *m;
	RankedProcess *ranked;
	NameIndex	ix;
	int			n;
	int			i;

	jcs_object_put(out, "name", begin_element(v, &link_shape, f));
	if ((m = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", m);
	m = get_typed(v, "info", JCS_OBJECT, false, f);
	jcs_object_put(out, "info", m ? m : jcs_make_object(0));
	m = get_typed(v, "invitations", JCS_OBJECT, false, f);
	jcs_object_put(out, "invitations",
				   m ? norm_invitations(m, f) : jcs_make_object(0));
	order = get_member(v, "process_order", false, f);
	if (order != NULL)
		check_string_array(order, "process_order", 13, true, f);
	processes = norm_elements(v, "processes", "process", norm_process, f);
	if ((m = get_typed(v, "voting", JCS_OBJECT, false, f)) != NULL)
		jcs_object_put(out, "voting", norm_voting(m, f));

	n = processes->u.array.count;
	if (order == NULL)
	{
		order = jcs_make_array(n);
		nameindex_build(&ix, processes, "name");
		for (i = 0; i < n; i++)
		{
			JcsValue   *name = jcs_object_get(processes->u.array.elems[i],
											  "name");

			if (!nameindex_is_repeat(&ix, name, i))
				jcs_array_append(order, name);
		}
	}
	jcs_object_put(out, "process_order", order);

	nameindex_build(&ix, order, NULL);
	ranked = palloc(sizeof(RankedProcess) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		const JcsValue *name = jcs_object_get(processes->u.array.elems[i],
											  "name");
		int			pos = nameindex_find(&ix, name->u.string.str,
										 name->u.string.len);

		ranked[i].rank = pos >= 0 ? pos : order->u.array.count + i;
		ranked[i].index = i;
		ranked[i].process = processes->u.array.elems[i];
	}
	qsort(ranked, n, sizeof(RankedProcess), ranked_process_cmp);
	sorted = jcs_make_array(n);
	for (i = 0; i < n; i++)
		jcs_array_append(sorted, ranked[i].process);
	jcs_object_put(out, "processes", sorted);
	jcs_object_sort(out);
	return out;
}

/*
 * Check the shape of a parsed definition and return its normalised tree.
 * The result may share nodes with root.  Raises 22P02 on the first
 * problem; see docs/definitions.md for the format.
 */
JcsValue *
tl_definition_normalise_tree(TlDefKind kind, JcsValue *root)
{
	DefFrame	f;

	frame_root(&f, tl_definition_kind_name(kind));
	switch (kind)
	{
		case TL_DEF_STAGE:
			return norm_stage(root, &f, 0, NULL);
		case TL_DEF_PROCESS:
			return norm_process(root, &f);
		case TL_DEF_LINK:
			return norm_link(root, &f);
	}
	pg_unreachable();
}

/*
 * Parse, check the shape, normalise; returns palloc'd canonical bytes
 * (NUL-terminated, length in *outlen).  The type input, receive and jsonb
 * cast functions raise exactly these errors.
 */
char *
tl_definition_normalise(TlDefKind kind, const char *json, int len, int *outlen)
{
	StringInfoData out;
	JcsValue   *tree;

	tree = tl_definition_normalise_tree(kind, jcs_parse(json, len));
	initStringInfo(&out);
	jcs_serialize(&out, tree);
	*outlen = out.len;
	return out.data;
}

/* ----------------------------------------------------------------
 * Validation
 * ----------------------------------------------------------------
 */

/* One step of a problem's path, kept for sorting in document order. */
typedef struct PathStep
{
	const char *key;			/* NULL for an array index */
	int			keylen;
	int			index;
} PathStep;

typedef struct Problem
{
	TlDefProblem pub;
	PathStep   *steps;
	int			nsteps;
	int			seq;			/* order of discovery, breaks ties */
} Problem;

typedef struct Validator
{
	Problem    *problems;
	int			count;
	int			capacity;
} Validator;

static TlDefProblem *report(Validator *vs, const DefFrame *f, int sqlstate,
							const char *hint, const char *fmt,...)
			pg_attribute_printf(5, 6);

/*
 * Record a problem found at frame f: its code, path, message (lowercase,
 * naming the element) and a detail giving the element chain and the path.
 * The caller may add to the detail of the problem returned.
 */
static TlDefProblem *
report(Validator *vs, const DefFrame *f, int sqlstate, const char *hint,
	   const char *fmt,...)
{
	Problem    *p;
	StringInfoData msg;
	const DefFrame *g;
	int			i;

	if (vs->count == vs->capacity)
	{
		vs->capacity = vs->capacity ? vs->capacity * 2 : 16;
		vs->problems = vs->problems ?
			repalloc(vs->problems, sizeof(Problem) * vs->capacity) :
			palloc(sizeof(Problem) * vs->capacity);
	}
	p = &vs->problems[vs->count];
	p->seq = vs->count++;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}

	p->pub.sqlstate = sqlstate;
	for (i = 0; i < 5; i++)
		p->pub.code[i] = PGUNSIXBIT(sqlstate >> (6 * i));
	p->pub.code[5] = '\0';
	p->pub.message = msg.data;
	p->pub.path = path_text(f);
	p->pub.detail = psprintf("%s (at %s).", element_chain(f), p->pub.path);
	p->pub.hint = hint ? pstrdup(hint) : NULL;

	p->nsteps = 0;
	for (g = f; g->up != NULL; g = g->up)
		p->nsteps++;
	p->steps = palloc(sizeof(PathStep) * Max(p->nsteps, 1));
	i = p->nsteps;
	for (g = f; g->up != NULL; g = g->up)
	{
		i--;
		p->steps[i].key = g->key;
		p->steps[i].keylen = g->keylen;
		p->steps[i].index = g->index;
	}
	return &p->pub;
}

/*
 * Document order of two problems: by their paths in the canonical text
 * (members in RFC 8785 order, elements by index, a value before what is
 * inside it), then by order of discovery.
 */
static int
problem_cmp(const void *a, const void *b)
{
	const Problem *x = a;
	const Problem *y = b;
	int			n = Min(x->nsteps, y->nsteps);
	int			i;

	for (i = 0; i < n; i++)
	{
		const PathStep *s = &x->steps[i];
		const PathStep *t = &y->steps[i];
		int			c;

		if (s->key != NULL && t->key != NULL)
			c = jcs_key_compare(s->key, s->keylen, t->key, t->keylen);
		else if (s->key == NULL && t->key == NULL)
			c = (s->index > t->index) - (s->index < t->index);
		else
			c = s->key == NULL ? 1 : -1;
		if (c != 0)
			return c;
	}
	if (x->nsteps != y->nsteps)
		return x->nsteps < y->nsteps ? -1 : 1;
	return x->seq - y->seq;
}

/* The validator's problems in document order, as the public array. */
static TlDefProblem *
validator_result(Validator *vs, int *nproblems)
{
	TlDefProblem *result;
	int			i;

	if (vs->count > 1)
		qsort(vs->problems, vs->count, sizeof(Problem), problem_cmp);
	result = palloc(sizeof(TlDefProblem) * Max(vs->count, 1));
	for (i = 0; i < vs->count; i++)
		result[i] = vs->problems[i].pub;
	*nproblems = vs->count;
	return result;
}

/*
 * Accessors for normalised trees, whose shape normalisation guarantees.
 */
static const JcsValue *
member_of(const JcsValue *obj, const char *key)
{
	const JcsValue *v = jcs_object_get(obj, key);

	if (v == NULL)
		elog(ERROR, "normalised definition lacks key \"%s\"", key);
	return v;
}

static int
count_of(const JcsValue *obj, const char *key)
{
	return member_of(obj, key)->u.array.count;
}

static const JcsValue *
elem_of(const JcsValue *obj, const char *key, int i)
{
	return member_of(obj, key)->u.array.elems[i];
}

static const char *
name_of(const JcsValue *obj)
{
	const JcsValue *v = member_of(obj, "name");

	return v->u.string.str;
}

static int
int_of(const JcsValue *obj, const char *key)
{
	return (int) member_of(obj, key)->u.number;
}

/* An element frame for element i of the array member "key" of f. */
static void
frame_element(DefFrame *ef, DefFrame *kf, const DefFrame *f, const char *key,
			  int i, const char *element, const JcsValue *value)
{
	frame_key(kf, f, key, strlen(key));
	frame_index(ef, kf, i, element);
	ef->name = name_of(value);
}

/*
 * Report repeated strings in the array member "key" of obj (names of
 * elements when field is given, else the strings themselves).  fmt takes
 * the owner's name and the repeated string.
 */
static void
check_repeats(Validator *vs, const JcsValue *obj, const char *key,
			  const char *field, const char *element, const DefFrame *f,
			  const char *owner, const char *fmt)
{
	const JcsValue *arr = member_of(obj, key);
	NameIndex	ix;
	DefFrame	kf;
	int			i;

	frame_key(&kf, f, key, strlen(key));
	nameindex_build(&ix, arr, field);
	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *e = arr->u.array.elems[i];
		const JcsValue *s = field ? member_of(e, field) : e;
		DefFrame	ef;

		if (!nameindex_is_repeat(&ix, s, i))
			continue;
		frame_index(&ef, &kf, i, element);
		if (field)
			ef.name = s->u.string.str;
		report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL, fmt,
			   owner, shown_value(s));
	}
}

static void
validate_item(Validator *vs, const JcsValue *item, const DefFrame *f,
			  bool *trace_code)
{
	const JcsValue *type = member_of(item, "type");
	const JcsValue *sources = member_of(item, "sources");
	const JcsValue *widget = member_of(item, "widget");
	const JcsValue *options = jcs_object_get(item, "options");
	DefFrame	kf;
	DefFrame	ef;
	int			i;

	frame_key(&kf, f, "type", 4);
	if (!word_in(type->u.string.str, type->u.string.len,
				 data_types, lengthof(data_types)))
		report(vs, &kf, ERRCODE_TL_UNKNOWN_DATA_TYPE,
			   psprintf("The data types are %s.",
						word_list(data_types, lengthof(data_types))),
			   "item \"%s\" has unknown data type \"%s\"",
			   f->name, shown_value(type));

	frame_key(&kf, f, "sources", 7);
	if (sources->u.array.count == 0)
		report(vs, &kf, ERRCODE_TL_EMPTY, NULL,
			   "item \"%s\" allows no data source", f->name);
	for (i = 0; i < sources->u.array.count; i++)
	{
		const JcsValue *s = sources->u.array.elems[i];

		frame_index(&ef, &kf, i, NULL);
		if (!word_in(s->u.string.str, s->u.string.len,
					 data_sources, lengthof(data_sources)))
			report(vs, &ef, ERRCODE_TL_UNKNOWN_SOURCE,
				   psprintf("The data sources are %s.",
							word_list(data_sources, lengthof(data_sources))),
				   "item \"%s\" allows unknown data source \"%s\"",
				   f->name, shown_value(s));
	}
	check_repeats(vs, item, "sources", NULL, NULL, f, f->name,
				  "item \"%s\" lists data source \"%s\" twice");

	frame_key(&kf, f, "widget", 6);
	if (!word_in(widget->u.string.str, widget->u.string.len,
				 widgets, lengthof(widgets)))
		report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
			   psprintf("The widgets are %s.",
						word_list(widgets, lengthof(widgets))),
			   "item \"%s\" has unknown widget \"%s\"",
			   f->name, shown_value(widget));
	else if (string_is(widget, "dropdown"))
	{
		if (options == NULL || options->u.array.count == 0)
			report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
				   "Give the choices as a non-empty \"options\" array of strings.",
				   "item \"%s\" has widget \"dropdown\" but no options",
				   f->name);
	}
	else if (options != NULL)
	{
		frame_key(&kf, f, "options", 7);
		report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
			   "Only a \"dropdown\" widget takes options.",
			   "item \"%s\" has options but widget \"%s\"",
			   f->name, shown_value(widget));
	}
	if (options != NULL)
		check_repeats(vs, item, "options", NULL, NULL, f, f->name,
					  "item \"%s\" lists option \"%s\" twice");

	if (member_of(item, "trace_code")->kind == JCS_TRUE)
	{
		*trace_code = true;
		if (!string_is(type, "text"))
		{
			frame_key(&kf, f, "type", 4);
			report(vs, &kf, ERRCODE_TL_BAD_TRACE_CODE_ITEM, NULL,
				   "trace-code item \"%s\" must have data type \"text\", not \"%s\"",
				   f->name, shown_value(type));
		}
		if (member_of(item, "required")->kind != JCS_TRUE)
		{
			frame_key(&kf, f, "required", 8);
			report(vs, &kf, ERRCODE_TL_BAD_TRACE_CODE_ITEM, NULL,
				   "trace-code item \"%s\" must be required", f->name);
		}
	}
}

static void
validate_form(Validator *vs, const JcsValue *form, const DefFrame *f,
			  bool *trace_code)
{
	int			n = count_of(form, "items");
	int			i;

	if (n == 0)
		report(vs, f, ERRCODE_TL_EMPTY, NULL,
			   "form \"%s\" has no items", f->name);
	check_repeats(vs, form, "items", "name", "item", f, f->name,
				  "form \"%s\" has more than one item named \"%s\"");
	for (i = 0; i < n; i++)
	{
		const JcsValue *item = elem_of(form, "items", i);
		DefFrame	kf;
		DefFrame	ef;

		frame_element(&ef, &kf, f, "items", i, "item", item);
		validate_item(vs, item, &ef, trace_code);
	}
}

static void
validate_stage(Validator *vs, const JcsValue *stage, const DefFrame *f,
			   bool *trace_code)
{
	int			n = count_of(stage, "forms");
	int			i;

	if (n == 0)
		report(vs, f, ERRCODE_TL_EMPTY, NULL,
			   "stage \"%s\" has no forms", f->name);
	check_repeats(vs, stage, "forms", "name", "form", f, f->name,
				  "stage \"%s\" has more than one form named \"%s\"");
	check_repeats(vs, stage, "members", NULL, NULL, f, f->name,
				  "stage \"%s\" lists member \"%s\" twice");
	for (i = 0; i < n; i++)
	{
		const JcsValue *form = elem_of(stage, "forms", i);
		DefFrame	kf;
		DefFrame	ef;

		frame_element(&ef, &kf, f, "forms", i, "form", form);
		validate_form(vs, form, &ef, trace_code);
	}
}

/* Data levels of a process's inputs and outputs must lie in 1..99. */
static void
check_levels(Validator *vs, const JcsValue *process, const DefFrame *f)
{
	static const char *const keys[] = {"inputs", "outputs"};
	static const char *const elements[] = {"input", "output"};
	int			k;

	for (k = 0; k < 2; k++)
	{
		int			n = count_of(process, keys[k]);
		int			i;

		for (i = 0; i < n; i++)
		{
			const JcsValue *e = elem_of(process, keys[k], i);
			int			level = int_of(e, "level");
			DefFrame	kf;
			DefFrame	ef;
			DefFrame	lf;

			if (level >= TL_LEVEL_MIN && level <= TL_LEVEL_MAX)
				continue;
			frame_element(&ef, &kf, f, keys[k], i, elements[k], e);
			frame_key(&lf, &ef, "level", 5);
			report(vs, &lf, ERRCODE_TL_DATA_LEVEL,
				   "Data levels run from 1 (finest) to 99 (coarsest).",
				   "%s \"%s\" of process \"%s\" has data level %d, outside "
				   CppAsString2(TL_LEVEL_MIN) ".." CppAsString2(TL_LEVEL_MAX),
				   elements[k], ef.name, f->name, level);
		}
	}
}

/*
 * The checks of one process that need nothing outside it: its stages,
 * names, levels and trace-code item.
 */
static void
validate_process(Validator *vs, const JcsValue *process, const DefFrame *f)
{
	int			n = count_of(process, "stages");
	bool		trace_code = false;
	int			i;

	if (n == 0)
		report(vs, f, ERRCODE_TL_EMPTY, NULL,
			   "process \"%s\" has no stages", f->name);
	check_repeats(vs, process, "stages", "name", "stage", f, f->name,
				  "process \"%s\" has more than one stage named \"%s\"");
	check_repeats(vs, process, "inputs", "name", "input", f, f->name,
				  "process \"%s\" has more than one input named \"%s\"");
	check_repeats(vs, process, "outputs", "name", "output", f, f->name,
				  "process \"%s\" has more than one output named \"%s\"");
	check_levels(vs, process, f);
	for (i = 0; i < n; i++)
	{
		const JcsValue *stage = elem_of(process, "stages", i);
		DefFrame	kf;
		DefFrame	ef;

		frame_element(&ef, &kf, f, "stages", i, "stage", stage);
		validate_stage(vs, stage, &ef, &trace_code);
	}
	if (!trace_code)
		report(vs, f, ERRCODE_TL_MISSING_TRACE_CODE,
			   "Mark the data item that captures the trace code with \"trace_code\": true.",
			   "process \"%s\" has no trace-code acquisition item", f->name);
}

/* Whether the rule object has the parameter, reporting it when unwanted. */
static void
refuse_parameter(Validator *vs, const JcsValue *rule, const char *param,
				 const DefFrame *f)
{
	DefFrame	kf;

	if (jcs_object_get(rule, param) == NULL)
		return;
	frame_key(&kf, f, param, strlen(param));
	report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE, NULL,
		   "voting rule \"%s\" takes no parameter \"%s\"",
		   shown_value(member_of(rule, "rule")), param);
}

static void
validate_rule(Validator *vs, const JcsValue *rule, const DefFrame *f)
{
	const JcsValue *kind = member_of(rule, "rule");
	const JcsValue *num = jcs_object_get(rule, "numerator");
	const JcsValue *den = jcs_object_get(rule, "denominator");
	const JcsValue *k = jcs_object_get(rule, "k");
	DefFrame	kf;

	if (!word_in(kind->u.string.str, kind->u.string.len,
				 voting_rules, lengthof(voting_rules)))
	{
		frame_key(&kf, f, "rule", 4);
		report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE,
			   psprintf("The voting rules are %s.",
						word_list(voting_rules, lengthof(voting_rules))),
			   "unknown voting rule \"%s\"", shown_value(kind));
		return;
	}
	if (string_is(kind, "fraction"))
	{
		refuse_parameter(vs, rule, "k", f);
		if (num == NULL || den == NULL)
			report(vs, f, ERRCODE_TL_BAD_VOTING_RULE, NULL,
				   "voting rule \"fraction\" needs \"numerator\" and \"denominator\"");
		else if (num->u.number <= 0 || den->u.number <= 0 ||
				 num->u.number > den->u.number)
			report(vs, f, ERRCODE_TL_BAD_VOTING_RULE,
				   "The fraction of approving participants must be greater than 0 and at most 1.",
				   "voting rule \"fraction\" needs a fraction in (0, 1], not %d/%d",
				   (int) num->u.number, (int) den->u.number);
	}
	else if (string_is(kind, "k_of_n"))
	{
		refuse_parameter(vs, rule, "numerator", f);
		refuse_parameter(vs, rule, "denominator", f);
		if (k == NULL)
			report(vs, f, ERRCODE_TL_BAD_VOTING_RULE, NULL,
				   "voting rule \"k_of_n\" needs \"k\"");
		else if (k->u.number < 1)
		{
			frame_key(&kf, f, "k", 1);
			report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE, NULL,
				   "voting rule \"k_of_n\" needs k of at least 1, not %d",
				   (int) k->u.number);
		}
	}
	else
	{
		refuse_parameter(vs, rule, "denominator", f);
		refuse_parameter(vs, rule, "k", f);
		refuse_parameter(vs, rule, "numerator", f);
	}
}

/* ----------------------------------------------------------------
 * The data graph of a link
 * ----------------------------------------------------------------
 */

/*
 * Nodes are the processes of a link with distinct names (a repeated name
 * is reported and its later processes left out); edges go from producer to
 * consumer, one per resolved input.
 */
typedef struct DefGraph
{
	const JcsValue *link;
	DefFrame	root;
	int			nnodes;
	const JcsValue **node_process;	/* node -> process object */
	int		   *node_index;		/* node -> index in "processes" */
	int		   *process_node;	/* index in "processes" -> node, or -1 */
	NameIndex	byname;			/* process name -> index in "processes" */
	NameIndex **outputs;		/* node -> output name -> index, built lazily */
	int			nedges;
	int			edges_capacity;
	TlMeshEdge *edges;
} DefGraph;

/* The index of the producer's output of that name, or -1. */
static int
graph_output(DefGraph *g, int node, const JcsValue *name)
{
	const JcsValue *process = g->node_process[node];

	if (g->outputs[node] == NULL)
	{
		g->outputs[node] = palloc(sizeof(NameIndex));
		nameindex_build(g->outputs[node], member_of(process, "outputs"), "name");
	}
	return nameindex_find(g->outputs[node], name->u.string.str,
						  name->u.string.len);
}

/*
 * Build the data graph of a normalised link, reporting repeated process
 * names (TL002), inputs whose producer or output does not exist (TL008)
 * and inputs whose level differs from their output's (TL009; levels out of
 * range are check_levels' business, and are not compared).  An input with
 * a problem gives no edge.
 */
static void
graph_build(DefGraph *g, const JcsValue *link, Validator *vs)
{
	const JcsValue *processes = member_of(link, "processes");
	int			n = processes->u.array.count;
	int			c;
	int			i;

	memset(g, 0, sizeof(DefGraph));
	g->link = link;
	frame_root(&g->root, "link");
	g->root.name = name_of(link);
	g->node_process = palloc(sizeof(JcsValue *) * Max(n, 1));
	g->node_index = palloc(sizeof(int) * Max(n, 1));
	g->process_node = palloc(sizeof(int) * Max(n, 1));
	g->outputs = palloc0(sizeof(NameIndex *) * Max(n, 1));
	nameindex_build(&g->byname, processes, "name");
	for (i = 0; i < n; i++)
	{
		const JcsValue *process = processes->u.array.elems[i];
		const JcsValue *name = member_of(process, "name");

		g->process_node[i] = -1;
		if (!nameindex_is_repeat(&g->byname, name, i))
		{
			g->process_node[i] = g->nnodes;
			g->node_process[g->nnodes] = process;
			g->node_index[g->nnodes] = i;
			g->nnodes++;
		}
		else
		{
			DefFrame	kf;
			DefFrame	ef;

			frame_element(&ef, &kf, &g->root, "processes", i, "process", process);
			report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL,
				   "link \"%s\" has more than one process named \"%s\"",
				   g->root.name, shown_value(name));
		}
	}

	g->edges_capacity = 8;
	g->edges = palloc(sizeof(TlMeshEdge) * g->edges_capacity);
	for (c = 0; c < g->nnodes; c++)
	{
		const JcsValue *consumer = g->node_process[c];
		int			ninputs = count_of(consumer, "inputs");
		DefFrame	pkf;
		DefFrame	pf;

		frame_element(&pf, &pkf, &g->root, "processes", g->node_index[c],
					  "process", consumer);
		for (i = 0; i < ninputs; i++)
		{
			const JcsValue *input = elem_of(consumer, "inputs", i);
			const JcsValue *from = member_of(input, "from");
			const JcsValue *output = member_of(input, "output");
			int			level = int_of(input, "level");
			int			p;
			int			o;
			int			out_level;
			DefFrame	ikf;
			DefFrame	inf;
			DefFrame	kf;

			frame_element(&inf, &ikf, &pf, "inputs", i, "input", input);
			p = nameindex_find(&g->byname, from->u.string.str,
							   from->u.string.len);
			if (p >= 0)
				p = g->process_node[p];
			if (p < 0)
			{
				frame_key(&kf, &inf, "from", 4);
				report(vs, &kf, ERRCODE_TL_NO_PRODUCER, NULL,
					   "input \"%s\" of process \"%s\" names unknown process \"%s\"",
					   inf.name, pf.name, shown_value(from));
				continue;
			}
			o = graph_output(g, p, output);
			if (o < 0)
			{
				frame_key(&kf, &inf, "output", 6);
				report(vs, &kf, ERRCODE_TL_NO_PRODUCER, NULL,
					   "input \"%s\" of process \"%s\" names output \"%s\", which process \"%s\" does not have",
					   inf.name, pf.name, shown_value(output),
					   from->u.string.str);
				continue;
			}
			out_level = int_of(elem_of(g->node_process[p], "outputs", o), "level");
			if (out_level != level &&
				level >= TL_LEVEL_MIN && level <= TL_LEVEL_MAX &&
				out_level >= TL_LEVEL_MIN && out_level <= TL_LEVEL_MAX)
			{
				frame_key(&kf, &inf, "level", 5);
				report(vs, &kf, ERRCODE_TL_DATA_LEVEL,
					   "An input carries data at the level its producer's output has.",
					   "input \"%s\" of process \"%s\" has data level %d, but output \"%s\" of process \"%s\" has data level %d",
					   inf.name, pf.name, level, output->u.string.str,
					   from->u.string.str, out_level);
				continue;
			}
			if (out_level != level)
				continue;		/* out of range: reported by check_levels */
			if (g->nedges == g->edges_capacity)
			{
				g->edges_capacity *= 2;
				g->edges = repalloc(g->edges,
									sizeof(TlMeshEdge) * g->edges_capacity);
			}
			g->edges[g->nedges].producer = p;
			g->edges[g->nedges].consumer = c;
			g->edges[g->nedges].output = output->u.string.str;
			g->edges[g->nedges].input = inf.name;
			g->edges[g->nedges].level = level;
			g->nedges++;
		}
	}
}

/*
 * Successor lists of the graph in compressed form: the successors of node
 * v are succ[start[v] .. start[v + 1] - 1].
 */
static void
graph_successors(const DefGraph *g, int **start_out, int **succ_out)
{
	int		   *start = palloc0(sizeof(int) * (g->nnodes + 1));
	int		   *fill = palloc(sizeof(int) * Max(g->nnodes, 1));
	int		   *succ = palloc(sizeof(int) * Max(g->nedges, 1));
	int			i;

	for (i = 0; i < g->nedges; i++)
		start[g->edges[i].producer + 1]++;
	for (i = 0; i < g->nnodes; i++)
		start[i + 1] += start[i];
	memcpy(fill, start, sizeof(int) * g->nnodes);
	for (i = 0; i < g->nedges; i++)
		succ[fill[g->edges[i].producer]++] = g->edges[i].consumer;
	pfree(fill);
	*start_out = start;
	*succ_out = succ;
}

/*
 * Report the cycle s -> ... -> last -> s, following parent links back from
 * last to s.
 */
static void
report_cycle(const DefGraph *g, Validator *vs, int s, int last,
			 const int *parent)
{
	StringInfoData cycle;
	TlDefProblem *problem;
	int			len = 0;
	int		   *path;
	DefFrame	kf;
	DefFrame	ef;
	int			v;
	int			i;

	for (v = last; v >= 0; v = parent[v])
		len++;
	path = palloc(sizeof(int) * len);
	i = len;
	for (v = last; v >= 0; v = parent[v])
		path[--i] = v;
	initStringInfo(&cycle);
	for (i = 0; i < len; i++)
		appendStringInfo(&cycle, "%s -> ", name_of(g->node_process[path[i]]));
	appendStringInfoString(&cycle, name_of(g->node_process[s]));
	frame_element(&ef, &kf, &g->root, "processes", g->node_index[s],
				  "process", g->node_process[s]);
	problem = report(vs, &ef, ERRCODE_TL_DATA_CYCLE,
					 "Data must not flow back into a process it came from: a lot could become its own ancestor.",
					 "data graph has a cycle: %s", cycle.data);
	problem->detail = psprintf("%s Data flows %s.", problem->detail, cycle.data);
}

/*
 * Report one cycle per strongly connected component that has one (Tarjan's
 * algorithm, iterative).  The cycle starts and ends at the component's
 * first process in process order and is a shortest one through it, found
 * by a breadth-first search inside the component.
 */
static void
graph_report_cycles(const DefGraph *g, Validator *vs)
{
	int			n = g->nnodes;
	int		   *start;
	int		   *succ;
	int		   *index = palloc(sizeof(int) * Max(n, 1));
	int		   *low = palloc(sizeof(int) * Max(n, 1));
	int		   *comp = palloc(sizeof(int) * Max(n, 1));
	bool	   *on_stack = palloc0(sizeof(bool) * Max(n, 1));
	int		   *stack = palloc(sizeof(int) * Max(n, 1));
	int		   *call_node = palloc(sizeof(int) * Max(n, 1));
	int		   *call_pos = palloc(sizeof(int) * Max(n, 1));
	int		   *parent = palloc(sizeof(int) * Max(n, 1));
	int		   *queue = palloc(sizeof(int) * Max(n, 1));
	int		   *comp_size = palloc0(sizeof(int) * Max(n, 1));
	bool	   *comp_seen = palloc0(sizeof(bool) * Max(n, 1));
	int			counter = 0;
	int			ncomp = 0;
	int			sp = 0;
	int			s;
	int			v;
	int			i;

	graph_successors(g, &start, &succ);
	for (v = 0; v < n; v++)
		index[v] = -1;

	for (s = 0; s < n; s++)
	{
		int			depth = 0;

		if (index[s] >= 0)
			continue;
		index[s] = low[s] = counter++;
		stack[sp++] = s;
		on_stack[s] = true;
		call_node[depth] = s;
		call_pos[depth++] = start[s];
		while (depth > 0)
		{
			v = call_node[depth - 1];
			if (call_pos[depth - 1] < start[v + 1])
			{
				int			w = succ[call_pos[depth - 1]++];

				if (index[w] < 0)
				{
					index[w] = low[w] = counter++;
					stack[sp++] = w;
					on_stack[w] = true;
					call_node[depth] = w;
					call_pos[depth++] = start[w];
				}
				else if (on_stack[w])
					low[v] = Min(low[v], index[w]);
				continue;
			}
			depth--;
			if (depth > 0)
			{
				int			u = call_node[depth - 1];

				low[u] = Min(low[u], low[v]);
			}
			if (low[v] == index[v])
			{
				int			w;

				do
				{
					w = stack[--sp];
					on_stack[w] = false;
					comp[w] = ncomp;
				} while (w != v);
				ncomp++;
			}
		}
	}

	/*
	 * A component has a cycle when it has more than one node or a node that
	 * feeds itself.  Each such component is reported at its first node
	 * (nodes are numbered in process order); a breadth-first search from
	 * there, inside the component, finds the shortest way back to it.
	 */
	for (v = 0; v < n; v++)
	{
		comp_size[comp[v]]++;
		for (i = start[v]; i < start[v + 1]; i++)
			if (succ[i] == v)
				comp_size[comp[v]]++;
		parent[v] = -2;
	}
	for (s = 0; s < n; s++)
	{
		int			c = comp[s];
		int			head = 0;
		int			tail = 0;
		int			last = -1;

		if (comp_seen[c] || comp_size[c] < 2)
			continue;
		comp_seen[c] = true;
		queue[tail++] = s;
		parent[s] = -1;
		while (head < tail && last < 0)
		{
			int			u = queue[head++];

			for (i = start[u]; i < start[u + 1]; i++)
			{
				int			w = succ[i];

				if (comp[w] != c)
					continue;
				if (w == s)
				{
					last = u;
					break;
				}
				if (parent[w] == -2)
				{
					parent[w] = u;
					queue[tail++] = w;
				}
			}
		}
		Assert(last >= 0);
		report_cycle(g, vs, s, last, parent);
		for (i = 0; i < tail; i++)
			parent[queue[i]] = -2;
	}
}

/*
 * The checks of a link: its processes, their places in process_order, the
 * invitations, the voting rules and the data graph.
 */
static void
validate_link(Validator *vs, const JcsValue *link, DefFrame *f)
{
	const JcsValue *processes = member_of(link, "processes");
	const JcsValue *order = member_of(link, "process_order");
	const JcsValue *invitations = member_of(link, "invitations");
	const JcsValue *voting = jcs_object_get(link, "voting");
	NameIndex	in_order;
	NameIndex	built;
	DefGraph	g;
	DefFrame	okf;
	DefFrame	ikf;
	int			i;

	if (processes->u.array.count == 0 && order->u.array.count == 0)
		report(vs, f, ERRCODE_TL_EMPTY, NULL,
			   "link \"%s\" has no processes", f->name);

	nameindex_build(&built, processes, "name");

	/* process_order: no repeats, every name built, everything invited */
	frame_key(&okf, f, "process_order", 13);
	frame_key(&ikf, f, "invitations", 11);
	nameindex_build(&in_order, order, NULL);
	for (i = 0; i < order->u.array.count; i++)
	{
		const JcsValue *name = order->u.array.elems[i];
		const JcsValue *nodes;
		DefFrame	ef;

		frame_index(&ef, &okf, i, NULL);
		if (nameindex_is_repeat(&in_order, name, i))
		{
			report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL,
				   "process order of link \"%s\" lists process \"%s\" twice",
				   f->name, shown_value(name));
			continue;
		}
		if (nameindex_find(&built, name->u.string.str, name->u.string.len) < 0)
			report(vs, &ef, ERRCODE_TL_UNKNOWN_PROCESS,
				   "Add the process to \"processes\" once it is built.",
				   "process \"%s\" in the process order has no definition",
				   shown_value(name));
		nodes = jcs_object_get(invitations, name->u.string.str);
		if (nodes == NULL)
			report(vs, &ef, ERRCODE_TL_BAD_INVITATION,
				   "Invite a node to build it in \"invitations\".",
				   "process \"%s\" has no invited node", shown_value(name));
		else if (nodes->u.array.count == 0)
		{
			DefFrame	nf;

			frame_key(&nf, &ikf, name->u.string.str, name->u.string.len);
			report(vs, &nf, ERRCODE_TL_BAD_INVITATION,
				   "Invite a node to build it in \"invitations\".",
				   "process \"%s\" has no invited node", shown_value(name));
		}
	}

	/* invitations: for processes of the link, no node twice */
	for (i = 0; i < invitations->u.object.count; i++)
	{
		const JcsMember *m = &invitations->u.object.members[i];
		DefFrame	nf;

		frame_key(&nf, &ikf, m->key, m->keylen);
		if (nameindex_find(&in_order, m->key, m->keylen) < 0 &&
			nameindex_find(&built, m->key, m->keylen) < 0)
			report(vs, &nf, ERRCODE_TL_UNKNOWN_PROCESS, NULL,
				   "invitations name process \"%s\", which is not part of link \"%s\"",
				   shown(m->key, m->keylen), f->name);
		check_repeats(vs, invitations, m->key, NULL, NULL, &ikf,
					  shown(m->key, m->keylen),
					  "invitations to process \"%s\" list node \"%s\" twice");
	}

	/* processes: each in the process order, built by an invited node */
	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *process = processes->u.array.elems[i];
		const JcsValue *name = member_of(process, "name");
		const JcsValue *node = jcs_object_get(process, "node");
		const JcsValue *nodes = jcs_object_get(invitations, name->u.string.str);
		DefFrame	kf;
		DefFrame	ef;

		frame_element(&ef, &kf, f, "processes", i, "process", process);
		if (nameindex_find(&in_order, name->u.string.str,
						   name->u.string.len) < 0)
			report(vs, &ef, ERRCODE_TL_PROCESS_ORDER,
				   "Every process of a link has its place in \"process_order\".",
				   "process \"%s\" is not in the process order of link \"%s\"",
				   ef.name, f->name);
		if (node != NULL && nodes != NULL && nodes->u.array.count > 0)
		{
			bool		invited = false;
			int			j;

			for (j = 0; j < nodes->u.array.count && !invited; j++)
				invited = jcs_equal(nodes->u.array.elems[j], node);
			if (!invited)
			{
				DefFrame	nf;

				frame_key(&nf, &ef, "node", 4);
				report(vs, &nf, ERRCODE_TL_BAD_INVITATION, NULL,
					   "process \"%s\" is built by node \"%s\", which is not invited to it",
					   ef.name, node->u.string.str);
			}
		}
		validate_process(vs, process, &ef);
	}

	if (voting != NULL)
	{
		static const char *const purposes[] = {"adoption", "modification"};
		DefFrame	vf;

		frame_key(&vf, f, "voting", 6);
		for (i = 0; i < 2; i++)
		{
			const JcsValue *rule = jcs_object_get(voting, purposes[i]);
			DefFrame	rf;

			if (rule == NULL)
				continue;
			frame_key(&rf, &vf, purposes[i], strlen(purposes[i]));
			validate_rule(vs, rule, &rf);
		}
	}

	graph_build(&g, link, vs);
	graph_report_cycles(&g, vs);
}

/*
 * Every problem of a normalised definition, in document order (*nproblems
 * of them; the array is palloc'd).  Paths point into the canonical form.
 */
TlDefProblem *
tl_definition_validate_tree(TlDefKind kind, const JcsValue *tree,
							int *nproblems)
{
	Validator	vs;
	DefFrame	f;
	bool		trace_code = false;

	memset(&vs, 0, sizeof(vs));
	frame_root(&f, tl_definition_kind_name(kind));
	f.name = name_of(tree);
	switch (kind)
	{
		case TL_DEF_STAGE:
			validate_stage(&vs, tree, &f, &trace_code);
			break;
		case TL_DEF_PROCESS:
			validate_process(&vs, tree, &f);
			break;
		case TL_DEF_LINK:
			validate_link(&vs, tree, &f);
			break;
	}
	return validator_result(&vs, nproblems);
}

/*
 * Every problem of a definition given as JSON text (normalised first, so
 * any text the type input accepts may be given).
 */
TlDefProblem *
tl_definition_validate(TlDefKind kind, const char *json, int len,
					   int *nproblems)
{
	JcsValue   *tree = tl_definition_normalise_tree(kind, jcs_parse(json, len));

	return tl_definition_validate_tree(kind, tree, nproblems);
}

/*
 * Raise a problem as an error: its SQLSTATE, message, detail and hint.
 */
void
tl_definition_raise(const TlDefProblem *problem)
{
	ereport(ERROR,
			(errcode(problem->sqlstate),
			 errmsg_internal("%s", problem->message),
			 errdetail_internal("%s", problem->detail),
			 problem->hint ? errhint("%s", problem->hint) : 0));
	pg_unreachable();
}

/* ----------------------------------------------------------------
 * The mesh
 * ----------------------------------------------------------------
 */

/*
 * The mesh of a normalised link: every input resolved to its producer's
 * output, and the processes layered (layer 0: no inputs; otherwise one more
 * than the highest layer among its producers) by Kahn's algorithm.  Raises
 * the first problem in document order among repeated process names
 * (TL002), unresolved inputs (TL008), data levels out of range or differing
 * along an edge (TL009) and cycles (TL010).
 */
TlMesh *
tl_mesh_from_tree(const JcsValue *link)
{
	const JcsValue *order = member_of(link, "process_order");
	Validator	vs;
	DefGraph	g;
	TlMesh	   *mesh;
	NameIndex	positions;
	int		   *start;
	int		   *succ;
	int		   *indegree;
	int		   *queue;
	int			head = 0;
	int			tail = 0;
	int			i;

	memset(&vs, 0, sizeof(vs));
	graph_build(&g, link, &vs);
	for (i = 0; i < g.nnodes; i++)
	{
		DefFrame	kf;
		DefFrame	ef;

		frame_element(&ef, &kf, &g.root, "processes", g.node_index[i],
					  "process", g.node_process[i]);
		check_levels(&vs, g.node_process[i], &ef);
	}
	graph_report_cycles(&g, &vs);
	if (vs.count > 0)
	{
		int			n;

		tl_definition_raise(&validator_result(&vs, &n)[0]);
	}

	mesh = palloc(sizeof(TlMesh));
	mesh->nprocesses = g.nnodes;
	mesh->processes = palloc(sizeof(TlMeshProcess) * Max(g.nnodes, 1));
	mesh->nedges = g.nedges;
	mesh->edges = g.edges;

	nameindex_build(&positions, order, NULL);
	for (i = 0; i < g.nnodes; i++)
	{
		const JcsValue *name = member_of(g.node_process[i], "name");
		int			pos = nameindex_find(&positions, name->u.string.str,
										 name->u.string.len);

		mesh->processes[i].name = name->u.string.str;
		mesh->processes[i].layer = 0;
		mesh->processes[i].position = pos + 1;	/* 0 when absent */
	}

	/* Kahn: a node leaves the queue once all its producers have */
	graph_successors(&g, &start, &succ);
	indegree = palloc0(sizeof(int) * Max(g.nnodes, 1));
	queue = palloc(sizeof(int) * Max(g.nnodes, 1));
	for (i = 0; i < g.nedges; i++)
		indegree[g.edges[i].consumer]++;
	for (i = 0; i < g.nnodes; i++)
		if (indegree[i] == 0)
			queue[tail++] = i;
	while (head < tail)
	{
		int			v = queue[head++];

		for (i = start[v]; i < start[v + 1]; i++)
		{
			int			w = succ[i];

			mesh->processes[w].layer = Max(mesh->processes[w].layer,
										   mesh->processes[v].layer + 1);
			if (--indegree[w] == 0)
				queue[tail++] = w;
		}
	}
	if (tail != g.nnodes)
		elog(ERROR, "data graph of link \"%s\" has a cycle that was not detected",
			 name_of(link));
	return mesh;
}

/* The mesh of a link given as JSON text (normalised first). */
TlMesh *
tl_definition_mesh(const char *json, int len)
{
	JcsValue   *link = jcs_parse(json, len);

	return tl_mesh_from_tree(tl_definition_normalise_tree(TL_DEF_LINK, link));
}

/* The first process of a normalised link with that name, or NULL. */
static const JcsValue *
find_process(const JcsValue *link, const char *name)
{
	const JcsValue *processes = member_of(link, "processes");
	int			i;

	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *p = processes->u.array.elems[i];

		if (strcmp(name_of(p), name) == 0)
			return p;
	}
	return NULL;
}

/*
 * Is there a mesh edge from producer to consumer in a normalised link?
 * That is: the consumer has an input from the producer naming an output the
 * producer has.  Levels are not compared; validate the link for that.
 */
bool
tl_mesh_has_edge(const JcsValue *link, const char *producer,
				 const char *consumer)
{
	const JcsValue *c = find_process(link, consumer);
	const JcsValue *p = find_process(link, producer);
	int			ninputs;
	int			noutputs;
	int			i;
	int			j;

	if (c == NULL || p == NULL)
		return false;
	ninputs = count_of(c, "inputs");
	noutputs = count_of(p, "outputs");
	for (i = 0; i < ninputs; i++)
	{
		const JcsValue *input = elem_of(c, "inputs", i);
		const JcsValue *output = member_of(input, "output");

		if (strcmp(member_of(input, "from")->u.string.str, producer) != 0)
			continue;
		for (j = 0; j < noutputs; j++)
		{
			if (jcs_equal(member_of(elem_of(p, "outputs", j), "name"), output))
				return true;
		}
	}
	return false;
}

/* ----------------------------------------------------------------
 * Editing
 * ----------------------------------------------------------------
 */

/*
 * A link with a process added, or replacing the first process of the same
 * name; process_order is kept as it is.  Both are JSON text; the result is
 * canonical text (palloc'd, length in *outlen).
 */
char *
tl_link_with_process(const char *link, int linklen, const char *process,
					 int processlen, int *outlen)
{
	JcsValue   *ltree = jcs_parse(link, linklen);
	JcsValue   *ptree = jcs_parse(process, processlen);
	JcsValue   *processes;
	const char *name;
	StringInfoData out;
	int			i;

	ltree = tl_definition_normalise_tree(TL_DEF_LINK, ltree);
	ptree = tl_definition_normalise_tree(TL_DEF_PROCESS, ptree);
	processes = jcs_object_get(ltree, "processes");
	name = name_of(ptree);
	for (i = 0; i < processes->u.array.count; i++)
	{
		if (strcmp(name_of(processes->u.array.elems[i]), name) == 0)
			break;
	}
	if (i < processes->u.array.count)
		processes->u.array.elems[i] = ptree;
	else
		jcs_array_append(processes, ptree);

	initStringInfo(&out);
	jcs_serialize(&out, tl_definition_normalise_tree(TL_DEF_LINK, ltree));
	*outlen = out.len;
	return out.data;
}

/*
 * RFC 7386 JSON merge patch: members of an object patch replace or (when
 * null) remove those of the target, recursively; any other patch replaces
 * the target.  Both objects are sorted, so one merge pass keeps the result
 * sorted.  The result may share nodes with both arguments.
 */
JcsValue *
tl_json_merge_patch(JcsValue *target, JcsValue *patch)
{
	JcsValue   *result;
	int			tcount;
	int			pcount;
	int			i = 0;
	int			j = 0;

	check_stack_depth();
	if (patch->kind != JCS_OBJECT)
		return patch;
	tcount = (target != NULL && target->kind == JCS_OBJECT) ?
		target->u.object.count : 0;
	pcount = patch->u.object.count;
	result = jcs_make_object(tcount + pcount);
	while (i < tcount || j < pcount)
	{
		JcsMember  *tm = i < tcount ? &target->u.object.members[i] : NULL;
		JcsMember  *pm = j < pcount ? &patch->u.object.members[j] : NULL;
		int			c;

		if (tm == NULL)
			c = 1;
		else if (pm == NULL)
			c = -1;
		else
			c = jcs_key_compare(tm->key, tm->keylen, pm->key, pm->keylen);
		if (c < 0)
		{
			jcs_object_put(result, tm->key, tm->value);
			i++;
			continue;
		}
		if (pm->value->kind != JCS_NULL)
			jcs_object_put(result, pm->key,
						   tl_json_merge_patch(c == 0 ? tm->value : NULL,
											   pm->value));
		if (c == 0)
			i++;
		j++;
	}
	return result;
}
