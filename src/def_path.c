/*-------------------------------------------------------------------------
 *
 * def_path.c
 *	  Where a value of a definition is, for messages: frames from the root
 *	  to the value, its SQL/JSON path ("$.stages[1].forms"), the chain of
 *	  elements around it, and the 22P02 input error that names them.
 *
 * Pure (palloc, StringInfo, ereport): fuzz/ links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"
#include "miscadmin.h"

/* ----------------------------------------------------------------
 * Where we are: frames, paths and element chains for messages
 * ----------------------------------------------------------------
 */

void
def_frame_root(DefFrame *f, const char *element)
{
	memset(f, 0, sizeof(DefFrame));
	f->index = -1;
	f->element = element;
}

void
def_frame_key(DefFrame *f, const DefFrame *up, const char *key, int keylen)
{
	memset(f, 0, sizeof(DefFrame));
	f->up = up;
	f->key = key;
	f->keylen = keylen;
	f->index = -1;
}

void
def_frame_index(DefFrame *f, const DefFrame *up, int index, const char *element)
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

char *
def_path_text(const DefFrame *f)
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
char *
def_element_chain(const DefFrame *f)
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

/* An element frame for element i of the array member "key" of f. */
void
def_frame_element(DefFrame *ef, DefFrame *kf, const DefFrame *f, const char *key,
				  int i, const char *element, const JcsValue *value)
{
	def_frame_key(kf, f, key, strlen(key));
	def_frame_index(ef, kf, i, element);
	ef->name = jcs_member_string(value, "name");
}

/* ----------------------------------------------------------------
 * Input errors (22P02)
 * ----------------------------------------------------------------
 */

/*
 * Raise the input error for the value at frame f: "invalid input syntax for
 * type tracelink.<kind>", detail "<element chain>: <problem> (at <path>)."
 */
void
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
					   def_element_chain(f), problem.data, def_path_text(f)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}
