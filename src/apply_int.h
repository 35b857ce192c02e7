/*-------------------------------------------------------------------------
 *
 * apply_int.h
 *	  Private header of the apply part: apply.c (checking and applying
 *	  blocks and entries from peers), inbox.c (rows waiting for their
 *	  block or predecessor), quarantine.c (rows refused) and ingest.c (the
 *	  ways rows come in).  What other parts use of it is in tracelink.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_INT_H
#define APPLY_INT_H

#include "tracelink.h"

#include "nodes/pg_list.h"

/*
 * Where a row came from: a trigger's tuple, or a line given to ingest().
 * The quarantine keeps the row as received.
 */
typedef struct RowSource
{
	HeapTuple	tup;
	TupleDesc	desc;
	const char *line;			/* not NUL-terminated */
	int			line_len;
} RowSource;

/*
 * apply.c: entries of a large transaction stop waiting in memory for their
 * block past tracelink.apply_waiting_memory and go to the inbox; a block
 * takes its entries out of the inbox TL_APPLY_CHUNK at a time.  So an
 * apply worker's memory does not grow with the transactions it applies.
 */
#define TL_APPLY_CHUNK			256

/*
 * What a row read back turned out to be (retry_quarantined(): was it
 * applied?): known once it decoded.  hash is the block's or the entry's.
 */
typedef struct RowIdentity
{
	bool		known;
	bool		is_block;
	char		origin[NAMEDATALEN];
	int64		block_no;
	uint8		hash[TL_HASH_LEN];
} RowIdentity;

/* apply.c */
extern void tl_apply_begin(void);
extern void tl_apply_receive_block(TlBlock *b, const char *decode_problem,
								   const RowSource *src);
extern void tl_apply_receive_entry(TlEntry *e, const RowSource *src);

extern void tl_apply_set_source(const char *source);

/* ingest.c */
extern void tl_receive_row(const RowSource *src, bool is_block, RowIdentity *ident);
extern void tl_receive_line(const RowSource *src, RowIdentity *ident);

/* inbox.c */
extern bool tl_entry_entitled(const TlEntry *e, const char *node);
extern const char *tl_audience_problem(const TlEntry *e, const char *local_node);
extern bool tl_inbox_block_parked_for(const char *origin, int64 tx);
extern bool tl_inbox_park_block(const TlBlock *b, uint8 *parked_hash);
extern bool tl_inbox_unpark_block(const char *origin, int64 block_no, TlBlock *b);
extern bool tl_inbox_entries_parked_for(const char *origin, int64 tx);
extern List *tl_inbox_unpark_entries(const char *origin, int64 tx, int limit);
extern void tl_inbox_park_entries(List *entries, const char *local_node, bool pass_duplicates);

/* quarantine.c */
extern void tl_quarantine_init(void);
extern void tl_quarantine_set_subscription(const char *subscription);
extern const char *tl_known_origin(const char *origin);
extern void tl_quarantine_source(const char *what, const char *origin,
								 const char *reason, const RowSource *src);
extern void tl_quarantine_entry(const TlEntry *e, const char *reason);
extern void tl_quarantine_entry_as_received(const TlEntry *e, const char *reason,
											const RowSource *src);
extern void tl_quarantine_block_only(const TlBlock *b, const char *reason,
									 const RowSource *src);

#endif							/* APPLY_INT_H */
