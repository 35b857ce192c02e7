/*-------------------------------------------------------------------------
 *
 * def_graph.c
 *	  The data graph of a link and its mesh: processes as nodes, one edge
 *	  per input resolved to its producer's output; the checks that need the
 *	  graph (repeated processes, unresolved inputs, data levels, cycles
 *	  named by Tarjan's strongly connected components), and the mesh,
 *	  layered by Kahn's algorithm (tl_definition_mesh, tl_mesh_from_tree).
 *
 * Pure: fuzz/ links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"

/* ----------------------------------------------------------------
 * The data graph of a link
 * ----------------------------------------------------------------
 */

/* The index of the producer's output of that name, or -1. */
static int
graph_output(DefGraph *g, int node, const JcsValue *name)
{
	const JcsValue *process = g->node_process[node];

	if (g->outputs[node] == NULL)
	{
		g->outputs[node] = palloc(sizeof(NameIndex));
		def_nameindex_build(g->outputs[node], jcs_member(process, "outputs"), "name");
	}
	return def_nameindex_find(g->outputs[node], name->u.string.str,
							  name->u.string.len);
}

/*
 * Build the data graph of a normalised link, reporting repeated process
 * names (TL002), inputs whose producer or output does not exist (TL008)
 * and inputs whose level differs from their output's (TL009; levels out of
 * range are check_levels' business, and are not compared).  An input with
 * a problem gives no edge.
 */
void
def_graph_build(DefGraph *g, const JcsValue *link, Validator *vs)
{
	const JcsValue *processes = jcs_member(link, "processes");
	int			n = processes->u.array.count;
	int			c;
	int			i;

	memset(g, 0, sizeof(DefGraph));
	g->link = link;
	def_frame_root(&g->root, "link");
	g->root.name = jcs_member_string(link, "name");
	g->node_process = palloc(sizeof(JcsValue *) * Max(n, 1));
	g->node_index = palloc(sizeof(int) * Max(n, 1));
	g->process_node = palloc(sizeof(int) * Max(n, 1));
	g->outputs = palloc0(sizeof(NameIndex *) * Max(n, 1));
	def_nameindex_build(&g->byname, processes, "name");
	for (i = 0; i < n; i++)
	{
		const JcsValue *process = processes->u.array.elems[i];
		const JcsValue *name = jcs_member(process, "name");

		g->process_node[i] = -1;
		if (!def_nameindex_is_repeat(&g->byname, name, i))
		{
			g->process_node[i] = g->nnodes;
			g->node_process[g->nnodes] = process;
			g->node_index[g->nnodes] = i;
			g->nnodes++;
		}
		else
		{
			DefFrame	kf;
			DefFrame	ef;

			def_frame_element(&ef, &kf, &g->root, "processes", i, "process", process);
			def_report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL,
					   "link \"%s\" has more than one process named \"%s\"",
					   g->root.name, def_shown_value(name));
		}
	}

	g->edges_capacity = 8;
	g->edges = palloc(sizeof(TlMeshEdge) * g->edges_capacity);
	for (c = 0; c < g->nnodes; c++)
	{
		const JcsValue *consumer = g->node_process[c];
		int			ninputs = jcs_member_count(consumer, "inputs");
		DefFrame	pkf;
		DefFrame	pf;

		def_frame_element(&pf, &pkf, &g->root, "processes", g->node_index[c],
						  "process", consumer);
		for (i = 0; i < ninputs; i++)
		{
			const JcsValue *input = jcs_member_elem(consumer, "inputs", i);
			const JcsValue *from = jcs_member(input, "from");
			const JcsValue *output = jcs_member(input, "output");
			int			level = jcs_member_int(input, "level");
			int			p;
			int			o;
			int			out_level;
			DefFrame	ikf;
			DefFrame	inf;
			DefFrame	kf;

			def_frame_element(&inf, &ikf, &pf, "inputs", i, "input", input);
			p = def_nameindex_find(&g->byname, from->u.string.str,
								   from->u.string.len);
			if (p >= 0)
				p = g->process_node[p];
			if (p < 0)
			{
				def_frame_key(&kf, &inf, "from", 4);
				def_report(vs, &kf, ERRCODE_TL_NO_PRODUCER, NULL,
						   "input \"%s\" of process \"%s\" names unknown process \"%s\"",
						   inf.name, pf.name, def_shown_value(from));
				continue;
			}
			o = graph_output(g, p, output);
			if (o < 0)
			{
				def_frame_key(&kf, &inf, "output", 6);
				def_report(vs, &kf, ERRCODE_TL_NO_PRODUCER, NULL,
						   "input \"%s\" of process \"%s\" names output \"%s\", which process \"%s\" does not have",
						   inf.name, pf.name, def_shown_value(output),
						   from->u.string.str);
				continue;
			}
			out_level = jcs_member_int(jcs_member_elem(g->node_process[p], "outputs", o), "level");
			if (out_level != level &&
				level >= TL_LEVEL_MIN && level <= TL_LEVEL_MAX &&
				out_level >= TL_LEVEL_MIN && out_level <= TL_LEVEL_MAX)
			{
				def_frame_key(&kf, &inf, "level", 5);
				def_report(vs, &kf, ERRCODE_TL_DATA_LEVEL,
						   "An input carries data at the level its producer's output has.",
						   "input \"%s\" of process \"%s\" has data level %d, but output \"%s\" of process \"%s\" has data level %d",
						   inf.name, pf.name, level, output->u.string.str,
						   from->u.string.str, out_level);
				continue;
			}
			if (out_level != level)
				continue;		/* out of range: reported by check_levels */
			if (g->nedges == g->edges_capacity)
			{
				g->edges_capacity *= 2;
				g->edges = repalloc(g->edges,
									sizeof(TlMeshEdge) * g->edges_capacity);
			}
			g->edges[g->nedges].producer = p;
			g->edges[g->nedges].consumer = c;
			g->edges[g->nedges].output = output->u.string.str;
			g->edges[g->nedges].input = inf.name;
			g->edges[g->nedges].level = level;
			g->nedges++;
		}
	}
}

/*
 * Successor lists of the graph in compressed form: the successors of node
 * v are succ[start[v] .. start[v + 1] - 1].
 */
static void
graph_successors(const DefGraph *g, int **start_out, int **succ_out)
{
	int		   *start = palloc0(sizeof(int) * (g->nnodes + 1));
	int		   *fill = palloc(sizeof(int) * Max(g->nnodes, 1));
	int		   *succ = palloc(sizeof(int) * Max(g->nedges, 1));
	int			i;

	for (i = 0; i < g->nedges; i++)
		start[g->edges[i].producer + 1]++;
	for (i = 0; i < g->nnodes; i++)
		start[i + 1] += start[i];
	memcpy(fill, start, sizeof(int) * g->nnodes);
	for (i = 0; i < g->nedges; i++)
		succ[fill[g->edges[i].producer]++] = g->edges[i].consumer;
	pfree(fill);
	*start_out = start;
	*succ_out = succ;
}

/*
 * Report the cycle s -> ... -> last -> s, following parent links back from
 * last to s.
 */
static void
report_cycle(const DefGraph *g, Validator *vs, int s, int last,
			 const int *parent)
{
	StringInfoData cycle;
	TlDefProblem *problem;
	int			len = 0;
	int		   *path;
	DefFrame	kf;
	DefFrame	ef;
	int			v;
	int			i;

	for (v = last; v >= 0; v = parent[v])
		len++;
	path = palloc(sizeof(int) * len);
	i = len;
	for (v = last; v >= 0; v = parent[v])
		path[--i] = v;
	initStringInfo(&cycle);
	for (i = 0; i < len; i++)
		appendStringInfo(&cycle, "%s -> ", jcs_member_string(g->node_process[path[i]], "name"));
	appendStringInfoString(&cycle, jcs_member_string(g->node_process[s], "name"));
	def_frame_element(&ef, &kf, &g->root, "processes", g->node_index[s],
					  "process", g->node_process[s]);
	problem = def_report(vs, &ef, ERRCODE_TL_DATA_CYCLE,
						 "Data must not flow back into a process it came from: a lot could become its own ancestor.",
						 "data graph has a cycle: %s", cycle.data);
	problem->detail = psprintf("%s Data flows %s.", problem->detail, cycle.data);
}

/*
 * Report one cycle per strongly connected component that has one (Tarjan's
 * algorithm, iterative).  The cycle starts and ends at the component's
 * first process in process order and is a shortest one through it, found
 * by a breadth-first search inside the component.
 */
void
def_graph_report_cycles(const DefGraph *g, Validator *vs)
{
	int			n = g->nnodes;
	int		   *start;
	int		   *succ;
	int		   *index = palloc(sizeof(int) * Max(n, 1));
	int		   *low = palloc(sizeof(int) * Max(n, 1));
	int		   *comp = palloc(sizeof(int) * Max(n, 1));
	bool	   *on_stack = palloc0(sizeof(bool) * Max(n, 1));
	int		   *stack = palloc(sizeof(int) * Max(n, 1));
	int		   *call_node = palloc(sizeof(int) * Max(n, 1));
	int		   *call_pos = palloc(sizeof(int) * Max(n, 1));
	int		   *parent = palloc(sizeof(int) * Max(n, 1));
	int		   *queue = palloc(sizeof(int) * Max(n, 1));
	int		   *comp_size = palloc0(sizeof(int) * Max(n, 1));
	bool	   *comp_seen = palloc0(sizeof(bool) * Max(n, 1));
	int			counter = 0;
	int			ncomp = 0;
	int			sp = 0;
	int			s;
	int			v;
	int			i;

	graph_successors(g, &start, &succ);
	for (v = 0; v < n; v++)
		index[v] = -1;

	for (s = 0; s < n; s++)
	{
		int			depth = 0;

		if (index[s] >= 0)
			continue;
		index[s] = low[s] = counter++;
		stack[sp++] = s;
		on_stack[s] = true;
		call_node[depth] = s;
		call_pos[depth++] = start[s];
		while (depth > 0)
		{
			v = call_node[depth - 1];
			if (call_pos[depth - 1] < start[v + 1])
			{
				int			w = succ[call_pos[depth - 1]++];

				if (index[w] < 0)
				{
					index[w] = low[w] = counter++;
					stack[sp++] = w;
					on_stack[w] = true;
					call_node[depth] = w;
					call_pos[depth++] = start[w];
				}
				else if (on_stack[w])
					low[v] = Min(low[v], index[w]);
				continue;
			}
			depth--;
			if (depth > 0)
			{
				int			u = call_node[depth - 1];

				low[u] = Min(low[u], low[v]);
			}
			if (low[v] == index[v])
			{
				int			w;

				do
				{
					w = stack[--sp];
					on_stack[w] = false;
					comp[w] = ncomp;
				} while (w != v);
				ncomp++;
			}
		}
	}

	/*
	 * A component has a cycle when it has more than one node or a node that
	 * feeds itself.  Each such component is reported at its first node
	 * (nodes are numbered in process order); a breadth-first search from
	 * there, inside the component, finds the shortest way back to it.
	 */
	for (v = 0; v < n; v++)
	{
		comp_size[comp[v]]++;
		for (i = start[v]; i < start[v + 1]; i++)
			if (succ[i] == v)
				comp_size[comp[v]]++;
		parent[v] = -2;
	}
	for (s = 0; s < n; s++)
	{
		int			c = comp[s];
		int			head = 0;
		int			tail = 0;
		int			last = -1;

		if (comp_seen[c] || comp_size[c] < 2)
			continue;
		comp_seen[c] = true;
		queue[tail++] = s;
		parent[s] = -1;
		while (head < tail && last < 0)
		{
			int			u = queue[head++];

			for (i = start[u]; i < start[u + 1]; i++)
			{
				int			w = succ[i];

				if (comp[w] != c)
					continue;
				if (w == s)
				{
					last = u;
					break;
				}
				if (parent[w] == -2)
				{
					parent[w] = u;
					queue[tail++] = w;
				}
			}
		}
		Assert(last >= 0);
		report_cycle(g, vs, s, last, parent);
		for (i = 0; i < tail; i++)
			parent[queue[i]] = -2;
	}
}

/* Data levels of a process's inputs and outputs must lie in 1..99. */
void
def_check_levels(Validator *vs, const JcsValue *process, const DefFrame *f)
{
	static const char *const keys[] = {"inputs", "outputs"};
	static const char *const elements[] = {"input", "output"};
	int			k;

	for (k = 0; k < 2; k++)
	{
		int			n = jcs_member_count(process, keys[k]);
		int			i;

		for (i = 0; i < n; i++)
		{
			const JcsValue *e = jcs_member_elem(process, keys[k], i);
			int			level = jcs_member_int(e, "level");
			DefFrame	kf;
			DefFrame	ef;
			DefFrame	lf;

			if (level >= TL_LEVEL_MIN && level <= TL_LEVEL_MAX)
				continue;
			def_frame_element(&ef, &kf, f, keys[k], i, elements[k], e);
			def_frame_key(&lf, &ef, "level", 5);
			def_report(vs, &lf, ERRCODE_TL_DATA_LEVEL,
					   "Data levels run from 1 (finest) to 99 (coarsest).",
					   "%s \"%s\" of process \"%s\" has data level %d, outside "
					   CppAsString2(TL_LEVEL_MIN) ".." CppAsString2(TL_LEVEL_MAX),
					   elements[k], ef.name, f->name, level);
		}
	}
}

/* ----------------------------------------------------------------
 * The mesh
 * ----------------------------------------------------------------
 */

/*
 * The mesh of a normalised link: every input resolved to its producer's
 * output, and the processes layered (layer 0: no inputs; otherwise one more
 * than the highest layer among its producers) by Kahn's algorithm.  Raises
 * the first problem in document order among repeated process names
 * (TL002), unresolved inputs (TL008), data levels out of range or differing
 * along an edge (TL009) and cycles (TL010).
 */
TlMesh *
tl_mesh_from_tree(const JcsValue *link)
{
	const JcsValue *order = jcs_member(link, "process_order");
	Validator	vs;
	DefGraph	g;
	TlMesh	   *mesh;
	NameIndex	positions;
	int		   *start;
	int		   *succ;
	int		   *indegree;
	int		   *queue;
	int			head = 0;
	int			tail = 0;
	int			i;

	memset(&vs, 0, sizeof(vs));
	def_graph_build(&g, link, &vs);
	for (i = 0; i < g.nnodes; i++)
	{
		DefFrame	kf;
		DefFrame	ef;

		def_frame_element(&ef, &kf, &g.root, "processes", g.node_index[i],
						  "process", g.node_process[i]);
		def_check_levels(&vs, g.node_process[i], &ef);
	}
	def_graph_report_cycles(&g, &vs);
	if (vs.count > 0)
	{
		int			n;

		tl_definition_raise(&def_validator_result(&vs, &n)[0]);
	}

	mesh = palloc(sizeof(TlMesh));
	mesh->nprocesses = g.nnodes;
	mesh->processes = palloc(sizeof(TlMeshProcess) * Max(g.nnodes, 1));
	mesh->nedges = g.nedges;
	mesh->edges = g.edges;

	def_nameindex_build(&positions, order, NULL);
	for (i = 0; i < g.nnodes; i++)
	{
		const JcsValue *name = jcs_member(g.node_process[i], "name");
		int			pos = def_nameindex_find(&positions, name->u.string.str,
											 name->u.string.len);

		mesh->processes[i].name = name->u.string.str;
		mesh->processes[i].layer = 0;
		mesh->processes[i].position = pos + 1;	/* 0 when absent */
	}

	/* Kahn: a node leaves the queue once all its producers have */
	graph_successors(&g, &start, &succ);
	indegree = palloc0(sizeof(int) * Max(g.nnodes, 1));
	queue = palloc(sizeof(int) * Max(g.nnodes, 1));
	for (i = 0; i < g.nedges; i++)
		indegree[g.edges[i].consumer]++;
	for (i = 0; i < g.nnodes; i++)
		if (indegree[i] == 0)
			queue[tail++] = i;
	while (head < tail)
	{
		int			v = queue[head++];

		for (i = start[v]; i < start[v + 1]; i++)
		{
			int			w = succ[i];

			mesh->processes[w].layer = Max(mesh->processes[w].layer,
										   mesh->processes[v].layer + 1);
			if (--indegree[w] == 0)
				queue[tail++] = w;
		}
	}
	if (tail != g.nnodes)
		elog(ERROR, "data graph of link \"%s\" has a cycle that was not detected",
			 jcs_member_string(link, "name"));
	return mesh;
}

/* The mesh of a link given as JSON text (normalised first). */
TlMesh *
tl_definition_mesh(const char *json, int len)
{
	JcsValue   *link = jcs_parse(json, len);

	return tl_mesh_from_tree(tl_definition_normalise_tree(TL_DEF_LINK, link));
}

/* The first process of a normalised link with that name, or NULL. */
static const JcsValue *
find_process(const JcsValue *link, const char *name)
{
	const JcsValue *processes = jcs_member(link, "processes");
	int			i;

	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *p = processes->u.array.elems[i];

		if (strcmp(jcs_member_string(p, "name"), name) == 0)
			return p;
	}
	return NULL;
}

/*
 * Is there a mesh edge from producer to consumer in a normalised link?
 * That is: the consumer has an input from the producer naming an output the
 * producer has.  Levels are not compared; validate the link for that.
 */
bool
tl_mesh_has_edge(const JcsValue *link, const char *producer,
				 const char *consumer)
{
	const JcsValue *c = find_process(link, consumer);
	const JcsValue *p = find_process(link, producer);
	int			ninputs;
	int			noutputs;
	int			i;
	int			j;

	if (c == NULL || p == NULL)
		return false;
	ninputs = jcs_member_count(c, "inputs");
	noutputs = jcs_member_count(p, "outputs");
	for (i = 0; i < ninputs; i++)
	{
		const JcsValue *input = jcs_member_elem(c, "inputs", i);
		const JcsValue *output = jcs_member(input, "output");

		if (strcmp(jcs_member(input, "from")->u.string.str, producer) != 0)
			continue;
		for (j = 0; j < noutputs; j++)
		{
			if (jcs_equal(jcs_member(jcs_member_elem(p, "outputs", j), "name"), output))
				return true;
		}
	}
	return false;
}

