/*-------------------------------------------------------------------------
 *
 * def_private.h
 *	  What the def_*.c files share among themselves (definition.h is the
 *	  part's public header).  Nothing outside src/def_*.c includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_DEF_PRIVATE_H
#define TL_DEF_PRIVATE_H

#include "definition.h"

/* ----------------------------------------------------------------
 * def_vocabulary.c: words, names, the name index
 * ----------------------------------------------------------------
 */

/* The strings of an array, sorted, for lookups by name */
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

extern int	def_word_count(const char *const *words);
extern char *def_word_list(const char *const *words, int nwords);

/* "a, b and c": all the words of a NULL-terminated vocabulary */
#define def_vocabulary_list(words) def_word_list((words), def_word_count(words))

extern char *def_shown(const char *str, int len);
extern char *def_shown_value(const JcsValue *v);
extern const char *def_name_problem(const char *str, int len);
extern void def_nameindex_build(NameIndex *ix, const JcsValue *arr,
								const char *field);
extern int	def_nameindex_find(const NameIndex *ix, const char *str, int len);
extern bool def_nameindex_is_repeat(const NameIndex *ix, const JcsValue *s,
									int i);

/* ----------------------------------------------------------------
 * def_path.c: frames, paths, the 22P02 input error
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

extern void def_frame_root(DefFrame *f, const char *element);
extern void def_frame_key(DefFrame *f, const DefFrame *up, const char *key,
						  int keylen);
extern void def_frame_index(DefFrame *f, const DefFrame *up, int index,
							const char *element);
extern char *def_path_text(const DefFrame *f);
extern char *def_element_chain(const DefFrame *f);
extern void def_frame_element(DefFrame *ef, DefFrame *kf, const DefFrame *f,
							  const char *key, int i, const char *element,
							  const JcsValue *value);
extern void def_syntax_error(const DefFrame *f, const char *hint,
							 const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

/* ----------------------------------------------------------------
 * def_problem.c: the problems validation collects
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
	/* inside a link: its creator and invited nodes, and its name */
	const NameIndex *link_nodes;	/* NULL outside a link */
	const char *link_name;
} Validator;

extern TlDefProblem *def_report(Validator *vs, const DefFrame *f, int sqlstate,
								const char *hint, const char *fmt,...)
			pg_attribute_printf(5, 6);
extern TlDefProblem *def_validator_result(Validator *vs, int *nproblems);

/* ----------------------------------------------------------------
 * def_graph.c: data levels and the data graph of a link
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

extern void def_check_levels(Validator *vs, const JcsValue *process,
							 const DefFrame *f);
extern void def_graph_build(DefGraph *g, const JcsValue *link, Validator *vs);
extern void def_graph_report_cycles(const DefGraph *g, Validator *vs);

#endif							/* TL_DEF_PRIVATE_H */
