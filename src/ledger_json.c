/*-------------------------------------------------------------------------
 *
 * ledger_json.c
 *	  Reading the ledger's JSON forms back: export lines and signed tree
 *	  heads (docs/ledger.md).
 *
 * tracelink.ingest() (ingest.c) takes entries and blocks out of export
 * lines, and tracelink.verify_tree_head() (verify.c) a block header out of
 * a tree head; both come here with the parsed tree.  Nothing is trusted:
 * every field is checked for presence, type and range, and a line that
 * does not fit gets a reason instead of an error.
 *
 * Like jcs.c, this file uses only palloc, StringInfo and jcs_*, so the
 * fuzz harness links it outside the server (fuzz/fuzz_export_line.c).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <math.h>

#include "datatype/timestamp.h"

/* ----------------------------------------------------------------
 * Hex and scalar fields
 * ----------------------------------------------------------------
 */

void
tl_hex_encode(const uint8 *data, int len, char *out)
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

/*
 * Decode exactly 2 * len lowercase hex digits (tl_hex_encode's form) into
 * out; false if hexlen is not 2 * len or a digit is not one.
 */
bool
tl_hex_decode(const char *hex, int hexlen, uint8 *out, int len)
{
	int			i;

	if (hexlen != 2 * len)
		return false;
	for (i = 0; i < hexlen; i++)
	{
		char		c = hex[i];
		int			nibble;

		if (c >= '0' && c <= '9')
			nibble = c - '0';
		else if (c >= 'a' && c <= 'f')
			nibble = c - 'a' + 10;
		else
			return false;
		if (i % 2 == 0)
			out[i / 2] = nibble << 4;
		else
			out[i / 2] |= nibble;
	}
	return true;
}

/*
 * An exact integer member of a JSON object (doubles hold them up to 2^53).
 */
bool
tl_json_int64(JcsValue *obj, const char *key, int64 *out)
{
	JcsValue   *v = jcs_object_get(obj, key);

	/* exact integers only: doubles hold them up to 2^53 */
	if (v == NULL || v->kind != JCS_NUMBER || fabs(v->u.number) > 9007199254740992.0 ||
		v->u.number != floor(v->u.number))
		return false;
	*out = (int64) v->u.number;
	return true;
}

/*
 * A member holding exactly len bytes as lowercase hex.
 */
bool
tl_json_hex(JcsValue *obj, const char *key, uint8 *out, int len)
{
	return tl_json_hex_value(jcs_object_get(obj, key), out, len);
}

/* a JSON string of 2 * len lowercase hex digits, decoded */
bool
tl_json_hex_value(JcsValue *v, uint8 *out, int len)
{
	return v != NULL && v->kind == JCS_STRING &&
		tl_hex_decode(v->u.string.str, v->u.string.len, out, len);
}

/* a string member (pointing into the tree); false if absent or not one */
static bool
json_string(JcsValue *obj, const char *key, const char **out)
{
	JcsValue   *v = jcs_object_get(obj, key);

	if (v == NULL || v->kind != JCS_STRING)
		return false;
	*out = v->u.string.str;
	return true;
}

/* an array of 32-byte hex hashes, palloc'd; false if malformed */
static bool
json_hash_array(JcsValue *obj, const char *key, uint8 **out, int *n)
{
	JcsValue   *v = jcs_object_get(obj, key);
	int			i;

	if (v == NULL || v->kind != JCS_ARRAY)
		return false;
	*n = v->u.array.count;
	*out = palloc((size_t) Max(*n, 1) * TL_HASH_LEN);
	for (i = 0; i < *n; i++)
		if (!tl_json_hex_value(v->u.array.elems[i], *out + (size_t) i * TL_HASH_LEN, TL_HASH_LEN))
			return false;
	return true;
}

/* ----------------------------------------------------------------
 * Block headers, export lines
 * ----------------------------------------------------------------
 */

/*
 * The header, block_hash and signature of a block line or a signed tree
 * head (tl_block_json's form); entry_hashes are left alone.  Returns why
 * the object cannot be one, or NULL.
 */
const char *
tl_json_block_header(JcsValue *v, TlBlock *b)
{
	const char *origin;
	JcsValue   *next;
	int64		count;
	int64		sealed_us;

	memset(&b->h, 0, sizeof(b->h));
	if (v->kind != JCS_OBJECT)
		return "a block must be a JSON object";
	if (!json_string(v, "origin", &origin) || strlen(origin) >= NAMEDATALEN)
		return "block has no valid origin";
	strlcpy(b->h.origin, origin, NAMEDATALEN);
	next = jcs_object_get(v, "next_key");
	if (!tl_json_int64(v, "block_no", &b->h.block_no) || !tl_json_int64(v, "tx", &b->h.tx) ||
		!tl_json_int64(v, "entry_count", &count) || count < 0 || count > PG_INT32_MAX ||
		!tl_json_int64(v, "tree_size", &b->h.tree_size) ||
		!tl_json_int64(v, "sealed_at", &sealed_us) ||
		!tl_json_hex(v, "entries_root", b->h.entries_root, TL_HASH_LEN) ||
		!tl_json_hex(v, "tree_root", b->h.tree_root, TL_HASH_LEN) ||
		!tl_json_hex(v, "prev_hash", b->h.prev_hash, TL_HASH_LEN) ||
		!tl_json_hex(v, "signer_key", b->h.signer_key, TL_ED25519_PK_LEN) ||
		!tl_json_hex(v, "block_hash", b->block_hash, TL_HASH_LEN) ||
		!tl_json_hex(v, "signature", b->signature, TL_ED25519_SIG_LEN) ||
		next == NULL)
		return "block line lacks a field or has one of the wrong type";
	b->h.entry_count = (int32) count;
	/* |sealed_us| <= 2^53: no overflow */
	b->h.sealed_at = sealed_us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	b->h.has_next_key = next->kind != JCS_NULL;
	if (b->h.has_next_key && !tl_json_hex_value(next, b->h.next_key, TL_ED25519_PK_LEN))
		return "next_key must be null or a 32-byte key in hex";
	return NULL;
}

/*
 * An export line (docs/ledger.md), parsed into v, as an entry or a block;
 * returns why it is neither, or NULL (for a header line too, which leaves
 * e->origin NULL).  Everything filled in is palloc'd in the current memory
 * context, nothing points into v, so the caller may free the tree at once.
 * The entry's hash is the caller's: it is the SHA-256 of the line itself.
 */
const char *
tl_export_line(JcsValue *v, bool *is_block, TlEntry *e, TlBlock *b)
{
	const char *type;
	const char *origin;
	int64		n64;

	*is_block = false;
	memset(e, 0, sizeof(*e));
	memset(b, 0, sizeof(*b));
	if (v->kind != JCS_OBJECT || !json_string(v, "type", &type))
		return "line is not a tracelink export line";
	if (strcmp(type, "header") == 0)
		return NULL;
	if (strcmp(type, "entry") == 0)
	{
		JcsValue   *payload = jcs_object_get(v, "payload");
		JcsValue   *audience = jcs_object_get(v, "audience");
		StringInfoData canon;
		const char *kind;

		if (!json_string(v, "origin", &origin) || strlen(origin) >= NAMEDATALEN)
			return "line has no valid origin";
		e->origin = pstrdup(origin);
		if (!json_string(v, "kind", &kind) || payload == NULL ||
			!tl_json_int64(v, "tx", &e->tx) || !tl_json_int64(v, "seq", &n64) ||
			n64 < 0 || n64 > PG_INT32_MAX ||
			!json_hash_array(v, "deps", &e->deps, &e->ndeps) || audience == NULL)
			return "entry line lacks a field or has one of the wrong type";
		e->seq = (int32) n64;
		e->kind = pstrdup(kind);
		initStringInfo(&canon);
		jcs_serialize(&canon, payload);
		e->payload = canon.data;
		e->payload_len = canon.len;
		if (audience->kind == JCS_ARRAY)
		{
			int			i;

			e->naudience = audience->u.array.count;
			e->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
			for (i = 0; i < e->naudience; i++)
			{
				JcsValue   *name = audience->u.array.elems[i];

				if (name->kind != JCS_STRING)
					return "audience must list node names";
				e->audience[i] = pnstrdup(name->u.string.str, name->u.string.len);
			}
		}
		else if (audience->kind != JCS_NULL)
			return "audience must be null or an array";
		return NULL;
	}
	if (strcmp(type, "block") == 0)
	{
		const char *problem;
		int			nhashes;

		*is_block = true;
		if (!json_string(v, "origin", &origin) || strlen(origin) >= NAMEDATALEN)
			return "line has no valid origin";
		problem = tl_json_block_header(v, b);
		if (problem != NULL)
			return problem;
		if (!json_hash_array(v, "entry_hashes", &b->entry_hashes, &nhashes))
			return "block line lacks a field or has one of the wrong type";
		if (nhashes != b->h.entry_count)
			return "entry_hashes does not hold entry_count hashes";
		return NULL;
	}
	return "line is not a tracelink export line";
}
