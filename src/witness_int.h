/*-------------------------------------------------------------------------
 *
 * witness_int.h
 *	  Private header of the witnessing part: witness.c (what a witness
 *	  proves, appending witnesses) and witness_heads.c (signed heads read,
 *	  compared and written).  What other parts use is in tracelink.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WITNESS_INT_H
#define WITNESS_INT_H

#include "tracelink.h"

/* What this node knows of an origin. */
typedef struct TlOriginView
{
	bool		known;			/* in tracelink.nodes */
	bool		is_local;
	uint8		pinned_key[TL_ED25519_PK_LEN];
	bool		have_head;
	int64		head_no;
	uint8		head_key[TL_ED25519_PK_LEN];	/* signs its next block */
} TlOriginView;

extern const char *tl_parse_head(JcsValue *v, TlSignedHead *out);
extern bool tl_head_signature_ok(const TlSignedHead *hd);
extern bool tl_same_block(const TlSignedHead *a, const TlSignedHead *b);
extern void tl_head_json(StringInfo out, const TlSignedHead *hd);
extern Datum tl_head_jsonb(const TlSignedHead *hd);
extern char *tl_hex_of(const uint8 *data, int len);
extern bool tl_read_block_head(const char *origin, int64 block_no, bool parked,
							   TlSignedHead *out);
extern void tl_origin_view(const char *origin, TlOriginView *ov);
extern bool tl_block_at(const char *origin, int64 block_no, Snapshot snapshot,
						TlSignedHead *out);
extern bool tl_holds_block(const TlSignedHead *hd);
extern bool tl_one_of_my_keys(const char *me, const uint8 *key);

#endif							/* WITNESS_INT_H */
