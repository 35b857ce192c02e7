/*-------------------------------------------------------------------------
 *
 * tracelink.h
 *	  Declarations shared by the parts of the tracelink extension.
 *
 * Each part (canonical JSON, definition types, ledger, ...) lives in its own
 * file under src/; this header is the only place they meet.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRACELINK_H
#define TRACELINK_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

/*
 * SQLSTATEs of our own, class "TL" (implementation-defined classes start
 * with a letter I-Z).  Everything that has a fitting standard code uses that
 * instead; these name conditions specific to trace link definitions.  The
 * list is documented in docs/sql-reference.md.
 */
#define ERRCODE_TL_MISSING_TRACE_CODE	MAKE_SQLSTATE('T','L','0','0','1')
#define ERRCODE_TL_DUPLICATE_NAME		MAKE_SQLSTATE('T','L','0','0','2')
#define ERRCODE_TL_UNKNOWN_DATA_TYPE	MAKE_SQLSTATE('T','L','0','0','3')
#define ERRCODE_TL_UNKNOWN_SOURCE		MAKE_SQLSTATE('T','L','0','0','4')
#define ERRCODE_TL_UNKNOWN_WIDGET		MAKE_SQLSTATE('T','L','0','0','5')
#define ERRCODE_TL_EMPTY				MAKE_SQLSTATE('T','L','0','0','6')
#define ERRCODE_TL_UNKNOWN_PROCESS		MAKE_SQLSTATE('T','L','0','0','7')
#define ERRCODE_TL_NO_PRODUCER			MAKE_SQLSTATE('T','L','0','0','8')
#define ERRCODE_TL_DATA_LEVEL			MAKE_SQLSTATE('T','L','0','0','9')
#define ERRCODE_TL_DATA_CYCLE			MAKE_SQLSTATE('T','L','0','1','0')
#define ERRCODE_TL_BAD_TRACE_CODE_ITEM	MAKE_SQLSTATE('T','L','0','1','1')
#define ERRCODE_TL_BAD_VOTING_RULE		MAKE_SQLSTATE('T','L','0','1','2')
#define ERRCODE_TL_PROCESS_ORDER		MAKE_SQLSTATE('T','L','0','1','3')
#define ERRCODE_TL_BAD_INVITATION		MAKE_SQLSTATE('T','L','0','1','4')

/* ----------------------------------------------------------------
 * jcs.c: RFC 8785 canonical JSON
 * ----------------------------------------------------------------
 */
typedef enum JcsKind
{
	JCS_NULL,
	JCS_TRUE,
	JCS_FALSE,
	JCS_NUMBER,
	JCS_STRING,
	JCS_ARRAY,
	JCS_OBJECT
} JcsKind;

typedef struct JcsValue JcsValue;

typedef struct JcsMember
{
	char	   *key;			/* UTF-8, not NUL-terminated inside JSON */
	int			keylen;
	JcsValue   *value;
} JcsMember;

struct JcsValue
{
	JcsKind		kind;
	union
	{
		double		number;
		struct
		{
			char	   *str;
			int			len;
		}			string;
		struct
		{
			JcsValue  **elems;
			int			count;
			int			capacity;
		}			array;
		struct
		{
			JcsMember  *members;	/* sorted by UTF-16 code units */
			int			count;
			int			capacity;
		}			object;
	}			u;
};

extern JcsValue *jcs_parse(const char *json, int len);
extern JcsValue *jcs_from_jsonb(Jsonb *jb);
extern void jcs_serialize(StringInfo out, const JcsValue *value);
extern void jcs_append_string(StringInfo out, const char *str, int len);
extern void jcs_append_number(StringInfo out, double value);
extern char *jcs_canonical_text(const char *json, int len, int *outlen);
extern JcsValue *jcs_object_get(const JcsValue *object, const char *key);
extern int	jcs_key_compare(const char *a, int alen, const char *b, int blen);
extern JcsValue *jcs_make_string(const char *str, int len);
extern JcsValue *jcs_make_number(double value);
extern JcsValue *jcs_make_bool(bool value);
extern JcsValue *jcs_make_null(void);
extern JcsValue *jcs_make_array(int capacity);
extern JcsValue *jcs_make_object(int capacity);
extern void jcs_array_append(JcsValue *array, JcsValue *elem);
extern void jcs_object_put(JcsValue *object, const char *key, JcsValue *value);
extern void jcs_object_sort(JcsValue *object);
extern bool jcs_equal(const JcsValue *a, const JcsValue *b);
extern const char *jcs_kind_name(JcsKind kind);

/* ----------------------------------------------------------------
 * hash.c: SHA-256 (PostgreSQL's cryptohash) and digest helpers
 * ----------------------------------------------------------------
 */
#define TL_HASH_LEN 32

typedef struct TlSha256
{
	struct pg_cryptohash_ctx *ctx;
} TlSha256;

extern void tl_sha256(const void *data, size_t len, uint8 *out);
extern void tl_sha256_begin(TlSha256 *h);
extern void tl_sha256_update(TlSha256 *h, const void *data, size_t len);
extern void tl_sha256_end(TlSha256 *h, uint8 *out);
extern struct varlena *tl_bytea_from(const uint8 *data, size_t len);

/* ----------------------------------------------------------------
 * definition.c, deftypes.c: trace link definitions
 *
 * definition.c parses, normalises and validates definitions and builds
 * the mesh; it uses only palloc, StringInfo, ereport, check_stack_depth
 * and jcs_*, so the fuzzing harness links it outside the server.
 * deftypes.c holds the SQL-callable side.  Format: docs/definitions.md.
 * ----------------------------------------------------------------
 */
typedef enum TlDefKind
{
	TL_DEF_STAGE,
	TL_DEF_PROCESS,
	TL_DEF_LINK
} TlDefKind;

/*
 * On-disk form of tracelink.stage, tracelink.process and tracelink.link:
 * the canonical (normalised, RFC 8785) JSON text behind a small header.
 */
typedef struct TlDefinition
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	uint8		kind;			/* TlDefKind */
	uint8		format;			/* TL_DEF_FORMAT */
	uint16		reserved;		/* always zero, for future use */
	char		json[FLEXIBLE_ARRAY_MEMBER];	/* canonical text, no NUL */
} TlDefinition;

#define TL_DEF_FORMAT		1
#define TL_DEF_HEADER_SIZE	offsetof(TlDefinition, json)
#define TL_DEF_JSON_LEN(d)	(VARSIZE(d) - TL_DEF_HEADER_SIZE)

#define TL_NAME_MAX_BYTES	200 /* longest name in a definition */
#define TL_LEVEL_MIN		1	/* finest data level */
#define TL_LEVEL_MAX		99	/* coarsest data level */

/* One problem found by validation (see tl_definition_validate). */
typedef struct TlDefProblem
{
	int			sqlstate;		/* ERRCODE_TL_* */
	char		code[6];		/* the same as text, e.g. "TL001" */
	char	   *path;			/* SQL/JSON path into the canonical form */
	char	   *message;		/* lowercase, names the element */
	char	   *detail;			/* element chain and path, a sentence */
	char	   *hint;			/* or NULL */
} TlDefProblem;

/* The mesh of a link: data edges between processes and their layering. */
typedef struct TlMeshProcess
{
	const char *name;
	int			layer;			/* 0 without inputs, else 1 + max(producers) */
	int			position;		/* 1-based place in process_order, 0 if absent */
} TlMeshProcess;

typedef struct TlMeshEdge
{
	int			producer;		/* index into TlMesh.processes */
	int			consumer;		/* index into TlMesh.processes */
	const char *output;			/* producer's output name */
	const char *input;			/* consumer's input name */
	int			level;			/* data level of the edge */
} TlMeshEdge;

typedef struct TlMesh
{
	int			nprocesses;
	TlMeshProcess *processes;	/* in canonical (process) order */
	int			nedges;
	TlMeshEdge *edges;			/* by consumer, then input order */
} TlMesh;

extern const char *tl_definition_kind_name(TlDefKind kind);
extern char *tl_definition_normalise(TlDefKind kind, const char *json, int len,
									 int *outlen);
extern JcsValue *tl_definition_normalise_tree(TlDefKind kind, JcsValue *root);
extern TlDefProblem *tl_definition_validate(TlDefKind kind, const char *json,
											int len, int *nproblems);
extern TlDefProblem *tl_definition_validate_tree(TlDefKind kind,
												 const JcsValue *tree,
												 int *nproblems);
extern void tl_definition_raise(const TlDefProblem *problem) pg_attribute_noreturn();
extern TlMesh *tl_definition_mesh(const char *json, int len);
extern TlMesh *tl_mesh_from_tree(const JcsValue *link);
extern bool tl_mesh_has_edge(const JcsValue *link, const char *producer,
							 const char *consumer);
extern char *tl_link_with_process(const char *link, int linklen,
								  const char *process, int processlen,
								  int *outlen);
extern JcsValue *tl_json_merge_patch(JcsValue *target, JcsValue *patch);

#endif							/* TRACELINK_H */
