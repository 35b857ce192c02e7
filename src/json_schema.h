/*-------------------------------------------------------------------------
 *
 * json_schema.h
 *	  JSON Schema (draft-07) validation over canonical JSON trees (jcs.h):
 *	  the checks EPCIS imports and exports run against the GS1 schema
 *	  (docs/json-schema.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_JSON_SCHEMA_H
#define TL_JSON_SCHEMA_H

#include "jcs.h"
#include "nodes/pg_list.h"

/* One way a document fails its schema. */
typedef struct TlSchemaProblem
{
	char	   *path;			/* where: $.epcisBody.eventList[3].bizStep */
	char	   *message;		/* what: lowercase, no trailing period */
} TlSchemaProblem;

/*
 * Checks that a tree is a JSON schema this validator can apply (22023 when
 * not, 2201B for a pattern PostgreSQL's regex engine refuses, 0A000 for a
 * $ref outside the document).
 */
extern void tl_json_schema_check(const JcsValue *schema);

/*
 * The problems of a document against a schema (a List of TlSchemaProblem
 * *, empty when it is valid), at most max_problems of them: validation
 * stops at the last.  Checks the schema first (tl_json_schema_check).
 */
extern List *tl_json_schema_problems(const JcsValue *schema,
									 const JcsValue *doc, int max_problems);

#endif							/* TL_JSON_SCHEMA_H */
