/*-------------------------------------------------------------------------
 *
 * def_normalize.c
 *	  Shape checking and normalisation of definitions: unknown keys refused,
 *	  defaults filled in, stages and processes put in their order, every
 *	  fault raised as 22P02 naming the element and its JSON path.  Also the
 *	  one edit of a link done in C: adding or replacing a process.
 *
 * The type input, receive and jsonb cast functions (deftypes.c) are thin
 * wrappers of tl_definition_normalise.  Pure: fuzz/ links it outside the
 * server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "def_private.h"

/* ----------------------------------------------------------------
 * Shapes
 * ----------------------------------------------------------------
 */

/*
 * The keys each JSON object of a definition may have, sorted by byte value
 * (all ASCII, so this is also RFC 8785 member order).
 */
typedef struct DefShape
{
	const char *noun;			/* for hints: "a stage" */
	const char *const *keys;
	int			nkeys;
} DefShape;

static const char *const item_keys[] = {
	"audience", "creator", "description", "name", "options", "required", "sources",
	"trace_code", "type", "widget"
};
static const char *const form_keys[] = {
	"audience", "description", "items", "key", "name"
};
static const char *const stage_keys[] = {
	"creator", "description", "forms", "members", "name", "order", "role"
};
static const char *const process_keys[] = {
	"description", "inputs", "name", "node", "outputs", "stages"
};
static const char *const output_keys[] = {"description", "level", "name"};
static const char *const input_keys[] = {"from", "level", "name", "output"};
static const char *const link_keys[] = {
	"creator", "info", "invitations", "name", "process_order", "processes",
	"voting"
};
static const char *const voting_keys[] = {"adoption", "modification"};
static const char *const rule_keys[] = {"denominator", "k", "numerator", "rule"};

#define DEF_SHAPE(noun, keys) {(noun), (keys), lengthof(keys)}

static const DefShape item_shape = DEF_SHAPE("an item", item_keys);
static const DefShape form_shape = DEF_SHAPE("a form", form_keys);
static const DefShape stage_shape = DEF_SHAPE("a stage", stage_keys);
static const DefShape process_shape = DEF_SHAPE("a process", process_keys);
static const DefShape output_shape = DEF_SHAPE("an output", output_keys);
static const DefShape input_shape = DEF_SHAPE("an input", input_keys);
static const DefShape link_shape = DEF_SHAPE("a link", link_keys);
static const DefShape voting_shape = DEF_SHAPE("\"voting\"", voting_keys);
static const DefShape rule_shape = DEF_SHAPE("a voting rule", rule_keys);

/* ----------------------------------------------------------------
 * Reading members, with input errors (22P02)
 * ----------------------------------------------------------------
 */

/* "a string", "an array", ...: what a key must hold. */
static const char *
kind_with_article(JcsKind kind)
{
	switch (kind)
	{
		case JCS_STRING:
			return "a string";
		case JCS_TRUE:
		case JCS_FALSE:
			return "a boolean";
		case JCS_ARRAY:
			return "an array";
		case JCS_OBJECT:
			return "an object";
		case JCS_NUMBER:
			return "a number";
		case JCS_NULL:
			break;
	}
	return "null";
}

/*
 * Refuse members of obj that the shape does not list.  Both lists are
 * sorted (the members canonically, the shape's keys are ASCII), so one
 * merge pass finds the first unknown key in canonical order.
 */
static void
check_keys(const JcsValue *obj, const DefShape *shape, const DefFrame *f)
{
	int			k = 0;
	int			i;

	for (i = 0; i < obj->u.object.count; i++)
	{
		const JcsMember *m = &obj->u.object.members[i];
		int			c = 1;

		while (k < shape->nkeys &&
			   (c = jcs_key_compare(m->key, m->keylen, shape->keys[k],
									strlen(shape->keys[k]))) > 0)
			k++;
		if (c != 0)
		{
			DefFrame	kf;

			def_frame_key(&kf, f, m->key, m->keylen);
			def_syntax_error(&kf,
							 psprintf("The keys of %s are %s.", shape->noun,
									  def_word_list(shape->keys, shape->nkeys)),
							 "unknown key \"%s\"", def_shown(m->key, m->keylen));
		}
	}
}

/* The member "key" of obj, or NULL; raise when required and absent. */
static JcsValue *
get_member(const JcsValue *obj, const char *key, bool required,
		   const DefFrame *f)
{
	JcsValue   *v = jcs_object_get(obj, key);

	if (v == NULL && required)
		def_syntax_error(f, NULL, "missing required key \"%s\"", key);
	return v;
}

/* Raise unless v (the member "key" of f's object) has the given kind. */
static void
check_kind(const JcsValue *v, const char *key, JcsKind kind, const DefFrame *f)
{
	bool		ok;

	if (kind == JCS_TRUE || kind == JCS_FALSE)
		ok = (v->kind == JCS_TRUE || v->kind == JCS_FALSE);
	else
		ok = (v->kind == kind);
	if (!ok)
	{
		DefFrame	kf;

		def_frame_key(&kf, f, key, strlen(key));
		def_syntax_error(&kf, NULL, "key \"%s\" must be %s",
						 key, kind_with_article(kind));
	}
}

static JcsValue *
get_typed(const JcsValue *obj, const char *key, JcsKind kind, bool required,
		  const DefFrame *f)
{
	JcsValue   *v = get_member(obj, key, required, f);

	if (v != NULL)
		check_kind(v, key, kind, f);
	return v;
}

/* A string member, or the given default when absent. */
static JcsValue *
get_string_or(const JcsValue *obj, const char *key, const char *dflt,
			  const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_STRING, false, f);

	return v ? v : jcs_make_string(dflt, strlen(dflt));
}

/* A boolean member, or the given default when absent. */
static JcsValue *
get_bool_or(const JcsValue *obj, const char *key, bool dflt, const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_TRUE, false, f);

	return v ? v : jcs_make_bool(dflt);
}

/* A member that must be a name (see name_problem). */
static JcsValue *
get_name(const JcsValue *obj, const char *key, bool required,
		 const DefFrame *f)
{
	JcsValue   *v = get_typed(obj, key, JCS_STRING, required, f);
	const char *problem;

	if (v != NULL &&
		(problem = def_name_problem(v->u.string.str, v->u.string.len)) != NULL)
	{
		DefFrame	kf;

		def_frame_key(&kf, f, key, strlen(key));
		def_syntax_error(&kf, NULL, "key \"%s\" %s", key, problem);
	}
	return v;
}

/*
 * An integer member (a JSON number with an integral value that fits an
 * int32), or NULL when absent.  With positive, values below 1 are refused.
 */
static JcsValue *
get_integer(const JcsValue *obj, const char *key, bool positive,
			const DefFrame *f, int *value)
{
	JcsValue   *v = get_member(obj, key, false, f);
	DefFrame	kf;
	double		d;

	if (v == NULL)
		return NULL;
	def_frame_key(&kf, f, key, strlen(key));
	if (v->kind != JCS_NUMBER)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an integer", key);
	d = v->u.number;
	if (!(d >= (double) PG_INT32_MIN && d <= (double) PG_INT32_MAX))
		def_syntax_error(&kf, NULL, "key \"%s\" is out of range for an integer",
						 key);
	if (d != (double) (int32) d)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an integer", key);
	if (positive && d < 1)
		def_syntax_error(&kf, NULL, "key \"%s\" must be a positive integer",
						 key);
	*value = (int) d;
	return v;
}

/*
 * Check an array of strings (of names, when names is set), the member "key"
 * of f's object.  The array is returned as it is.
 */
static JcsValue *
check_string_array(JcsValue *arr, const char *key, int keylen, bool names,
				   const DefFrame *f)
{
	DefFrame	kf;
	int			i;

	def_frame_key(&kf, f, key, keylen);
	if (arr->kind != JCS_ARRAY)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an array",
						 def_shown(key, keylen));
	for (i = 0; i < arr->u.array.count; i++)
	{
		const JcsValue *e = arr->u.array.elems[i];
		DefFrame	ef;
		const char *problem;

		def_frame_index(&ef, &kf, i, NULL);
		if (e->kind != JCS_STRING)
			def_syntax_error(&ef, NULL, "each element of \"%s\" must be a string",
							 def_shown(key, keylen));
		if (names &&
			(problem = def_name_problem(e->u.string.str, e->u.string.len)) != NULL)
			def_syntax_error(&ef, NULL, "each element of \"%s\" %s",
							 def_shown(key, keylen), problem);
	}
	return arr;
}

/*
 * The optional "audience" of a form or an item: a string (its meaning,
 * "public" or "process", is validation's) or an array of node names (empty
 * arrays and repeats are validation's too).  Absent stays absent.
 */
static void
put_audience(JcsValue *out, const JcsValue *v, const DefFrame *f)
{
	JcsValue   *m = get_member(v, "audience", false, f);

	if (m == NULL)
		return;
	if (m->kind != JCS_STRING)
	{
		if (m->kind != JCS_ARRAY)
		{
			DefFrame	kf;

			def_frame_key(&kf, f, "audience", 8);
			def_syntax_error(&kf, NULL,
							 "key \"audience\" must be a string or an array");
		}
		check_string_array(m, "audience", 8, true, f);
	}
	jcs_object_put(out, "audience", m);
}

/*
 * Start an element: v must be an object with only the shape's keys and a
 * valid "name"; the frame learns the name (before the keys are checked
 * when it is a good one, so that messages can name the element).  Returns
 * the name value.
 */
static JcsValue *
begin_element(const JcsValue *v, const DefShape *shape, DefFrame *f)
{
	JcsValue   *name;

	if (v->kind != JCS_OBJECT)
		def_syntax_error(f, NULL, "value must be an object");
	name = jcs_object_get(v, "name");
	if (name != NULL && name->kind == JCS_STRING &&
		def_name_problem(name->u.string.str, name->u.string.len) == NULL)
		f->name = pnstrdup(name->u.string.str, name->u.string.len);
	check_keys(v, shape, f);
	name = get_name(v, "name", true, f);
	f->name = pnstrdup(name->u.string.str, name->u.string.len);
	return name;
}

/* ----------------------------------------------------------------
 * Normalisation
 * ----------------------------------------------------------------
 */

static JcsValue *
norm_item(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(10);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &item_shape, f));
	put_audience(out, v, f);
	if ((m = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", m);
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_member(v, "options", false, f)) != NULL)
		jcs_object_put(out, "options",
					   check_string_array(m, "options", 7, false, f));
	jcs_object_put(out, "required", get_bool_or(v, "required", false, f));
	if ((m = get_member(v, "sources", false, f)) != NULL)
		m = check_string_array(m, "sources", 7, false, f);
	else
	{
		m = jcs_make_array(1);
		jcs_array_append(m, jcs_make_string("manual", 6));
	}
	jcs_object_put(out, "sources", m);
	jcs_object_put(out, "trace_code", get_bool_or(v, "trace_code", false, f));
	jcs_object_put(out, "type", get_typed(v, "type", JCS_STRING, true, f));
	jcs_object_put(out, "widget", get_string_or(v, "widget", "textbox", f));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_form(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(5);
	JcsValue   *items = jcs_make_array(0);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &form_shape, f));
	put_audience(out, v, f);
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_typed(v, "items", JCS_ARRAY, false, f)) != NULL)
	{
		DefFrame	kf;
		int			i;

		def_frame_key(&kf, f, "items", 5);
		for (i = 0; i < m->u.array.count; i++)
		{
			DefFrame	ef;

			def_frame_index(&ef, &kf, i, "item");
			jcs_array_append(items, norm_item(m->u.array.elems[i], &ef));
		}
	}
	jcs_object_put(out, "items", items);
	jcs_object_put(out, "key", get_bool_or(v, "key", false, f));
	jcs_object_sort(out);
	return out;
}

/*
 * A stage.  position > 0 means the stage is element position of a
 * process's stages and gets order = position when it has none; a
 * standalone stage (position 0) keeps "order" only when given.  *given is
 * set to the given order, or 0.
 */
static JcsValue *
norm_stage(JcsValue *v, DefFrame *f, int position, int *given)
{
	JcsValue   *out = jcs_make_object(7);
	JcsValue   *forms = jcs_make_array(0);
	JcsValue   *creator;
	JcsValue   *m;
	int			order = 0;

	jcs_object_put(out, "name", begin_element(v, &stage_shape, f));
	if ((creator = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", creator);
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	if ((m = get_typed(v, "forms", JCS_ARRAY, false, f)) != NULL)
	{
		DefFrame	kf;
		int			i;

		def_frame_key(&kf, f, "forms", 5);
		for (i = 0; i < m->u.array.count; i++)
		{
			DefFrame	ef;

			def_frame_index(&ef, &kf, i, "form");
			jcs_array_append(forms, norm_form(m->u.array.elems[i], &ef));
		}
	}
	jcs_object_put(out, "forms", forms);
	if ((m = get_member(v, "members", false, f)) != NULL)
		m = check_string_array(m, "members", 7, true, f);
	else
	{
		m = jcs_make_array(1);
		if (creator != NULL)
			jcs_array_append(m, creator);
	}
	jcs_object_put(out, "members", m);
	if ((m = get_integer(v, "order", true, f, &order)) != NULL)
		jcs_object_put(out, "order", m);
	else if (position > 0)
		jcs_object_put(out, "order", jcs_make_number(position));
	jcs_object_put(out, "role", get_string_or(v, "role", "", f));
	jcs_object_sort(out);
	if (given)
		*given = order;
	return out;
}

typedef struct OrderedStage
{
	int			order;
	int			index;			/* in the given array */
	JcsValue   *stage;
} OrderedStage;

static int
ordered_stage_cmp(const void *a, const void *b)
{
	const OrderedStage *x = a;
	const OrderedStage *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->index - y->index;
}

/*
 * A process's stages.  Either no stage has "order" (creation order: order
 * becomes the position) or every stage has one (a pre-ordered catalogue:
 * distinct numbers, stages sorted by them); a mix is refused.
 */
static JcsValue *
norm_stages(JcsValue *arr, const DefFrame *f)
{
	int			n = arr->u.array.count;
	OrderedStage *st = palloc(sizeof(OrderedStage) * Max(n, 1));
	bool		ordered = false;
	JcsValue   *out;
	DefFrame	kf;
	int			i;

	def_frame_key(&kf, f, "stages", 6);
	for (i = 0; i < n; i++)
	{
		DefFrame	ef;

		def_frame_index(&ef, &kf, i, "stage");
		st[i].stage = norm_stage(arr->u.array.elems[i], &ef, i + 1,
								 &st[i].order);
		st[i].index = i;
		if (i == 0)
			ordered = (st[i].order > 0);
		else if (ordered && st[i].order == 0)
			def_syntax_error(&ef, NULL,
							 "key \"order\" is missing, but the first stage of the process has one");
		else if (!ordered && st[i].order > 0)
			def_syntax_error(&ef, NULL,
							 "key \"order\" is given, but the first stage of the process has none");
	}
	if (ordered)
	{
		qsort(st, n, sizeof(OrderedStage), ordered_stage_cmp);
		for (i = 1; i < n; i++)
		{
			if (st[i].order == st[i - 1].order)
			{
				DefFrame	ef;
				DefFrame	of;
				const JcsValue *name = jcs_object_get(st[i].stage, "name");
				const JcsValue *other = jcs_object_get(st[i - 1].stage, "name");

				def_frame_index(&ef, &kf, st[i].index, "stage");
				ef.name = pnstrdup(name->u.string.str, name->u.string.len);
				def_frame_key(&of, &ef, "order", 5);
				def_syntax_error(&of, NULL,
								 "order %d is also used by stage \"%s\"",
								 st[i].order, def_shown_value(other));
			}
		}
	}
	out = jcs_make_array(n);
	for (i = 0; i < n; i++)
		jcs_array_append(out, st[i].stage);
	return out;
}

static JcsValue *
norm_output(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(3);
	JcsValue   *m;
	int			level;

	jcs_object_put(out, "name", begin_element(v, &output_shape, f));
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	m = get_integer(v, "level", false, f, &level);
	jcs_object_put(out, "level", m ? m : jcs_make_number(1));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_input(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(4);
	JcsValue   *m;
	int			level;

	jcs_object_put(out, "name", begin_element(v, &input_shape, f));
	jcs_object_put(out, "from", get_name(v, "from", true, f));
	m = get_integer(v, "level", false, f, &level);
	jcs_object_put(out, "level", m ? m : jcs_make_number(1));
	jcs_object_put(out, "output", get_name(v, "output", true, f));
	jcs_object_sort(out);
	return out;
}

/* The elements of an array member, each normalised by fn. */
static JcsValue *
norm_elements(const JcsValue *obj, const char *key, const char *element,
			  JcsValue *(*fn) (JcsValue *, DefFrame *), const DefFrame *f)
{
	JcsValue   *arr = get_typed(obj, key, JCS_ARRAY, false, f);
	JcsValue   *out;
	DefFrame	kf;
	int			i;

	if (arr == NULL)
		return jcs_make_array(0);
	out = jcs_make_array(arr->u.array.count);
	def_frame_key(&kf, f, key, strlen(key));
	for (i = 0; i < arr->u.array.count; i++)
	{
		DefFrame	ef;

		def_frame_index(&ef, &kf, i, element);
		jcs_array_append(out, fn(arr->u.array.elems[i], &ef));
	}
	return out;
}

static JcsValue *
norm_process(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(6);
	JcsValue   *m;

	jcs_object_put(out, "name", begin_element(v, &process_shape, f));
	jcs_object_put(out, "description", get_string_or(v, "description", "", f));
	jcs_object_put(out, "inputs", norm_elements(v, "inputs", "input", norm_input, f));
	if ((m = get_name(v, "node", false, f)) != NULL)
		jcs_object_put(out, "node", m);
	jcs_object_put(out, "outputs", norm_elements(v, "outputs", "output", norm_output, f));
	if ((m = get_typed(v, "stages", JCS_ARRAY, false, f)) != NULL)
		m = norm_stages(m, f);
	else
		m = jcs_make_array(0);
	jcs_object_put(out, "stages", m);
	jcs_object_sort(out);
	return out;
}

/* A voting rule: {"rule": ..., "numerator"/"denominator"/"k": integers}. */
static JcsValue *
norm_rule(JcsValue *v, const char *key, const DefFrame *f)
{
	JcsValue   *out = jcs_make_object(4);
	DefFrame	kf;
	JcsValue   *m;
	int			n;

	def_frame_key(&kf, f, key, strlen(key));
	if (v->kind != JCS_OBJECT)
		def_syntax_error(&kf, NULL, "key \"%s\" must be an object", key);
	check_keys(v, &rule_shape, &kf);
	if ((m = get_integer(v, "denominator", false, &kf, &n)) != NULL)
		jcs_object_put(out, "denominator", m);
	if ((m = get_integer(v, "k", false, &kf, &n)) != NULL)
		jcs_object_put(out, "k", m);
	if ((m = get_integer(v, "numerator", false, &kf, &n)) != NULL)
		jcs_object_put(out, "numerator", m);
	jcs_object_put(out, "rule", get_typed(v, "rule", JCS_STRING, true, &kf));
	jcs_object_sort(out);
	return out;
}

static JcsValue *
norm_voting(JcsValue *v, const DefFrame *f)
{
	JcsValue   *out = jcs_make_object(2);
	DefFrame	kf;
	JcsValue   *m;

	def_frame_key(&kf, f, "voting", 6);
	check_keys(v, &voting_shape, &kf);
	if ((m = get_member(v, "adoption", false, &kf)) != NULL)
		jcs_object_put(out, "adoption", norm_rule(m, "adoption", &kf));
	if ((m = get_member(v, "modification", false, &kf)) != NULL)
		jcs_object_put(out, "modification", norm_rule(m, "modification", &kf));
	jcs_object_sort(out);
	return out;
}

/* "invitations": process name -> array of node names. */
static JcsValue *
norm_invitations(JcsValue *v, const DefFrame *f)
{
	DefFrame	kf;
	int			i;

	def_frame_key(&kf, f, "invitations", 11);
	for (i = 0; i < v->u.object.count; i++)
	{
		const JcsMember *m = &v->u.object.members[i];
		const char *problem = def_name_problem(m->key, m->keylen);

		if (problem != NULL)
		{
			DefFrame	pf;

			def_frame_key(&pf, &kf, m->key, m->keylen);
			def_syntax_error(&pf, NULL, "key \"%s\" of \"invitations\" %s",
							 def_shown(m->key, m->keylen), problem);
		}
		check_string_array(m->value, m->key, m->keylen, true, &kf);
	}
	return v;
}

typedef struct RankedProcess
{
	int			rank;
	int			index;
	JcsValue   *process;
} RankedProcess;

static int
ranked_process_cmp(const void *a, const void *b)
{
	const RankedProcess *x = a;
	const RankedProcess *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->index - y->index;
}

/*
 * A link.  Its processes are put in process order (the first place a name
 * has in process_order); processes not named there follow in given order.
 * A missing process_order is the list of process names, without repeats.
 */
static JcsValue *
norm_link(JcsValue *v, DefFrame *f)
{
	JcsValue   *out = jcs_make_object(7);
	JcsValue   *processes;
	JcsValue   *order;
	JcsValue   *sorted;
	JcsValue   *m;
	RankedProcess *ranked;
	NameIndex	ix;
	int			n;
	int			i;

	jcs_object_put(out, "name", begin_element(v, &link_shape, f));
	if ((m = get_name(v, "creator", false, f)) != NULL)
		jcs_object_put(out, "creator", m);
	m = get_typed(v, "info", JCS_OBJECT, false, f);
	jcs_object_put(out, "info", m ? m : jcs_make_object(0));
	m = get_typed(v, "invitations", JCS_OBJECT, false, f);
	jcs_object_put(out, "invitations",
				   m ? norm_invitations(m, f) : jcs_make_object(0));
	order = get_member(v, "process_order", false, f);
	if (order != NULL)
		check_string_array(order, "process_order", 13, true, f);
	processes = norm_elements(v, "processes", "process", norm_process, f);
	if ((m = get_typed(v, "voting", JCS_OBJECT, false, f)) != NULL)
		jcs_object_put(out, "voting", norm_voting(m, f));

	n = processes->u.array.count;
	if (order == NULL)
	{
		order = jcs_make_array(n);
		def_nameindex_build(&ix, processes, "name");
		for (i = 0; i < n; i++)
		{
			JcsValue   *name = jcs_object_get(processes->u.array.elems[i],
											  "name");

			if (!def_nameindex_is_repeat(&ix, name, i))
				jcs_array_append(order, name);
		}
	}
	jcs_object_put(out, "process_order", order);

	def_nameindex_build(&ix, order, NULL);
	ranked = palloc(sizeof(RankedProcess) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		const JcsValue *name = jcs_object_get(processes->u.array.elems[i],
											  "name");
		int			pos = def_nameindex_find(&ix, name->u.string.str,
											 name->u.string.len);

		ranked[i].rank = pos >= 0 ? pos : order->u.array.count + i;
		ranked[i].index = i;
		ranked[i].process = processes->u.array.elems[i];
	}
	qsort(ranked, n, sizeof(RankedProcess), ranked_process_cmp);
	sorted = jcs_make_array(n);
	for (i = 0; i < n; i++)
		jcs_array_append(sorted, ranked[i].process);
	jcs_object_put(out, "processes", sorted);
	jcs_object_sort(out);
	return out;
}

/*
 * Check the shape of a parsed definition and return its normalised tree.
 * The result may share nodes with root.  Raises 22P02 on the first
 * problem; see docs/definitions.md for the format.
 */
JcsValue *
tl_definition_normalise_tree(TlDefKind kind, JcsValue *root)
{
	DefFrame	f;

	def_frame_root(&f, tl_definition_kind_name(kind));
	switch (kind)
	{
		case TL_DEF_STAGE:
			return norm_stage(root, &f, 0, NULL);
		case TL_DEF_PROCESS:
			return norm_process(root, &f);
		case TL_DEF_LINK:
			return norm_link(root, &f);
	}
	pg_unreachable();
}

/*
 * Parse, check the shape, normalise; returns palloc'd canonical bytes
 * (NUL-terminated, length in *outlen).  The type input, receive and jsonb
 * cast functions raise exactly these errors.
 */
char *
tl_definition_normalise(TlDefKind kind, const char *json, int len, int *outlen)
{
	StringInfoData out;
	JcsValue   *tree;

	tree = tl_definition_normalise_tree(kind, jcs_parse(json, len));
	initStringInfo(&out);
	jcs_serialize(&out, tree);
	*outlen = out.len;
	return out.data;
}


/* ----------------------------------------------------------------
 * Editing
 * ----------------------------------------------------------------
 */

/*
 * A link with a process added, or replacing the first process of the same
 * name; process_order is kept as it is.  Both are JSON text; the result is
 * canonical text (palloc'd, length in *outlen).
 */
char *
tl_link_with_process(const char *link, int linklen, const char *process,
					 int processlen, int *outlen)
{
	JcsValue   *ltree = jcs_parse(link, linklen);
	JcsValue   *ptree = jcs_parse(process, processlen);
	JcsValue   *processes;
	const char *name;
	StringInfoData out;
	int			i;

	ltree = tl_definition_normalise_tree(TL_DEF_LINK, ltree);
	ptree = tl_definition_normalise_tree(TL_DEF_PROCESS, ptree);
	processes = jcs_object_get(ltree, "processes");
	name = jcs_member_string(ptree, "name");
	for (i = 0; i < processes->u.array.count; i++)
	{
		if (strcmp(jcs_member_string(processes->u.array.elems[i], "name"), name) == 0)
			break;
	}
	if (i < processes->u.array.count)
		processes->u.array.elems[i] = ptree;
	else
		jcs_array_append(processes, ptree);

	initStringInfo(&out);
	jcs_serialize(&out, tl_definition_normalise_tree(TL_DEF_LINK, ltree));
	*outlen = out.len;
	return out.data;
}
