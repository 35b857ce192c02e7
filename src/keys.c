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
 * Files are written before commit, so every file operation is tied to the
 * transaction: a key file created by an aborted init_node() is removed, and a
 * rotated key ("<node>.key.next") replaces the old one only after commit.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
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
static SubTransactionId rotation_subid;

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
 * Path of a node's key file (".next" for a rotation in progress).
 */
static char *
key_file_path(const char *node, bool next)
{
	return psprintf("%s/%s.key%s", tl_key_directory, node, next ? ".next" : "");
}

/*
 * Create the key directory if needed, with owner-only permissions.
 */
static void
ensure_key_directory(void)
{
	struct stat st;

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
 * Write a seed to a new file (mode 0600, refusing to overwrite), fsync'd.
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
 * key.  The file is removed again if the transaction aborts.
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

	path = key_file_path(node, false);
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

	forget_loaded_key();
	loaded_secret = keypair_from_seed(seed, loaded_public);
	strlcpy(loaded_node, node, sizeof(loaded_node));
	memcpy(public_key, loaded_public, TL_ED25519_PK_LEN);
	sodium_free(seed);
}

/*
 * Start a key rotation: create the next key pair in "<node>.key.next"; it
 * replaces the current key file when the transaction commits.  The caller
 * appends the signed hand-over entry; blocks of this transaction are still
 * signed with the current key.
 */
void
tl_keys_begin_rotation(const char *node, uint8 *new_public_key)
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
	seed = sodium_malloc(TL_ED25519_SEED_LEN);
	if (seed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory")));
	randombytes_buf(seed, TL_ED25519_SEED_LEN);
	path = key_file_path(node, true);
	unlink(path);				/* a leftover from a crash before rename */
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
	pending_rotation_target = key_file_path(node, false);
	rotation_subid = GetCurrentSubTransactionId();
	MemoryContextSwitchTo(old);
}

/*
 * Finish or undo this transaction's key file operations.  Commit-time
 * failures can only be reported: the ledger already says which key is
 * current, and tl_keys_load() completes an interrupted rotation.
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
				if (rename(pending_rotation_path, pending_rotation_target) != 0)
					ereport(WARNING,
							(errcode_for_file_access(),
							 errmsg("could not install rotated key \"%s\": %m",
									pending_rotation_path),
							 errhint("The rotation is completed the next time the key is loaded.")));
				forget_loaded_key();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (created_key_path != NULL)
			{
				unlink(created_key_path);
				forget_loaded_key();
			}
			if (pending_rotation_path != NULL)
				unlink(pending_rotation_path);
			break;
		default:
			return;
	}
	created_key_path = NULL;
	pending_rotation_path = NULL;
	pending_rotation_target = NULL;
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
		unlink(created_key_path);
		forget_loaded_key();
		created_key_path = NULL;
	}
	if (pending_rotation_path != NULL && rotation_subid >= mySubid)
	{
		unlink(pending_rotation_path);
		pending_rotation_path = NULL;
		pending_rotation_target = NULL;
	}
}

/*
 * Make sure the key of `node` whose public half is `expected_public` is
 * loaded.  A "<node>.key.next" left by a rotation that committed but could
 * not rename its file is installed here.
 */
static void
tl_keys_load(const char *node, const uint8 *expected_public)
{
	char	   *path;
	char	   *next_path;
	unsigned char *seed;
	uint8		pk[TL_ED25519_PK_LEN];

	if (loaded_secret != NULL && strcmp(loaded_node, node) == 0 &&
		memcmp(loaded_public, expected_public, TL_ED25519_PK_LEN) == 0)
		return;
	forget_loaded_key();

	path = key_file_path(node, false);
	next_path = key_file_path(node, true);

	/* the ledger may already name the rotated key */
	seed = read_key_file(next_path, node);
	if (seed != NULL)
	{
		unsigned char *sk = keypair_from_seed(seed, pk);

		sodium_free(sk);
		if (memcmp(pk, expected_public, TL_ED25519_PK_LEN) == 0 &&
			pending_rotation_path == NULL)
		{
			if (rename(next_path, path) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not install rotated key \"%s\": %m", next_path)));
			loaded_secret = keypair_from_seed(seed, loaded_public);
			strlcpy(loaded_node, node, sizeof(loaded_node));
			sodium_free(seed);
			return;
		}
		sodium_free(seed);
	}

	seed = read_key_file(path, node);
	if (seed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("signing key of node \"%s\" not found", node),
				 errdetail("Expected it in \"%s\".", path),
				 errhint("Check tracelink.key_directory; restore the key file from its backup.")));
	loaded_secret = keypair_from_seed(seed, loaded_public);
	sodium_free(seed);
	if (memcmp(loaded_public, expected_public, TL_ED25519_PK_LEN) != 0)
	{
		forget_loaded_key();
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("key file \"%s\" does not hold the current key of node \"%s\"",
						path, node),
				 errdetail("The ledger names a different public key for this node.")));
	}
	strlcpy(loaded_node, node, sizeof(loaded_node));
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
