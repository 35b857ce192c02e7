/*-------------------------------------------------------------------------
 *
 * fuzz_export_line.c
 *	  libFuzzer target for the export-line and tree-head parser,
 *	  tl_export_line() and tl_json_block_header() in src/ledger_json.c.
 *
 * Each input is one line as tracelink.ingest() gets it (or a tree head as
 * tracelink.verify_tree_head() gets it): it is parsed with jcs_parse(),
 * then read as an export line and, separately, as a block header.  Besides
 * "no crash, no sanitizer report" and the memory bound of every target
 * (harness.c), an input is held to these oracles:
 *
 * - errors: parsing raises only the expected SQLSTATEs (fuzz_error_expected);
 *	 reading the tree raises nothing but 54001 (serialising a payload nested
 *	 too deep), and reading a header nothing at all;
 * - acceptance: the line is taken as an entry, a block or a header exactly
 *	 when the harness's own reading of docs/ledger.md says it is one (every
 *	 field present with its type: names under 64 bytes, integers exact in a
 *	 double, seq and entry_count in int32, hashes and keys as lowercase hex
 *	 of their length, entry_hashes as many as entry_count), and likewise
 *	 for the header alone;
 * - nothing lost or altered: what was taken out, printed back by the
 *	 harness's own printer (its own escaping and hex), is the canonical
 *	 form of the input with only the fields the format defines;
 * - nothing points into the tree (ingest() frees it at once): the results
 *	 are printed after every string of the tree has been overwritten.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "datatype/timestamp.h"
#include "tracelink.h"

#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the members of each line, in RFC 8785 order (ASCII: byte order) */
static const char *const entry_keys[] = {
	"audience", "deps", "kind", "origin", "payload", "seq", "tx", "type", NULL
};
static const char *const block_keys[] = {
	"block_hash", "block_no", "entries_root", "entry_count", "entry_hashes",
	"next_key", "origin", "prev_hash", "sealed_at", "signature", "signer_key",
	"tree_root", "tree_size", "tx", "type", NULL
};

/* a tree head: a block's keys without entry_hashes and type */
static const char *const head_keys[] = {
	"block_hash", "block_no", "entries_root", "entry_count",
	"next_key", "origin", "prev_hash", "sealed_at", "signature", "signer_key",
	"tree_root", "tree_size", "tx", NULL
};

static const char *input_json;
static int	input_len;

static void
fail(const char *what, const char *output, const ErrorData *edata)
{
	fuzz_fail(what, input_json, input_len, output, output ? strlen(output) : 0, edata);
}

/* ----------------------------------------------------------------
 * Steps of code under test
 * ----------------------------------------------------------------
 */

typedef struct ParseStep
{
	const char *json;
	int			len;
	JcsValue   *tree;
} ParseStep;

static void
step_parse(void *arg)
{
	ParseStep  *step = arg;

	step->tree = jcs_parse(step->json, step->len);
}

typedef struct LineStep
{
	JcsValue   *tree;
	const char *problem;
	bool		is_block;
	TlEntry		entry;
	TlBlock		block;
} LineStep;

static void
step_line(void *arg)
{
	LineStep   *step = arg;

	step->problem = tl_export_line(step->tree, &step->is_block, &step->entry,
								   &step->block);
}

static void
step_header(void *arg)
{
	LineStep   *step = arg;

	step->problem = tl_json_block_header(step->tree, &step->block);
}

typedef struct SerializeStep
{
	const JcsValue *tree;
	StringInfoData out;
} SerializeStep;

static void
step_serialize(void *arg)
{
	SerializeStep *step = arg;

	initStringInfo(&step->out);
	jcs_serialize(&step->out, step->tree);
}

/* ----------------------------------------------------------------
 * The harness's own reading of the format (docs/ledger.md)
 * ----------------------------------------------------------------
 */

static JcsValue *
member(const JcsValue *obj, const char *key)
{
	int			i;

	if (obj->kind != JCS_OBJECT)
		return NULL;
	for (i = 0; i < obj->u.object.count; i++)
		if (obj->u.object.members[i].keylen == (int) strlen(key) &&
			memcmp(obj->u.object.members[i].key, key, strlen(key)) == 0)
			return obj->u.object.members[i].value;
	return NULL;
}

/* an integer a double holds exactly, within [lo, hi] */
static bool
is_int(const JcsValue *v, double lo, double hi)
{
	return v != NULL && v->kind == JCS_NUMBER && v->u.number == floor(v->u.number) &&
		fabs(v->u.number) <= 9007199254740992.0 &&
		v->u.number >= lo && v->u.number <= hi;
}

static bool
is_any_int(const JcsValue *v)
{
	return is_int(v, -9007199254740992.0, 9007199254740992.0);
}

/* lowercase hex of exactly n bytes */
static bool
is_hex(const JcsValue *v, int n)
{
	int			i;

	if (v == NULL || v->kind != JCS_STRING || v->u.string.len != 2 * n)
		return false;
	for (i = 0; i < 2 * n; i++)
	{
		char		c = v->u.string.str[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

static bool
is_hash_array(const JcsValue *v)
{
	int			i;

	if (v == NULL || v->kind != JCS_ARRAY)
		return false;
	for (i = 0; i < v->u.array.count; i++)
		if (!is_hex(v->u.array.elems[i], 32))
			return false;
	return true;
}

static bool
is_origin(const JcsValue *v)
{
	return v != NULL && v->kind == JCS_STRING && v->u.string.len < 64;
}

static bool
is_type(const JcsValue *obj, const char *type)
{
	JcsValue   *t = member(obj, "type");

	return t != NULL && t->kind == JCS_STRING &&
		t->u.string.len == (int) strlen(type) && memcmp(t->u.string.str, type, strlen(type)) == 0;
}

static bool
header_valid(const JcsValue *v)
{
	JcsValue   *next = member(v, "next_key");

	return v->kind == JCS_OBJECT && is_origin(member(v, "origin")) &&
		is_any_int(member(v, "block_no")) && is_any_int(member(v, "tx")) &&
		is_int(member(v, "entry_count"), 0, PG_INT32_MAX) &&
		is_any_int(member(v, "tree_size")) && is_any_int(member(v, "sealed_at")) &&
		is_hex(member(v, "entries_root"), 32) && is_hex(member(v, "tree_root"), 32) &&
		is_hex(member(v, "prev_hash"), 32) && is_hex(member(v, "signer_key"), 32) &&
		is_hex(member(v, "block_hash"), 32) && is_hex(member(v, "signature"), 64) &&
		next != NULL && (next->kind == JCS_NULL || is_hex(next, 32));
}

static bool
block_valid(const JcsValue *v)
{
	JcsValue   *hashes = member(v, "entry_hashes");

	return header_valid(v) && is_hash_array(hashes) &&
		hashes->u.array.count == (int) member(v, "entry_count")->u.number;
}

static bool
entry_valid(const JcsValue *v)
{
	JcsValue   *audience = member(v, "audience");
	int			i;

	if (!is_origin(member(v, "origin")) || member(v, "kind") == NULL ||
		member(v, "kind")->kind != JCS_STRING || member(v, "payload") == NULL ||
		!is_any_int(member(v, "tx")) || !is_int(member(v, "seq"), 0, PG_INT32_MAX) ||
		!is_hash_array(member(v, "deps")) || audience == NULL)
		return false;
	if (audience->kind == JCS_NULL)
		return true;
	if (audience->kind != JCS_ARRAY)
		return false;
	for (i = 0; i < audience->u.array.count; i++)
		if (audience->u.array.elems[i]->kind != JCS_STRING)
			return false;
	return true;
}

/* ----------------------------------------------------------------
 * The harness's own printer
 * ----------------------------------------------------------------
 */

static void
put_string(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789abcdef";
	int			i;

	appendStringInfoChar(out, '"');
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				if (c < 0x20)
					appendStringInfo(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
				else
					appendStringInfoChar(out, (char) c);
		}
	}
	appendStringInfoChar(out, '"');
}

static void
put_hex(StringInfo out, const uint8 *data, int len)
{
	int			i;

	appendStringInfoChar(out, '"');
	for (i = 0; i < len; i++)
		appendStringInfo(out, "%02x", data[i]);
	appendStringInfoChar(out, '"');
}

static void
print_entry(StringInfo out, const TlEntry *e)
{
	int			i;

	appendStringInfoString(out, "{\"audience\":");
	if (e->audience == NULL)
		appendStringInfoString(out, "null");
	else
	{
		appendStringInfoChar(out, '[');
		for (i = 0; i < e->naudience; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			put_string(out, e->audience[i], strlen(e->audience[i]));
		}
		appendStringInfoChar(out, ']');
	}
	appendStringInfoString(out, ",\"deps\":[");
	for (i = 0; i < e->ndeps; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		put_hex(out, e->deps + i * 32, 32);
	}
	appendStringInfoString(out, "],\"kind\":");
	put_string(out, e->kind, strlen(e->kind));
	appendStringInfoString(out, ",\"origin\":");
	put_string(out, e->origin, strlen(e->origin));
	appendStringInfoString(out, ",\"payload\":");
	appendBinaryStringInfo(out, e->payload, e->payload_len);
	appendStringInfo(out, ",\"seq\":%d,\"tx\":%lld,\"type\":\"entry\"}",
					 e->seq, (long long) e->tx);
}

/* a block line, or (line = false) a tree head without entry_hashes and type */
static void
print_block(StringInfo out, const TlBlock *b, bool line)
{
	int64		sealed_us = b->h.sealed_at +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	int			i;

	appendStringInfoString(out, "{\"block_hash\":");
	put_hex(out, b->block_hash, 32);
	appendStringInfo(out, ",\"block_no\":%lld,\"entries_root\":", (long long) b->h.block_no);
	put_hex(out, b->h.entries_root, 32);
	appendStringInfo(out, ",\"entry_count\":%d", b->h.entry_count);
	if (line)
	{
		appendStringInfoString(out, ",\"entry_hashes\":[");
		for (i = 0; i < b->h.entry_count; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			put_hex(out, b->entry_hashes + i * 32, 32);
		}
		appendStringInfoChar(out, ']');
	}
	appendStringInfoString(out, ",\"next_key\":");
	if (b->h.has_next_key)
		put_hex(out, b->h.next_key, 32);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"origin\":");
	put_string(out, b->h.origin, strlen(b->h.origin));
	appendStringInfoString(out, ",\"prev_hash\":");
	put_hex(out, b->h.prev_hash, 32);
	appendStringInfo(out, ",\"sealed_at\":%lld,\"signature\":", (long long) sealed_us);
	put_hex(out, b->signature, 64);
	appendStringInfoString(out, ",\"signer_key\":");
	put_hex(out, b->h.signer_key, 32);
	appendStringInfoString(out, ",\"tree_root\":");
	put_hex(out, b->h.tree_root, 32);
	appendStringInfo(out, ",\"tree_size\":%lld,\"tx\":%lld", (long long) b->h.tree_size,
					 (long long) b->h.tx);
	appendStringInfoString(out, line ? ",\"type\":\"block\"}" : "}");
}

/*
 * The canonical text of the input with only the given members (which the
 * input has: it was accepted).
 */
static char *
restricted_canonical(const JcsValue *tree, const char *const *keys)
{
	JcsValue   *kept = jcs_make_object(16);
	SerializeStep step;
	ErrorData  *edata;
	int			i;

	for (i = 0; keys[i] != NULL; i++)
	{
		JcsValue   *v = member(tree, keys[i]);

		if (v != NULL)
			jcs_object_put(kept, keys[i], v);
	}
	jcs_object_sort(kept);
	step.tree = kept;
	edata = fuzz_try(step_serialize, &step);
	if (edata != NULL)
		fail("an accepted line does not serialise", NULL, edata);
	return step.out.data;
}

/*
 * Overwrite every string and member name of a tree, as freeing it would
 * (ingest() deletes the tree's context as soon as the line is read).
 */
static void
scribble(JcsValue *v)
{
	int			i;

	switch (v->kind)
	{
		case JCS_STRING:
			memset(v->u.string.str, 'Z', v->u.string.len);
			break;
		case JCS_ARRAY:
			for (i = 0; i < v->u.array.count; i++)
				scribble(v->u.array.elems[i]);
			break;
		case JCS_OBJECT:
			for (i = 0; i < v->u.object.count; i++)
			{
				memset(v->u.object.members[i].key, 'Z', v->u.object.members[i].keylen);
				scribble(v->u.object.members[i].value);
			}
			break;
		default:
			break;
	}
}

static void
compare(const char *what, const char *want, StringInfo got)
{
	if (strcmp(want, got->data) != 0)
		fuzz_fail(what, want, strlen(want), got->data, got->len, NULL);
}

/* ----------------------------------------------------------------
 * The target
 * ----------------------------------------------------------------
 */

static void
check_line(const char *json, int len)
{
	ParseStep	parse = {json, len, NULL};
	LineStep	line;
	LineStep	header;
	ErrorData  *edata;
	bool		valid;
	bool		head_valid;
	bool		want_block = false;
	bool		want_entry;
	char	   *want_line = NULL;
	char	   *want_head = NULL;
	StringInfoData got;

	edata = fuzz_try(step_parse, &parse);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fail("jcs_parse raised an unexpected error", NULL, edata);
		fuzz_show("not JSON", NULL, 0, edata);
		return;
	}

	memset(&line, 0, sizeof(line));
	line.tree = parse.tree;
	edata = fuzz_try(step_line, &line);
	if (edata != NULL)
	{
		if (edata->sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX)
			fail("tl_export_line raised an error", NULL, edata);
		fuzz_show("payload too deep", NULL, 0, edata);
		return;
	}

	/* acceptance, by the harness's reading of the format */
	if (parse.tree->kind != JCS_OBJECT)
		valid = false;
	else if (is_type(parse.tree, "header"))
		valid = true;
	else if (is_type(parse.tree, "entry"))
		valid = entry_valid(parse.tree);
	else if (is_type(parse.tree, "block"))
	{
		want_block = true;
		valid = block_valid(parse.tree);
	}
	else
		valid = false;
	if (valid != (line.problem == NULL))
		fail(valid ? "a valid line was refused" : "an invalid line was accepted",
			 line.problem, NULL);
	if (valid && line.is_block != want_block)
		fail("a line was taken for the wrong kind", NULL, NULL);
	fuzz_show(line.problem ? line.problem : "accepted", NULL, 0, NULL);
	want_entry = valid && is_type(parse.tree, "entry");
	if (valid && !want_block && !want_entry && line.entry.origin != NULL)
		fail("a header line gave an entry", NULL, NULL);

	/* the same tree as a tree head (verify_tree_head) */
	memset(&header, 0, sizeof(header));
	header.tree = parse.tree;
	edata = fuzz_try(step_header, &header);
	if (edata != NULL)
		fail("tl_json_block_header raised an error", NULL, edata);
	head_valid = header_valid(parse.tree);
	if (head_valid != (header.problem == NULL))
		fail(head_valid ? "a valid tree head was refused" : "an invalid tree head was accepted",
			 header.problem, NULL);

	/* nothing lost or altered, and nothing left pointing into the tree */
	if (valid && (want_block || want_entry))
		want_line = restricted_canonical(parse.tree,
										 want_block ? block_keys : entry_keys);
	if (head_valid)
		want_head = restricted_canonical(parse.tree, head_keys);
	scribble(parse.tree);
	initStringInfo(&got);
	if (want_line != NULL && want_block)
	{
		print_block(&got, &line.block, true);
		compare("block line read back differs from the input", want_line, &got);
	}
	else if (want_line != NULL)
	{
		print_entry(&got, &line.entry);
		compare("entry line read back differs from the input", want_line, &got);
	}
	if (want_head != NULL)
	{
		resetStringInfo(&got);
		print_block(&got, &header.block, false);
		compare("tree head read back differs from the input", want_head, &got);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *) data;

	if (size > FUZZ_MAX_INPUT ||
		fuzz_json_nesting(json, size) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input(json, size);
	input_json = json;
	input_len = (int) size;
	check_line(json, (int) size);
	fuzz_end_input();
	return 0;
}
