/*-------------------------------------------------------------------------
 *
 * tv_json.h
 *	  A small JSON tree for tracelink-verify, parsed without recursion on
 *	  top of PostgreSQL's JSON lexer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TV_JSON_H
#define TV_JSON_H

typedef enum TvJsonKind
{
	TVJ_NULL,
	TVJ_TRUE,
	TVJ_FALSE,
	TVJ_NUMBER,
	TVJ_STRING,
	TVJ_ARRAY,
	TVJ_OBJECT
} TvJsonKind;

typedef struct TvJson TvJson;

struct TvJson
{
	TvJsonKind	kind;
	const char *key;			/* member name inside an object, else NULL */
	int			keylen;
	const char *text;			/* string (unescaped) or number token, NUL
								 * terminated; NULL for other kinds */
	int			len;
	int			count;			/* members or elements */
	TvJson	   *first;			/* first member or element */
	TvJson	   *last;
	TvJson	   *next;			/* next sibling */
};

/*
 * Parse len bytes of JSON text (one value, surrounded by nothing but
 * whitespace).  Returns the tree, or NULL with *error set to a message
 * (valid until the next call).  Trees live until tvj_reset().
 */
extern TvJson *tvj_parse(const char *text, size_t len, const char **error);
extern void tvj_reset(void);
extern void tvj_thread_done(void);

extern const TvJson *tvj_get(const TvJson *object, const char *key);
extern const char *tvj_check_fields(const TvJson *object,
									const char *const *required,
									const char *const *optional);
extern const char *tvj_kind_name(TvJsonKind kind);
extern void tvj_printable(const char *text, int len, char *out, size_t outsize);

#endif							/* TV_JSON_H */
