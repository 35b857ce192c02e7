/*-------------------------------------------------------------------------
 *
 * definition.h
 *	  Trace link definitions (stage, process, link): their vocabulary, the
 *	  stored form, normalisation, validation and the mesh.
 *
 * A definition is JSON in the format of docs/definitions.md.  Its canonical
 * form is the RFC 8785 serialisation of the *normalised* tree: unknown keys
 * refused, defaults filled in, stages and processes put in their order, so
 * that equal definitions have equal bytes and equal digests.
 *
 * The part, all over jcs.h's trees:
 *	- def_vocabulary.c: the words of the format (data types, widgets,
 *	  sources, voting rules, audiences), an item's effective audience
 *	  (tl_def_item_audience), names and the name index;
 *	- def_path.c: where a value is (frames, SQL/JSON paths, element chains)
 *	  and the 22P02 input error naming it;
 *	- def_normalize.c: shape checking and normalisation
 *	  (tl_definition_normalise), and editing a link (tl_link_with_process);
 *	- def_validate.c: every semantic problem of a normalised definition, in
 *	  document order, each with a TL SQLSTATE (tl_definition_validate);
 *	- def_problem.c: how a problem is recorded, ordered and raised;
 *	- def_graph.c: the data graph of a link and its mesh: inputs resolved
 *	  to producer outputs, layered by Kahn's algorithm, a cycle named by
 *	  Tarjan's strongly connected components (tl_definition_mesh);
 *	- deftypes.c: the SQL types and functions (server only).
 * All but deftypes.c use only palloc, StringInfo, ereport,
 * check_stack_depth and jcs_*, so that fuzz/ links them outside the server.
 * def_private.h declares what the def_*.c files share among themselves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_DEFINITION_H
#define TL_DEFINITION_H

#include "jcs.h"

/* ----------------------------------------------------------------
 * The vocabulary (def_vocabulary.c), the one list of each kind of word
 *
 * Each name array is indexed by its enum and ends with NULL.  Whatever
 * reads definitions (validation here; the trace part, which reads adopted
 * versions in trace_model.c and checks records' values and sources in
 * trace_values.c and trace_project.c) uses these, so that a word added to
 * the format is added once.
 * ----------------------------------------------------------------
 */
typedef enum TlDataType
{
	TL_TYPE_TEXT,
	TL_TYPE_NUMERIC,
	TL_TYPE_TIME,
	TL_TYPE_IMAGE,
	TL_TYPE_VIDEO,
	TL_TYPE_FILE
} TlDataType;

typedef enum TlWidget
{
	TL_WIDGET_TEXTBOX,
	TL_WIDGET_CHECKBOX,
	TL_WIDGET_DROPDOWN,
	TL_WIDGET_TEXTAREA
} TlWidget;

typedef enum TlSource
{
	TL_SOURCE_MANUAL,
	TL_SOURCE_UPLOAD,
	TL_SOURCE_EXTERNAL,
	TL_SOURCE_DEVICE
} TlSource;

typedef enum TlVotingRule
{
	TL_RULE_UNANIMOUS,
	TL_RULE_MAJORITY,
	TL_RULE_FRACTION,
	TL_RULE_K_OF_N
} TlVotingRule;

/*
 * Who may read the values of a data item (docs/definitions.md): everyone
 * ("public"), the participants of the form's process ("process"), or the
 * nodes of an array.  The first two are the words of tl_audience_names.
 */
typedef enum TlAudienceKind
{
	TL_AUDIENCE_PUBLIC,
	TL_AUDIENCE_PROCESS,
	TL_AUDIENCE_NODES,
	TL_AUDIENCE_INVALID			/* an unknown word: validation refuses it
								 * (TL015), so no valid definition has one */
} TlAudienceKind;

extern const char *const tl_data_type_names[];
extern const char *const tl_widget_names[];
extern const char *const tl_source_names[];
extern const char *const tl_voting_rule_names[];
extern const char *const tl_audience_names[];

extern int	tl_word_code(const char *const *words, const char *str, int len);
extern int	tl_vocabulary_code(const char *const *words, const char *name);
extern TlAudienceKind tl_def_audience(const JcsValue *audience,
									  const JcsValue **nodes_out);
extern TlAudienceKind tl_def_item_audience(const JcsValue *form,
										   const JcsValue *item,
										   const JcsValue **nodes_out);

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

#endif							/* TL_DEFINITION_H */
