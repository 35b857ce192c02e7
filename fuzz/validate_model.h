/*-------------------------------------------------------------------------
 *
 * validate_model.h
 *	  fuzz_validate's model of definitions, written from docs/definitions.md
 *	  independently of src/def_*.c: reading normalised trees (without
 *	  jcs_object_get), how many problems of each code to expect, and the
 *	  data graph with its cycles.  The target holds validation and the mesh
 *	  to it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_FUZZ_VALIDATE_MODEL_H
#define TL_FUZZ_VALIDATE_MODEL_H

#include "tracelink.h"

#include "harness.h"

/* The input being checked, for failure reports (the target sets them). */
extern const char *input_json;
extern int	input_len;

/*
 * Edges of a normalised link's data graph as def_graph.c's docs describe
 * it: nodes are the first process of each name; an input of a node gives
 * an edge when "from" names a process whose first output named "output"
 * has the input's level.
 */
typedef struct RefGraph
{
	int			n;				/* processes */
	bool	   *is_node;		/* first of its name */
	int			nedges;
	int		   *producer;		/* per edge: process indexes */
	int		   *consumer;
	int		   *input;			/* index of the input in the consumer */
} RefGraph;

extern void fail(const char *what, const char *output,
				 const ErrorData *edata) pg_attribute_noreturn();

/* reading normalised trees (their shape is guaranteed) */
extern const JcsValue *member(const JcsValue *obj, const char *key);
extern const JcsValue *array_member(const JcsValue *obj, const char *key);
extern const JcsValue *string_member(const JcsValue *obj, const char *key);
extern int	level_of(const JcsValue *obj);
extern bool same_string(const JcsValue *a, const JcsValue *b);
extern bool string_equals(const JcsValue *v, const char *word);
extern int	first_named(const JcsValue *arr, const JcsValue *name);

/* problems to expect */
extern int	expected_rule_problems(const JcsValue *rule);
extern void check_problem_counts(TlDefKind kind, const JcsValue *tree,

/* the data graph */
					 const TlDefProblem *problems, int count);
extern void ref_graph(const JcsValue *link, RefGraph *g);
extern bool ref_has_cycle(const RefGraph *g);

#endif							/* TL_FUZZ_VALIDATE_MODEL_H */
