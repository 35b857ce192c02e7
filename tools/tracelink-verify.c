/*-------------------------------------------------------------------------
 *
 * tracelink-verify.c
 *	  Check exported tracelink ledgers and signed tree heads outside
 *	  PostgreSQL, so that an auditor need not trust a node's database.
 *
 *	  tracelink-verify [--key ORIGIN=HEX]... [--sth FILE]... [--complete]
 *					   [--jobs N] EXPORT.jsonl...
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
#include "tv_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "standin.h"

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
 * One export
 * ----------------------------------------------------------------
 */

/*
 * What one line after the header says, read by parse_line() (on any
 * thread: it depends on nothing but the line and the export's origin) and
 * acted on by apply_line(), in order, on the main thread.
 */
typedef enum LineKind
{
	LINE_BAD,					/* not a line of the format: problem */
	LINE_ENTRY,					/* entry (problem: what is wrong with it) */
	LINE_BLOCK					/* block (problem: what is wrong with it) */
} LineKind;

typedef struct LineResult
{
	LineKind	kind;
	char	   *problem;		/* malloc'd, or NULL */
	EntryLine	entry;
	BlockFields block;
} LineResult;

static char *
problem_copy(const char *fmt,...) pg_attribute_printf(1, 2);

/* a malloc'd problem text (not palloc'd: another thread frees it) */
static char *
problem_copy(const char *fmt,...)
{
	va_list		args;
	char		buf[512];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	return tv_strdup(buf);
}

/*
 * Read a line after the header of the export of `origin`.
 */
static void
parse_line(const char *origin, const char *bytes, size_t len, LineResult *r)
{
	const char *problem;
	const TvJson *line;
	const TvJson *type;

	memset(r, 0, sizeof(*r));
	r->kind = LINE_BAD;
	if (len == 0)
		r->problem = tv_strdup("empty line");
	else if (bytes[len - 1] == '\r')
		r->problem = tv_strdup("line ends with a carriage return: lines end with \\n alone, since entry lines are hashed byte for byte");
	else if ((line = tvj_parse(bytes, len, &problem)) == NULL)
		r->problem = problem_copy("line is not valid JSON: %s (truncated or garbled?)", problem);
	else if ((type = tvj_get(line, "type")) == NULL || type->kind != TVJ_STRING)
		r->problem = tv_strdup("line has no \"type\" (\"entry\" or \"block\")");
	else if (strcmp(type->text, "entry") == 0)
	{
		r->kind = LINE_ENTRY;
		problem = parse_entry(origin, line, bytes, len, &r->entry);
		if (problem)
			r->problem = tv_strdup(problem);
	}
	else if (strcmp(type->text, "block") == 0)
	{
		r->kind = LINE_BLOCK;
		problem = read_block_fields(line, false, &r->block);
		if (problem)
			r->problem = tv_strdup(problem);
		else if (r->block.nhashes == r->block.entry_count)
			precompute_block(&r->block);
	}
	else
	{
		char		name[40];

		tvj_printable(type->text, type->len, name, sizeof(name));
		r->problem = problem_copy("line of unexpected type \"%s\" (only the first line is a header; then \"entry\" and \"block\")",
								  name);
	}
	tvj_reset();
}

/* free what a LineResult holds */
static void
line_result_free(LineResult *r)
{
	free(r->problem);
	free(r->block.entry_hashes);
	free(r->block.leaves);
	free(r->block.range);
	memset(r, 0, sizeof(*r));
}

/*
 * Act on the next line after the header, read by parse_line().  Returns
 * false once the export has a verdict.
 */
static bool
apply_line(Export *x, LineResult *r)
{
	switch (r->kind)
	{
		case LINE_BAD:
			return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no), "%s", r->problem);
		case LINE_ENTRY:
			return add_entry(x, &r->entry, r->problem);
		case LINE_BLOCK:
			if (r->problem)
				return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
							"not a tracelink block line: %s", r->problem);
			return check_block(x, &r->block);
	}
	return false;
}

/*
 * The header line (the first): read and checked at once, since every
 * other line is read against the origin it names.
 */
static bool
process_header(Export *x, char *bytes, size_t len)
{
	const char *problem;
	const TvJson *line;
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
	ok = read_header(x, line) && check_tree_heads_alone(x);
	tvj_reset();
	return ok;
}

/* ----------------------------------------------------------------
 * Reading lines on several threads (--jobs)
 *
 * The main thread reads lines into batches; jobs - 1 worker threads read
 * each batch's lines (parse_line: the JSON, the fields, the entry hashes,
 * the block signatures, the leaf hashes and Merkle roots of blocks), oldest
 * batch first; the main thread takes the batches back in order and acts on
 * their lines (apply_line: everything that depends on the lines before, in
 * the order of one thread), so that the output is the same for any number
 * of jobs.  While the oldest batch is not read yet, the main thread reads
 * queued batches itself: --jobs N keeps N threads busy, never N + 1
 * fighting over N cores.  At most 4 * jobs batches are in flight: memory
 * stays bounded.
 * ----------------------------------------------------------------
 */

#define BATCH_LINES		256
#define BATCH_BYTES		(256 * 1024)
#define BATCHES_PER_JOB	4

typedef enum BatchState
{
	BATCH_FREE,
	BATCH_QUEUED,				/* filled, waiting for a thread */
	BATCH_PARSING,
	BATCH_PARSED
} BatchState;

typedef struct Batch
{
	BatchState	state;
	uint64		filled;			/* its place in the file: oldest first */
	char	   *bytes;			/* the lines, one after another */
	size_t		used;
	size_t		capacity;
	size_t		starts[BATCH_LINES + 1];	/* line i is [starts[i], starts[i + 1]) */
	int			nlines;
	LineResult	results[BATCH_LINES];
} Batch;

typedef struct Pool
{
	pthread_mutex_t lock;
	pthread_cond_t queued;		/* a batch was queued, or stop */
	pthread_cond_t parsed;		/* a batch was parsed */
	const char *origin;
	Batch	   *batches;
	int			nbatches;
	bool		stop;
	int			nthreads;
	pthread_t  *threads;
} Pool;

#define MAX_JOBS		256

static int	jobs = 0;			/* --jobs; 0 until the command line sets it */

/* the queued batch that comes first in the file, or NULL; lock held */
static Batch *
oldest_queued(Pool *pool)
{
	Batch	   *oldest = NULL;
	int			i;

	for (i = 0; i < pool->nbatches; i++)
	{
		Batch	   *b = &pool->batches[i];

		if (b->state == BATCH_QUEUED && (oldest == NULL || b->filled < oldest->filled))
			oldest = b;
	}
	return oldest;
}

/* read a batch taken from the queue; returns with the lock held */
static void
parse_batch(Pool *pool, Batch *b)
{
	int			i;

	b->state = BATCH_PARSING;
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < b->nlines; i++)
		parse_line(pool->origin, b->bytes + b->starts[i],
				   b->starts[i + 1] - b->starts[i], &b->results[i]);
	pthread_mutex_lock(&pool->lock);
	b->state = BATCH_PARSED;
}

static void *
pool_worker(void *arg)
{
	Pool	   *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;)
	{
		Batch	   *b = NULL;

		while (!pool->stop && (b = oldest_queued(pool)) == NULL)
			pthread_cond_wait(&pool->queued, &pool->lock);
		if (b == NULL)
			break;
		parse_batch(pool, b);
		pthread_cond_signal(&pool->parsed);
	}
	pthread_mutex_unlock(&pool->lock);
	tvj_thread_done();
	return NULL;
}

static void
pool_start(Pool *pool, const char *origin)
{
	int			i;

	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->queued, NULL);
	pthread_cond_init(&pool->parsed, NULL);
	pool->origin = origin;
	pool->nbatches = BATCHES_PER_JOB * jobs;
	pool->batches = tv_malloc(sizeof(Batch) * pool->nbatches);
	memset(pool->batches, 0, sizeof(Batch) * pool->nbatches);
	pool->nthreads = jobs - 1;
	pool->threads = tv_malloc(sizeof(pthread_t) * pool->nthreads);
	for (i = 0; i < pool->nthreads; i++)
		if (pthread_create(&pool->threads[i], NULL, pool_worker, pool) != 0)
			tv_fatal("could not start a thread: %s", strerror(errno));
}

/* wait for the workers, free everything */
static void
pool_finish(Pool *pool)
{
	int			i;
	int			j;

	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->queued);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	for (i = 0; i < pool->nbatches; i++)
	{
		Batch	   *b = &pool->batches[i];

		if (b->state == BATCH_PARSED)
			for (j = 0; j < b->nlines; j++)
				line_result_free(&b->results[j]);
		free(b->bytes);
	}
	free(pool->batches);
	free(pool->threads);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->queued);
	pthread_cond_destroy(&pool->parsed);
}

/* add a line to a batch being filled */
static void
batch_add(Batch *b, const char *bytes, size_t len)
{
	if (b->nlines == 0)
	{
		b->used = 0;
		b->starts[0] = 0;
	}
	if (b->used + len > b->capacity)
	{
		b->capacity = Max(b->used + len, Max(2 * b->capacity, BATCH_BYTES + 64 * 1024));
		b->bytes = tv_realloc(b->bytes, b->capacity);
	}
	memcpy(b->bytes + b->used, bytes, len);
	b->used += len;
	b->starts[++b->nlines] = b->used;
}

/*
 * Act on the lines of a parsed batch, in order; stops at a verdict.
 * The batch is free again afterwards.
 */
static void
batch_apply(Export *x, Batch *b)
{
	int			i;

	for (i = 0; i < b->nlines; i++)
	{
		if (x->verdict == VERDICT_OK)
		{
			x->line_no++;
			apply_line(x, &b->results[i]);
		}
		line_result_free(&b->results[i]);
	}
	b->nlines = 0;
	b->state = BATCH_FREE;
}

/*
 * Read and act on the lines after the header.  Returns how reading ended.
 */
static ReadResult
process_lines(Export *x, LineReader *r)
{
	char	   *bytes;
	size_t		len;
	ReadResult	res;

	if (jobs <= 1)
	{
		/* one thread: each line read and acted on in turn */
		while (x->verdict == VERDICT_OK && (res = read_line(r, &bytes, &len)) == READ_LINE)
		{
			LineResult lr;

			x->line_no++;
			parse_line(x->origin, bytes, len, &lr);
			apply_line(x, &lr);
			line_result_free(&lr);
		}
		return x->verdict == VERDICT_OK ? res : READ_EOF;
	}
	else
	{
		Pool		pool;
		int			fill = 0;	/* the batch being filled */
		int			next = 0;	/* the next batch to act on */
		int			inflight = 0;
		uint64		filled = 0;
		bool		more = true;

		pool_start(&pool, x->origin);
		res = READ_EOF;
		while (x->verdict == VERDICT_OK && (more || inflight > 0))
		{
			/* fill and queue batches while there is room */
			while (more && inflight < pool.nbatches)
			{
				Batch	   *b = &pool.batches[fill];

				b->nlines = 0;
				b->used = 0;
				while (b->nlines < BATCH_LINES && b->used < BATCH_BYTES)
				{
					res = read_line(r, &bytes, &len);
					if (res != READ_LINE)
					{
						more = false;
						break;
					}
					batch_add(b, bytes, len);
				}
				if (b->nlines == 0)
					break;
				pthread_mutex_lock(&pool.lock);
				b->state = BATCH_QUEUED;
				b->filled = filled++;
				pthread_cond_signal(&pool.queued);
				pthread_mutex_unlock(&pool.lock);
				fill = (fill + 1) % pool.nbatches;
				inflight++;
			}
			if (inflight == 0)
				break;
			/*
			 * Act on the oldest batch if parsed; otherwise read one queued
			 * batch, or wait, and come back to fill the free ones.
			 */
			pthread_mutex_lock(&pool.lock);
			if (pool.batches[next].state != BATCH_PARSED)
			{
				Batch	   *b = oldest_queued(&pool);

				if (b != NULL)
					parse_batch(&pool, b);
				else
					pthread_cond_wait(&pool.parsed, &pool.lock);
			}
			if (pool.batches[next].state == BATCH_PARSED)
			{
				pthread_mutex_unlock(&pool.lock);
				batch_apply(x, &pool.batches[next]);
				next = (next + 1) % pool.nbatches;
				inflight--;
			}
			else
				pthread_mutex_unlock(&pool.lock);
		}
		pool_finish(&pool);
		return x->verdict == VERDICT_OK ? res : READ_EOF;
	}
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
		res = read_line(&r, &bytes, &len);
		if (res == READ_LINE)
		{
			x.line_no++;
			if (process_header(&x, bytes, len))
				res = process_lines(&x, &r);
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
			"Usage: tracelink-verify [--key ORIGIN=HEX]... [--sth FILE]... [--complete] [--jobs N]\n"
			"                        EXPORT.jsonl...\n"
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
			"  -j, --jobs N      read lines on N threads (default: the number of cores);\n"
			"                    the checks that follow the chain stay in order, so the\n"
			"                    output is the same for any N\n"
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

/* --jobs N: 1 to MAX_JOBS */
static void
set_jobs(const char *arg)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > MAX_JOBS)
		usage_error("--jobs wants a number of threads from 1 to %d, not \"%s\"", MAX_JOBS, arg);
	jobs = (int) n;
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
	/* nothing here frees chunks wholesale or counts them: no shared list */
	standin_track_chunks = false;
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
		else if (strcmp(arg, "--jobs") == 0 || strcmp(arg, "-j") == 0)
		{
			if (i + 1 >= argc)
				usage_error("%s needs a value", arg);
			set_jobs(argv[++i]);
		}
		else if (strncmp(arg, "--jobs=", 7) == 0)
			set_jobs(arg + 7);
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
	if (jobs == 0)
	{
		long		cores = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = (int) Max(1, Min(cores, MAX_JOBS));
	}

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
