/*-------------------------------------------------------------------------
 *
 * jcs.h
 *	  RFC 8785 canonical JSON: the tree every part of tracelink reads JSON
 *	  into, and the functions that parse, walk and serialise it.
 *
 * The part is four files:
 *	- jcs.c: building and reading trees, parsing JSON text;
 *	- jcs_serialize.c: canonical text of numbers, strings and trees;
 *	- jcs_patch.c: RFC 7386 merge patch over trees;
 *	- jcs_jsonb.c: jsonb to tree and to canonical text, a tree back to
 *	  jsonb (a number to numeric), and the SQL functions jcs() and
 *	  digest(jsonb) (server only).
 * All but jcs_jsonb.c use only palloc, StringInfo, ereport and
 * check_stack_depth, so fuzz/ and tools/ build them outside the server
 * (src/standin/standin.c stands in for the backend there).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_JCS_H
#define TL_JCS_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef enum JcsKind
{
	JCS_NULL,
	JCS_TRUE,
	JCS_FALSE,
	JCS_NUMBER,
	JCS_STRING,
	JCS_ARRAY,
	JCS_OBJECT
} JcsKind;

typedef struct JcsValue JcsValue;

typedef struct JcsMember
{
	char	   *key;			/* UTF-8, not NUL-terminated inside JSON */
	int			keylen;
	JcsValue   *value;
} JcsMember;

struct JcsValue
{
	JcsKind		kind;
	char	   *number_text;	/* canonical text of a parsed number, or NULL */
	union
	{
		double		number;
		struct
		{
			char	   *str;
			int			len;
		}			string;
		struct
		{
			JcsValue  **elems;
			int			count;
			int			capacity;
		}			array;
		struct
		{
			JcsMember  *members;	/* sorted by UTF-16 code units */
			int			count;
			int			capacity;
		}			object;
	}			u;
};

/*
 * The largest JSON document tracelink reads, in bytes: JSON text as given,
 * a jsonb value by the length of its canonical text, a ledger entry by its
 * canonical form (its export line).  Anything larger is refused with 54000
 * (program_limit_exceeded) before it costs more than the limit.  A
 * constant, not a setting: it decides which entries a node accepts from
 * its peers, so all nodes must agree on it (docs/ledger.md, "Size limits").
 */
#define TL_JSON_MAX_BYTES	(64 * 1024 * 1024)

/* jcs.c: building, parsing and comparing trees */
extern void jcs_check_size(size_t len, bool exact);
extern JcsValue *jcs_parse(const char *json, int len);
extern char *jcs_canonical_text(const char *json, int len, int *outlen);
extern bool jcs_text_is_canonical(const char *json, int len, bool utf8);
extern JcsValue *jcs_object_get(const JcsValue *object, const char *key);
extern JcsValue *jcs_object_get_len(const JcsValue *object, const char *key, int keylen);
extern int	jcs_key_compare(const char *a, int alen, const char *b, int blen);
extern JcsValue *jcs_make_string(const char *str, int len);
extern JcsValue *jcs_make_number(double value);
extern JcsValue *jcs_make_bool(bool value);
extern JcsValue *jcs_make_null(void);
extern JcsValue *jcs_make_array(int capacity);
extern JcsValue *jcs_make_object(int capacity);
extern void jcs_array_append(JcsValue *array, JcsValue *elem);
extern void jcs_object_put(JcsValue *object, const char *key, JcsValue *value);
extern void jcs_object_sort(JcsValue *object);
extern bool jcs_equal(const JcsValue *a, const JcsValue *b);
extern const char *jcs_kind_name(JcsKind kind);

/*
 * jcs.c: reading trees.  The jcs_member* functions are for trees whose
 * shape is already known (normalised definitions, adopted versions): a
 * missing member is an internal error.  The jcs_get* functions are for
 * trees of any shape: an absent member, or one of another kind, reads as
 * NULL, false or nothing.
 */
extern const JcsValue *jcs_member(const JcsValue *obj, const char *key);
extern int	jcs_member_count(const JcsValue *obj, const char *key);
extern const JcsValue *jcs_member_elem(const JcsValue *obj, const char *key,
									   int i);
extern const char *jcs_member_string(const JcsValue *obj, const char *key);
extern int32 jcs_member_int(const JcsValue *obj, const char *key);
extern bool jcs_member_true(const JcsValue *obj, const char *key);
extern const char *jcs_get_string(const JcsValue *obj, const char *key);
extern bool jcs_get_true(const JcsValue *obj, const char *key);
extern const char **jcs_get_strings(const JcsValue *obj, const char *key,
									bool sort, int *n);

/* jcs_serialize.c: canonical text */
extern void jcs_serialize(StringInfo out, const JcsValue *value);
extern void jcs_append_string(StringInfo out, const char *str, int len);
extern void jcs_append_number(StringInfo out, double value);

/* jcs_patch.c: RFC 7386 merge patch */
extern JcsValue *jcs_merge_patch(JcsValue *target, JcsValue *patch);

/* jcs_jsonb.c: jsonb (server only) */
extern JcsValue *jcs_from_jsonb(Jsonb *jb);
extern void jcs_serialize_jsonb(StringInfo out, Jsonb *jb);
extern Jsonb *jcs_to_jsonb(const JcsValue *v);
extern Numeric jcs_number_numeric(const JcsValue *v);

/* ----------------------------------------------------------------
 * Between the jcs*.c files only
 * ----------------------------------------------------------------
 */

/* A tree under construction: jcs_parse() and jcs_from_jsonb() fill it. */
typedef struct JcsParseState
{
	JcsValue  **stack;			/* open containers, innermost last */
	int			depth;
	int			stack_size;
	JcsValue   *root;
	char	   *pending_key;	/* member name awaiting its value (palloc'd) */
	int			pending_keylen;
	size_t		size;			/* jcs_from_jsonb: canonical bytes so far */
} JcsParseState;

extern void jcs_attach(JcsParseState *st, JcsValue *v);
extern void jcs_push(JcsParseState *st, JcsValue *v);
extern void jcs_sort_members(void *base, int n, size_t size,
							 int (*cmp) (const void *, const void *));
extern double jcs_parse_number(const char *token);

/*
 * Room for the canonical text jcs_number_text_fast() produces: at most 23
 * characters ("-0.00000" and 15 digits; an integer has at most 21 digits,
 * an exponential form 17 characters and "e-290"), and the 16 bytes that
 * appendStringInfo() wants free before it formats the exponent (with
 * less, it would enlarge the buffer, which is on the stack).
 */
#define JCS_FAST_NUMBER_LEN 64

extern int	jcs_number_text_fast(const char *token, char *buf);

#endif							/* TL_JCS_H */
