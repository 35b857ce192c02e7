/*-------------------------------------------------------------------------
 *
 * tracelink-verify.c
 *	  Check exported tracelink ledgers and signed tree heads outside
 *	  PostgreSQL, so that an auditor need not trust a node's database.
 *
 *	  tracelink-verify [--key ORIGIN=HEX]... [--sth FILE]... [--complete]
 *					   EXPORT.jsonl...
 *
 * Each export is the output of tracelink.export(origin) (JSON Lines, one
 * origin per file; the format is in docs/ledger.md).  The verifier trusts
 * nothing in it but the key the auditor pins with --key: it rebuilds every
 * block hash from the block's fields, checks every signature along the key
 * hand-overs, the chain of prev_hash links, the block numbers, the Merkle
 * roots of each block and of the origin's whole tree, and hashes every
 * entry line byte for byte against the hash its block sealed, in the order
 * tracelink.verify() checks them, naming the first thing that does not fit
 * in verify()'s words where the two overlap.  A signed tree head saved
 * earlier (--sth) must be a block of the export, unchanged: a ledger that
 * was cut back or rewritten after that head was published fails.
 *
 * Hashes and signatures are computed with libsodium, not with the server's
 * OpenSSL-based SHA-256; Merkle trees with src/merkle.c, compiled unchanged
 * over the backend stand-in of src/standin/ (standin_sha256.c hashes with
 * libsodium).  JSON is read with PostgreSQL's lexer (tv_json.c).
 *
 * Output: one line per export, "origin: OK, ..." or "origin: FAILED at
 * <what>: <reason>"; warnings on stderr.  Exit status 0 when every export
 * verifies, 1 when one does not, 2 when something could not be verified at
 * all (usage, I/O, a line that is not what the format says).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "standin.h"
#include "tv_json.h"
#include "tv_util.h"

/*
 * Longest line read.  The server cannot hold an entry much over 256 MB
 * (the jsonb limit), and a line is at most 1 GB (a text value); libpgcommon's
 * StringInfo, which holds each string of a line, stops at 1 GB.
 */
#define MAX_LINE_BYTES		(512 * 1024 * 1024)

/* Largest signed tree head file read (a head is under 1 kB) */
#define MAX_TREE_HEAD_BYTES	(1024 * 1024)

/* node names: [a-z][a-z0-9_]*, at most 63 bytes (ledger.c) */
#define NODE_NAME_MAX		63

/* ----------------------------------------------------------------
 * Data
 * ----------------------------------------------------------------
 */

/* the fields of a block header, as a block line or a signed tree head has them */
typedef struct BlockFields
{
	char		origin[NODE_NAME_MAX + 1];
	int64		block_no;
	int64		tx;
	int32		entry_count;
	int64		tree_size;
	int64		sealed_at;		/* Unix microseconds, as hashed */
	uint8		entries_root[TL_HASH_LEN];
	uint8		tree_root[TL_HASH_LEN];
	uint8		prev_hash[TL_HASH_LEN];
	uint8		signer_key[TL_ED25519_PK_LEN];
	bool		has_next_key;
	uint8		next_key[TL_ED25519_PK_LEN];
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
	int			nhashes;		/* entry_hashes, when given */
	uint8	   *entry_hashes;	/* tv_malloc'd, nhashes * 32 bytes */
} BlockFields;

/* a --key ORIGIN=HEX */
typedef struct PinnedKey
{
	char		origin[NODE_NAME_MAX + 1];
	uint8		key[TL_ED25519_PK_LEN];
} PinnedKey;

/* a --sth FILE */
typedef struct TreeHead
{
	const char *path;
	BlockFields b;
	bool		matched;		/* found, unchanged, in that export */
} TreeHead;

typedef enum EntryRole
{
	ROLE_OTHER,
	ROLE_GENESIS,				/* kind tl.genesis */
	ROLE_ROTATION				/* kind tl.key_rotation */
} EntryRole;

/* what the checks need of an entry line until its block line arrives */
typedef struct EntryLine
{
	long		line_no;
	bool		same_origin;
	char		origin[NODE_NAME_MAX + 1];	/* printable, perhaps cut */
	int64		tx;
	int32		seq;
	uint8		hash[TL_HASH_LEN];	/* SHA-256 of the line */
	EntryRole	role;
	bool		has_key;		/* payload names a well-formed public_key */
	uint8		key[TL_ED25519_PK_LEN];
	bool		names_origin;	/* genesis payload's "node" is the origin */
} EntryLine;

typedef enum Verdict
{
	VERDICT_OK = TV_EXIT_OK,
	VERDICT_FAILED = TV_EXIT_FAILED,
	VERDICT_TROUBLE = TV_EXIT_TROUBLE
} Verdict;

/* the state of one export being verified */
typedef struct Export
{
	const char *path;
	long		line_no;
	/* from the header */
	bool		have_header;
	char		origin[NODE_NAME_MAX + 1];
	int64		from_block;
	uint8		genesis_key[TL_ED25519_PK_LEN];
	/* the chain so far */
	bool		key_pinned;
	uint8		key[TL_ED25519_PK_LEN]; /* signs the next block */
	int64		expect_block;
	bool		have_prev;		/* prev_hash can be checked */
	uint8		prev_hash[TL_HASH_LEN];
	bool		tree_known;		/* the frontier holds every entry so far */
	TlMerkleFrontier frontier;
	int64		tree_size;
	uint8		tree_root[TL_HASH_LEN];
	int64		first_block;
	int64		blocks;
	int64		entries;
	int64		missing;
	int			heads_matched;
	/* entry lines waiting for their block */
	EntryLine  *pending;
	int			npending;
	int			pending_capacity;
	/* the verdict */
	Verdict		verdict;
	char	   *where;
	char	   *reason;
} Export;

/* command line */
static PinnedKey *pinned_keys = NULL;
static int	npinned = 0;
static TreeHead *tree_heads = NULL;
static int	ntree_heads = 0;
static bool require_complete = false;

/* origins of the exports read so far: one export per origin */
static char **origins_seen = NULL;
static int	norigins_seen = 0;

static const uint8 zero_hash[TL_HASH_LEN];

/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

static void
warn(const Export *x, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * A warning about one export on stderr.
 */
static void
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
static bool
fail(Export *x, Verdict verdict, char *where, const char *fmt,...) pg_attribute_printf(4, 5);

static bool
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
static void
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
static char *
block_name(int64 block_no)
{
	return psprintf("block " INT64_FORMAT, block_no);
}

/*
 * Decode exactly 2 * len hex digits; lowercase only unless any_case.
 */
static bool
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
static bool
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
static bool
origin_seen(const char *origin)
{
	int			i;

	for (i = 0; i < norigins_seen; i++)
		if (strcmp(origins_seen[i], origin) == 0)
			return true;
	return false;
}

/* the --key of an origin, or NULL */
static PinnedKey *
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

static char field_error[200];

/*
 * An integer field in [min, max], read exactly from its token.  Returns
 * NULL or what is wrong.
 */
static const char *
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
static const char *
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
static const char *
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
static const char *
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
static const char *
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
static const char *
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

/* ----------------------------------------------------------------
 * Reading lines
 * ----------------------------------------------------------------
 */

typedef struct LineReader
{
	int			fd;
	char	   *buf;
	size_t		capacity;
	size_t		start;			/* first byte of the next line */
	size_t		end;			/* end of the bytes read */
	size_t		scanned;		/* bytes from start known to hold no '\n' */
	bool		eof;
} LineReader;

typedef enum ReadResult
{
	READ_LINE,
	READ_EOF,
	READ_ERROR,					/* errno is set */
	READ_TOO_LONG
} ReadResult;

/*
 * The next line, without its '\n' (the last line may lack one).  The line
 * stays valid until the next call.
 */
static ReadResult
read_line(LineReader *r, char **line, size_t *len)
{
	for (;;)
	{
		char	   *nl = memchr(r->buf + r->start + r->scanned, '\n',
								r->end - r->start - r->scanned);

		if (nl != NULL)
		{
			*line = r->buf + r->start;
			*len = nl - *line;
			r->start += *len + 1;
			r->scanned = 0;
			return READ_LINE;
		}
		r->scanned = r->end - r->start;
		if (r->scanned > MAX_LINE_BYTES)
			return READ_TOO_LONG;
		if (r->eof)
		{
			if (r->scanned == 0)
				return READ_EOF;
			*line = r->buf + r->start;
			*len = r->scanned;
			r->start = r->end;
			r->scanned = 0;
			return READ_LINE;
		}
		if (r->start > 0)
		{
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->capacity)
		{
			r->capacity *= 2;
			r->buf = tv_realloc(r->buf, r->capacity);
		}
		{
			ssize_t		got = read(r->fd, r->buf + r->end, r->capacity - r->end);

			if (got < 0)
			{
				if (errno == EINTR)
					continue;
				return READ_ERROR;
			}
			if (got == 0)
				r->eof = true;
			r->end += got;
		}
	}
}

/* ----------------------------------------------------------------
 * Signed tree heads (--sth)
 * ----------------------------------------------------------------
 */

/*
 * Read and parse a signed tree head file; anything unreadable or malformed
 * ends the program (exit status 2).  Its hash and signature are checked
 * with its export.
 */
static void
load_tree_head(const char *path, TreeHead *th)
{
	int			fd = open(path, O_RDONLY);
	char	   *text = tv_malloc(MAX_TREE_HEAD_BYTES + 1);
	size_t		len = 0;
	const char *problem;
	TvJson	   *tree;

	if (fd < 0)
		tv_fatal("could not open signed tree head \"%s\": %s", path, strerror(errno));
	for (;;)
	{
		ssize_t		got = read(fd, text + len, MAX_TREE_HEAD_BYTES + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			tv_fatal("could not read signed tree head \"%s\": %s", path, strerror(errno));
		if (got == 0)
			break;
		len += got;
		if (len > MAX_TREE_HEAD_BYTES)
			tv_fatal("signed tree head \"%s\" is larger than %d bytes", path,
					 MAX_TREE_HEAD_BYTES);
	}
	close(fd);
	tree = tvj_parse(text, len, &problem);
	if (tree == NULL)
		tv_fatal("signed tree head \"%s\" is not valid JSON: %s", path, problem);
	th->path = path;
	problem = read_block_fields(tree, true, &th->b);
	if (problem)
		tv_fatal("\"%s\" is not a signed tree head (as tracelink.signed_tree_head() returns it): %s",
				 path, problem);
	tvj_reset();
	free(text);
}

/* "signed tree head FILE", for messages */
static char *
tree_head_name(const TreeHead *th)
{
	return psprintf("signed tree head %s (block " INT64_FORMAT ")",
					th->path, th->b.block_no);
}

/*
 * Check each signed tree head of this export's origin on its own: its hash
 * follows from its fields and its signer_key signed it.  Which key that
 * must be is known only when its block is reached.
 */
static bool
check_tree_heads_alone(Export *x)
{
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];
		const char *problem;

		if (strcmp(th->b.origin, x->origin) != 0)
			continue;
		problem = check_block_signature(&th->b);
		if (problem)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"%s: the head is corrupt or forged", problem);
	}
	return true;
}

/*
 * A block of the export has passed its checks: every signed tree head of
 * the same block must be that block, unchanged.
 */
static bool
match_tree_heads(Export *x, const BlockFields *b)
{
	char		root[2 * TL_HASH_LEN + 1];
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];

		if (strcmp(th->b.origin, x->origin) != 0 || th->b.block_no != b->block_no)
			continue;
		if (memcmp(th->b.block_hash, b->block_hash, TL_HASH_LEN) == 0)
		{
			th->matched = true;
			x->heads_matched++;
			continue;
		}
		hex_encode(th->b.tree_root, TL_HASH_LEN, root);
		if (memcmp(th->b.signer_key, b->signer_key, TL_ED25519_PK_LEN) != 0)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"the head is signed by a key that is not the origin's key at block " INT64_FORMAT
						": it belongs to another ledger", b->block_no);
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block differs from %s (tree size " INT64_FORMAT ", tree root %s), which the origin's key signed: the ledger was rewritten or forked after that head was published",
					tree_head_name(th), th->b.tree_size, root);
	}
	return true;
}

/*
 * After the last block: signed tree heads whose block the export did not
 * reach.
 */
static bool
check_unmatched_tree_heads(Export *x)
{
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];
		int64		last = x->expect_block - 1;

		if (strcmp(th->b.origin, x->origin) != 0 || th->matched)
			continue;
		if (th->b.block_no < x->first_block)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"the head is older than the export, which starts at block " INT64_FORMAT
						": export from block " INT64_FORMAT " or earlier to check it",
						x->first_block, th->b.block_no);
		if (memcmp(th->b.signer_key, x->key, TL_ED25519_PK_LEN) == 0)
			return fail(x, VERDICT_FAILED, block_name(last + 1),
						"the export is truncated: it ends at block " INT64_FORMAT
						" (tree size " INT64_FORMAT "), but %s has tree size " INT64_FORMAT,
						last, x->tree_size, tree_head_name(th), th->b.tree_size);
		return fail(x, VERDICT_FAILED, tree_head_name(th),
					"the head lies beyond the export's last block " INT64_FORMAT
					" and is signed by a key the export does not lead to (another ledger, or a key rotation after block " INT64_FORMAT ")",
					last, last);
	}
	return true;
}

/* ----------------------------------------------------------------
 * Header and entry lines
 * ----------------------------------------------------------------
 */

/*
 * The header line: what the export is of, and the key it starts from.
 */
static bool
read_header(Export *x, const TvJson *line)
{
	static const char *const fields[] = {
		"format", "from_block", "genesis_key", "origin", "type", "version", NULL
	};
	const char *problem;
	int64		version;
	PinnedKey  *pin;
	char		key[2 * TL_ED25519_PK_LEN + 1];

	if ((problem = tvj_check_fields(line, fields, NULL)) ||
		(problem = get_constant(line, "type", "header")) ||
		(problem = get_node_name(line, "origin", x->origin)))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"not a tracelink export header: %s", problem);

	/* from here on the origin names the export */
	x->have_header = true;
	if (origin_seen(x->origin))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"a second export of origin \"%s\": give one export per origin",
					x->origin);
	origins_seen[norigins_seen++] = pstrdup(x->origin);

	if ((problem = get_constant(line, "format", "tracelink-ledger")) ||
		(problem = get_int64(line, "version", PG_INT64_MIN, PG_INT64_MAX, &version)) ||
		(problem = get_int64(line, "from_block", 0, PG_INT64_MAX - 1, &x->from_block)) ||
		(problem = get_hex(line, "genesis_key", x->genesis_key, TL_ED25519_PK_LEN)))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"not a tracelink export header: %s", problem);
	if (version != 1)
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"export format version " INT64_FORMAT " is not supported (only version 1 is)",
					version);
	x->expect_block = x->from_block;
	x->first_block = x->from_block;
	x->tree_known = x->from_block == 0;
	x->have_prev = false;
	tl_frontier_init(&x->frontier);

	hex_encode(x->genesis_key, TL_ED25519_PK_LEN, key);
	pin = pinned_key_of(x->origin);
	if (pin != NULL)
	{
		x->key_pinned = true;
		memcpy(x->key, pin->key, TL_ED25519_PK_LEN);
		if (x->from_block == 0 &&
			memcmp(pin->key, x->genesis_key, TL_ED25519_PK_LEN) != 0)
			return fail(x, VERDICT_FAILED, pstrdup("header"),
						"the export's genesis_key %s is not the pinned key of origin \"%s\"",
						key, x->origin);
	}
	else
	{
		memcpy(x->key, x->genesis_key, TL_ED25519_PK_LEN);
		warn(x, "no --key given: trusting the genesis key the export names itself (%s); "
			 "pin the key you obtained out of band with --key %s=HEX",
			 key, x->origin);
	}
	if (x->from_block > 0)
		warn(x, "the export starts at block " INT64_FORMAT ": that block's link to block "
			 INT64_FORMAT " (prev_hash) is taken on trust, and tree roots cannot be "
			 "recomputed without the entries before it (tree sizes are checked)",
			 x->from_block, x->from_block - 1);
	return true;
}

/*
 * The public key a genesis or key rotation payload names, if well formed.
 */
static bool
payload_key(const TvJson *payload, uint8 *key)
{
	const TvJson *pk = tvj_get(payload, "public_key");

	return pk != NULL && pk->kind == TVJ_STRING &&
		hex_decode(pk->text, pk->len, key, TL_ED25519_PK_LEN, false);
}

/*
 * An entry line: its hash is SHA-256 of the line's bytes; what the checks
 * need waits in x->pending for the block line.
 */
static bool
read_entry(Export *x, const TvJson *line, const char *bytes, size_t len)
{
	static const char *const fields[] = {
		"audience", "deps", "kind", "origin", "payload", "seq", "tx", "type", NULL
	};
	const char *problem;
	const TvJson *v;
	const TvJson *item;
	EntryLine  *e;
	int64		seq;
	int			i;

	if (x->npending == PG_INT32_MAX)
		return fail(x, VERDICT_FAILED, psprintf("line %ld", x->line_no),
					"more entry lines before a block line than a block can hold");
	if (x->npending == x->pending_capacity)
	{
		x->pending_capacity = Max(64, Min((int64) x->pending_capacity * 2, PG_INT32_MAX));
		x->pending = tv_realloc(x->pending, sizeof(EntryLine) * (size_t) x->pending_capacity);
	}
	e = &x->pending[x->npending];
	memset(e, 0, sizeof(*e));
	e->line_no = x->line_no;

	if ((problem = tvj_check_fields(line, fields, NULL)) ||
		(problem = get_int64(line, "seq", 0, PG_INT32_MAX, &seq)) ||
		(problem = get_int64(line, "tx", PG_INT64_MIN, PG_INT64_MAX, &e->tx)))
		goto bad;
	e->seq = (int32) seq;

	v = tvj_get(line, "origin");
	if (v->kind != TVJ_STRING)
	{
		problem = "field \"origin\" is not a string";
		goto bad;
	}
	e->same_origin = strcmp(v->text, x->origin) == 0 &&
		(size_t) v->len == strlen(x->origin);
	tvj_printable(v->text, v->len, e->origin, sizeof(e->origin));

	v = tvj_get(line, "kind");
	if (v->kind != TVJ_STRING)
	{
		problem = "field \"kind\" is not a string";
		goto bad;
	}
	if (strcmp(v->text, "tl.genesis") == 0)
		e->role = ROLE_GENESIS;
	else if (strcmp(v->text, "tl.key_rotation") == 0)
		e->role = ROLE_ROTATION;

	v = tvj_get(line, "deps");
	if (v->kind != TVJ_ARRAY)
	{
		problem = "field \"deps\" is not an array";
		goto bad;
	}
	for (item = v->first, i = 1; item != NULL; item = item->next, i++)
	{
		uint8		dep[TL_HASH_LEN];

		if (item->kind != TVJ_STRING ||
			!hex_decode(item->text, item->len, dep, TL_HASH_LEN, false))
		{
			snprintf(field_error, sizeof(field_error),
					 "element %d of field \"deps\" is not 64 lowercase hex digits", i);
			problem = field_error;
			goto bad;
		}
	}

	v = tvj_get(line, "audience");
	if (v->kind != TVJ_NULL && v->kind != TVJ_ARRAY)
	{
		problem = "field \"audience\" is neither null nor an array";
		goto bad;
	}
	for (item = v->first, i = 1; item != NULL; item = item->next, i++)
		if (item->kind != TVJ_STRING)
		{
			snprintf(field_error, sizeof(field_error),
					 "element %d of field \"audience\" is not a string", i);
			problem = field_error;
			goto bad;
		}

	if (e->role != ROLE_OTHER)
	{
		v = tvj_get(line, "payload");
		e->has_key = payload_key(v, e->key);
		if (e->role == ROLE_GENESIS)
		{
			const TvJson *node = tvj_get(v, "node");

			e->names_origin = node != NULL && node->kind == TVJ_STRING &&
				strcmp(node->text, x->origin) == 0 &&
				(size_t) node->len == strlen(x->origin);
		}
	}

	crypto_hash_sha256(e->hash, (const unsigned char *) bytes, len);
	x->npending++;
	return true;

bad:
	return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
				"not a tracelink entry line: %s", problem);
}

/* ----------------------------------------------------------------
 * Blocks
 * ----------------------------------------------------------------
 */

/* "entry origin:ordinal (block N, seq S)", as verify() names entries */
static char *
entry_name(const Export *x, const BlockFields *b, int32 seq)
{
	return psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
					x->origin, b->tree_size - b->entry_count + seq, b->block_no, seq);
}

/* entries seq from..to-1 of a block are not in the export */
static bool
entries_absent(Export *x, const BlockFields *b, int32 from, int32 to)
{
	if (from >= to)
		return true;
	if (require_complete)
		return fail(x, VERDICT_FAILED, entry_name(x, b, from),
					"entry is missing from the export (deleted?)");
	x->missing += to - from;
	return true;
}

/*
 * The entry lines before a block line against the block: each belongs to
 * the block's transaction, is at its place, and hashes to the hash the
 * block sealed there; the genesis and key rotation entries say what the
 * block headers say.
 */
static bool
check_block_entries(Export *x, const BlockFields *b)
{
	int32		expect_seq = 0;
	int32		present = 0;
	bool		rotation_entry = false;
	int			i;

	for (i = 0; i < x->npending; i++)
	{
		EntryLine  *e = &x->pending[i];

		if (!e->same_origin)
			return fail(x, VERDICT_FAILED, psprintf("line %ld", e->line_no),
						"entry belongs to origin \"%s\", not to the export's origin", e->origin);
		if (e->tx != b->tx)
			return fail(x, VERDICT_FAILED, psprintf("line %ld", e->line_no),
						"entry of transaction " INT64_FORMAT " stands before block " INT64_FORMAT
						", which seals transaction " INT64_FORMAT " (lines moved, or its block is missing)",
						e->tx, b->block_no, b->tx);
		if (e->seq >= b->entry_count)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"seq %d is outside the block's %d entries", e->seq, b->entry_count);
		if (e->seq == expect_seq - 1)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry appears twice in the export");
		if (e->seq < expect_seq)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry lines are out of order (seq %d comes after seq %d)",
						e->seq, expect_seq - 1);
		if (!entries_absent(x, b, expect_seq, e->seq))
			return false;
		if (memcmp(e->hash, b->entry_hashes + (size_t) e->seq * TL_HASH_LEN, TL_HASH_LEN) != 0)
		{
			int			j;

			for (j = 0; j < b->entry_count; j++)
				if (memcmp(e->hash, b->entry_hashes + (size_t) j * TL_HASH_LEN, TL_HASH_LEN) == 0)
					return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
								"entry is not the one the block sealed at this position (moved or replaced)");
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry hash does not match the hash its block sealed: the entry's content was changed");
		}
		if (b->block_no == 0 && e->seq == 0)
		{
			if (e->role != ROLE_GENESIS)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"the first entry of a chain must be its genesis entry");
			if (!e->has_key ||
				memcmp(e->key, b->signer_key, TL_ED25519_PK_LEN) != 0)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"genesis entry does not name the key that signs block 0");
			if (!e->names_origin)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"genesis entry does not name the origin as its node");
		}
		if (e->role == ROLE_ROTATION)
		{
			if (!e->has_key)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"key rotation entry does not name a 32-byte public key");
			if (!b->has_next_key ||
				memcmp(e->key, b->next_key, TL_ED25519_PK_LEN) != 0)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"key rotation entry names another key than its block's next_key");
			rotation_entry = true;
		}
		x->entries++;
		present++;
		expect_seq = e->seq + 1;
	}
	if (!entries_absent(x, b, expect_seq, b->entry_count))
		return false;
	/* rotation entries are public, so a complete block must hold one */
	if (b->has_next_key && !rotation_entry && present == b->entry_count)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block hands over to a new key but holds no key rotation entry");
	return true;
}

/*
 * A block line: check the block against the chain so far (in verify()'s
 * order), then the entry lines before it, then the signed tree heads of
 * this block; advance the chain.
 */
static bool
check_block(Export *x, BlockFields *b)
{
	bool		first = x->blocks == 0;
	const char *problem;
	uint8	   *leaves;
	uint8		entries_root[TL_HASH_LEN];
	int			i;

	if (b->block_no != x->expect_block)
	{
		if (first)
			return fail(x, VERDICT_FAILED, block_name(x->expect_block),
						"block is missing: the export says it starts at block " INT64_FORMAT
						" but its first block is " INT64_FORMAT,
						x->from_block, b->block_no);
		return fail(x, VERDICT_FAILED, block_name(x->expect_block),
					"block is missing: the chain jumps from block " INT64_FORMAT " to " INT64_FORMAT,
					x->expect_block - 1, b->block_no);
	}
	if (strcmp(b->origin, x->origin) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block belongs to origin \"%s\", not to the export's origin", b->origin);
	if (b->nhashes != b->entry_count)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"entry_hashes does not hold entry_count hashes");

	if (b->block_no == 0)
	{
		if (memcmp(b->prev_hash, zero_hash, TL_HASH_LEN) != 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"block does not start the chain (the prev_hash of block 0 is not 32 zero bytes): the chain was forked or rewritten");
	}
	else if (x->have_prev && memcmp(b->prev_hash, x->prev_hash, TL_HASH_LEN) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block does not link to block " INT64_FORMAT
					" (prev_hash differs): the chain was forked or rewritten",
					x->expect_block - 1);

	if (first && x->from_block > 0 && !x->key_pinned &&
		memcmp(b->signer_key, x->key, TL_ED25519_PK_LEN) != 0)
	{
		char		key[2 * TL_ED25519_PK_LEN + 1];

		/* a partial export after a key rotation, no key pinned */
		hex_encode(b->signer_key, TL_ED25519_PK_LEN, key);
		warn(x, "block " INT64_FORMAT " is signed by key %s, which the export cannot trace back to the genesis key: taken as the anchor",
			 b->block_no, key);
		memcpy(x->key, b->signer_key, TL_ED25519_PK_LEN);
	}
	if (memcmp(b->signer_key, x->key, TL_ED25519_PK_LEN) != 0)
	{
		if (first && x->from_block > 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"block is signed by a key that is not the origin's current key (an export that starts after a key rotation needs --key %s=HEX with the key that signs its first block)",
						x->origin);
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block is signed by a key that is not the origin's current key");
	}
	if ((problem = check_block_signature(b)) != NULL)
		return fail(x, VERDICT_FAILED, block_name(b->block_no), "%s", problem);

	leaves = tv_malloc((size_t) Max(b->entry_count, 1) * TL_HASH_LEN);
	for (i = 0; i < b->entry_count; i++)
	{
		tl_merkle_leaf_hash(b->entry_hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN,
							leaves + (size_t) i * TL_HASH_LEN);
		if (x->tree_known)
			tl_frontier_append(&x->frontier, leaves + (size_t) i * TL_HASH_LEN);
	}
	tl_merkle_root(leaves, b->entry_count, entries_root);
	free(leaves);
	if (memcmp(entries_root, b->entries_root, TL_HASH_LEN) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"entries_root is not the Merkle root of the block's entry hashes");
	if (x->tree_known)
	{
		uint8		tree_root[TL_HASH_LEN];

		tl_frontier_root(&x->frontier, tree_root);
		if ((uint64) b->tree_size != x->frontier.size ||
			memcmp(tree_root, b->tree_root, TL_HASH_LEN) != 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"tree head (tree_size, tree_root) does not follow from the blocks before it");
	}
	else if (first ? b->tree_size < b->entry_count :
			 b->tree_size - b->entry_count != x->tree_size)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"tree head (tree_size, tree_root) does not follow from the blocks before it");

	if (!check_block_entries(x, b))
		return false;
	if (!match_tree_heads(x, b))
		return false;

	if (b->has_next_key)
		memcpy(x->key, b->next_key, TL_ED25519_PK_LEN);
	memcpy(x->prev_hash, b->block_hash, TL_HASH_LEN);
	x->have_prev = true;
	x->tree_size = b->tree_size;
	memcpy(x->tree_root, b->tree_root, TL_HASH_LEN);
	x->expect_block = b->block_no + 1;
	x->blocks++;
	x->npending = 0;
	return true;
}

/* ----------------------------------------------------------------
 * One export
 * ----------------------------------------------------------------
 */

/*
 * Read one line's JSON and act on it.  Returns false once the export has
 * a verdict.
 */
static bool
process_line(Export *x, char *bytes, size_t len)
{
	const char *problem;
	const TvJson *line;
	const TvJson *type;
	bool		ok;

	if (len == 0)
		return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no), "empty line");
	if (bytes[len - 1] == '\r')
		return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
					"line ends with a carriage return: lines end with \\n alone, since entry lines are hashed byte for byte");
	line = tvj_parse(bytes, len, &problem);
	if (line == NULL)
		return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
					"line is not valid JSON: %s (truncated or garbled?)", problem);

	if (!x->have_header)
		ok = read_header(x, line) && check_tree_heads_alone(x);
	else
	{
		type = tvj_get(line, "type");
		if (type == NULL || type->kind != TVJ_STRING)
			ok = fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
					  "line has no \"type\" (\"entry\" or \"block\")");
		else if (strcmp(type->text, "entry") == 0)
			ok = read_entry(x, line, bytes, len);
		else if (strcmp(type->text, "block") == 0)
		{
			BlockFields b;

			problem = read_block_fields(line, false, &b);
			if (problem)
				ok = fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
						  "not a tracelink block line: %s", problem);
			else
				ok = check_block(x, &b);
			free(b.entry_hashes);
		}
		else
		{
			char		name[40];

			tvj_printable(type->text, type->len, name, sizeof(name));
			ok = fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
					  "line of unexpected type \"%s\" (only the first line is a header; then \"entry\" and \"block\")",
					  name);
		}
	}
	tvj_reset();
	return ok;
}

/*
 * Verify one export file ("-" is standard input) and print its line.
 * Returns its verdict.
 */
static Verdict
verify_export(const char *path)
{
	Export		x;
	LineReader	r;
	char	   *bytes;
	size_t		len;
	ReadResult	res = READ_EOF;
	char		root[2 * TL_HASH_LEN + 1];
	const char *label;

	memset(&x, 0, sizeof(x));
	x.path = path;
	x.verdict = VERDICT_OK;

	memset(&r, 0, sizeof(r));
	r.fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
	if (r.fd < 0)
		fail(&x, VERDICT_TROUBLE, NULL, "could not open \"%s\": %s", path, strerror(errno));
	else
	{
		r.capacity = 64 * 1024;
		r.buf = tv_malloc(r.capacity);
		while (x.verdict == VERDICT_OK && (res = read_line(&r, &bytes, &len)) == READ_LINE)
		{
			x.line_no++;
			process_line(&x, bytes, len);
		}
		if (res == READ_ERROR)
			fail(&x, VERDICT_TROUBLE, psprintf("line %ld", x.line_no + 1),
				 "could not read \"%s\": %s", path, strerror(errno));
		else if (res == READ_TOO_LONG)
			fail(&x, VERDICT_TROUBLE, psprintf("line %ld", x.line_no + 1),
				 "line is longer than %d bytes", MAX_LINE_BYTES);
		if (r.fd != STDIN_FILENO)
			close(r.fd);
		free(r.buf);
	}

	if (x.verdict == VERDICT_OK)
	{
		if (!x.have_header)
			fail(&x, VERDICT_TROUBLE, pstrdup("line 1"), "the export is empty (no header line)");
		else if (x.npending > 0)
			fail(&x, VERDICT_FAILED, psprintf("line %ld", x.pending[0].line_no),
				 "entry belongs to no block: the export ends before the block that seals it");
		else if (x.blocks == 0)
			fail(&x, VERDICT_FAILED, block_name(x.from_block),
				 "the export holds no block, so nothing can be verified");
		else
			check_unmatched_tree_heads(&x);
	}

	/* until the header names the origin, the file stands for it */
	label = x.have_header ? x.origin : path;
	fflush(stderr);
	if (x.verdict == VERDICT_OK)
	{
		hex_encode(x.tree_root, TL_HASH_LEN, root);
		printf("%s: OK, " INT64_FORMAT " entries", x.origin, x.entries);
		if (x.missing > 0)
			printf(" (" INT64_FORMAT " not in export)", x.missing);
		printf(", " INT64_FORMAT " blocks, tree size " INT64_FORMAT ", root %s%s",
			   x.blocks, x.tree_size, root,
			   x.tree_known ? "" : " (signed, not recomputed)");
		if (x.heads_matched > 0)
			printf(", matches %d signed tree head%s", x.heads_matched,
				   x.heads_matched == 1 ? "" : "s");
		printf("\n");
	}
	else if (x.where == NULL)
		printf("%s: FAILED: %s\n", label, x.reason);
	else
		printf("%s: FAILED at %s: %s\n", label, x.where, x.reason);
	fflush(stdout);
	free(x.pending);
	/* where and reason are palloc'd (psprintf, StringInfo) */
	if (x.where != NULL)
		pfree(x.where);
	if (x.reason != NULL)
		pfree(x.reason);
	return x.verdict;
}

/* ----------------------------------------------------------------
 * Command line
 * ----------------------------------------------------------------
 */

static void
usage(FILE *out)
{
	fprintf(out,
			"Usage: tracelink-verify [--key ORIGIN=HEX]... [--sth FILE]... [--complete] EXPORT.jsonl...\n"
			"\n"
			"Checks exports made by tracelink.export(origin) (one origin per file, \"-\" for\n"
			"standard input) and signed tree heads saved from tracelink.signed_tree_head().\n"
			"\n"
			"  --key ORIGIN=HEX  pin ORIGIN's genesis public key (64 hex digits), obtained out\n"
			"                    of band; for an export from a later block, the key that\n"
			"                    signs its first block.  Without it the export's own\n"
			"                    genesis_key is trusted, with a warning.\n"
			"  --sth FILE        a signed tree head the export must contain unchanged\n"
			"  --complete        every entry must be in the export (an export made on the\n"
			"                    origin's own node is complete; a peer's may lack entries\n"
			"                    addressed to others)\n"
			"  -h, --help        show this help\n"
			"\n"
			"Exit status: 0 all verified, 1 verification failed, 2 could not verify.\n"
			"Format and checks: docs/ledger.md.\n");
}

/* a usage error: message, hint, exit status 2 */
static void
usage_error(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

static void
usage_error(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "tracelink-verify: error: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\nTry \"tracelink-verify --help\".\n");
	exit(TV_EXIT_TROUBLE);
}

/*
 * --key ORIGIN=HEX (64 hex digits, either case, "\x" prefix allowed as in
 * psql's bytea output)
 */
static void
add_pinned_key(const char *arg)
{
	const char *eq = strchr(arg, '=');
	const char *hex;
	PinnedKey	pin;

	memset(&pin, 0, sizeof(pin));
	if (eq == NULL || !valid_node_name(arg, eq - arg))
		usage_error("--key wants ORIGIN=HEX with a node name as ORIGIN, not \"%s\"", arg);
	memcpy(pin.origin, arg, eq - arg);
	hex = eq + 1;
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	if (!hex_decode(hex, strlen(hex), pin.key, TL_ED25519_PK_LEN, true))
		usage_error("--key %s: the key must be 64 hex digits (32 bytes)", pin.origin);
	if (pinned_key_of(pin.origin) != NULL)
		usage_error("--key %s given twice", pin.origin);
	pinned_keys = tv_realloc(pinned_keys, sizeof(PinnedKey) * (npinned + 1));
	pinned_keys[npinned++] = pin;
}

int
main(int argc, char **argv)
{
	const char **exports;
	int			nexports = 0;
	bool		options_done = false;
	Verdict		worst = VERDICT_OK;
	int			i;

	/* an error raised by code under the stand-in ends the program (status 2) */
	standin_uncaught_error = tv_uncaught_error;
	exports = tv_malloc(sizeof(char *) * argc);
	for (i = 1; i < argc; i++)
	{
		const char *arg = argv[i];

		if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0)
			exports[nexports++] = arg;
		else if (strcmp(arg, "--") == 0)
			options_done = true;
		else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		{
			usage(stdout);
			return TV_EXIT_OK;
		}
		else if (strcmp(arg, "--complete") == 0)
			require_complete = true;
		else if (strcmp(arg, "--key") == 0 || strcmp(arg, "--sth") == 0)
		{
			if (i + 1 >= argc)
				usage_error("%s needs a value", arg);
			if (arg[2] == 'k')
				add_pinned_key(argv[++i]);
			else
			{
				tree_heads = tv_realloc(tree_heads, sizeof(TreeHead) * (ntree_heads + 1));
				memset(&tree_heads[ntree_heads], 0, sizeof(TreeHead));
				tree_heads[ntree_heads++].path = argv[++i];
			}
		}
		else if (strncmp(arg, "--key=", 6) == 0)
			add_pinned_key(arg + 6);
		else if (strncmp(arg, "--sth=", 6) == 0)
		{
			tree_heads = tv_realloc(tree_heads, sizeof(TreeHead) * (ntree_heads + 1));
			memset(&tree_heads[ntree_heads], 0, sizeof(TreeHead));
			tree_heads[ntree_heads++].path = arg + 6;
		}
		else
			usage_error("unknown option \"%s\"", arg);
	}
	if (nexports == 0)
		usage_error("no export file given");

	if (sodium_init() < 0)
		tv_fatal("could not initialise libsodium");
	for (i = 0; i < ntree_heads; i++)
		load_tree_head(tree_heads[i].path, &tree_heads[i]);

	origins_seen = tv_malloc(sizeof(char *) * nexports);
	for (i = 0; i < nexports; i++)
	{
		Verdict		v = verify_export(exports[i]);

		worst = Max(worst, v);
	}

	for (i = 0; i < npinned; i++)
		if (!origin_seen(pinned_keys[i].origin))
		{
			fprintf(stderr, "tracelink-verify: error: --key %s: no export of origin \"%s\" was given\n",
					pinned_keys[i].origin, pinned_keys[i].origin);
			worst = VERDICT_TROUBLE;
		}
	for (i = 0; i < ntree_heads; i++)
		if (!origin_seen(tree_heads[i].b.origin))
		{
			fprintf(stderr, "tracelink-verify: error: --sth %s: no export of origin \"%s\" was given\n",
					tree_heads[i].path, tree_heads[i].b.origin);
			worst = VERDICT_TROUBLE;
		}
	for (i = 0; i < ntree_heads; i++)
		free(tree_heads[i].b.entry_hashes);
	for (i = 0; i < norigins_seen; i++)
		pfree(origins_seen[i]);
	free(origins_seen);
	free(tree_heads);
	free(pinned_keys);
	free(exports);
	return worst;
}
