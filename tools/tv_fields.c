/*-------------------------------------------------------------------------
 *
 * tv_fields.c
 *	  tracelink-verify's vocabulary for one export: its verdict (fail,
 *	  warn), hex, node names, pinned keys, the fields of block lines and
 *	  signed tree heads, and block signatures.
 *
 *-------------------------------------------------------------------------
 */
#include "tv_verify.h"

#include <stdio.h>

#include <sodium.h>

/* command line (tv_verify.h) */
PinnedKey  *pinned_keys = NULL;
int			npinned = 0;
TreeHead   *tree_heads = NULL;
int			ntree_heads = 0;
bool		require_complete = false;

/* origins of the exports read so far: one export per origin */
char	  **origins_seen = NULL;
int			norigins_seen = 0;

/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

/*
 * A warning about one export on stderr.
 */
void
warn(const Export *x, const char *fmt,...)
{
	va_list		args;

	fflush(stdout);
	fprintf(stderr, "tracelink-verify: warning: %s: ", x->origin);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n");
}

/*
 * Record the first problem with an export; later ones are not looked for.
 */
bool
fail(Export *x, Verdict verdict, char *where, const char *fmt,...)
{
	va_list		args;
	StringInfoData reason;

	initStringInfo(&reason);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&reason, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&reason, needed);
	}
	x->verdict = verdict;
	x->where = where;
	x->reason = reason.data;
	return false;
}

/* lowercase hex of len bytes, NUL-terminated, into out */
void
hex_encode(const uint8 *data, int len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = hex[data[i] >> 4];
		out[2 * i + 1] = hex[data[i] & 0xF];
	}
	out[2 * len] = '\0';
}

/* "block N", for messages */
char *
block_name(int64 block_no)
{
	return psprintf("block " INT64_FORMAT, block_no);
}

/*
 * Decode exactly 2 * len hex digits; lowercase only unless any_case.
 */
bool
hex_decode(const char *text, size_t textlen, uint8 *out, int len, bool any_case)
{
	size_t		i;

	if (textlen != (size_t) 2 * len)
		return false;
	for (i = 0; i < textlen; i++)
	{
		char		c = text[i];
		int			nibble;

		if (c >= '0' && c <= '9')
			nibble = c - '0';
		else if (c >= 'a' && c <= 'f')
			nibble = c - 'a' + 10;
		else if (any_case && c >= 'A' && c <= 'F')
			nibble = c - 'A' + 10;
		else
			return false;
		if (i % 2 == 0)
			out[i / 2] = (uint8) (nibble << 4);
		else
			out[i / 2] |= (uint8) nibble;
	}
	return true;
}

/*
 * Is this a node name ([a-z][a-z0-9_]*, 1 to 63 bytes)?  The same rule as
 * ledger.c's; it also means the name needs no escaping in canonical JSON.
 */
bool
valid_node_name(const char *name, size_t len)
{
	size_t		i;

	if (len < 1 || len > NODE_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return false;
	for (i = 1; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			  (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	return true;
}

/* has an export of this origin been read (or begun)? */
bool
origin_seen(const char *origin)
{
	int			i;

	for (i = 0; i < norigins_seen; i++)
		if (strcmp(origins_seen[i], origin) == 0)
			return true;
	return false;
}

/* the --key of an origin, or NULL */
PinnedKey *
pinned_key_of(const char *origin)
{
	int			i;

	for (i = 0; i < npinned; i++)
		if (strcmp(pinned_keys[i].origin, origin) == 0)
			return &pinned_keys[i];
	return NULL;
}

/* ----------------------------------------------------------------
 * Reading fields
 * ----------------------------------------------------------------
 */

/* the problem a get_* function returns; the next call in the same thread overwrites it */
__thread char field_error[200];

/*
 * An integer field in [min, max], read exactly from its token.  Returns
 * NULL or what is wrong.
 */
const char *
get_int64(const TvJson *object, const char *key, int64 min, int64 max,
		  int64 *out)
{
	const TvJson *v = tvj_get(object, key);
	const char *p;
	bool		negative = false;
	uint64		magnitude = 0;
	uint64		limit;

	if (v == NULL || v->kind != TVJ_NUMBER)
		goto bad;
	p = v->text;
	if (*p == '-')
	{
		negative = true;
		p++;
	}
	limit = negative ? (uint64) PG_INT64_MAX + 1 : (uint64) PG_INT64_MAX;
	if (*p == '\0')
		goto bad;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9' || magnitude > (limit - (*p - '0')) / 10)
			goto bad;
		magnitude = magnitude * 10 + (*p - '0');
	}
	if (negative)
		*out = magnitude == (uint64) PG_INT64_MAX + 1 ? PG_INT64_MIN : -(int64) magnitude;
	else
		*out = (int64) magnitude;
	if (*out < min || *out > max)
		goto bad;
	return NULL;

bad:
	snprintf(field_error, sizeof(field_error),
			 "field \"%s\" is not an integer from " INT64_FORMAT " to " INT64_FORMAT,
			 key, min, max);
	return field_error;
}

/* a field of exactly len bytes as lowercase hex */
const char *
get_hex(const TvJson *object, const char *key, uint8 *out, int len)
{
	const TvJson *v = tvj_get(object, key);

	if (v == NULL || v->kind != TVJ_STRING ||
		!hex_decode(v->text, v->len, out, len, false))
	{
		snprintf(field_error, sizeof(field_error),
				 "field \"%s\" is not %d lowercase hex digits", key, 2 * len);
		return field_error;
	}
	return NULL;
}

/* a string field equal to `expected` */
const char *
get_constant(const TvJson *object, const char *key, const char *expected)
{
	const TvJson *v = tvj_get(object, key);

	if (v == NULL || v->kind != TVJ_STRING || strcmp(v->text, expected) != 0 ||
		(size_t) v->len != strlen(expected))
	{
		snprintf(field_error, sizeof(field_error),
				 "field \"%s\" is not \"%s\"", key, expected);
		return field_error;
	}
	return NULL;
}

/* a node name field */
const char *
get_node_name(const TvJson *object, const char *key, char *out)
{
	const TvJson *v = tvj_get(object, key);

	if (v == NULL || v->kind != TVJ_STRING || !valid_node_name(v->text, v->len))
	{
		snprintf(field_error, sizeof(field_error),
				 "field \"%s\" is not a node name (a lowercase letter, then up to 62 lowercase letters, digits or underscores)",
				 key);
		return field_error;
	}
	memcpy(out, v->text, v->len + 1);
	return NULL;
}

/*
 * The fields of a block header (a block line, or a signed tree head when
 * entry_hashes is optional).  Returns NULL or what is wrong.
 */
const char *
read_block_fields(const TvJson *object, bool tree_head, BlockFields *b)
{
	static const char *const block_fields[] = {
		"block_hash", "block_no", "entries_root", "entry_count", "entry_hashes",
		"next_key", "origin", "prev_hash", "sealed_at", "signature",
		"signer_key", "tree_root", "tree_size", "tx", "type", NULL
	};
	static const char *const head_fields[] = {
		"block_hash", "block_no", "entries_root", "entry_count",
		"next_key", "origin", "prev_hash", "sealed_at", "signature",
		"signer_key", "tree_root", "tree_size", "tx", "type", NULL
	};
	static const char *const head_optional[] = {"entry_hashes", NULL};
	const char *problem;
	const TvJson *v;
	int64		entry_count;

	memset(b, 0, sizeof(*b));
	if ((problem = tvj_check_fields(object, tree_head ? head_fields : block_fields,
									tree_head ? head_optional : NULL)) ||
		(problem = get_constant(object, "type", "block")) ||
		(problem = get_node_name(object, "origin", b->origin)) ||
		(problem = get_int64(object, "block_no", 0, PG_INT64_MAX - 1, &b->block_no)) ||
		(problem = get_int64(object, "tx", PG_INT64_MIN, PG_INT64_MAX, &b->tx)) ||
		(problem = get_int64(object, "entry_count", 0, PG_INT32_MAX, &entry_count)) ||
		(problem = get_int64(object, "tree_size", 0, PG_INT64_MAX, &b->tree_size)) ||
		(problem = get_int64(object, "sealed_at", PG_INT64_MIN, PG_INT64_MAX, &b->sealed_at)) ||
		(problem = get_hex(object, "entries_root", b->entries_root, TL_HASH_LEN)) ||
		(problem = get_hex(object, "tree_root", b->tree_root, TL_HASH_LEN)) ||
		(problem = get_hex(object, "prev_hash", b->prev_hash, TL_HASH_LEN)) ||
		(problem = get_hex(object, "signer_key", b->signer_key, TL_ED25519_PK_LEN)) ||
		(problem = get_hex(object, "block_hash", b->block_hash, TL_HASH_LEN)) ||
		(problem = get_hex(object, "signature", b->signature, TL_ED25519_SIG_LEN)))
		return problem;
	b->entry_count = (int32) entry_count;

	v = tvj_get(object, "next_key");
	b->has_next_key = v->kind != TVJ_NULL;
	if (b->has_next_key &&
		(problem = get_hex(object, "next_key", b->next_key, TL_ED25519_PK_LEN)))
		return "field \"next_key\" is neither null nor 64 lowercase hex digits";

	v = tvj_get(object, "entry_hashes");
	if (v != NULL)
	{
		const TvJson *h;
		int			i = 0;

		if (v->kind != TVJ_ARRAY)
			return "field \"entry_hashes\" is not an array";
		b->entry_hashes = tv_malloc((size_t) Max(v->count, 1) * TL_HASH_LEN);
		b->nhashes = v->count;
		for (h = v->first; h != NULL; h = h->next, i++)
			if (h->kind != TVJ_STRING ||
				!hex_decode(h->text, h->len, b->entry_hashes + (size_t) i * TL_HASH_LEN,
							TL_HASH_LEN, false))
			{
				snprintf(field_error, sizeof(field_error),
						 "element %d of field \"entry_hashes\" is not 64 lowercase hex digits",
						 i + 1);
				return field_error;
			}
	}
	return NULL;
}

/*
 * The canonical JSON of a block header, whose SHA-256 is the block hash:
 * the block's fields but block_hash, entry_hashes and signature, in RFC
 * 8785 order (docs/ledger.md).  Rebuilt here from the fields, independently
 * of ledger.c's tl_block_preimage; the origin is a node name, which needs
 * no escaping.
 */
static void
block_preimage(StringInfo out, const BlockFields *b)
{
	char		hex[2 * TL_ED25519_SIG_LEN + 1];

	appendStringInfo(out, "{\"block_no\":" INT64_FORMAT, b->block_no);
	hex_encode(b->entries_root, TL_HASH_LEN, hex);
	appendStringInfo(out, ",\"entries_root\":\"%s\",\"entry_count\":%d", hex,
					 b->entry_count);
	if (b->has_next_key)
	{
		hex_encode(b->next_key, TL_ED25519_PK_LEN, hex);
		appendStringInfo(out, ",\"next_key\":\"%s\"", hex);
	}
	else
		appendStringInfoString(out, ",\"next_key\":null");
	appendStringInfo(out, ",\"origin\":\"%s\"", b->origin);
	hex_encode(b->prev_hash, TL_HASH_LEN, hex);
	appendStringInfo(out, ",\"prev_hash\":\"%s\",\"sealed_at\":" INT64_FORMAT, hex,
					 b->sealed_at);
	hex_encode(b->signer_key, TL_ED25519_PK_LEN, hex);
	appendStringInfo(out, ",\"signer_key\":\"%s\"", hex);
	hex_encode(b->tree_root, TL_HASH_LEN, hex);
	appendStringInfo(out, ",\"tree_root\":\"%s\",\"tree_size\":" INT64_FORMAT
					 ",\"tx\":" INT64_FORMAT ",\"type\":\"block\"}",
					 hex, b->tree_size, b->tx);
}

/*
 * Does the block hash follow from the fields, and did signer_key sign it?
 * Returns NULL, or which of the two fails (in verify()'s words).
 */
const char *
check_block_signature(const BlockFields *b)
{
	StringInfoData pre;
	uint8		computed[TL_HASH_LEN];

	initStringInfo(&pre);
	block_preimage(&pre, b);
	crypto_hash_sha256(computed, (const unsigned char *) pre.data, pre.len);
	pfree(pre.data);
	if (memcmp(computed, b->block_hash, TL_HASH_LEN) != 0)
		return "block hash does not match the block header";
	if (crypto_sign_verify_detached(b->signature, b->block_hash, TL_HASH_LEN,
									b->signer_key) != 0)
		return "signature does not verify with the origin's key";
	return NULL;
}

