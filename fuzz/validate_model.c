/*-------------------------------------------------------------------------
 *
 * validate_model.c
 *	  fuzz_validate's independent model of definitions (validate_model.h):
 *	  plain linear scans over normalised trees, no name index, no code
 *	  shared with src/def_*.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "validate_model.h"

/* The input being checked, for failure reports. */
const char *input_json;
int			input_len;

void
fail(const char *what, const char *output, const ErrorData *edata)
{
	fuzz_fail(what, input_json, input_len, output,
			  output ? strlen(output) : 0, edata);
}

/* ----------------------------------------------------------------
 * Reading normalised trees (their shape is guaranteed)
 * ----------------------------------------------------------------
 */

/* Linear lookup of a member, independent of jcs_object_get(). */
const JcsValue *
member(const JcsValue *obj, const char *key)
{
	int			len = strlen(key);
	int			i;

	for (i = 0; i < obj->u.object.count; i++)
	{
		const JcsMember *m = &obj->u.object.members[i];

		if (m->keylen == len && memcmp(m->key, key, len) == 0)
			return m->value;
	}
	return NULL;
}

const JcsValue *
array_member(const JcsValue *obj, const char *key)
{
	const JcsValue *v = member(obj, key);

	if (v == NULL || v->kind != JCS_ARRAY)
		fail("normalised definition lacks an array it must have", key, NULL);
	return v;
}

const JcsValue *
string_member(const JcsValue *obj, const char *key)
{
	const JcsValue *v = member(obj, key);

	if (v == NULL || v->kind != JCS_STRING)
		fail("normalised definition lacks a string it must have", key, NULL);
	return v;
}

int
level_of(const JcsValue *obj)
{
	const JcsValue *v = member(obj, "level");

	if (v == NULL || v->kind != JCS_NUMBER)
		fail("normalised input or output lacks its level", NULL, NULL);
	return (int) v->u.number;
}

bool
same_string(const JcsValue *a, const JcsValue *b)
{
	return a->u.string.len == b->u.string.len &&
		memcmp(a->u.string.str, b->u.string.str, a->u.string.len) == 0;
}

bool
string_equals(const JcsValue *v, const char *word)
{
	return v->kind == JCS_STRING && v->u.string.len == (int) strlen(word) &&
		memcmp(v->u.string.str, word, v->u.string.len) == 0;
}

/* Index of the first element of arr whose "name" equals name, or -1. */
int
first_named(const JcsValue *arr, const JcsValue *name)
{
	int			i;

	for (i = 0; i < arr->u.array.count; i++)
		if (same_string(string_member(arr->u.array.elems[i], "name"), name))
			return i;
	return -1;
}

/*
 * The TL012 problems docs/definitions.md describes for one rule: an unknown
 * rule (and nothing else); "fraction" without numerator and denominator, or
 * not in (0, 1]; "k_of_n" without k, or k < 1; each parameter the rule does
 * not take.
 */
int
expected_rule_problems(const JcsValue *rule)
{
	const JcsValue *kind = string_member(rule, "rule");
	const JcsValue *num = member(rule, "numerator");
	const JcsValue *den = member(rule, "denominator");
	const JcsValue *k = member(rule, "k");
	int			n = 0;

	if (string_equals(kind, "fraction"))
	{
		n += (k != NULL);
		if (num == NULL || den == NULL)
			n++;
		else if (!(num->u.number >= 1 && den->u.number >= 1 &&
				   num->u.number <= den->u.number))
			n++;
	}
	else if (string_equals(kind, "k_of_n"))
	{
		n += (num != NULL) + (den != NULL);
		if (k == NULL || k->u.number < 1)
			n++;
	}
	else if (string_equals(kind, "unanimous") || string_equals(kind, "majority"))
		n += (num != NULL) + (den != NULL) + (k != NULL);
	else
		n = 1;
	return n;
}

/* ----------------------------------------------------------------
 * How many problems of each code docs/definitions.md leads us to expect,
 * counted independently of src/def_*.c (with plain quadratic scans)
 * ----------------------------------------------------------------
 */

typedef struct Expected
{
	int			count[16];		/* by TL number: count[1] is TL001 */
	bool		trace_code;		/* the process has a trace-code item */
	const JcsValue *link;		/* the link being checked, or NULL */
} Expected;

/* The TL number of a TL SQLSTATE (TL001 -> 1), or 0. */
static int
tl_number(int sqlstate)
{
	int			i;

	for (i = 1; i <= 15; i++)
		if (sqlstate == MAKE_SQLSTATE('T', 'L', '0', '0' + i / 10, '0' + i % 10))
			return i;
	return 0;
}

static bool
in_words(const JcsValue *s, const char *const *words, int nwords)
{
	int			i;

	for (i = 0; i < nwords; i++)
		if (string_equals(s, words[i]))
			return true;
	return false;
}

/*
 * Elements of an array equal to an earlier one: the strings themselves, or
 * their member field.
 */
static int
repeats(const JcsValue *arr, const char *field)
{
	int			n = 0;
	int			i;
	int			j;

	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *a = arr->u.array.elems[i];

		if (field)
			a = string_member(a, field);
		for (j = 0; j < i; j++)
		{
			const JcsValue *b = arr->u.array.elems[j];

			if (field)
				b = string_member(b, field);
			if (same_string(a, b))
			{
				n++;
				break;
			}
		}
	}
	return n;
}

static bool
level_in_range(int level)
{
	return level >= 1 && level <= 99;
}

/* Is the node the link's creator, or invited to one of its processes? */
static bool
link_knows(const JcsValue *link, const JcsValue *node)
{
	const JcsValue *creator = member(link, "creator");
	const JcsValue *invitations = member(link, "invitations");
	int			i;
	int			j;

	if (creator != NULL && same_string(creator, node))
		return true;
	for (i = 0; i < invitations->u.object.count; i++)
	{
		const JcsValue *nodes = invitations->u.object.members[i].value;

		for (j = 0; j < nodes->u.array.count; j++)
			if (same_string(nodes->u.array.elems[j], node))
				return true;
	}
	return false;
}

/*
 * The "audience" of a form or an item: TL015 for a word other than public
 * and process, and for an empty array; TL002 for each repeated node; in a
 * link, TL015 for each other node that is neither creator nor invited.
 */
static void
expect_audience(Expected *e, const JcsValue *obj)
{
	const JcsValue *a = member(obj, "audience");
	int			i;
	int			j;

	if (a == NULL)
		return;
	if (a->kind == JCS_STRING)
	{
		e->count[15] += !string_equals(a, "public") && !string_equals(a, "process");
		return;
	}
	e->count[15] += (a->u.array.count == 0);
	e->count[2] += repeats(a, NULL);
	if (e->link == NULL)
		return;
	for (i = 0; i < a->u.array.count; i++)
	{
		for (j = 0; j < i; j++)
			if (same_string(a->u.array.elems[j], a->u.array.elems[i]))
				break;
		if (j == i)
			e->count[15] += !link_knows(e->link, a->u.array.elems[i]);
	}
}

static void
expect_item(Expected *e, const JcsValue *form, const JcsValue *item)
{
	static const char *const types[] = {
		"text", "numeric", "time", "image", "video", "file"
	};
	static const char *const sources[] = {
		"manual", "upload", "external", "device"
	};
	static const char *const widgets[] = {
		"textbox", "checkbox", "dropdown", "textarea"
	};
	const JcsValue *type = string_member(item, "type");
	const JcsValue *srcs = array_member(item, "sources");
	const JcsValue *widget = string_member(item, "widget");
	const JcsValue *options = member(item, "options");
	int			i;

	e->count[3] += !in_words(type, types, lengthof(types));
	e->count[6] += (srcs->u.array.count == 0);
	for (i = 0; i < srcs->u.array.count; i++)
		e->count[4] += !in_words(srcs->u.array.elems[i], sources,
								 lengthof(sources));
	e->count[2] += repeats(srcs, NULL);
	if (!in_words(widget, widgets, lengthof(widgets)))
		e->count[5]++;
	else if (string_equals(widget, "dropdown"))
		e->count[5] += (options == NULL || options->u.array.count == 0);
	else
		e->count[5] += (options != NULL);
	if (options != NULL)
		e->count[2] += repeats(options, NULL);
	if (member(item, "trace_code")->kind == JCS_TRUE)
	{
		e->trace_code = true;
		e->count[11] += !string_equals(type, "text");
		e->count[11] += (member(item, "required")->kind != JCS_TRUE);
		/* not public: its own audience, else its form's (unknown words aside) */
		{
			const JcsValue *a = member(item, "audience");

			if (a == NULL)
				a = member(form, "audience");
			e->count[15] += (a != NULL &&
							 (a->kind == JCS_ARRAY || string_equals(a, "process")));
		}
	}
	expect_audience(e, item);
}

static void
expect_stage(Expected *e, const JcsValue *stage)
{
	const JcsValue *forms = array_member(stage, "forms");
	int			i;
	int			j;

	e->count[6] += (forms->u.array.count == 0);
	e->count[2] += repeats(forms, "name");
	e->count[2] += repeats(array_member(stage, "members"), NULL);
	for (i = 0; i < forms->u.array.count; i++)
	{
		const JcsValue *form = forms->u.array.elems[i];
		const JcsValue *items = array_member(form, "items");

		e->count[6] += (items->u.array.count == 0);
		e->count[2] += repeats(items, "name");
		expect_audience(e, form);
		for (j = 0; j < items->u.array.count; j++)
			expect_item(e, form, items->u.array.elems[j]);
	}
}

/* A process's own problems (not those that need the link). */
static void
expect_process(Expected *e, const JcsValue *process)
{
	static const char *const keys[] = {"inputs", "outputs"};
	const JcsValue *stages = array_member(process, "stages");
	int			i;
	int			k;

	e->trace_code = false;
	e->count[6] += (stages->u.array.count == 0);
	e->count[2] += repeats(stages, "name");
	for (k = 0; k < 2; k++)
	{
		const JcsValue *arr = array_member(process, keys[k]);

		e->count[2] += repeats(arr, "name");
		for (i = 0; i < arr->u.array.count; i++)
			e->count[9] += !level_in_range(level_of(arr->u.array.elems[i]));
	}
	for (i = 0; i < stages->u.array.count; i++)
		expect_stage(e, stages->u.array.elems[i]);
	e->count[1] += !e->trace_code;
}

/* Is the string one of the elements of arr (or of their names)? */
static bool
listed(const JcsValue *arr, const char *field, const char *str, int len)
{
	int			i;

	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *s = arr->u.array.elems[i];

		if (field)
			s = string_member(s, field);
		if (s->u.string.len == len && memcmp(s->u.string.str, str, len) == 0)
			return true;
	}
	return false;
}

static void
expect_link(Expected *e, const JcsValue *link)
{
	const JcsValue *processes = array_member(link, "processes");
	const JcsValue *order = array_member(link, "process_order");
	const JcsValue *invitations = member(link, "invitations");
	int			i;
	int			j;

	e->link = link;
	e->count[6] += (processes->u.array.count == 0 &&
					order->u.array.count == 0);

	/* process_order: a repeat, else not built (TL007), not invited (TL014) */
	e->count[2] += repeats(order, NULL);
	for (i = 0; i < order->u.array.count; i++)
	{
		const JcsValue *name = order->u.array.elems[i];
		const JcsValue *nodes = NULL;

		for (j = 0; j < i; j++)
			if (same_string(order->u.array.elems[j], name))
				break;
		if (j < i)
			continue;
		e->count[7] += !listed(processes, "name", name->u.string.str,
							   name->u.string.len);
		for (j = 0; j < invitations->u.object.count; j++)
		{
			const JcsMember *m = &invitations->u.object.members[j];

			if (m->keylen == name->u.string.len &&
				memcmp(m->key, name->u.string.str, m->keylen) == 0)
				nodes = m->value;
		}
		e->count[14] += (nodes == NULL || nodes->u.array.count == 0);
	}

	/* invitations: for a process of the link, no node twice */
	for (i = 0; i < invitations->u.object.count; i++)
	{
		const JcsMember *m = &invitations->u.object.members[i];

		e->count[7] += !listed(order, NULL, m->key, m->keylen) &&
			!listed(processes, "name", m->key, m->keylen);
		e->count[2] += repeats(m->value, NULL);
	}

	/* processes: in the order (TL013), built by an invited node (TL014) */
	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *process = processes->u.array.elems[i];
		const JcsValue *name = string_member(process, "name");
		const JcsValue *node = member(process, "node");
		const JcsValue *nodes = NULL;

		e->count[13] += !listed(order, NULL, name->u.string.str,
								name->u.string.len);
		for (j = 0; j < invitations->u.object.count; j++)
		{
			const JcsMember *m = &invitations->u.object.members[j];

			if (m->keylen == name->u.string.len &&
				memcmp(m->key, name->u.string.str, m->keylen) == 0)
				nodes = m->value;
		}
		if (node != NULL && nodes != NULL && nodes->u.array.count > 0)
			e->count[14] += !listed(nodes, NULL, node->u.string.str,
									node->u.string.len);
		expect_process(e, process);
	}

	if (member(link, "voting") != NULL)
	{
		const JcsValue *voting = member(link, "voting");

		if (member(voting, "adoption"))
			e->count[12] += expected_rule_problems(member(voting, "adoption"));
		if (member(voting, "modification"))
			e->count[12] += expected_rule_problems(member(voting, "modification"));
	}

	/*
	 * The data graph: a repeated process name (TL002), and for each input
	 * of the first process of a name: no such producer or output (TL008),
	 * or levels in range that differ (TL009).
	 */
	e->count[2] += repeats(processes, "name");
	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *inputs;

		if (first_named(processes,
						string_member(processes->u.array.elems[i], "name")) != i)
			continue;
		inputs = array_member(processes->u.array.elems[i], "inputs");
		for (j = 0; j < inputs->u.array.count; j++)
		{
			const JcsValue *in = inputs->u.array.elems[j];
			int			p = first_named(processes, string_member(in, "from"));
			const JcsValue *outputs;
			int			o;
			int			level;
			int			out_level;

			if (p < 0)
			{
				e->count[8]++;
				continue;
			}
			outputs = array_member(processes->u.array.elems[p], "outputs");
			o = first_named(outputs, string_member(in, "output"));
			if (o < 0)
			{
				e->count[8]++;
				continue;
			}
			level = level_of(in);
			out_level = level_of(outputs->u.array.elems[o]);
			e->count[9] += (level != out_level && level_in_range(level) &&
							level_in_range(out_level));
		}
	}
}

/*
 * Compare validation's problems, code by code, with what the docs lead us
 * to expect (TL010 is left to the cycle check in check_link).
 */
void
check_problem_counts(TlDefKind kind, const JcsValue *tree,
					 const TlDefProblem *problems, int count)
{
	Expected	e;
	int			actual[16];
	int			i;

	memset(&e, 0, sizeof(e));
	memset(actual, 0, sizeof(actual));
	switch (kind)
	{
		case TL_DEF_STAGE:
			expect_stage(&e, tree);
			break;
		case TL_DEF_PROCESS:
			expect_process(&e, tree);
			break;
		case TL_DEF_LINK:
			expect_link(&e, tree);
			break;
	}
	for (i = 0; i < count; i++)
		actual[tl_number(problems[i].sqlstate)]++;
	for (i = 1; i <= 15; i++)
	{
		if (i == 10 || actual[i] == e.count[i])
			continue;
		fail(psprintf("validation reports %d TL%03d problems, docs/definitions.md %d",
					  actual[i], i, e.count[i]), NULL, NULL);
	}
}

/* ----------------------------------------------------------------
 * The data graph, resolved independently of src/def_graph.c
 * ----------------------------------------------------------------
 */

void
ref_graph(const JcsValue *link, RefGraph *g)
{
	const JcsValue *processes = array_member(link, "processes");
	int			capacity = 0;
	int			c;

	g->n = processes->u.array.count;
	g->is_node = palloc(sizeof(bool) * Max(g->n, 1));
	for (c = 0; c < g->n; c++)
	{
		const JcsValue *process = processes->u.array.elems[c];

		g->is_node[c] = first_named(processes,
									string_member(process, "name")) == c;
		if (g->is_node[c])
			capacity += array_member(process, "inputs")->u.array.count;
	}
	g->nedges = 0;
	g->producer = palloc(sizeof(int) * Max(capacity, 1));
	g->consumer = palloc(sizeof(int) * Max(capacity, 1));
	g->input = palloc(sizeof(int) * Max(capacity, 1));
	for (c = 0; c < g->n; c++)
	{
		const JcsValue *inputs;
		int			i;

		if (!g->is_node[c])
			continue;
		inputs = array_member(processes->u.array.elems[c], "inputs");
		for (i = 0; i < inputs->u.array.count; i++)
		{
			const JcsValue *in = inputs->u.array.elems[i];
			int			p = first_named(processes, string_member(in, "from"));
			const JcsValue *outputs;
			int			o;

			if (p < 0)
				continue;
			outputs = array_member(processes->u.array.elems[p], "outputs");
			o = first_named(outputs, string_member(in, "output"));
			if (o < 0 || level_of(outputs->u.array.elems[o]) != level_of(in))
				continue;
			g->producer[g->nedges] = p;
			g->consumer[g->nedges] = c;
			g->input[g->nedges] = i;
			g->nedges++;
		}
	}
}

/* Does the graph have a cycle?  (Kahn: what never reaches indegree 0.) */
bool
ref_has_cycle(const RefGraph *g)
{
	int		   *indegree = palloc0(sizeof(int) * Max(g->n, 1));
	bool	   *done = palloc0(sizeof(bool) * Max(g->n, 1));
	int			removed = 0;
	bool		progress = true;
	int			v;
	int			e;

	for (e = 0; e < g->nedges; e++)
		indegree[g->consumer[e]]++;
	/* quadratic, but simple; inputs are small */
	while (progress)
	{
		progress = false;
		for (v = 0; v < g->n; v++)
		{
			if (done[v] || indegree[v] > 0)
				continue;
			done[v] = true;
			removed++;
			progress = true;
			for (e = 0; e < g->nedges; e++)
				if (g->producer[e] == v)
					indegree[g->consumer[e]]--;
		}
	}
	return removed < g->n;
}

