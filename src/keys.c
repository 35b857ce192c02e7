/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The node's Ed25519 signing key: creation, storage, loading, rotation.
 *
 * The secret never enters a table, a result, a log line or WAL.  It lives in
 * a file readable only by the server's OS user, in the directory named by
 * the superuser-only GUC tracelink.key_directory (default "pg_tracelink",
 * relative to the data directory; docs/operations.md explains how to move it
 * out of the data directory so base backups do not carry it).  The file holds
 * the 32-byte RFC 8032 seed; the backend derives the key pair into
 * sodium_malloc'd memory (guard pages, no core dumps, wiped on free), keeps it
 * read-protected between uses and frees it at exit.
 *
 * Crash safety
 * ------------
 * The ledger says which key signs the node's next block: the signer_key of
 * the local origin's row in tracelink.ledger_heads (for a node created in the
 * current transaction, its genesis key).  Whatever point a crash interrupts,
 * a file must hold that key.  A node has up to three files:
 *
 *	<node>.key		the current key
 *	<node>.key.next	the new key of a rotation, until it is installed
 *	<node>.key.prev	the key a rotation replaced, until the head on disk
 *					names the new one
 *
 * Two defences, each enough on its own to keep the node signing:
 *
 *	(a) The files change only after the rotating transaction's commit record
 *	is on disk.  XACT_EVENT_COMMIT callbacks run after
 *	RecordTransactionCommit() has inserted the commit record, but with
 *	synchronous_commit = off nothing has flushed it yet (the WAL writer
 *	does, up to wal_writer_delay later): a crash then loses the rotation.
 *	So a rotating transaction (and init_node()) forces a synchronous commit
 *	(ForceSyncCommit), and the commit callback flushes its commit record
 *	again (XLogFlush(XactLastCommitEnd)) before renaming, whatever set the
 *	commit mode.  It renames only if this transaction sealed the block that
 *	hands over to the new key and wrote a commit record.
 *
 *	(b) No key the ledger may still name is destroyed.  The commit callback
 *	moves the old key to .prev and the new one to .key; loading (to sign)
 *	picks whichever file holds the key the ledger names, and only then,
 *	after flushing all WAL inserted so far (so that the commit that made the
 *	head name that key is on disk), makes that file .key and removes .prev.
 *	Only a rotation removes a .next that does not hold the named key.
 *
 * Every file is fsync'd with its directory after each create, rename
 * (durable_rename) and unlink.  Rotations are serialised by the rotation
 * lock, held to the end of the rotating transaction; files are renamed or
 * removed only under the sealing lock, which every loader holds, so no
 * backend reads a file while another replaces it (ledger.c takes the locks).
 *
 * The states on disk (K the old key, N the new one), and what loading and
 * the next rotate_key() do in each:
 *
 *	1. init_node() crashed before its commit reached disk: .key, no ledger.
 *	   Nothing names the key.  init_node() refuses to overwrite the file (it
 *	   cannot tell it from the key of another database of the cluster with
 *	   the same node name): docs/operations.md says to remove it.  An
 *	   init_node() that returned has committed synchronously.
 *	2. A rotation wrote .next and has not committed (it is still running, or
 *	   crashed, or aborted and crashed before removing the file): .key = K,
 *	   .next = N, ledger names K.  Loading signs with .key and leaves .next
 *	   (it may belong to a running rotation).  rotate_key() removes it (N
 *	   signed nothing, no block names it) before writing its own.
 *	3. A rotation aborted, or was rolled back to a savepoint: its .next is
 *	   removed at (sub)transaction abort.
 *	4. A rotation's commit is on disk, the callback did not rename (crash, or
 *	   the rename failed with a warning): .key = K, .next = N, ledger names
 *	   N.  Loading, or the next rotate_key() before writing its own .next,
 *	   finds N in .next, flushes the WAL and renames it over .key.
 *	5. Between the callback's two renames: .prev = K, .next = N, no .key,
 *	   ledger names N.  As in 4; then .prev is removed.
 *	6. Renamed: .key = N, .prev = K, ledger names N.  Loading, or the next
 *	   rotate_key(), flushes the WAL and removes .prev.
 *	7. Settled: .key = N.
 *	8. Had a rotation's commit been lost after its files moved (state 5 or 6
 *	   with the ledger naming K; defence (a) prevents it): loading finds K in
 *	   .prev and renames it over .key; N signed nothing.
 *	An OS crash in a rename leaves the state before or after it.
 *
 * Two rotations in a row: the second rotate_key() settles the first (4, 5 or
 * 6 to 7) before writing its own .next.  A transaction that appends and
 * rotates seals one block, signed by K and naming N as next_key: the same
 * states.  No file holds the named key only if files were lost or the
 * database was restored from a backup older than its key files
 * (docs/operations.md: what to back up).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#define KEY_FILE_MAGIC "tracelink ed25519 seed v1"

char	   *tl_key_directory = NULL;

/* the loaded key pair, sodium_malloc'd; NULL until first needed */
static unsigned char *loaded_secret = NULL; /* 64 bytes: seed || public */
static uint8 loaded_public[TL_ED25519_PK_LEN];
static char loaded_node[NAMEDATALEN];

/* file operations to finish or undo at the end of the transaction */
static char *created_key_path = NULL;	/* remove on abort */
static SubTransactionId created_key_subid;
static char *pending_rotation_path = NULL;	/* rename over the key at commit */
static char *pending_rotation_target = NULL;
static char *pending_rotation_prev = NULL;
static SubTransactionId rotation_subid;
static uint8 pending_rotation_key[TL_ED25519_PK_LEN];
static bool rotation_sealed = false;	/* a block handing over to it is sealed */
static XLogRecPtr commit_end_at_seal = InvalidXLogRecPtr;

static void keys_xact_callback(XactEvent event, void *arg);
static void keys_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);

/*
 * Forget the loaded key, wiping it.
 */
static void
forget_loaded_key(void)
{
	if (loaded_secret != NULL)
	{
		sodium_free(loaded_secret);
		loaded_secret = NULL;
	}
	loaded_node[0] = '\0';
}

static void
keys_at_exit(int code, Datum arg)
{
	forget_loaded_key();
}

void
tl_keys_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise libsodium")));

	DefineCustomStringVariable("tracelink.key_directory",
							   gettext_noop("Directory holding tracelink node signing keys."),
							   gettext_noop("Relative paths are relative to the data directory. "
											"Files in it are readable only by the server's OS user."),
							   &tl_key_directory,
							   "pg_tracelink",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	RegisterXactCallback(keys_xact_callback, NULL);
	RegisterSubXactCallback(keys_subxact_callback, NULL);
	on_proc_exit(keys_at_exit, (Datum) 0);
}

/*
 * Path of a node's key file: KEY_CURRENT, or KEY_NEXT / KEY_PREV during a
 * rotation (the states are described at the top of this file).
 */
#define KEY_CURRENT ""
#define KEY_NEXT ".next"
#define KEY_PREV ".prev"

static char *
key_file_path(const char *node, const char *suffix)
{
	return psprintf("%s/%s.key%s", tl_key_directory, node, suffix);
}

/*
 * Create the key directory if needed, with owner-only permissions; a new
 * directory is fsync'd with its parent so that its files cannot vanish with
 * it in a crash.
 */
static void
ensure_key_directory(void)
{
	struct stat st;
	char	   *parent;

	if (stat(tl_key_directory, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("tracelink.key_directory \"%s\" is not a directory",
							tl_key_directory)));
		return;
	}
	if (MakePGDirectory(tl_key_directory) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create key directory \"%s\": %m",
						tl_key_directory)));
	if (chmod(tl_key_directory, S_IRWXU) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not set permissions of key directory \"%s\": %m",
						tl_key_directory)));
	parent = pstrdup(tl_key_directory);
	get_parent_directory(parent);
	fsync_fname_ext(tl_key_directory, true, false, ERROR);
	fsync_fname_ext(parent[0] != '\0' ? parent : ".", true, false, ERROR);
	pfree(parent);
}

/*
 * Warn when the key directory lies inside the data directory: pg_basebackup
 * copies everything there (it cannot be told to skip a directory), so every
 * base backup, and every login that pg_hba.conf lets open a physical
 * replication connection with the REPLICATION attribute (peer logins have
 * it), gets the node's secret key.  Both paths are resolved, so a key
 * directory that is a symbolic link to a place outside (which base backups
 * copy as a link) does not warn.
 */
static void
warn_if_key_in_data_directory(const char *node)
{
	char	   *keydir = realpath(tl_key_directory, NULL);
	char	   *datadir = realpath(DataDir, NULL);
	bool		inside = false;

	if (keydir != NULL && datadir != NULL)
	{
		size_t		len = strlen(datadir);

		inside = strncmp(keydir, datadir, len) == 0 &&
			(keydir[len] == '\0' || keydir[len] == '/');
	}
	free(keydir);
	free(datadir);
	if (!inside)
		return;
	ereport(WARNING,
			(errmsg("the secret key of node \"%s\" is stored inside the data directory", node),
			 errdetail("Base backups and copies of the data directory carry it, and so does a physical replication connection of any role with the REPLICATION attribute, peer logins included."),
			 errhint("Set tracelink.key_directory to a directory outside the data directory and move the key file there, as docs/operations.md describes.")));
}

/*
 * Write a seed to a new file (mode 0600, refusing to overwrite), fsync'd with
 * its directory.
 */
static void
write_key_file(const char *path, const char *node, const uint8 *seed)
{
	char		hex[TL_ED25519_SEED_LEN * 2 + 1];
	char	   *contents;
	int			fd;
	size_t		len;

	sodium_bin2hex(hex, sizeof(hex), seed, TL_ED25519_SEED_LEN);
	contents = psprintf("%s\n%s\n%s\n", KEY_FILE_MAGIC, node, hex);
	len = strlen(contents);
	sodium_memzero(hex, sizeof(hex));

	fd = OpenTransientFilePerm(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		int			save_errno = errno;

		sodium_memzero(contents, len);
		errno = save_errno;
		if (errno == EEXIST)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("key file \"%s\" already exists", path),
					 errhint("A node key is never overwritten. Move the file away if it belongs to no node any more.")));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create key file \"%s\": %m", path)));
	}
	if (write(fd, contents, len) != (ssize_t) len || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		sodium_memzero(contents, len);
		CloseTransientFile(fd);
		unlink(path);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write key file \"%s\": %m", path)));
	}
	sodium_memzero(contents, len);
	CloseTransientFile(fd);

	/* the file's name must be on disk too before anything names the key */
	if (fsync_fname_ext(tl_key_directory, true, false, WARNING) != 0)
	{
		unlink(path);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not make key file \"%s\" durable", path)));
	}
}

/*
 * Remove a key file, and fsync its directory so that the removal is durable;
 * a missing file is no error.
 */
static void
remove_key_file(const char *path, int elevel)
{
	if (unlink(path) != 0)
	{
		if (errno != ENOENT)
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not remove key file \"%s\": %m", path)));
		return;
	}
	(void) fsync_fname_ext(tl_key_directory, true, false, elevel);
}

/*
 * Flush all WAL inserted so far, so that every commit this backend can see
 * is on disk.  GetXLogInsertRecPtr() points past the page header when the
 * insert position is at the start of a page, where no record ends; asking
 * XLogFlush() for more WAL than was inserted is an error, so flush to the
 * page boundary then.
 */
static void
flush_visible_commits(void)
{
	XLogRecPtr	upto = GetXLogInsertRecPtr();

	if (XLogSegmentOffset(upto, wal_segment_size) == SizeOfXLogLongPHD)
		upto -= SizeOfXLogLongPHD;
	else if (upto % XLOG_BLCKSZ == SizeOfXLogShortPHD)
		upto -= SizeOfXLogShortPHD;
	XLogFlush(upto);
}

/*
 * Read a key file; returns the seed in a sodium_malloc'd buffer the caller
 * frees, or NULL if the file does not exist.
 */
static unsigned char *
read_key_file(const char *path, const char *node)
{
	char		buf[256];
	int			fd;
	ssize_t		n;
	char	   *line2;
	char	   *line3;
	char	   *end;
	unsigned char *seed;
	size_t		seedlen = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open key file \"%s\": %m", path)));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	CloseTransientFile(fd);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read key file \"%s\": %m", path)));
	buf[n] = '\0';

	line2 = strchr(buf, '\n');
	line3 = line2 ? strchr(line2 + 1, '\n') : NULL;
	end = line3 ? strchr(line3 + 1, '\n') : NULL;
	if (line2 == NULL || line3 == NULL || end == NULL ||
		strncmp(buf, KEY_FILE_MAGIC "\n", strlen(KEY_FILE_MAGIC) + 1) != 0 ||
		line3 - line2 - 1 != (ssize_t) strlen(node) ||
		strncmp(line2 + 1, node, strlen(node)) != 0)
	{
		sodium_memzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("key file \"%s\" is not a tracelink key for node \"%s\"",
						path, node)));
	}
	seed = sodium_malloc(TL_ED25519_SEED_LEN);
	if (seed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory")));
	if (sodium_hex2bin(seed, TL_ED25519_SEED_LEN, line3 + 1, end - line3 - 1,
					   NULL, &seedlen, NULL) != 0 ||
		seedlen != TL_ED25519_SEED_LEN)
	{
		sodium_free(seed);
		sodium_memzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("key file \"%s\" does not hold a 32-byte seed", path)));
	}
	sodium_memzero(buf, sizeof(buf));
	return seed;
}

/*
 * Derive a key pair from a seed into secure memory (64-byte libsodium secret
 * key, read-protected); the public half is copied to public_key.
 */
static unsigned char *
keypair_from_seed(const unsigned char *seed, uint8 *public_key)
{
	unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);

	if (sk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory")));
	crypto_sign_seed_keypair(public_key, sk, seed);
	sodium_mprotect_noaccess(sk);
	return sk;
}

/*
 * Create a new key pair for `node` and store its seed; returns the public
 * key.  The file is removed again if the transaction aborts.  The commit is
 * made synchronous: once init_node() has returned the public key (which the
 * operator hands to peers), the node it names survives a crash.
 */
void
tl_keys_create(const char *node, uint8 *public_key)
{
	unsigned char *seed;
	char	   *path;
	MemoryContext old;

	ensure_key_directory();
	warn_if_key_in_data_directory(node);
	seed = sodium_malloc(TL_ED25519_SEED_LEN);
	if (seed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory")));
	randombytes_buf(seed, TL_ED25519_SEED_LEN);

	path = key_file_path(node, KEY_CURRENT);
	PG_TRY();
	{
		write_key_file(path, node, seed);
	}
	PG_CATCH();
	{
		sodium_free(seed);
		PG_RE_THROW();
	}
	PG_END_TRY();

	old = MemoryContextSwitchTo(TopTransactionContext);
	created_key_path = pstrdup(path);
	created_key_subid = GetCurrentSubTransactionId();
	MemoryContextSwitchTo(old);
	ForceSyncCommit();

	forget_loaded_key();
	loaded_secret = keypair_from_seed(seed, loaded_public);
	strlcpy(loaded_node, node, sizeof(loaded_node));
	memcpy(public_key, loaded_public, TL_ED25519_PK_LEN);
	sodium_free(seed);
}

/*
 * Does a key file hold the seed of `expected_public`?  Returns the seed
 * (sodium_malloc'd, the caller frees it) if so, NULL if not or if the file
 * does not exist; *exists says which.
 */
static unsigned char *
key_file_holding(const char *path, const char *node,
				 const uint8 *expected_public, bool *exists)
{
	unsigned char *seed = read_key_file(path, node);
	uint8		pk[TL_ED25519_PK_LEN];

	*exists = seed != NULL;
	if (seed == NULL)
		return NULL;
	sodium_free(keypair_from_seed(seed, pk));
	if (memcmp(pk, expected_public, TL_ED25519_PK_LEN) != 0)
	{
		sodium_free(seed);
		return NULL;
	}
	return seed;
}

/*
 * Load the key of `node` whose public half is `expected_public` (the key the
 * ledger names for the next block) from whichever of the node's files holds
 * it, and tidy the files (the states are described at the top of this
 * file): the file holding it becomes "<node>.key", and "<node>.key.prev"
 * goes.  Both destroy a key the head does not name, so the WAL is flushed
 * first: the commit that made the head name this key is then on disk, and
 * no crash can bring the other key back.  With `rotating`, a
 * "<node>.key.next" not holding the key is the leftover of a rotation that
 * never committed (no rotation is in progress) and goes too.
 *
 * The caller holds the sealing lock (and, `rotating`, the rotation lock), and
 * read the head after taking it.
 */
static void
load_named_key(const char *node, const uint8 *expected_public, bool rotating)
{
	char	   *path = key_file_path(node, KEY_CURRENT);
	char	   *next_path = key_file_path(node, KEY_NEXT);
	char	   *prev_path = key_file_path(node, KEY_PREV);
	const char *found_in = NULL;
	unsigned char *seed;
	bool		exists;
	bool		any_file = false;
	bool		prev_exists;
	bool		stale_next;
	struct stat st;
	int			elevel = rotating ? ERROR : WARNING;

	forget_loaded_key();
	if ((seed = key_file_holding(path, node, expected_public, &exists)) != NULL)
		found_in = path;
	any_file |= exists;
	if (seed == NULL &&
		(seed = key_file_holding(next_path, node, expected_public, &exists)) != NULL)
		found_in = next_path;
	any_file |= exists;
	if (seed == NULL &&
		(seed = key_file_holding(prev_path, node, expected_public, &exists)) != NULL)
		found_in = prev_path;
	any_file |= exists;
	if (seed == NULL)
	{
		char		hex[2 * TL_ED25519_PK_LEN + 1];

		if (!any_file)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("signing key of node \"%s\" not found", node),
					 errdetail("Expected it in \"%s\".", path),
					 errhint("Check tracelink.key_directory; restore the key file from its backup.")));
		tl_hex_encode(expected_public, TL_ED25519_PK_LEN, hex);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("key file \"%s\" does not hold the current key of node \"%s\"",
						path, node),
				 errdetail("The ledger names public key %s for this node's next block; no key file of the node holds it.",
						   hex),
				 errhint("Restore the key file that holds this key from the backup taken after the rotation that created it.")));
	}

	prev_exists = found_in != prev_path && stat(prev_path, &st) == 0;
	stale_next = rotating && found_in != next_path && stat(next_path, &st) == 0;
	PG_TRY();
	{
		if (found_in != path || prev_exists || stale_next)
			flush_visible_commits();
		if (found_in != path &&
			durable_rename(found_in, path, elevel) != 0)
			ereport(WARNING,
					(errmsg("the current key of node \"%s\" stays in \"%s\"",
							node, found_in),
					 errdetail("It is installed as \"%s\" the next time it is loaded.",
							   path)));
		if (prev_exists)
			remove_key_file(prev_path, elevel);
		if (stale_next)
			remove_key_file(next_path, elevel);
	}
	PG_CATCH();
	{
		sodium_free(seed);
		PG_RE_THROW();
	}
	PG_END_TRY();

	loaded_secret = keypair_from_seed(seed, loaded_public);
	strlcpy(loaded_node, node, sizeof(loaded_node));
	sodium_free(seed);
}

/*
 * Start a key rotation: settle the node's key files against the current key
 * (which the ledger names; the caller holds the rotation and sealing locks
 * and read it after taking them), then create the next key pair in
 * "<node>.key.next".  It replaces the current key file once this
 * transaction's commit is on disk; the commit is made synchronous.  The
 * caller appends the signed hand-over entry; blocks of this transaction are
 * still signed with the current key.
 */
void
tl_keys_begin_rotation(const char *node, const uint8 *current_public,
					   uint8 *new_public_key)
{
	unsigned char *seed;
	unsigned char *sk;
	char	   *path;
	MemoryContext old;

	if (pending_rotation_path != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the node key was already rotated in this transaction")));
	ensure_key_directory();
	load_named_key(node, current_public, true);

	seed = sodium_malloc(TL_ED25519_SEED_LEN);
	if (seed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory")));
	randombytes_buf(seed, TL_ED25519_SEED_LEN);
	path = key_file_path(node, KEY_NEXT);
	PG_TRY();
	{
		write_key_file(path, node, seed);
	}
	PG_CATCH();
	{
		sodium_free(seed);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sk = keypair_from_seed(seed, new_public_key);
	sodium_free(sk);
	sodium_free(seed);

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending_rotation_path = pstrdup(path);
	pending_rotation_target = key_file_path(node, KEY_CURRENT);
	pending_rotation_prev = key_file_path(node, KEY_PREV);
	MemoryContextSwitchTo(old);
	memcpy(pending_rotation_key, new_public_key, TL_ED25519_PK_LEN);
	rotation_subid = GetCurrentSubTransactionId();
	rotation_sealed = false;
	ForceSyncCommit();
}

/*
 * Sealing (in the pre-commit callback) signed a block of `node` that hands
 * over to `next_public`: the commit of this transaction makes that key
 * current, so the commit callback may install its file.  The key must be
 * the one this transaction's rotation created.
 */
void
tl_keys_rotation_sealed(const char *node, const uint8 *next_public)
{
	if (pending_rotation_path == NULL ||
		memcmp(next_public, pending_rotation_key, TL_ED25519_PK_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the block of node \"%s\" hands over to a key this transaction did not create",
						node)));
	rotation_sealed = true;
	commit_end_at_seal = XactLastCommitEnd;
}

/*
 * Finish or undo this transaction's key file operations.  At commit the
 * rotated key is installed once the commit record is on disk (see the top
 * of this file); failures can only be reported: the ledger already names
 * the new key, and loading installs it later.
 */
static void
keys_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending_rotation_path != NULL)
			{
				if (!rotation_sealed)
				{
					/* no block names the new key: it was never used */
					remove_key_file(pending_rotation_path, WARNING);
				}
				else if (XactLastCommitEnd != commit_end_at_seal)
				{
					/*
					 * This transaction's commit record goes to disk before
					 * the files change; the old key stays as .prev until a
					 * later transaction finds the new one in the head.
					 */
					XLogFlush(XactLastCommitEnd);
					if (durable_rename(pending_rotation_target, pending_rotation_prev,
									   WARNING) != 0 ||
						durable_rename(pending_rotation_path, pending_rotation_target,
									   WARNING) != 0)
						ereport(WARNING,
								(errmsg("could not install rotated key \"%s\"",
										pending_rotation_path),
								 errhint("The rotation is completed the next time the key is loaded.")));
				}
				forget_loaded_key();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (created_key_path != NULL)
			{
				remove_key_file(created_key_path, WARNING);
				forget_loaded_key();
			}
			if (pending_rotation_path != NULL)
				remove_key_file(pending_rotation_path, WARNING);
			break;
		default:
			return;
	}
	created_key_path = NULL;
	pending_rotation_path = NULL;
	pending_rotation_target = NULL;
	pending_rotation_prev = NULL;
	rotation_sealed = false;
}

/*
 * A savepoint rolling back undoes the key files it created: the ledger
 * entries that named them are gone with it.
 */
static void
keys_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	if (created_key_path != NULL && created_key_subid >= mySubid)
	{
		remove_key_file(created_key_path, WARNING);
		forget_loaded_key();
		created_key_path = NULL;
	}
	if (pending_rotation_path != NULL && rotation_subid >= mySubid)
	{
		remove_key_file(pending_rotation_path, WARNING);
		pending_rotation_path = NULL;
		pending_rotation_target = NULL;
		pending_rotation_prev = NULL;
	}
}

/*
 * Make sure the key of `node` whose public half is `expected_public` is
 * loaded.  Called when sealing, under the sealing lock.
 */
static void
tl_keys_load(const char *node, const uint8 *expected_public)
{
	if (loaded_secret != NULL && strcmp(loaded_node, node) == 0 &&
		memcmp(loaded_public, expected_public, TL_ED25519_PK_LEN) == 0)
		return;
	load_named_key(node, expected_public, false);
}

/*
 * Sign a message with the node's key, which must have the given public key.
 */
void
tl_keys_sign(const char *node, const uint8 *expected_public,
			 const uint8 *message, size_t len, uint8 *signature)
{
	tl_keys_load(node, expected_public);
	sodium_mprotect_readonly(loaded_secret);
	crypto_sign_detached(signature, NULL, message, len, loaded_secret);
	sodium_mprotect_noaccess(loaded_secret);
}
