/*-------------------------------------------------------------------------
 *
 * tracelink.h
 *	  Declarations shared by the parts of the tracelink extension.
 *
 * What one part (ledger, apply, witness, trace, ...) calls in another.  The
 * pure parts have their own headers, included here: jcs.h (canonical JSON)
 * and definition.h (definitions).  What only the files of one part share
 * is in that part's private header: apply_int.h, witness_int.h,
 * trace_int.h, def_private.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRACELINK_H
#define TRACELINK_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "storage/itemptr.h"
#include "access/htup.h"
#include "access/tupdesc.h"

/*
 * SQLSTATEs of our own, class "TL" (implementation-defined classes start
 * with a letter I-Z).  Everything that has a fitting standard code uses that
 * instead; these name conditions specific to trace link definitions.  The
 * list is documented in docs/sql-reference.md.
 */
#define ERRCODE_TL_MISSING_TRACE_CODE	MAKE_SQLSTATE('T','L','0','0','1')
#define ERRCODE_TL_DUPLICATE_NAME		MAKE_SQLSTATE('T','L','0','0','2')
#define ERRCODE_TL_UNKNOWN_DATA_TYPE	MAKE_SQLSTATE('T','L','0','0','3')
#define ERRCODE_TL_UNKNOWN_SOURCE		MAKE_SQLSTATE('T','L','0','0','4')
#define ERRCODE_TL_UNKNOWN_WIDGET		MAKE_SQLSTATE('T','L','0','0','5')
#define ERRCODE_TL_EMPTY				MAKE_SQLSTATE('T','L','0','0','6')
#define ERRCODE_TL_UNKNOWN_PROCESS		MAKE_SQLSTATE('T','L','0','0','7')
#define ERRCODE_TL_NO_PRODUCER			MAKE_SQLSTATE('T','L','0','0','8')
#define ERRCODE_TL_DATA_LEVEL			MAKE_SQLSTATE('T','L','0','0','9')
#define ERRCODE_TL_DATA_CYCLE			MAKE_SQLSTATE('T','L','0','1','0')
#define ERRCODE_TL_BAD_TRACE_CODE_ITEM	MAKE_SQLSTATE('T','L','0','1','1')
#define ERRCODE_TL_BAD_VOTING_RULE		MAKE_SQLSTATE('T','L','0','1','2')
#define ERRCODE_TL_PROCESS_ORDER		MAKE_SQLSTATE('T','L','0','1','3')
#define ERRCODE_TL_BAD_INVITATION		MAKE_SQLSTATE('T','L','0','1','4')
#define ERRCODE_TL_BAD_AUDIENCE			MAKE_SQLSTATE('T','L','0','1','5')
/* ledger */
#define ERRCODE_TL_APPEND_ONLY			MAKE_SQLSTATE('T','L','0','2','0')
/* trace data */
#define ERRCODE_TL_SOURCE_NOT_ALLOWED	MAKE_SQLSTATE('T','L','0','3','0')
#define ERRCODE_TL_NOT_IN_MESH			MAKE_SQLSTATE('T','L','0','3','1')
#define ERRCODE_TL_INPUT_TOO_LATE		MAKE_SQLSTATE('T','L','0','3','2')
#define ERRCODE_TL_COMMITMENT_MISMATCH	MAKE_SQLSTATE('T','L','0','3','3')

/* jcs.c and its neighbours: RFC 8785 canonical JSON (src/jcs.h) */
#include "jcs.h"

/* ----------------------------------------------------------------
 * hash.c: SHA-256 (OpenSSL's, as PostgreSQL's cryptohash uses) and helpers
 * ----------------------------------------------------------------
 */
#define TL_HASH_LEN 32

/* one hash at a time: finish it before beginning another */
typedef struct TlSha256
{
	void	   *ctx;
} TlSha256;

extern void tl_sha256(const void *data, size_t len, uint8 *out);
extern void tl_sha256_begin(TlSha256 *h);
extern void tl_sha256_update(TlSha256 *h, const void *data, size_t len);
extern void tl_sha256_end(TlSha256 *h, uint8 *out);
extern struct varlena *tl_bytea_from(const uint8 *data, size_t len);

/* ----------------------------------------------------------------
 * merkle.c: RFC 6962 / RFC 9162 Merkle trees, SHA-256
 * ----------------------------------------------------------------
 *
 * leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left ||
 * right), the root of the empty tree = SHA-256("").  Leaf hashes are
 * TL_HASH_LEN bytes each, stored contiguously.
 */
#define TL_MERKLE_MAX_PATH 64
extern void tl_merkle_leaf_hash(const uint8 *data, size_t len, uint8 *out);
extern void tl_merkle_node_hash(const uint8 *left, const uint8 *right, uint8 *out);
extern void tl_merkle_root(const uint8 *leaf_hashes, uint64 n, uint8 *out);
/* path of sibling hashes for leaf `index` in a tree of size n (RFC 9162 2.1.3.1);
 * returns the number of hashes written to out (capacity TL_MERKLE_MAX_PATH hashes) */
extern int	tl_merkle_inclusion_path(const uint8 *leaf_hashes, uint64 n, uint64 index, uint8 *out);
/* consistency proof from size m to size n (RFC 9162 2.1.4.1), 0 < m <= n */
extern int	tl_merkle_consistency_path(const uint8 *leaf_hashes, uint64 n, uint64 m, uint8 *out);
extern bool tl_merkle_verify_inclusion(uint64 index, uint64 size, const uint8 *leaf_hash,
									   const uint8 *path, int path_len, const uint8 *root);
extern bool tl_merkle_verify_consistency(uint64 old_size, uint64 new_size,
										 const uint8 *old_root, const uint8 *new_root,
										 const uint8 *path, int path_len);

/*
 * A compact range / "frontier": the roots of the perfect subtrees that make
 * up a tree of `size` leaves, largest first (one per set bit of size).  Lets
 * the ledger extend an origin's tree head in O(log n) per appended leaf.
 */
typedef struct TlMerkleFrontier
{
	uint64		size;
	int			count;
	uint8		hashes[TL_MERKLE_MAX_PATH][TL_HASH_LEN];
} TlMerkleFrontier;
extern void tl_frontier_init(TlMerkleFrontier *f);
extern void tl_frontier_append(TlMerkleFrontier *f, const uint8 *leaf_hash);
extern void tl_frontier_root(const TlMerkleFrontier *f, uint8 *out);
/* leaves [start, end) as perfect subtrees: 2^heights[i] leaves under hashes[i] */
typedef struct TlMerkleRange
{
	uint64		start;
	uint64		end;
	int			count;
	uint8		heights[2 * TL_MERKLE_MAX_PATH];
	uint8		hashes[2 * TL_MERKLE_MAX_PATH][TL_HASH_LEN];
} TlMerkleRange;
extern void tl_merkle_range_init(TlMerkleRange *r, uint64 start, const uint8 *leaf_hashes,
								 uint64 n);
extern void tl_frontier_append_range(TlMerkleFrontier *f, const TlMerkleRange *r);
/* (de)serialise as count*32 bytes; size is stored by the caller */
extern bytea *tl_frontier_to_bytea(const TlMerkleFrontier *f);
extern void tl_frontier_from_bytes(TlMerkleFrontier *f, uint64 size, const uint8 *data, int len);

/* ----------------------------------------------------------------
 * crypto.c: Ed25519 (libsodium) and the SQL functions for hashes,
 * signatures and Merkle proofs.  Lengths are checked before libsodium is
 * called.
 * ----------------------------------------------------------------
 */
#define TL_ED25519_PK_LEN 32
#define TL_ED25519_SK_LEN 64
#define TL_ED25519_SEED_LEN 32
#define TL_ED25519_SIG_LEN 64
extern void tl_crypto_init(void);	/* sodium_init(); called from _PG_init */
/* proofs hold one leaf hash per leaf in memory: refuse (54000) more than fit */
extern void tl_merkle_check_proof_leaves(int64 n);
extern bool tl_ed25519_verify(const uint8 *public_key, const uint8 *message, size_t len,
							  const uint8 *signature);

/* ----------------------------------------------------------------
 * safe_spi.c: SQL from C under a pinned search_path ("pg_catalog, pg_temp");
 * every SPI session of tracelink opens and closes through these
 * ----------------------------------------------------------------
 */
extern int	tl_pin_search_path(void);
extern void tl_unpin_search_path(int nest_level);
extern int	tl_spi_connect(void);
extern void tl_spi_finish(int nest_level);
struct _SPI_plan;
extern struct _SPI_plan *tl_spi_plan(struct _SPI_plan **plan, const char *query, int nargs,
									  Oid *types);

/* ----------------------------------------------------------------
 * util.c: tracelink's relations and extension object, and the locks taken
 * on it (sub-ids below; their order is in tracelink.c's banner)
 * ----------------------------------------------------------------
 */
#define TL_LOCK_SEAL		1	/* sealing a block (ledger.c) */
#define TL_LOCK_APPLY		2	/* applying peers' rows, witnessing */
#define TL_LOCK_ROTATION	2	/* rotate_key(): the apply lock's sub-id */
#define TL_LOCK_TRACE		3	/* recording and projecting trace data */
extern void tl_util_init(void);
extern Oid	tl_relid(const char *relname);
extern Oid	tl_relid_if_exists(const char *relname);
extern Oid	tl_extension_owner(void);
extern void tl_lock_extension(int subid);
extern void tl_unlock_extension(int subid);
extern bool tl_extension_lock_held(int subid);
extern void tl_lock_seal(void);
extern void tl_unlock_seal(void);

/* ----------------------------------------------------------------
 * rowwriter.c: direct writes to tracelink's own tables
 * ----------------------------------------------------------------
 */
typedef struct TlRowWriter
{
	Relation	rel;
	struct EState *estate;
	struct ResultRelInfo *rri;
	struct TupleTableSlot *slot;
} TlRowWriter;

extern TlRowWriter *tl_writer_open(Oid relid);
extern void tl_writer_close(TlRowWriter *w);
extern TlRowWriter *tl_writer_open_for_xact(Oid relid);
extern void tl_writer_insert(TlRowWriter *w, const Datum *values, const bool *nulls);
extern void tl_writer_update(TlRowWriter *w, ItemPointer tid, const Datum *values,
							 const bool *nulls, Snapshot snapshot);

/* ----------------------------------------------------------------
 * keys.c: the node's Ed25519 key
 * ----------------------------------------------------------------
 */
extern char *tl_key_directory;
extern void tl_keys_init(void);
extern void tl_keys_create(const char *node, uint8 *public_key);
extern void tl_keys_begin_rotation(const char *node, const uint8 *current_public,
								   uint8 *new_public_key);
extern void tl_keys_rotation_sealed(const char *node, const uint8 *next_public);
extern void tl_keys_sign(const char *node, const uint8 *expected_public,
						 const uint8 *message, size_t len, uint8 *signature);

/* ----------------------------------------------------------------
 * roles.c: the database a role acts in (tracelink's roles are cluster-wide),
 *		   and the processes a role records for
 * ----------------------------------------------------------------
 */
extern void tl_require_database_member(Oid role);
extern void tl_require_recorder(const uint8 *link_id, const char *link_name,
								const char *process);

/* ----------------------------------------------------------------
 * ledger_rows.c, ledger.c: entries, blocks, heads
 * ----------------------------------------------------------------
 */
typedef struct TlBlockHeader
{
	char		origin[NAMEDATALEN];
	int64		block_no;
	int64		tx;
	int32		entry_count;
	uint8		entries_root[TL_HASH_LEN];
	int64		tree_size;
	uint8		tree_root[TL_HASH_LEN];
	uint8		prev_hash[TL_HASH_LEN];
	TimestampTz sealed_at;
	uint8		signer_key[TL_ED25519_PK_LEN];
	bool		has_next_key;	/* the block hands over to next_key */
	uint8		next_key[TL_ED25519_PK_LEN];
} TlBlockHeader;

typedef struct TlHead
{
	int64		block_no;
	uint8		block_hash[TL_HASH_LEN];
	int64		tree_size;
	TlMerkleFrontier frontier;
	uint8		signer_key[TL_ED25519_PK_LEN];
	ItemPointerData tid;		/* of the heads row */
} TlHead;

/* Columns of tracelink.ledger_entries, ledger_blocks (and the inbox tables
 * shaped like them) and ledger_heads */
enum
{
	ENTRY_ORIGIN, ENTRY_TX, ENTRY_SEQ, ENTRY_KIND, ENTRY_PAYLOAD, ENTRY_DEPS,
	ENTRY_AUDIENCE, ENTRY_HASH, ENTRY_NATTS
};
enum
{
	BLOCK_ORIGIN, BLOCK_NO, BLOCK_TX, BLOCK_ENTRY_COUNT, BLOCK_ENTRY_HASHES,
	BLOCK_ENTRIES_ROOT, BLOCK_TREE_SIZE, BLOCK_TREE_ROOT, BLOCK_PREV_HASH,
	BLOCK_SEALED_AT, BLOCK_SIGNER_KEY, BLOCK_NEXT_KEY, BLOCK_HASH, BLOCK_SIGNATURE,
	BLOCK_NATTS
};
enum
{
	HEAD_ORIGIN, HEAD_BLOCK_NO, HEAD_BLOCK_HASH, HEAD_TREE_SIZE, HEAD_FRONTIER,
	HEAD_SIGNER_KEY, HEAD_APPLIED_AT, HEAD_NATTS
};

/*
 * The most entries one transaction (one block) may hold: a block's export
 * line lists their hashes (67 bytes each) and must stay within
 * TL_JSON_MAX_BYTES.
 */
#define TL_BLOCK_MAX_ENTRIES	1000000

/* a block as received from a peer or read from an export line */
typedef struct TlBlock
{
	TlBlockHeader h;
	uint8	   *entry_hashes;
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
} TlBlock;

/* an entry as the ledger stores it */
typedef struct TlEntry
{
	char	   *origin;
	int64		tx;
	int32		seq;
	char	   *kind;
	char	   *payload;		/* canonical JSON */
	int			payload_len;
	uint8	   *deps;			/* ndeps sorted 32-byte hashes */
	int			ndeps;
	char	  **audience;		/* NULL: every peer */
	int			naudience;
	uint8		hash[TL_HASH_LEN];
	const void *local_arg;		/* what the appender hands its kind's
								 * projector (tl_ledger_append_arg): set
								 * and read only when the entry takes
								 * effect on the node appending it */
} TlEntry;

/* ledger_rows.c: canonical forms; entry, block and head rows */
extern bool tl_valid_node_name(const char *name);
extern bool tl_valid_kind(const char *kind);
extern void tl_entry_hash(const TlEntry *e, uint8 *out);
extern bool tl_entry_exists(const uint8 *hash);
extern void tl_write_entry(TlRowWriter *w, const TlEntry *e);
extern void tl_read_entry(HeapTuple tup, TupleDesc desc, TlEntry *e);
extern void tl_block_json(StringInfo out, const TlBlockHeader *h, const uint8 *block_hash,
						  const uint8 *signature, const uint8 *entry_hashes);
extern int	tl_hash_array(struct ArrayType *arr, const char *what, uint8 **out);

extern int64 tl_unix_micros(TimestampTz ts);
extern void tl_entry_preimage(StringInfo out, const char *origin, int64 tx, int32 seq,
							  const char *kind, const char *payload, int payload_len,
							  const uint8 *deps, int ndeps,
							  const char *const *audience, int naudience);
extern void tl_block_hash(const TlBlockHeader *h, uint8 *out);
extern bool tl_read_head(Relation heads, Snapshot snapshot, const char *origin, TlHead *head);
extern void tl_write_head(TlRowWriter *w, const char *origin, const TlHead *head,
						  bool exists, Snapshot snapshot);
extern void tl_write_block(TlRowWriter *w, const TlBlockHeader *h, const uint8 *entry_hashes,
						   const uint8 *block_hash, const uint8 *signature);
extern void tl_extend_tree(TlMerkleFrontier *frontier, const uint8 *entry_hashes, int count,
						   uint8 *entries_root, uint8 *tree_root);

/* ledger.c: this node's chain, appended to and sealed at commit */
extern void tl_ledger_init(void);
extern char *tl_local_node(void);
extern char *tl_require_local_node(void);
extern bool tl_ledger_appended_effects(void);
extern void tl_require_apply_lock_first(const char *function);
extern void tl_ledger_append(const char *origin, const char *kind, const char *payload,
							 int payload_len, uint8 *deps, int ndeps,
							 const char *const *audience, int naudience, uint8 *hash_out);
extern void tl_ledger_append_arg(const char *origin, const char *kind, const char *payload,
								 int payload_len, uint8 *deps, int ndeps,
								 const char *const *audience, int naudience, uint8 *hash_out,
								 const void *local_arg);

/* ----------------------------------------------------------------
 * ledger_json.c: export lines and tree heads read back (built outside the
 * server too, for fuzz/fuzz_export_line.c)
 * ----------------------------------------------------------------
 */
extern void tl_hex_encode(const uint8 *data, int len, char *out);
extern bool tl_hex_decode(const char *hex, int hexlen, uint8 *out, int len);
extern bool tl_json_int64(JcsValue *obj, const char *key, int64 *out);
extern bool tl_json_hex(JcsValue *obj, const char *key, uint8 *out, int len);
extern bool tl_json_hex_value(JcsValue *v, uint8 *out, int len);
extern const char *tl_json_block_header(JcsValue *v, TlBlock *b);
extern const char *tl_export_line(JcsValue *v, bool *is_block, TlEntry *e, TlBlock *b);

/* ----------------------------------------------------------------
 * block.c: the one checker of blocks and entries, for rows that arrive
 * (apply.c) and for the ledger at rest (verify.c); problems are returned,
 * never raised
 * ----------------------------------------------------------------
 */
extern bool tl_fixed_bytea(HeapTuple tup, TupleDesc desc, int attnum, uint8 *out, int len);
extern const char *tl_block_decode(HeapTuple tup, TupleDesc desc, TlBlock *b);
extern const char *tl_entry_decode(HeapTuple tup, TupleDesc desc, TlEntry *e);
extern const char *tl_check_block(const TlBlock *b, const TlHead *prev,
								  const uint8 *pinned_key, TlMerkleFrontier *frontier);
extern const char *tl_check_block_tree(const TlBlock *b, const TlMerkleFrontier *frontier,
									   const uint8 *tree_root);
extern void tl_head_after_block(TlHead *head, const TlBlock *b,
								const TlMerkleFrontier *frontier);
extern const char *tl_check_entry_content(const TlEntry *e);
extern const char *tl_check_entry(const TlEntry *e, const TlBlock *b, bool *is_rotation);
extern const char *tl_check_block_complete(const TlBlockHeader *h, int32 present,
										   bool holds_rotation);

/* def_*.c, deftypes.c: trace link definitions (src/definition.h) */
#include "definition.h"

/* ----------------------------------------------------------------
 * The apply part (apply.c, inbox.c, ingest.c, quarantine.c: private
 * header apply_int.h) and project.c: rows from peers, projections
 * ----------------------------------------------------------------
 */
struct TriggerData;
extern void tl_apply_init(void);
extern ErrorData *tl_run_in_subtransaction(void (*fn) (void *arg), void *arg);
extern void tl_quarantine_effect(const TlEntry *e, const char *reason);
extern void tl_project_entry(const TlEntry *e, bool local);
extern bool tl_kind_has_effect(const char *kind);
extern void tl_apply_effect(const TlEntry *e);
extern void tl_apply_recover_own(bool on);
extern void tl_release_waiting_at_commit(const uint8 *hashes, int n);
extern void tl_release_waiting_at_prepare(void);

/* peer_fetch.c: asking a peer directly, over its subscription's connection */
struct pg_conn;
extern char *tl_peer_conninfo(const char *peer, MemoryContext cxt);
extern struct pg_conn *tl_peer_connect(const char *peer, const char *conninfo,
									   const char *purpose, bool named);

/* restore.c: ledger rows restored from a dump; the hold until it is finished */
extern HeapTuple tl_restore_incoming(struct TriggerData *trigdata);
extern void tl_restore_check_hold(void);
extern const char *tl_restore_hold_reason(void);
extern int64 tl_note_timeline_now(void);

/* ----------------------------------------------------------------
 * witness.c: witnessing other origins' signed heads, to catch an origin
 * that shows different blocks with one number to different peers
 * (docs/ledger.md, "Witnessing heads")
 * ----------------------------------------------------------------
 */
#define TL_WITNESS_KIND "tl.witness"

/* a block header with its hash and signature: a signed tree head */
typedef struct TlSignedHead
{
	TlBlockHeader h;
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
} TlSignedHead;

extern int	tl_witness_interval;
extern void tl_witness_init(void);
extern void tl_project_witness(const TlEntry *e, bool local);
extern void tl_witness_block_applied(const TlBlockHeader *h, const uint8 *block_hash,
									 const uint8 *signature);
extern const char *tl_witness_block_conflict(const TlBlockHeader *h, const uint8 *block_hash,
											 const uint8 *signature);

/* workflow.c: appending workflow entries (the vote rules are sqlsrc/65_votes.sql) */
extern void tl_workflow_init(void);

/* verify.c: the ledger at rest, exports, proofs */
extern void tl_verify_init(void);	/* its GUCs; called from _PG_init */

/* ----------------------------------------------------------------
 * trace*.c: trace data (docs/trace.md); the part's own declarations are
 * in src/trace_int.h
 * ----------------------------------------------------------------
 */
#define TL_TRACE_KIND		"tl.trace.record"
#define TL_TRACE_PRIVATE_KIND "tl.trace.private"

extern void tl_trace_init(void);

extern void tl_project_trace_records(const TlEntry *e, bool local);
extern void tl_project_trace_private(const TlEntry *e, bool local);
extern bool tl_trace_group_member(const uint8 *link_id, const char *node);

/* blob.c: off-chain files (docs/files.md); the check record() makes */
struct TlTraceForm;
extern void tl_blob_check_references(const struct TlTraceForm *form, const JcsValue *data);

#endif							/* TRACELINK_H */
