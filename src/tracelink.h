/*-------------------------------------------------------------------------
 *
 * tracelink.h
 *	  Declarations shared by the parts of the tracelink extension.
 *
 * Each part (canonical JSON, definition types, ledger, ...) lives in its own
 * file under src/; this header is the only place they meet.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRACELINK_H
#define TRACELINK_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

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

/* ----------------------------------------------------------------
 * jcs.c: RFC 8785 canonical JSON
 * ----------------------------------------------------------------
 */
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

extern JcsValue *jcs_parse(const char *json, int len);
extern JcsValue *jcs_from_jsonb(Jsonb *jb);
extern void jcs_serialize(StringInfo out, const JcsValue *value);
extern void jcs_append_string(StringInfo out, const char *str, int len);
extern void jcs_append_number(StringInfo out, double value);
extern char *jcs_canonical_text(const char *json, int len, int *outlen);
extern JcsValue *jcs_object_get(const JcsValue *object, const char *key);
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

/* ----------------------------------------------------------------
 * hash.c: SHA-256 (PostgreSQL's cryptohash) and digest helpers
 * ----------------------------------------------------------------
 */
#define TL_HASH_LEN 32

typedef struct TlSha256
{
	struct pg_cryptohash_ctx *ctx;
} TlSha256;

extern void tl_sha256(const void *data, size_t len, uint8 *out);
extern void tl_sha256_begin(TlSha256 *h);
extern void tl_sha256_update(TlSha256 *h, const void *data, size_t len);
extern void tl_sha256_end(TlSha256 *h, uint8 *out);
extern struct varlena *tl_bytea_from(const uint8 *data, size_t len);

#endif							/* TRACELINK_H */
