/*-------------------------------------------------------------------------
 *
 * def_vocabulary.c
 *	  The words of the definition format, and names: the vocabularies
 *	  (definition.h), how names and strings are quoted in messages, what
 *	  makes a name valid, and the name index used to find repeats.
 *
 * Pure (palloc, StringInfo, ereport): fuzz/ links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"

/* ----------------------------------------------------------------
 * Vocabulary
 * ----------------------------------------------------------------
 */

static const char *const kind_words[] = {"stage", "process", "link"};

/* in enum order (definition.h), NULL-terminated */
const char *const tl_data_type_names[] = {
	"text", "numeric", "time", "image", "video", "file", NULL
};
const char *const tl_widget_names[] = {
	"textbox", "checkbox", "dropdown", "textarea", NULL
};
const char *const tl_source_names[] = {
	"manual", "upload", "external", "device", NULL
};
const char *const tl_voting_rule_names[] = {
	"unanimous", "majority", "fraction", "k_of_n", NULL
};
const char *const tl_audience_names[] = {"public", "process", NULL};

/*
 * The kind of an "audience" value (a form's or an item's, of a normalised
 * definition): NULL (absent) is public; an array is NODES, then *nodes_out
 * (when given) is set to it, else to NULL.
 */
TlAudienceKind
tl_def_audience(const JcsValue *audience, const JcsValue **nodes_out)
{
	int			code;

	if (nodes_out)
		*nodes_out = NULL;
	if (audience == NULL)
		return TL_AUDIENCE_PUBLIC;
	if (audience->kind == JCS_ARRAY)
	{
		if (nodes_out)
			*nodes_out = audience;
		return TL_AUDIENCE_NODES;
	}
	if (audience->kind != JCS_STRING)
		return TL_AUDIENCE_INVALID;
	code = tl_word_code(tl_audience_names, audience->u.string.str,
						audience->u.string.len);
	return code < 0 ? TL_AUDIENCE_INVALID : (TlAudienceKind) code;
}

/*
 * The EFFECTIVE audience of an item of a form (both normalised trees): the
 * item's own "audience", else the form's, else public.  The one place of
 * this rule: validation, the SQL accessors and the trace part use it.
 */
TlAudienceKind
tl_def_item_audience(const JcsValue *form, const JcsValue *item,
					 const JcsValue **nodes_out)
{
	const JcsValue *a = item ? jcs_object_get(item, "audience") : NULL;

	if (a == NULL && form != NULL)
		a = jcs_object_get(form, "audience");
	return tl_def_audience(a, nodes_out);
}

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

/*
 * The index of str (len bytes, not NUL-terminated) in a NULL-terminated
 * list of words, or -1 when it is none of them.
 */
int
tl_word_code(const char *const *words, const char *str, int len)
{
	int			i;

	if (str == NULL)
		return -1;
	for (i = 0; words[i] != NULL; i++)
	{
		if ((int) strlen(words[i]) == len && memcmp(words[i], str, len) == 0)
			return i;
	}
	return -1;
}

/*
 * The index of a NUL-terminated name in a vocabulary (tl_data_type_names,
 * ...), that is its enum value, or -1 when it is none of them.
 */
int
tl_vocabulary_code(const char *const *words, const char *name)
{
	return tl_word_code(words, name, name ? strlen(name) : 0);
}

/* How many words a NULL-terminated list has. */
int
def_word_count(const char *const *words)
{
	int			n = 0;

	while (words[n] != NULL)
		n++;
	return n;
}

/* "a, b and c": the first nwords words of a list, for hints. */
char *
def_word_list(const char *const *words, int nwords)
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

char *
def_shown(const char *str, int len)
{
	int			cut;

	if (len <= TL_SHOWN_MAX)
		return pnstrdup(str, len);
	cut = TL_SHOWN_MAX - 3;
	while (cut > 0 && ((unsigned char) str[cut] & 0xC0) == 0x80)
		cut--;
	return psprintf("%.*s...", cut, str);
}

char *
def_shown_value(const JcsValue *v)
{
	return def_shown(v->u.string.str, v->u.string.len);
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
const char *
def_name_problem(const char *str, int len)
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
void
def_nameindex_build(NameIndex *ix, const JcsValue *arr, const char *field)
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
int
def_nameindex_find(const NameIndex *ix, const char *str, int len)
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
bool
def_nameindex_is_repeat(const NameIndex *ix, const JcsValue *s, int i)
{
	return def_nameindex_find(ix, s->u.string.str, s->u.string.len) != i;
}

