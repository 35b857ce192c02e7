/*-------------------------------------------------------------------------
 *
 * node_name.c
 *	  The one rule for node names, for C and for SQL.
 *
 * A node name is 1 to 63 bytes: a lowercase ASCII letter, then lowercase
 * letters, digits or underscores ([a-z][a-z0-9_]{0,62}).  Names are
 * identifiers so that they need no escaping in canonical JSON, an outside
 * verifier can rebuild the hashed bytes without a JSON library
 * (tools/tracelink-verify.c carries its own copy of the rule, as it runs
 * outside the server), and they fit in a PostgreSQL identifier.
 *
 * C callers (init_node, the apply path, restore checks) use
 * tl_valid_node_name(); SQL uses tracelink._valid_node_name(text): the
 * CHECK of tracelink.nodes, add_peer and the workflow projectors that
 * read names out of entries.  Each caller raises its own error (most say
 * 22023 'invalid node name "..."'), as it knows what it was checking.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(tl_valid_node_name_sql);

bool
tl_valid_node_name(const char *name)
{
	int			i;

	if (name[0] < 'a' || name[0] > 'z')
		return false;
	for (i = 1; name[i]; i++)
	{
		if (i >= 63)
			return false;
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			  (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	}
	return true;
}

/*
 * tracelink._valid_node_name(text) returns boolean: immutable and strict,
 * so a NULL name gives NULL and each SQL caller keeps its own handling of
 * it.
 */
Datum
tl_valid_node_name_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(t);
	char		buf[64];

	/* too long (or empty) is decided without copying */
	if (len < 1 || len > 63)
		PG_RETURN_BOOL(false);
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	/* a text cannot hold a NUL byte, so buf is the whole name */
	PG_RETURN_BOOL(tl_valid_node_name(buf));
}
