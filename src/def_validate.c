/*-------------------------------------------------------------------------
 *
 * def_validate.c
 *	  Validation of normalised definitions: every semantic problem, in
 *	  document order, each with a TL SQLSTATE, its JSON path and the chain
 *	  of elements around it (tl_definition_validate).
 *
 * Problems are collected, ordered and raised by def_problem.c; the checks
 * of a link's data graph (repeated processes, unresolved inputs, levels,
 * cycles) are def_graph.c's.  Pure: fuzz/ links it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"

/* ----------------------------------------------------------------
 * The checks of each kind of element
 * ----------------------------------------------------------------
 */

/* Is the string value v equal to the NUL-terminated word? */
static bool
string_is(const JcsValue *v, const char *word)
{
	return v->kind == JCS_STRING &&
		(int) strlen(word) == v->u.string.len &&
		memcmp(word, v->u.string.str, v->u.string.len) == 0;
}

/*
 * Report repeated strings in the array member "key" of obj (names of
 * elements when field is given, else the strings themselves).  fmt takes
 * the owner's name and the repeated string.
 */
static void
check_repeats(Validator *vs, const JcsValue *obj, const char *key,
			  const char *field, const char *element, const DefFrame *f,
			  const char *owner, const char *fmt)
{
	const JcsValue *arr = jcs_member(obj, key);
	NameIndex	ix;
	DefFrame	kf;
	int			i;

	def_frame_key(&kf, f, key, strlen(key));
	def_nameindex_build(&ix, arr, field);
	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *e = arr->u.array.elems[i];
		const JcsValue *s = field ? jcs_member(e, field) : e;
		DefFrame	ef;

		if (!def_nameindex_is_repeat(&ix, s, i))
			continue;
		def_frame_index(&ef, &kf, i, element);
		if (field)
			ef.name = s->u.string.str;
		def_report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL, fmt,
				   owner, def_shown_value(s));
	}
}

/*
 * The "audience" of a form or an item (f is its frame, what "form" or
 * "item"): a known word, or a non-empty array of distinct node names which,
 * in a link, are its creator or invited to one of its processes.
 */
static void
validate_audience(Validator *vs, const JcsValue *obj, const char *what,
				  const DefFrame *f)
{
	const JcsValue *audience = jcs_object_get(obj, "audience");
	const JcsValue *nodes;
	NameIndex	ix;
	DefFrame	kf;
	int			i;

	if (audience == NULL)
		return;
	def_frame_key(&kf, f, "audience", 8);
	switch (tl_def_audience(audience, &nodes))
	{
		case TL_AUDIENCE_PUBLIC:
		case TL_AUDIENCE_PROCESS:
			return;
		case TL_AUDIENCE_INVALID:
			def_report(vs, &kf, ERRCODE_TL_BAD_AUDIENCE,
					   "The audience is \"public\", \"process\" or an array of node names.",
					   "%s \"%s\" has unknown audience \"%s\"",
					   what, f->name, def_shown_value(audience));
			return;
		case TL_AUDIENCE_NODES:
			break;
	}
	if (nodes->u.array.count == 0)
		def_report(vs, &kf, ERRCODE_TL_BAD_AUDIENCE,
				   "Name at least one node, or leave \"audience\" out for a public one.",
				   "%s \"%s\" has an empty audience", what, f->name);
	def_nameindex_build(&ix, nodes, NULL);
	for (i = 0; i < nodes->u.array.count; i++)
	{
		const JcsValue *node = nodes->u.array.elems[i];
		DefFrame	ef;

		def_frame_index(&ef, &kf, i, NULL);
		if (def_nameindex_is_repeat(&ix, node, i))
			def_report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL,
					   "audience of %s \"%s\" lists node \"%s\" twice",
					   what, f->name, def_shown_value(node));
		else if (vs->link_nodes != NULL &&
				 def_nameindex_find(vs->link_nodes, node->u.string.str,
									node->u.string.len) < 0)
			def_report(vs, &ef, ERRCODE_TL_BAD_AUDIENCE,
					   "Name the link's creator or nodes invited to its processes.",
					   "audience of %s \"%s\" names node \"%s\", which is neither the creator of link \"%s\" nor invited to any of its processes",
					   what, f->name, def_shown_value(node), vs->link_name);
	}
}

static void
validate_item(Validator *vs, const JcsValue *form, const JcsValue *item,
			  const DefFrame *f, bool *trace_code)
{
	const JcsValue *type = jcs_member(item, "type");
	const JcsValue *sources = jcs_member(item, "sources");
	const JcsValue *widget = jcs_member(item, "widget");
	const JcsValue *options = jcs_object_get(item, "options");
	TlAudienceKind audience;
	DefFrame	kf;
	DefFrame	ef;
	int			i;

	validate_audience(vs, item, "item", f);

	def_frame_key(&kf, f, "type", 4);
	if (tl_word_code(tl_data_type_names, type->u.string.str, type->u.string.len) < 0)
		def_report(vs, &kf, ERRCODE_TL_UNKNOWN_DATA_TYPE,
				   psprintf("The data types are %s.",
						def_vocabulary_list(tl_data_type_names)),
				   "item \"%s\" has unknown data type \"%s\"",
				   f->name, def_shown_value(type));

	def_frame_key(&kf, f, "sources", 7);
	if (sources->u.array.count == 0)
		def_report(vs, &kf, ERRCODE_TL_EMPTY, NULL,
				   "item \"%s\" allows no data source", f->name);
	for (i = 0; i < sources->u.array.count; i++)
	{
		const JcsValue *s = sources->u.array.elems[i];

		def_frame_index(&ef, &kf, i, NULL);
		if (tl_word_code(tl_source_names, s->u.string.str, s->u.string.len) < 0)
			def_report(vs, &ef, ERRCODE_TL_UNKNOWN_SOURCE,
					   psprintf("The data sources are %s.",
							def_vocabulary_list(tl_source_names)),
					   "item \"%s\" allows unknown data source \"%s\"",
					   f->name, def_shown_value(s));
	}
	check_repeats(vs, item, "sources", NULL, NULL, f, f->name,
				  "item \"%s\" lists data source \"%s\" twice");

	def_frame_key(&kf, f, "widget", 6);
	if (tl_word_code(tl_widget_names, widget->u.string.str, widget->u.string.len) < 0)
		def_report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
				   psprintf("The widgets are %s.",
						def_vocabulary_list(tl_widget_names)),
				   "item \"%s\" has unknown widget \"%s\"",
				   f->name, def_shown_value(widget));
	else if (string_is(widget, "dropdown"))
	{
		if (options == NULL || options->u.array.count == 0)
			def_report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
					   "Give the choices as a non-empty \"options\" array of strings.",
					   "item \"%s\" has widget \"dropdown\" but no options",
					   f->name);
	}
	else if (options != NULL)
	{
		def_frame_key(&kf, f, "options", 7);
		def_report(vs, &kf, ERRCODE_TL_UNKNOWN_WIDGET,
				   "Only a \"dropdown\" widget takes options.",
				   "item \"%s\" has options but widget \"%s\"",
				   f->name, def_shown_value(widget));
	}
	if (options != NULL)
		check_repeats(vs, item, "options", NULL, NULL, f, f->name,
					  "item \"%s\" lists option \"%s\" twice");

	if (jcs_member(item, "trace_code")->kind == JCS_TRUE)
	{
		*trace_code = true;
		if (!string_is(type, "text"))
		{
			def_frame_key(&kf, f, "type", 4);
			def_report(vs, &kf, ERRCODE_TL_BAD_TRACE_CODE_ITEM, NULL,
					   "trace-code item \"%s\" must have data type \"text\", not \"%s\"",
					   f->name, def_shown_value(type));
		}
		if (jcs_member(item, "required")->kind != JCS_TRUE)
		{
			def_frame_key(&kf, f, "required", 8);
			def_report(vs, &kf, ERRCODE_TL_BAD_TRACE_CODE_ITEM, NULL,
					   "trace-code item \"%s\" must be required", f->name);
		}
		audience = tl_def_item_audience(form, item, NULL);
		if (audience == TL_AUDIENCE_PROCESS || audience == TL_AUDIENCE_NODES)
		{
			def_frame_key(&kf, f, "trace_code", 10);
			def_report(vs, &kf, ERRCODE_TL_BAD_AUDIENCE,
					   "Every node follows provenance by trace codes: give the item \"audience\": \"public\" (or none, in a public form).",
					   "trace-code item \"%s\" must be public, but its audience%s is %s",
					   f->name,
					   jcs_object_get(item, "audience") ? "" : " (its form's)",
					   audience == TL_AUDIENCE_PROCESS ? "\"process\"" : "a list of nodes");
		}
	}
}

static void
validate_form(Validator *vs, const JcsValue *form, const DefFrame *f,
			  bool *trace_code)
{
	int			n = jcs_member_count(form, "items");
	int			i;

	if (n == 0)
		def_report(vs, f, ERRCODE_TL_EMPTY, NULL,
				   "form \"%s\" has no items", f->name);
	validate_audience(vs, form, "form", f);
	check_repeats(vs, form, "items", "name", "item", f, f->name,
				  "form \"%s\" has more than one item named \"%s\"");
	for (i = 0; i < n; i++)
	{
		const JcsValue *item = jcs_member_elem(form, "items", i);
		DefFrame	kf;
		DefFrame	ef;

		def_frame_element(&ef, &kf, f, "items", i, "item", item);
		validate_item(vs, form, item, &ef, trace_code);
	}
}

static void
validate_stage(Validator *vs, const JcsValue *stage, const DefFrame *f,
			   bool *trace_code)
{
	int			n = jcs_member_count(stage, "forms");
	int			i;

	if (n == 0)
		def_report(vs, f, ERRCODE_TL_EMPTY, NULL,
				   "stage \"%s\" has no forms", f->name);
	check_repeats(vs, stage, "forms", "name", "form", f, f->name,
				  "stage \"%s\" has more than one form named \"%s\"");
	check_repeats(vs, stage, "members", NULL, NULL, f, f->name,
				  "stage \"%s\" lists member \"%s\" twice");
	for (i = 0; i < n; i++)
	{
		const JcsValue *form = jcs_member_elem(stage, "forms", i);
		DefFrame	kf;
		DefFrame	ef;

		def_frame_element(&ef, &kf, f, "forms", i, "form", form);
		validate_form(vs, form, &ef, trace_code);
	}
}

/*
 * The checks of one process that need nothing outside it: its stages,
 * names, levels and trace-code item.
 */
static void
validate_process(Validator *vs, const JcsValue *process, const DefFrame *f)
{
	int			n = jcs_member_count(process, "stages");
	bool		trace_code = false;
	int			i;

	if (n == 0)
		def_report(vs, f, ERRCODE_TL_EMPTY, NULL,
				   "process \"%s\" has no stages", f->name);
	check_repeats(vs, process, "stages", "name", "stage", f, f->name,
				  "process \"%s\" has more than one stage named \"%s\"");
	check_repeats(vs, process, "inputs", "name", "input", f, f->name,
				  "process \"%s\" has more than one input named \"%s\"");
	check_repeats(vs, process, "outputs", "name", "output", f, f->name,
				  "process \"%s\" has more than one output named \"%s\"");
	def_check_levels(vs, process, f);
	for (i = 0; i < n; i++)
	{
		const JcsValue *stage = jcs_member_elem(process, "stages", i);
		DefFrame	kf;
		DefFrame	ef;

		def_frame_element(&ef, &kf, f, "stages", i, "stage", stage);
		validate_stage(vs, stage, &ef, &trace_code);
	}
	if (!trace_code)
		def_report(vs, f, ERRCODE_TL_MISSING_TRACE_CODE,
				   "Mark the data item that captures the trace code with \"trace_code\": true.",
				   "process \"%s\" has no trace-code acquisition item", f->name);
}

/* Whether the rule object has the parameter, reporting it when unwanted. */
static void
refuse_parameter(Validator *vs, const JcsValue *rule, const char *param,
				 const DefFrame *f)
{
	DefFrame	kf;

	if (jcs_object_get(rule, param) == NULL)
		return;
	def_frame_key(&kf, f, param, strlen(param));
	def_report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE, NULL,
			   "voting rule \"%s\" takes no parameter \"%s\"",
			   def_shown_value(jcs_member(rule, "rule")), param);
}

static void
validate_rule(Validator *vs, const JcsValue *rule, const DefFrame *f)
{
	const JcsValue *kind = jcs_member(rule, "rule");
	const JcsValue *num = jcs_object_get(rule, "numerator");
	const JcsValue *den = jcs_object_get(rule, "denominator");
	const JcsValue *k = jcs_object_get(rule, "k");
	DefFrame	kf;

	if (tl_word_code(tl_voting_rule_names, kind->u.string.str, kind->u.string.len) < 0)
	{
		def_frame_key(&kf, f, "rule", 4);
		def_report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE,
				   psprintf("The voting rules are %s.",
						def_vocabulary_list(tl_voting_rule_names)),
				   "unknown voting rule \"%s\"", def_shown_value(kind));
		return;
	}
	if (string_is(kind, "fraction"))
	{
		refuse_parameter(vs, rule, "k", f);
		if (num == NULL || den == NULL)
			def_report(vs, f, ERRCODE_TL_BAD_VOTING_RULE, NULL,
					   "voting rule \"fraction\" needs \"numerator\" and \"denominator\"");
		else if (num->u.number <= 0 || den->u.number <= 0 ||
				 num->u.number > den->u.number)
			def_report(vs, f, ERRCODE_TL_BAD_VOTING_RULE,
					   "The fraction of approving participants must be greater than 0 and at most 1.",
					   "voting rule \"fraction\" needs a fraction in (0, 1], not %d/%d",
					   (int) num->u.number, (int) den->u.number);
	}
	else if (string_is(kind, "k_of_n"))
	{
		refuse_parameter(vs, rule, "numerator", f);
		refuse_parameter(vs, rule, "denominator", f);
		if (k == NULL)
			def_report(vs, f, ERRCODE_TL_BAD_VOTING_RULE, NULL,
					   "voting rule \"k_of_n\" needs \"k\"");
		else if (k->u.number < 1)
		{
			def_frame_key(&kf, f, "k", 1);
			def_report(vs, &kf, ERRCODE_TL_BAD_VOTING_RULE, NULL,
					   "voting rule \"k_of_n\" needs k of at least 1, not %d",
					   (int) k->u.number);
		}
	}
	else
	{
		refuse_parameter(vs, rule, "denominator", f);
		refuse_parameter(vs, rule, "k", f);
		refuse_parameter(vs, rule, "numerator", f);
	}
}

/*
 * The checks of a link: its processes, their places in process_order, the
 * invitations, the voting rules and the data graph; the nodes its audiences
 * name must be its creator or invited (vs->link_nodes, for the forms and
 * items below).
 */
static void
validate_link(Validator *vs, const JcsValue *link, DefFrame *f)
{
	const JcsValue *processes = jcs_member(link, "processes");
	const JcsValue *order = jcs_member(link, "process_order");
	const JcsValue *invitations = jcs_member(link, "invitations");
	const JcsValue *voting = jcs_object_get(link, "voting");
	NameIndex	in_order;
	NameIndex	built;
	DefGraph	g;
	DefFrame	okf;
	DefFrame	ikf;
	int			i;

	if (processes->u.array.count == 0 && order->u.array.count == 0)
		def_report(vs, f, ERRCODE_TL_EMPTY, NULL,
				   "link \"%s\" has no processes", f->name);

	def_nameindex_build(&built, processes, "name");

	/* the nodes an audience may name: the creator and every invited node */
	{
		const JcsValue *creator = jcs_object_get(link, "creator");
		JcsValue   *known = jcs_make_array(1);
		NameIndex  *ix = palloc(sizeof(NameIndex));

		if (creator != NULL)
			jcs_array_append(known, (JcsValue *) creator);
		for (i = 0; i < invitations->u.object.count; i++)
		{
			const JcsValue *nodes = invitations->u.object.members[i].value;
			int			j;

			for (j = 0; j < nodes->u.array.count; j++)
				jcs_array_append(known, nodes->u.array.elems[j]);
		}
		def_nameindex_build(ix, known, NULL);
		vs->link_nodes = ix;
		vs->link_name = f->name;
	}

	/* process_order: no repeats, every name built, everything invited */
	def_frame_key(&okf, f, "process_order", 13);
	def_frame_key(&ikf, f, "invitations", 11);
	def_nameindex_build(&in_order, order, NULL);
	for (i = 0; i < order->u.array.count; i++)
	{
		const JcsValue *name = order->u.array.elems[i];
		const JcsValue *nodes;
		DefFrame	ef;

		def_frame_index(&ef, &okf, i, NULL);
		if (def_nameindex_is_repeat(&in_order, name, i))
		{
			def_report(vs, &ef, ERRCODE_TL_DUPLICATE_NAME, NULL,
					   "process order of link \"%s\" lists process \"%s\" twice",
					   f->name, def_shown_value(name));
			continue;
		}
		if (def_nameindex_find(&built, name->u.string.str, name->u.string.len) < 0)
			def_report(vs, &ef, ERRCODE_TL_UNKNOWN_PROCESS,
					   "Add the process to \"processes\" once it is built.",
					   "process \"%s\" in the process order has no definition",
					   def_shown_value(name));
		nodes = jcs_object_get(invitations, name->u.string.str);
		if (nodes == NULL)
			def_report(vs, &ef, ERRCODE_TL_BAD_INVITATION,
					   "Invite a node to build it in \"invitations\".",
					   "process \"%s\" has no invited node", def_shown_value(name));
		else if (nodes->u.array.count == 0)
		{
			DefFrame	nf;

			def_frame_key(&nf, &ikf, name->u.string.str, name->u.string.len);
			def_report(vs, &nf, ERRCODE_TL_BAD_INVITATION,
					   "Invite a node to build it in \"invitations\".",
					   "process \"%s\" has no invited node", def_shown_value(name));
		}
	}

	/* invitations: for processes of the link, no node twice */
	for (i = 0; i < invitations->u.object.count; i++)
	{
		const JcsMember *m = &invitations->u.object.members[i];
		DefFrame	nf;

		def_frame_key(&nf, &ikf, m->key, m->keylen);
		if (def_nameindex_find(&in_order, m->key, m->keylen) < 0 &&
			def_nameindex_find(&built, m->key, m->keylen) < 0)
			def_report(vs, &nf, ERRCODE_TL_UNKNOWN_PROCESS, NULL,
					   "invitations name process \"%s\", which is not part of link \"%s\"",
					   def_shown(m->key, m->keylen), f->name);
		check_repeats(vs, invitations, m->key, NULL, NULL, &ikf,
					  def_shown(m->key, m->keylen),
					  "invitations to process \"%s\" list node \"%s\" twice");
	}

	/* processes: each in the process order, built by an invited node */
	for (i = 0; i < processes->u.array.count; i++)
	{
		const JcsValue *process = processes->u.array.elems[i];
		const JcsValue *name = jcs_member(process, "name");
		const JcsValue *node = jcs_object_get(process, "node");
		const JcsValue *nodes = jcs_object_get(invitations, name->u.string.str);
		DefFrame	kf;
		DefFrame	ef;

		def_frame_element(&ef, &kf, f, "processes", i, "process", process);
		if (def_nameindex_find(&in_order, name->u.string.str,
							   name->u.string.len) < 0)
			def_report(vs, &ef, ERRCODE_TL_PROCESS_ORDER,
					   "Every process of a link has its place in \"process_order\".",
					   "process \"%s\" is not in the process order of link \"%s\"",
					   ef.name, f->name);
		if (node != NULL && nodes != NULL && nodes->u.array.count > 0)
		{
			bool		invited = false;
			int			j;

			for (j = 0; j < nodes->u.array.count && !invited; j++)
				invited = jcs_equal(nodes->u.array.elems[j], node);
			if (!invited)
			{
				DefFrame	nf;

				def_frame_key(&nf, &ef, "node", 4);
				def_report(vs, &nf, ERRCODE_TL_BAD_INVITATION, NULL,
						   "process \"%s\" is built by node \"%s\", which is not invited to it",
						   ef.name, node->u.string.str);
			}
		}
		validate_process(vs, process, &ef);
	}

	if (voting != NULL)
	{
		static const char *const purposes[] = {"adoption", "modification"};
		DefFrame	vf;

		def_frame_key(&vf, f, "voting", 6);
		for (i = 0; i < 2; i++)
		{
			const JcsValue *rule = jcs_object_get(voting, purposes[i]);
			DefFrame	rf;

			if (rule == NULL)
				continue;
			def_frame_key(&rf, &vf, purposes[i], strlen(purposes[i]));
			validate_rule(vs, rule, &rf);
		}
	}

	def_graph_build(&g, link, vs);
	def_graph_report_cycles(&g, vs);
}

/*
 * Every problem of a normalised definition, in document order (*nproblems
 * of them; the array is palloc'd).  Paths point into the canonical form.
 */
TlDefProblem *
tl_definition_validate_tree(TlDefKind kind, const JcsValue *tree,
							int *nproblems)
{
	Validator	vs;
	DefFrame	f;
	bool		trace_code = false;

	memset(&vs, 0, sizeof(vs));
	def_frame_root(&f, tl_definition_kind_name(kind));
	f.name = jcs_member_string(tree, "name");
	switch (kind)
	{
		case TL_DEF_STAGE:
			validate_stage(&vs, tree, &f, &trace_code);
			break;
		case TL_DEF_PROCESS:
			validate_process(&vs, tree, &f);
			break;
		case TL_DEF_LINK:
			validate_link(&vs, tree, &f);
			break;
	}
	return def_validator_result(&vs, nproblems);
}

/*
 * Every problem of a definition given as JSON text (normalised first, so
 * any text the type input accepts may be given).
 */
TlDefProblem *
tl_definition_validate(TlDefKind kind, const char *json, int len,
					   int *nproblems)
{
	JcsValue   *tree = tl_definition_normalise_tree(kind, jcs_parse(json, len));

	return tl_definition_validate_tree(kind, tree, nproblems);
}
