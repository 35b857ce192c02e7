/*-------------------------------------------------------------------------
 *
 * fuzz_validate.c
 *	  libFuzzer target for definition validation and the mesh,
 *	  tl_definition_validate*() and tl_mesh_from_tree() and friends in
 *	  src/def_*.c.
 *
 * Inputs are those of fuzz_definition (first byte modulo 3: stage, process,
 * link; then JSON text).  What normalises is validated; a link also gets
 * its mesh, and a process is put into an otherwise empty link
 * (tl_link_with_process; putting it in again must replace it by itself)
 * and that link is treated the same way.  Besides
 * "no crash, no sanitizer report", these oracles hold:
 *
 * - normalisation raises only the expected SQLSTATEs;
 * - validation never raises on a normalised value; validating the tree
 *	 and validating the canonical text give the same problems;
 * - every problem has a documented TL code (its text matching its
 *	 SQLSTATE), a lowercase message without a final period, a detail
 *	 ending in "(at <path>).", and a path that leads to a value of the
 *	 canonical form (read here by an independent SQL/JSON path walker);
 *	 problems come in document order (the order of those values in the
 *	 canonical text, a value before what it contains);
 *	 tl_definition_raise() raises the problem's SQLSTATE and message;
 * - validation reports as many problems of each code as
 *	 docs/definitions.md describes, counted here independently (plain
 *	 scans, no name index); for TL012 per voting rule;
 * - a link's TL010 is reported exactly when the data graph, resolved here
 *	 independently, has a cycle;
 * - the mesh raises only TL002, TL008, TL009 or TL010, and exactly the
 *	 first of validation's problems of those kinds in the data graph (TL002
 *	 for a repeated process name, every TL008, TL009 and TL010); it
 *	 succeeds when validation reports none.  So when validation reports no
 *	 TL008/TL009/TL010 (and no repeated process), the mesh succeeds, and
 *	 when the mesh raises TL010, validation reported it;
 * - tl_definition_mesh() on the canonical text agrees with
 *	 tl_mesh_from_tree();
 * - a mesh that succeeds has every process once with its position in
 *	 process_order, one edge per input in consumer then input order, each
 *	 resolved to the first process of the producer's name and an output of
 *	 that name and level, and layers with layer = 0 without producers, else
 *	 1 + the highest producer's layer; tl_mesh_has_edge() is true exactly
 *	 for the pairs joined by an edge.
 *
 * The counts and the data graph "here" come from validate_model.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"

#include "harness.h"
#include "validate_model.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * tl_mesh_has_edge() is asked about every pair of processes only up to this
 * many processes (the pairs grow quadratically; edges are always checked).
 */
#define MAX_PAIR_CHECKS 40

/* ----------------------------------------------------------------
 * Steps run under fuzz_try()
 * ----------------------------------------------------------------
 */

typedef struct NormaliseStep
{
	TlDefKind	kind;
	const char *json;
	int			len;
	JcsValue   *tree;			/* normalised */
	StringInfoData canonical;
} NormaliseStep;

static void
step_normalise(void *arg)
{
	NormaliseStep *s = arg;

	s->tree = tl_definition_normalise_tree(s->kind, jcs_parse(s->json, s->len));
	initStringInfo(&s->canonical);
	jcs_serialize(&s->canonical, s->tree);
}

typedef struct ValidateStep
{
	TlDefKind	kind;
	const JcsValue *tree;		/* validate this tree, or else */
	const char *json;			/* this text */
	int			len;
	TlDefProblem *problems;
	int			count;
} ValidateStep;

static void
step_validate(void *arg)
{
	ValidateStep *s = arg;

	if (s->tree != NULL)
		s->problems = tl_definition_validate_tree(s->kind, s->tree, &s->count);
	else
		s->problems = tl_definition_validate(s->kind, s->json, s->len,
											 &s->count);
}

static void
step_raise(void *arg)
{
	tl_definition_raise((const TlDefProblem *) arg);
}

typedef struct MeshStep
{
	const JcsValue *tree;		/* mesh of this tree, or else */
	const char *json;			/* of this text */
	int			len;
	TlMesh	   *mesh;
} MeshStep;

static void
step_mesh(void *arg)
{
	MeshStep   *s = arg;

	if (s->tree != NULL)
		s->mesh = tl_mesh_from_tree(s->tree);
	else
		s->mesh = tl_definition_mesh(s->json, s->len);
}

typedef struct WithProcessStep
{
	const char *base;			/* a link */
	int			baselen;
	const char *process;
	int			len;
	char	   *link;
	int			linklen;
} WithProcessStep;

static void
step_with_process(void *arg)
{
	WithProcessStep *s = arg;

	s->link = tl_link_with_process(s->base, s->baselen, s->process, s->len,
								   &s->linklen);
}

/* ----------------------------------------------------------------
 * Problems
 * ----------------------------------------------------------------
 */

/*
 * Read a quoted key of a path at *p (on its opening quote) into key, and
 * move *p past the closing quote.  The escapes are those jcs_append_string
 * writes: \" \\ \b \f \n \r \t and lower-case \u00xx.  Returns NULL, or
 * what is wrong.
 */
static const char *
read_quoted_key(const char **pp, StringInfo key)
{
	const char *p = *pp + 1;

	for (; *p != '"'; p++)
	{
		const char *escaped = "\"\\bfnrt";
		const char *meaning = "\"\\\b\f\n\r\t";
		const char *e;

		if (*p == '\0')
			return "quoted key is not closed";
		if (*p != '\\')
		{
			appendStringInfoChar(key, *p);
			continue;
		}
		p++;
		if (*p != '\0' && (e = strchr(escaped, *p)) != NULL)
			appendStringInfoChar(key, meaning[e - escaped]);
		else if (strncmp(p, "u00", 3) == 0 &&
				 strspn(p + 3, "0123456789abcdef") >= 2)
		{
			appendStringInfoChar(key, (char) strtol(pnstrdup(p + 3, 2), NULL, 16));
			p += 4;
		}
		else
			return "quoted key has an escape canonical JSON does not use";
	}
	*pp = p + 1;
	return NULL;
}

/*
 * Follow an SQL/JSON path as the problems give them ("$", ".key",
 * ".\"quoted key\"", "[index]") from the root of the canonical tree.
 * Fills steps with the position taken at each step (member or element
 * index), which orders values as the canonical text does.  Returns NULL
 * and sets *why when the path is malformed or leads nowhere.
 */
static const JcsValue *
follow_path(const JcsValue *root, const char *path, int *steps, int *nsteps,
			const char **why)
{
	const JcsValue *v = root;
	const char *p = path;

	*nsteps = 0;
	if (*p++ != '$')
	{
		*why = "path does not start with $";
		return NULL;
	}
	while (*p != '\0')
	{
		if (*p == '[')
		{
			long		index = 0;

			p++;
			if (*p < '0' || *p > '9')
			{
				*why = "array index is not a number";
				return NULL;
			}
			while (*p >= '0' && *p <= '9')
			{
				index = Min(index * 10 + (*p - '0'), PG_INT32_MAX);
				p++;
			}
			if (*p++ != ']')
			{
				*why = "array index is not closed";
				return NULL;
			}
			if (v->kind != JCS_ARRAY || index >= v->u.array.count)
			{
				*why = "array index leads nowhere";
				return NULL;
			}
			steps[(*nsteps)++] = (int) index;
			v = v->u.array.elems[index];
		}
		else if (*p == '.')
		{
			StringInfoData key;
			int			i;

			initStringInfo(&key);
			p++;
			if (*p == '"')
			{
				if ((*why = read_quoted_key(&p, &key)) != NULL)
					return NULL;
			}
			else
			{
				while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					   *p == '_' || (key.len > 0 && *p >= '0' && *p <= '9'))
					appendStringInfoChar(&key, *p++);
				if (key.len == 0)
				{
					*why = "key is neither an identifier nor quoted";
					return NULL;
				}
			}
			if (v->kind != JCS_OBJECT)
			{
				*why = "key applied to a value that is not an object";
				return NULL;
			}
			for (i = 0; i < v->u.object.count; i++)
			{
				const JcsMember *m = &v->u.object.members[i];

				if (m->keylen == key.len && memcmp(m->key, key.data, key.len) == 0)
					break;
			}
			if (i == v->u.object.count)
			{
				*why = "key leads nowhere";
				return NULL;
			}
			steps[(*nsteps)++] = i;
			v = v->u.object.members[i].value;
		}
		else
		{
			*why = "unexpected character in path";
			return NULL;
		}
	}
	return v;
}

/* Document order of two step lists: a value before what it contains. */
static int
steps_cmp(const int *a, int na, const int *b, int nb)
{
	int			i;

	for (i = 0; i < Min(na, nb); i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return (na > nb) - (na < nb);
}

static bool
is_tl_code(int sqlstate)
{
	static const int codes[] = {
		ERRCODE_TL_MISSING_TRACE_CODE, ERRCODE_TL_DUPLICATE_NAME,
		ERRCODE_TL_UNKNOWN_DATA_TYPE, ERRCODE_TL_UNKNOWN_SOURCE,
		ERRCODE_TL_UNKNOWN_WIDGET, ERRCODE_TL_EMPTY,
		ERRCODE_TL_UNKNOWN_PROCESS, ERRCODE_TL_NO_PRODUCER,
		ERRCODE_TL_DATA_LEVEL, ERRCODE_TL_DATA_CYCLE,
		ERRCODE_TL_BAD_TRACE_CODE_ITEM, ERRCODE_TL_BAD_VOTING_RULE,
		ERRCODE_TL_PROCESS_ORDER, ERRCODE_TL_BAD_INVITATION,
		ERRCODE_TL_BAD_AUDIENCE
	};
	int			i;

	for (i = 0; i < lengthof(codes); i++)
		if (codes[i] == sqlstate)
			return true;
	return false;
}

static bool
text_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
problem_equal(const TlDefProblem *a, const TlDefProblem *b)
{
	return a->sqlstate == b->sqlstate && strcmp(a->code, b->code) == 0 &&
		text_equal(a->path, b->path) && text_equal(a->message, b->message) &&
		text_equal(a->detail, b->detail) && text_equal(a->hint, b->hint);
}

/* Each problem on its own, then their order. */
static void
check_problems(const JcsValue *tree, const TlDefProblem *problems, int count)
{
	int		   *prev_steps = NULL;
	int			prev_nsteps = 0;
	int			i;

	for (i = 0; i < count; i++)
	{
		const TlDefProblem *p = &problems[i];
		int			code = p->sqlstate;
		char		text[6];
		const char *why = NULL;
		int		   *steps;
		int			nsteps;
		const char *suffix;
		size_t		mlen;
		ErrorData  *edata;

		snprintf(text, sizeof(text), "%c%c%c%c%c",
				 PGUNSIXBIT(code), PGUNSIXBIT(code >> 6),
				 PGUNSIXBIT(code >> 12), PGUNSIXBIT(code >> 18),
				 PGUNSIXBIT(code >> 24));
		if (!is_tl_code(code) || strcmp(text, p->code) != 0)
			fail("problem with an undocumented code, or code and SQLSTATE differ",
				 p->code, NULL);
		mlen = p->message ? strlen(p->message) : 0;
		if (mlen == 0 || p->message[0] < 'a' || p->message[0] > 'z' ||
			p->message[mlen - 1] == '.')
			fail("problem message is not lowercase without a final period",
				 p->message, NULL);
		suffix = psprintf("(at %s).", p->path);
		/* a cycle's detail goes on to say which way the data flows */
		if (code == ERRCODE_TL_DATA_CYCLE)
		{
			const char *cycle = strstr(p->message, ": ");

			if (cycle == NULL)
				fail("cycle message does not name the cycle", p->message, NULL);
			suffix = psprintf("%s Data flows %s.", suffix, cycle + 2);
		}
		if (p->detail == NULL || strlen(p->detail) < strlen(suffix) ||
			strcmp(p->detail + strlen(p->detail) - strlen(suffix), suffix) != 0)
			fail("problem detail does not end with its path", p->detail, NULL);
		if (p->hint != NULL &&
			(p->hint[0] < 'A' || p->hint[0] > 'Z' ||
			 p->hint[strlen(p->hint) - 1] != '.'))
			fail("problem hint is not a sentence", p->hint, NULL);

		steps = palloc(sizeof(int) * (strlen(p->path) + 1));
		if (follow_path(tree, p->path, steps, &nsteps, &why) == NULL)
			fail(psprintf("problem path does not lead into the canonical form: %s",
						  why), p->path, NULL);
		if (prev_steps != NULL &&
			steps_cmp(prev_steps, prev_nsteps, steps, nsteps) > 0)
			fail("problems are not in document order", p->path, NULL);
		prev_steps = steps;
		prev_nsteps = nsteps;

		edata = fuzz_try(step_raise, (void *) p);
		if (edata == NULL || edata->sqlerrcode != code ||
			!text_equal(edata->message, p->message) ||
			!text_equal(edata->detail, p->detail) ||
			!text_equal(edata->hint, p->hint))
			fail("tl_definition_raise does not raise the problem",
				 p->message, edata);
	}
}

/* Number of problems with this code whose path starts with prefix. */
static int
count_problems(const TlDefProblem *problems, int count, int sqlstate,
			   const char *prefix)
{
	int			n = 0;
	int			i;

	for (i = 0; i < count; i++)
		if (problems[i].sqlstate == sqlstate &&
			strncmp(problems[i].path, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static void
check_voting_problems(const JcsValue *link, const TlDefProblem *problems,
					  int count)
{
	static const char *const purposes[] = {"adoption", "modification"};
	const JcsValue *voting = member(link, "voting");
	int			expected = 0;
	int			i;

	for (i = 0; i < 2; i++)
	{
		const JcsValue *rule = voting ? member(voting, purposes[i]) : NULL;
		const char *prefix = psprintf("$.voting.%s", purposes[i]);
		int			want = rule ? expected_rule_problems(rule) : 0;

		if (count_problems(problems, count, ERRCODE_TL_BAD_VOTING_RULE,
						   prefix) != want)
			fail(psprintf("validation reports %d TL012 problems for the %s rule, docs/definitions.md %d",
						  count_problems(problems, count,
										 ERRCODE_TL_BAD_VOTING_RULE, prefix),
						  purposes[i], want), NULL, NULL);
		expected += want;
	}
	if (count_problems(problems, count, ERRCODE_TL_BAD_VOTING_RULE, "$") !=
		expected)
		fail("TL012 reported outside the voting rules", NULL, NULL);
}

/* ----------------------------------------------------------------
 * The mesh
 * ----------------------------------------------------------------
 */

/* Is a problem one the mesh raises: a data graph problem? */
static bool
is_graph_problem(const TlDefProblem *p)
{
	const char *rest;

	if (p->sqlstate == ERRCODE_TL_NO_PRODUCER ||
		p->sqlstate == ERRCODE_TL_DATA_LEVEL ||
		p->sqlstate == ERRCODE_TL_DATA_CYCLE)
		return true;
	/* a repeated process name is reported at the process: $.processes[N] */
	if (p->sqlstate != ERRCODE_TL_DUPLICATE_NAME ||
		strncmp(p->path, "$.processes[", 12) != 0)
		return false;
	rest = p->path + 12 + strspn(p->path + 12, "0123456789");
	return rest > p->path + 12 && strcmp(rest, "]") == 0;
}

/* Everything a mesh that succeeded must satisfy. */
static void
check_mesh(const JcsValue *link, const TlMesh *mesh, const RefGraph *g)
{
	const JcsValue *processes = array_member(link, "processes");
	const JcsValue *order = array_member(link, "process_order");
	int			n = processes->u.array.count;
	int			e = 0;
	int			c;
	int			p;

	if (mesh->nprocesses != n)
		fail("mesh leaves out processes of a link it accepted", NULL, NULL);
	for (c = 0; c < n; c++)
	{
		const JcsValue *process = processes->u.array.elems[c];
		const JcsValue *name = string_member(process, "name");
		const JcsValue *inputs = array_member(process, "inputs");
		int			position = 0;
		int			layer = 0;
		int			i;

		if (strlen(mesh->processes[c].name) != name->u.string.len ||
			memcmp(mesh->processes[c].name, name->u.string.str,
				   name->u.string.len) != 0)
			fail("mesh process is not the link's process at that place",
				 mesh->processes[c].name, NULL);
		for (i = 0; i < order->u.array.count && position == 0; i++)
			if (same_string(order->u.array.elems[i], name))
				position = i + 1;
		if (mesh->processes[c].position != position)
			fail("mesh position differs from the place in process_order",
				 mesh->processes[c].name, NULL);

		for (i = 0; i < inputs->u.array.count; i++, e++)
		{
			const JcsValue *in = inputs->u.array.elems[i];
			const TlMeshEdge *edge;
			const JcsValue *outputs;
			int			o;

			if (e >= mesh->nedges)
				fail("mesh has fewer edges than inputs",
					 mesh->processes[c].name, NULL);
			edge = &mesh->edges[e];
			if (edge->consumer != c)
				fail("mesh does not have one edge per input, in consumer and input order",
					 mesh->processes[c].name, NULL);
			p = first_named(processes, string_member(in, "from"));
			if (edge->producer != p || p < 0)
				fail("mesh edge does not come from the process the input names",
					 mesh->processes[c].name, NULL);
			outputs = array_member(processes->u.array.elems[p], "outputs");
			o = first_named(outputs, string_member(in, "output"));
			if (o < 0 || !string_equals(string_member(in, "output"), edge->output) ||
				!string_equals(string_member(in, "name"), edge->input) ||
				edge->level != level_of(in) ||
				edge->level != level_of(outputs->u.array.elems[o]) ||
				edge->level < TL_LEVEL_MIN || edge->level > TL_LEVEL_MAX)
				fail("mesh edge differs from its input and output",
					 mesh->processes[c].name, NULL);
			layer = Max(layer, mesh->processes[p].layer + 1);
		}
		if (mesh->processes[c].layer != layer)
			fail("mesh layer is not 1 + the highest producer's layer (0 without)",
				 mesh->processes[c].name, NULL);
	}
	if (e != mesh->nedges || e != g->nedges)
		fail("mesh has edges no input gives", NULL, NULL);

	/* tl_mesh_has_edge: true exactly for the pairs joined by an edge */
	if (n <= MAX_PAIR_CHECKS)
	{
		for (p = 0; p < n; p++)
		{
			for (c = 0; c < n; c++)
			{
				bool		joined = false;
				int			i;

				for (i = 0; i < mesh->nedges && !joined; i++)
					joined = mesh->edges[i].producer == p &&
						mesh->edges[i].consumer == c;
				if (tl_mesh_has_edge(link, mesh->processes[p].name,
									 mesh->processes[c].name) != joined)
					fail("tl_mesh_has_edge disagrees with the mesh edges",
						 psprintf("%s -> %s", mesh->processes[p].name,
								  mesh->processes[c].name), NULL);
			}
		}
	}
	if (n > 0 && (tl_mesh_has_edge(link, mesh->processes[0].name, "") ||
				  tl_mesh_has_edge(link, "", mesh->processes[0].name)))
		fail("tl_mesh_has_edge finds an edge to a process that does not exist",
			 NULL, NULL);
}

/* Validation-and-mesh oracles of a normalised link. */
static void
check_link(const JcsValue *link, const char *canonical, int canonical_len,
		   const TlDefProblem *problems, int count)
{
	MeshStep	from_tree = {link};
	MeshStep	from_text = {NULL, canonical, canonical_len};
	ErrorData  *err_tree;
	ErrorData  *err_text;
	const TlDefProblem *first = NULL;
	RefGraph	g;
	int			i;

	check_voting_problems(link, problems, count);

	ref_graph(link, &g);
	if (ref_has_cycle(&g) !=
		(count_problems(problems, count, ERRCODE_TL_DATA_CYCLE, "$") > 0))
		fail("TL010 reported where the data graph has no cycle, or not where it has one",
			 NULL, NULL);

	for (i = 0; i < count && first == NULL; i++)
		if (is_graph_problem(&problems[i]))
			first = &problems[i];

	err_tree = fuzz_try(step_mesh, &from_tree);
	err_text = fuzz_try(step_mesh, &from_text);
	if ((err_tree == NULL) != (err_text == NULL) ||
		(err_tree != NULL &&
		 (err_tree->sqlerrcode != err_text->sqlerrcode ||
		  !text_equal(err_tree->message, err_text->message))) ||
		(err_tree == NULL &&
		 (from_tree.mesh->nprocesses != from_text.mesh->nprocesses ||
		  from_tree.mesh->nedges != from_text.mesh->nedges)))
		fail("tl_definition_mesh on the canonical text differs from tl_mesh_from_tree",
			 canonical, err_tree ? err_tree : err_text);

	if (err_tree != NULL)
	{
		int			code = err_tree->sqlerrcode;

		if (code != ERRCODE_TL_DUPLICATE_NAME &&
			code != ERRCODE_TL_NO_PRODUCER &&
			code != ERRCODE_TL_DATA_LEVEL &&
			code != ERRCODE_TL_DATA_CYCLE)
			fail("mesh raised an error other than TL002, TL008, TL009, TL010",
				 canonical, err_tree);
		if (first == NULL)
			fail("mesh failed where validation reports no data graph problem",
				 canonical, err_tree);
		if (code != first->sqlstate ||
			!text_equal(err_tree->message, first->message) ||
			!text_equal(err_tree->detail, first->detail))
			fail(psprintf("mesh raised another problem than validation's first data graph problem (%s at %s: %s)",
						  first->code, first->path, first->message),
				 canonical, err_tree);
		fuzz_show("mesh refused the link", NULL, 0, err_tree);
		return;
	}
	if (first != NULL)
		fail(psprintf("mesh succeeded although validation reports %s at %s: %s",
					  first->code, first->path, first->message),
			 canonical, NULL);
	check_mesh(link, from_tree.mesh, &g);
	fuzz_show(psprintf("mesh: %d processes, %d edges",
					   from_tree.mesh->nprocesses, from_tree.mesh->nedges),
			  NULL, 0, NULL);
}

/* ----------------------------------------------------------------
 * The target
 * ----------------------------------------------------------------
 */

/*
 * Validate a definition (normalised tree and canonical text) and hold the
 * problems, and for a link the mesh, to the oracles.
 */
static void
validate_and_check(TlDefKind kind, const JcsValue *tree, const char *canonical,
				   int canonical_len)
{
	ValidateStep by_tree = {kind, tree};
	ValidateStep by_text = {kind, NULL, canonical, canonical_len};
	ErrorData  *edata;
	int			i;

	edata = fuzz_try(step_validate, &by_tree);
	if (edata != NULL)
		fail("validation raised an error on a normalised value", canonical, edata);
	edata = fuzz_try(step_validate, &by_text);
	if (edata != NULL)
		fail("validation raised an error on canonical text", canonical, edata);
	if (by_text.count != by_tree.count)
		fail("validating the canonical text and the tree differ in problems",
			 canonical, NULL);
	for (i = 0; i < by_tree.count; i++)
		if (!problem_equal(&by_tree.problems[i], &by_text.problems[i]))
			fail("validating the canonical text and the tree differ in a problem",
				 by_tree.problems[i].path, NULL);
	if (fuzz_verbose)
	{
		for (i = 0; i < by_tree.count; i++)
			fuzz_show(psprintf("problem %s at %s: %s", by_tree.problems[i].code,
							   by_tree.problems[i].path,
							   by_tree.problems[i].message), NULL, 0, NULL);
	}

	check_problems(tree, by_tree.problems, by_tree.count);
	check_problem_counts(kind, tree, by_tree.problems, by_tree.count);
	if (kind == TL_DEF_LINK)
		check_link(tree, canonical, canonical_len, by_tree.problems,
				   by_tree.count);
}

static void
check_definition(TlDefKind kind, const char *json, int len)
{
	NormaliseStep norm = {kind, json, len};
	ErrorData  *edata;

	edata = fuzz_try(step_normalise, &norm);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fail("normalisation raised an unexpected error", NULL, edata);
		fuzz_show("normalisation refused the input", NULL, 0, edata);
		return;
	}
	fuzz_show("normalised", norm.canonical.data, norm.canonical.len, NULL);
	validate_and_check(kind, norm.tree, norm.canonical.data, norm.canonical.len);

	/* a process also goes into a link of its own */
	if (kind == TL_DEF_PROCESS)
	{
		static const char empty_link[] = "{\"name\":\"L\"}";
		WithProcessStep with;
		WithProcessStep again;
		NormaliseStep link = {TL_DEF_LINK};

		with.base = empty_link;
		with.baselen = strlen(empty_link);
		with.process = norm.canonical.data;
		with.len = norm.canonical.len;
		edata = fuzz_try(step_with_process, &with);
		if (edata != NULL)
			fail("tl_link_with_process refused a normalised process",
				 norm.canonical.data, edata);

		/* putting the process in again replaces it by itself */
		again = with;
		again.base = with.link;
		again.baselen = with.linklen;
		edata = fuzz_try(step_with_process, &again);
		if (edata != NULL)
			fail("tl_link_with_process refused to replace a process",
				 with.link, edata);
		if (again.linklen != with.linklen ||
			memcmp(again.link, with.link, with.linklen) != 0)
			fail("replacing a process by itself changed the link",
				 again.link, NULL);
		link.json = with.link;
		link.len = with.linklen;
		edata = fuzz_try(step_normalise, &link);
		if (edata != NULL)
			fail("tl_link_with_process gave a link that does not normalise",
				 with.link, edata);
		if (link.canonical.len != with.linklen ||
			memcmp(link.canonical.data, with.link, with.linklen) != 0)
			fail("tl_link_with_process gave a link that is not canonical",
				 with.link, NULL);
		fuzz_show("as a link", with.link, with.linklen, NULL);
		validate_and_check(TL_DEF_LINK, link.tree, link.canonical.data,
						   link.canonical.len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const TlDefKind kinds[] = {
		TL_DEF_STAGE, TL_DEF_PROCESS, TL_DEF_LINK
	};
	const char *json = (const char *) data + 1;

	if (size < 1 || size > FUZZ_MAX_INPUT ||
		fuzz_json_nesting(json, size - 1) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input((const char *) data, size);
	input_json = json;
	input_len = (int) size - 1;
	check_definition(kinds[data[0] % 3], json, (int) size - 1);
	fuzz_end_input();
	return 0;
}

