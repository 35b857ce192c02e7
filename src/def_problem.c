/*-------------------------------------------------------------------------
 *
 * def_problem.c
 *	  The problems validation finds: each recorded with its TL SQLSTATE,
 *	  JSON path, message and detail (def_report), handed back in document
 *	  order (def_validator_result), or raised as an error
 *	  (tl_definition_raise).
 *
 * Pure: fuzz/ links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"

/*
 * Record a problem found at frame f: its code, path, message (lowercase,
 * naming the element) and a detail giving the element chain and the path.
 * The caller may add to the detail of the problem returned.
 */
TlDefProblem *
def_report(Validator *vs, const DefFrame *f, int sqlstate, const char *hint,
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
	p->pub.path = def_path_text(f);
	p->pub.detail = psprintf("%s (at %s).", def_element_chain(f), p->pub.path);
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
TlDefProblem *
def_validator_result(Validator *vs, int *nproblems)
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
