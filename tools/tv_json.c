/*-------------------------------------------------------------------------
 *
 * tv_json.c
 *	  JSON for tracelink-verify: PostgreSQL's lexer, an iterative parser.
 *
 * Tokens come from json_lex() in libpgcommon, the lexer the server uses for
 * json and jsonb: it checks the number and string syntax and undoes the
 * escapes.  The grammar is driven here with an explicit stack instead of
 * pg_parse_json(), whose recursive descent has no depth limit in frontend
 * code and would overflow the C stack on a deeply nested payload.  So any
 * nesting the server can store (and deeper) parses, bounded by memory only.
 *
 * Every line must be valid UTF-8 without NUL bytes before it is lexed (the
 * server guarantees that of every text value; the frontend lexer does not
 * check it).  Numbers are kept as their token text, so integers of any size
 * are read exactly by the caller, never through a double.
 *
 * Nodes and strings live in an arena freed by tvj_reset(), one line at a
 * time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "tv_json.h"
#include "tv_util.h"

/* ----------------------------------------------------------------
 * Arena
 * ----------------------------------------------------------------
 */

#define ARENA_BLOCK_SIZE	(64 * 1024)

typedef struct ArenaBlock
{
	struct ArenaBlock *next;
	size_t		used;
	size_t		size;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} ArenaBlock;

/* one arena per thread: tracelink-verify parses lines on several */
static __thread ArenaBlock *arena = NULL;

/* MAXALIGNed memory from the arena; big requests get a block of their own */
static void *
arena_alloc(size_t size)
{
	ArenaBlock *b = arena;
	void	   *p;

	size = MAXALIGN(size);
	if (b == NULL || b->size - b->used < size)
	{
		size_t		block_size = Max(size, ARENA_BLOCK_SIZE);

		b = tv_malloc(offsetof(ArenaBlock, data) + block_size);
		b->used = 0;
		b->size = block_size;
		if (arena != NULL && size > ARENA_BLOCK_SIZE)
		{
			/* keep filling the current small block afterwards */
			b->next = arena->next;
			arena->next = b;
		}
		else
		{
			b->next = arena;
			arena = b;
		}
	}
	p = b->data + b->used;
	b->used += size;
	return p;
}

/* a NUL-terminated copy in the arena */
static char *
arena_strndup(const char *s, size_t len)
{
	char	   *p = arena_alloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * Free every tree parsed since the last reset.  One block of the usual size
 * is kept for the next line: on the parsing threads, a block allocated and
 * freed for every line made glibc hand the memory back to the kernel and
 * fault it in again each time.
 */
void
tvj_reset(void)
{
	ArenaBlock *keep = NULL;

	while (arena != NULL)
	{
		ArenaBlock *b = arena;

		arena = b->next;
		if (keep == NULL && b->size == ARENA_BLOCK_SIZE)
			keep = b;
		else
			free(b);
	}
	if (keep != NULL)
	{
		keep->used = 0;
		keep->next = NULL;
		arena = keep;
	}
}

/* ----------------------------------------------------------------
 * Parsing
 * ----------------------------------------------------------------
 */

static __thread char error_buffer[256];

/* what the parser expects next */
typedef enum ParseState
{
	EXPECT_VALUE,
	EXPECT_VALUE_OR_CLOSE,		/* just after '[' */
	EXPECT_KEY,
	EXPECT_KEY_OR_CLOSE,		/* just after '{' */
	EXPECT_COLON,
	AFTER_VALUE
} ParseState;

/*
 * A syntax error, with the position of the token it was found at (none at
 * the end of the input: the lexer then has no token start).
 */
static const char *
parse_error(JsonLexContext *lex, const char *what)
{
	if (lex->token_start == NULL)
		snprintf(error_buffer, sizeof(error_buffer), "%s", what);
	else
		snprintf(error_buffer, sizeof(error_buffer), "%s at byte %d", what,
				 (int) (lex->token_start - lex->input) + 1);
	return error_buffer;
}

/* the lexer's complaint, in the words of the server's json_errdetail() */
static const char *
lex_error(JsonLexContext *lex, JsonParseErrorType code)
{
	switch (code)
	{
		case JSON_ESCAPING_INVALID:
			return parse_error(lex, "invalid escape sequence in a string");
		case JSON_ESCAPING_REQUIRED:
			return parse_error(lex, "control character in a string that must be escaped");
		case JSON_UNICODE_CODE_POINT_ZERO:
			return parse_error(lex, "\\u0000 cannot be converted to text");
		case JSON_UNICODE_ESCAPE_FORMAT:
			return parse_error(lex, "\"\\u\" must be followed by four hexadecimal digits");
		case JSON_UNICODE_HIGH_SURROGATE:
			return parse_error(lex, "Unicode high surrogate must not follow a high surrogate");
		case JSON_UNICODE_LOW_SURROGATE:
			return parse_error(lex, "Unicode low surrogate must follow a high surrogate");
		default:
			return parse_error(lex, "invalid token");
	}
}

/* a leaf node for a scalar token, or NULL if the token is no value */
static TvJson *
scalar_node(JsonLexContext *lex)
{
	TvJson	   *node = arena_alloc(sizeof(TvJson));

	memset(node, 0, sizeof(TvJson));
	switch (lex->token_type)
	{
		case JSON_TOKEN_STRING:
			node->kind = TVJ_STRING;
			node->len = lex->strval->len;
			node->text = arena_strndup(lex->strval->data, lex->strval->len);
			break;
		case JSON_TOKEN_NUMBER:
			node->kind = TVJ_NUMBER;
			node->len = (int) (lex->token_terminator - lex->token_start);
			node->text = arena_strndup(lex->token_start, node->len);
			break;
		case JSON_TOKEN_TRUE:
			node->kind = TVJ_TRUE;
			break;
		case JSON_TOKEN_FALSE:
			node->kind = TVJ_FALSE;
			break;
		case JSON_TOKEN_NULL:
			node->kind = TVJ_NULL;
			break;
		case JSON_TOKEN_OBJECT_START:
			node->kind = TVJ_OBJECT;
			break;
		case JSON_TOKEN_ARRAY_START:
			node->kind = TVJ_ARRAY;
			break;
		default:
			return NULL;
	}
	return node;
}

/*
 * One lexer per thread, set up again for each text: a context and its
 * string buffer allocated per line cost the threads of tracelink-verify
 * more in palloc's lock than the lexing.  These are the fields
 * makeJsonLexContextCstringLen() sets.
 */
static __thread JsonLexContext *thread_lex = NULL;

/* a string buffer kept between texts up to this size, then given back */
#define LEXER_KEEP_BYTES	(64 * 1024)

static JsonLexContext *
start_lexer(char *text, int len)
{
	StringInfo	strval;

	if (thread_lex == NULL)
	{
		thread_lex = tv_malloc(sizeof(JsonLexContext));
		thread_lex->strval = makeStringInfo();
	}
	strval = thread_lex->strval;
	resetStringInfo(strval);
	memset(thread_lex, 0, sizeof(JsonLexContext));
	thread_lex->input = thread_lex->token_terminator = thread_lex->line_start = text;
	thread_lex->line_number = 1;
	thread_lex->input_length = len;
	thread_lex->input_encoding = PG_UTF8;
	thread_lex->strval = strval;
	return thread_lex;
}

static void
free_lexer(JsonLexContext *lex)
{
	if (lex->strval->maxlen > LEXER_KEEP_BYTES)
		tvj_thread_done();
}

/*
 * Give back the calling thread's lexer and arena (a thread calls it before
 * it ends).
 */
void
tvj_thread_done(void)
{
	tvj_reset();
	free(arena);
	arena = NULL;
	if (thread_lex != NULL)
	{
		pfree(thread_lex->strval->data);
		pfree(thread_lex->strval);
		free(thread_lex);
		thread_lex = NULL;
	}
}

/*
 * Parse one JSON value.  See tv_json.h.
 */
TvJson *
tvj_parse(const char *text, size_t len, const char **error)
{
	JsonLexContext *lex;
	ParseState	state = EXPECT_VALUE;
	TvJson	  **stack = NULL;
	int			depth = 0;
	int			capacity = 0;
	TvJson	   *root = NULL;
	const char *key = NULL;
	int			keylen = 0;
	const char *problem = NULL;
	int			valid;

	*error = NULL;
	if (len > PG_INT32_MAX)
	{
		*error = "JSON text longer than 2 GB";
		return NULL;
	}
	valid = pg_encoding_verifymbstr(PG_UTF8, text, (int) len);
	if (valid != (int) len)
	{
		snprintf(error_buffer, sizeof(error_buffer),
				 text[valid] == '\0' ? "NUL byte at byte %d" :
				 "invalid UTF-8 at byte %d", valid + 1);
		*error = error_buffer;
		return NULL;
	}

	lex = start_lexer(unconstify(char *, text), (int) len);
	while (problem == NULL)
	{
		JsonParseErrorType code = json_lex(lex);
		JsonTokenType token = lex->token_type;
		TvJson	   *node;

		if (code != JSON_SUCCESS)
		{
			problem = lex_error(lex, code);
			break;
		}
		switch (state)
		{
			case EXPECT_VALUE_OR_CLOSE:
				if (token == JSON_TOKEN_ARRAY_END)
				{
					depth--;
					state = AFTER_VALUE;
					break;
				}
				/* FALLTHROUGH */
			case EXPECT_VALUE:
				node = scalar_node(lex);
				if (node == NULL)
				{
					problem = parse_error(lex, token == JSON_TOKEN_END ?
										  "unexpected end of input" :
										  "expected a value");
					break;
				}
				if (depth == 0)
					root = node;
				else
				{
					TvJson	   *parent = stack[depth - 1];

					if (parent->kind == TVJ_OBJECT)
					{
						node->key = key;
						node->keylen = keylen;
					}
					if (parent->last)
						parent->last->next = node;
					else
						parent->first = node;
					parent->last = node;
					parent->count++;
				}
				if (node->kind == TVJ_OBJECT || node->kind == TVJ_ARRAY)
				{
					if (depth == capacity)
					{
						capacity = Max(16, capacity * 2);
						stack = tv_realloc(stack, sizeof(TvJson *) * capacity);
					}
					stack[depth++] = node;
					state = node->kind == TVJ_OBJECT ? EXPECT_KEY_OR_CLOSE :
						EXPECT_VALUE_OR_CLOSE;
				}
				else
					state = AFTER_VALUE;
				break;
			case EXPECT_KEY_OR_CLOSE:
				if (token == JSON_TOKEN_OBJECT_END)
				{
					depth--;
					state = AFTER_VALUE;
					break;
				}
				/* FALLTHROUGH */
			case EXPECT_KEY:
				if (token != JSON_TOKEN_STRING)
				{
					problem = parse_error(lex, "expected a member name (a string)");
					break;
				}
				keylen = lex->strval->len;
				key = arena_strndup(lex->strval->data, keylen);
				state = EXPECT_COLON;
				break;
			case EXPECT_COLON:
				if (token != JSON_TOKEN_COLON)
					problem = parse_error(lex, "expected \":\"");
				else
					state = EXPECT_VALUE;
				break;
			case AFTER_VALUE:
				if (depth == 0)
				{
					if (token != JSON_TOKEN_END)
						problem = parse_error(lex, "unexpected text after the JSON value");
					else
					{
						free(stack);
						free_lexer(lex);
						return root;
					}
				}
				else if (token == JSON_TOKEN_COMMA)
					state = stack[depth - 1]->kind == TVJ_OBJECT ? EXPECT_KEY :
						EXPECT_VALUE;
				else if (token == (stack[depth - 1]->kind == TVJ_OBJECT ?
								   JSON_TOKEN_OBJECT_END : JSON_TOKEN_ARRAY_END))
					depth--;
				else
					problem = parse_error(lex, token == JSON_TOKEN_END ?
										  "unexpected end of input" :
										  stack[depth - 1]->kind == TVJ_OBJECT ?
										  "expected \",\" or \"}\"" :
										  "expected \",\" or \"]\"");
				break;
		}
	}
	free(stack);
	free_lexer(lex);
	*error = problem;
	return NULL;
}

/* ----------------------------------------------------------------
 * Reading trees
 * ----------------------------------------------------------------
 */

const char *
tvj_kind_name(TvJsonKind kind)
{
	switch (kind)
	{
		case TVJ_NULL:
			return "null";
		case TVJ_TRUE:
		case TVJ_FALSE:
			return "a boolean";
		case TVJ_NUMBER:
			return "a number";
		case TVJ_STRING:
			return "a string";
		case TVJ_ARRAY:
			return "an array";
		case TVJ_OBJECT:
			return "an object";
	}
	return "?";
}

/*
 * Member `key` of an object, or NULL.
 */
const TvJson *
tvj_get(const TvJson *object, const char *key)
{
	const TvJson *m;
	size_t		keylen = strlen(key);

	if (object == NULL || object->kind != TVJ_OBJECT)
		return NULL;
	for (m = object->first; m != NULL; m = m->next)
		if ((size_t) m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
			return m;
	return NULL;
}

/* index of `key` in a NULL-terminated list, or -1 */
static int
field_index(const char *const *list, const char *key, int keylen)
{
	int			i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if ((int) strlen(list[i]) == keylen && memcmp(list[i], key, keylen) == 0)
			return i;
	return -1;
}

/*
 * Check that an object has every required field, perhaps some optional
 * ones, nothing else, and no field twice.  Returns NULL, or what is wrong
 * (valid until the next call).  Both lists are NULL-terminated and hold at
 * most 32 names together.
 */
const char *
tvj_check_fields(const TvJson *object, const char *const *required,
				 const char *const *optional)
{
	uint64		seen = 0;
	int			nrequired = 0;
	const TvJson *m;
	char		name[64];
	int			i;

	if (object->kind != TVJ_OBJECT)
	{
		snprintf(error_buffer, sizeof(error_buffer), "not a JSON object but %s",
				 tvj_kind_name(object->kind));
		return error_buffer;
	}
	while (required[nrequired] != NULL)
		nrequired++;
	for (m = object->first; m != NULL; m = m->next)
	{
		int			bit = field_index(required, m->key, m->keylen);

		if (bit < 0 && (bit = field_index(optional, m->key, m->keylen)) >= 0)
			bit += nrequired;
		tvj_printable(m->key, m->keylen, name, sizeof(name));
		if (bit < 0)
		{
			snprintf(error_buffer, sizeof(error_buffer), "unexpected field \"%s\"", name);
			return error_buffer;
		}
		if (seen & (UINT64CONST(1) << bit))
		{
			snprintf(error_buffer, sizeof(error_buffer), "field \"%s\" appears twice", name);
			return error_buffer;
		}
		seen |= UINT64CONST(1) << bit;
	}
	for (i = 0; i < nrequired; i++)
		if (!(seen & (UINT64CONST(1) << i)))
		{
			snprintf(error_buffer, sizeof(error_buffer), "field \"%s\" is missing", required[i]);
			return error_buffer;
		}
	return NULL;
}

/*
 * Copy untrusted text for a message: printable ASCII as is, anything else
 * as \xNN, cut short with "..." to fit outsize.
 */
void
tvj_printable(const char *text, int len, char *out, size_t outsize)
{
	size_t		o = 0;
	int			i;

	Assert(outsize >= 8);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];
		size_t		need = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') ? 1 : 4;

		if (o + need + 4 > outsize)
		{
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1)
			out[o++] = (char) c;
		else
		{
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
}
