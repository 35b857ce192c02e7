/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Catalog lookups and object locks every part of tracelink uses.
 *
 * tracelink's relations are found by name in its schema, and its locks are
 * taken on its pg_extension object; both OIDs are looked up once and kept
 * for the backend's life, until an invalidation says they may have changed
 * (DROP EXTENSION and CREATE EXTENSION in this backend or another drop the
 * tables and the schema, which invalidates both caches below).  The lock
 * sub-ids and the order in which they are taken are in tracelink.c's banner.
 *
 * This file calls no other part of tracelink: it sits below all of them.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* catalog lookups cached across transactions (see util_invalidate) */
static struct
{
	char		name[NAMEDATALEN];
	Oid			relid;
}			cached_relids[32];
static int	n_cached_relids = 0;
static Oid	cached_extension_oid = InvalidOid;

static void util_relcache_callback(Datum arg, Oid relid);
static void util_syscache_callback(Datum arg, int cacheid, uint32 hashvalue);

void
tl_util_init(void)
{
	CacheRegisterRelcacheCallback(util_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, util_syscache_callback, (Datum) 0);
}

/*
 * The caches hold until the relation cache is invalidated (DROP EXTENSION
 * drops the tables, which does that) or a schema changes (CREATE EXTENSION
 * makes the tracelink schema anew): then every cached OID is forgotten.
 */
static void
util_invalidate(void)
{
	n_cached_relids = 0;
	cached_extension_oid = InvalidOid;
}

static void
util_relcache_callback(Datum arg, Oid relid)
{
	util_invalidate();
}

static void
util_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	util_invalidate();
}

/* ----------------------------------------------------------------
 * Catalog lookups
 * ----------------------------------------------------------------
 */

/*
 * A relation (table, index, sequence) of the tracelink schema.
 */
Oid
tl_relid(const char *relname)
{
	int			i;
	Oid			relid;

	for (i = 0; i < n_cached_relids; i++)
		if (strcmp(cached_relids[i].name, relname) == 0)
			return cached_relids[i].relid;

	relid = get_relname_relid(relname, get_namespace_oid("tracelink", false));
	if (!OidIsValid(relid))
		elog(ERROR, "tracelink relation \"%s\" is missing", relname);
	if (n_cached_relids < lengthof(cached_relids))
	{
		strlcpy(cached_relids[n_cached_relids].name, relname, NAMEDATALEN);
		cached_relids[n_cached_relids++].relid = relid;
	}
	return relid;
}

/*
 * A relation of tracelink, or InvalidOid if this database's tracelink SQL
 * predates it (one library serves every SQL version: docs/upgrades.md).
 * Not cached: for the few tables newer versions add.
 */
Oid
tl_relid_if_exists(const char *relname)
{
	return get_relname_relid(relname, get_namespace_oid("tracelink", false));
}

/*
 * The pg_extension OID of tracelink: the object its locks are taken on.
 */
static Oid
tl_extension_oid(void)
{
	if (!OidIsValid(cached_extension_oid))
		cached_extension_oid = get_extension_oid("tracelink", false);
	return cached_extension_oid;
}

/* ----------------------------------------------------------------
 * Locks on the extension object (sub-ids in tracelink.h, order in
 * tracelink.c)
 * ----------------------------------------------------------------
 */

/*
 * Take one of tracelink's locks, to the end of the transaction unless let
 * go by tl_unlock_extension().
 */
void
tl_lock_extension(int subid)
{
	LockDatabaseObject(ExtensionRelationId, tl_extension_oid(), subid, ExclusiveLock);
}

void
tl_unlock_extension(int subid)
{
	UnlockDatabaseObject(ExtensionRelationId, tl_extension_oid(), subid, ExclusiveLock);
}

/*
 * Whether this transaction holds one of tracelink's locks.
 */
bool
tl_extension_lock_held(int subid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId,
					   tl_extension_oid(), subid);
	return LockHeldByMe(&tag, ExclusiveLock);
}

/*
 * The seal lock, for project.c's commit-time look at apply_queue: taken
 * there first, it is held to the end of the commit (sealing takes it again,
 * which costs nothing); let go only to give waiting entries their effect.
 */
void
tl_lock_seal(void)
{
	tl_lock_extension(TL_LOCK_SEAL);
}

void
tl_unlock_seal(void)
{
	tl_unlock_extension(TL_LOCK_SEAL);
}

/* ----------------------------------------------------------------
 * The extension's owner
 * ----------------------------------------------------------------
 */

/*
 * The extension's owner, whom projectors run as.  Read from pg_extension
 * through its name index, as get_extension_oid() does: no query to plan for
 * every entry.
 */
Oid
tl_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("tracelink"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "tracelink is not installed in this database");
	return owner;
}
