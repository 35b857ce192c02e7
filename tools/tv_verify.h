/*-------------------------------------------------------------------------
 *
 * tv_verify.h
 *	  What tracelink-verify's files share: the limits, the state of an
 *	  export being verified, the command line, and the functions of
 *	  tv_fields.c (verdicts, hex, fields of lines, block signatures) and
 *	  tv_check.c (tree heads, header and entry lines, blocks).
 *
 * tracelink-verify.c reads each export line by line and hands the lines to
 * tv_check.c, which reads their fields with tv_fields.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TV_VERIFY_H
#define TV_VERIFY_H

#include "tracelink.h"

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
	/* what precompute_block() worked out ahead, on a thread */
	bool		precomputed;
	const char *signature_problem;	/* check_block_signature() */
	uint8	   *leaves;			/* tv_malloc'd leaf hashes of entry_hashes */
	uint8		computed_root[TL_HASH_LEN]; /* their Merkle root */
	TlMerkleRange *range;		/* tv_malloc'd: the leaves hashed where
									 * tree_size puts them, or NULL */
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
/* command line (tv_fields.c holds them) */
extern PinnedKey *pinned_keys;
extern int	npinned;
extern TreeHead *tree_heads;
extern int	ntree_heads;
extern bool require_complete;

/* origins of the exports read so far: one export per origin */
extern char **origins_seen;
extern int	norigins_seen;

/* tv_fields.c */
extern __thread char field_error[200];	/* one per thread */
extern void warn(const Export *x, const char *fmt,...) pg_attribute_printf(2, 3);
extern bool fail(Export *x, Verdict verdict, char *where, const char *fmt,...)
			pg_attribute_printf(4, 5);
extern void hex_encode(const uint8 *data, int len, char *out);
extern char *block_name(int64 block_no);
extern bool hex_decode(const char *text, size_t textlen, uint8 *out, int len, bool any_case);
extern bool valid_node_name(const char *name, size_t len);
extern bool origin_seen(const char *origin);
extern PinnedKey *pinned_key_of(const char *origin);
extern const char *get_int64(const TvJson *object, const char *key, int64 min,
							 int64 max, int64 *out);
extern const char *get_hex(const TvJson *object, const char *key, uint8 *out, int len);
extern const char *get_constant(const TvJson *object, const char *key, const char *expected);
extern const char *get_node_name(const TvJson *object, const char *key, char *out);
extern const char *read_block_fields(const TvJson *object, bool tree_head, BlockFields *b);
extern const char *check_block_signature(const BlockFields *b);

/* tv_check.c */
extern void load_tree_head(const char *path, TreeHead *th);
extern bool check_tree_heads_alone(Export *x);
extern bool check_unmatched_tree_heads(Export *x);
extern bool read_header(Export *x, const TvJson *line);
extern const char *parse_entry(const char *origin, const TvJson *line, const char *bytes,
							   size_t len, EntryLine *e);
extern bool add_entry(Export *x, const EntryLine *parsed, const char *problem);
extern void precompute_block(BlockFields *b);
extern bool check_block(Export *x, BlockFields *b);

#endif							/* TV_VERIFY_H */
