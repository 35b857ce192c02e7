/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Which database a role acts in: tracelink's roles are cluster-wide.
 *
 * tracelink_reader, tracelink_member and tracelink_admin are roles, and
 * PostgreSQL's roles belong to the whole cluster, not to a database.  When
 * one cluster holds several tracelink databases (several nodes), a role
 * granted tracelink_member for one of them is a member in all of them, and
 * nothing in the grant says which database it was meant for.  PostgreSQL
 * ties roles to databases only through the CONNECT privilege (and
 * pg_hba.conf), so that is what tracelink checks: in a cluster with another
 * tracelink database, a role that is not a superuser writes to this node
 * only if CONNECT on this database is granted to it, or to a group it
 * belongs to, other than PUBLIC and tracelink's own roles (which are shared
 * by every node).  With a single tracelink database in the cluster there is
 * nothing to tell apart and nothing is checked.
 *
 * The check runs once per transaction, when the transaction's first entry
 * is appended to the local chain (every write a member can make goes
 * through it), and in the template functions, which write node-local
 * tables without appending.  Reads are not checked here: a role that can
 * connect to a database can read what tracelink_reader reads there, which
 * docs/operations.md addresses with CONNECT.
 *
 * Which processes a role records for: tl_require_recorder() below, the one
 * place that rule is checked (docs/privacy.md, "Roles").
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "commands/dbcommands.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(tl_require_database_member_sql);

static const char *const shared_roles[] = {
	"tracelink_reader", "tracelink_auditor", "tracelink_viewer",
	"tracelink_recorder", "tracelink_member", "tracelink_admin"
};

/*
 * Does another database of the cluster hold tracelink?  Every install
 * grants tracelink_reader privileges on its objects, and PostgreSQL
 * records each such grant in pg_shdepend with the database it is in.
 */
static bool
another_tracelink_database(void)
{
	Oid			reader = get_role_oid("tracelink_reader", true);
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(reader))
		return false;
	rel = table_open(SharedDependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_shdepend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(AuthIdRelationId));
	ScanKeyInit(&key[1], Anum_pg_shdepend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(reader));
	scan = systable_beginscan(rel, SharedDependReferenceIndexId, true,
							  NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_shdepend dep = (Form_pg_shdepend) GETSTRUCT(tup);

		found = OidIsValid(dep->dbid) && dep->dbid != MyDatabaseId;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Is `role` one of tracelink's shared roles?
 */
static bool
is_shared_role(Oid role)
{
	int			i;

	for (i = 0; i < lengthof(shared_roles); i++)
		if (role == get_role_oid(shared_roles[i], true))
			return true;
	return false;
}

/*
 * Does `role` hold CONNECT on this database through a grant to itself or
 * to a group it has the privileges of, other than PUBLIC and tracelink's
 * shared roles?  The database owner holds it by default.
 */
static bool
has_own_connect(Oid role)
{
	HeapTuple	tup;
	Datum		aclDatum;
	bool		isnull;
	Acl		   *acl;
	AclItem    *items;
	int			i;
	bool		found = false;

	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	aclDatum = SysCacheGetAttr(DATABASEOID, tup, Anum_pg_database_datacl,
							   &isnull);
	if (isnull)
		acl = acldefault(OBJECT_DATABASE,
						 ((Form_pg_database) GETSTRUCT(tup))->datdba);
	else
		acl = DatumGetAclPCopy(aclDatum);
	ReleaseSysCache(tup);

	items = ACL_DAT(acl);
	for (i = 0; i < ACL_NUM(acl) && !found; i++)
	{
		Oid			grantee = items[i].ai_grantee;

		if ((ACLITEM_GET_PRIVS(items[i]) & ACL_CONNECT) == 0 ||
			grantee == ACL_ID_PUBLIC || is_shared_role(grantee))
			continue;
		found = has_privs_of_role(role, grantee);
	}
	pfree(acl);
	return found;
}

/*
 * Refuse to let `role` act on this node when the cluster holds another
 * tracelink database and nothing ties the role to this one (see the top of
 * this file).  Superusers act anywhere.
 */
void
tl_require_database_member(Oid role)
{
	if (superuser_arg(role))
		return;
	if (!another_tracelink_database() || has_own_connect(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" is not a member of the tracelink node in database \"%s\"",
					GetUserNameFromId(role, false),
					get_database_name(MyDatabaseId)),
			 errdetail("This cluster holds more than one tracelink database, and tracelink's roles are shared by all of them; CONNECT on this database granted to the role or to a group of it, other than PUBLIC, ties a role to this node."),
			 errhint("GRANT CONNECT ON DATABASE %s TO the role (and REVOKE it from PUBLIC), as docs/operations.md describes.",
					 quote_identifier(get_database_name(MyDatabaseId)))));
}

/*
 * tracelink._require_database_member(role name) returns void: the check
 * for SECURITY DEFINER functions, which pass the role they act for.
 */
Datum
tl_require_database_member_sql(PG_FUNCTION_ARGS)
{
	tl_require_database_member(get_role_oid(NameStr(*PG_GETARG_NAME(0)), false));
	PG_RETURN_VOID();
}

/*
 * The last (role, link, process) allowed to record, in this transaction:
 * batches check every record, mostly of one process.
 */
static LocalTransactionId allowed_lxid = InvalidLocalTransactionId;
static Oid	allowed_role = InvalidOid;
static uint8 allowed_link[TL_HASH_LEN];
static char allowed_process[256];

/*
 * Refuse to let the current role record for `process` of a link unless it
 * may: superusers, the extension's owner and roles with the privileges of
 * tracelink_member (admins too) record for every process; any other role
 * needs a row of tracelink.recorder_grants for the link and process, granted
 * to it or to a role whose privileges it has (tracelink.grant_recorder()).
 * record(), record_batch() and record_staged() call this for every record,
 * as the calling role, before the record is shaped into an entry.  The
 * projector does not check it: roles are local to a node, and peers apply
 * what the origin's signed chain holds.
 */
void
tl_require_recorder(const uint8 *link_id, const char *link_name, const char *process)
{
	Oid			role = GetUserId();
	Oid			member = get_role_oid("tracelink_member", true);
	Oid			types[3] = {BYTEAOID, TEXTOID, OIDOID};
	Datum		args[3];
	int			spi_nest;
	bool		allowed;

	if (superuser_arg(role) || role == tl_extension_owner() ||
		(OidIsValid(member) && has_privs_of_role(role, member)))
		return;
	if (allowed_lxid == MyProc->lxid && allowed_role == role &&
		memcmp(allowed_link, link_id, TL_HASH_LEN) == 0 &&
		strcmp(allowed_process, process) == 0)
		return;

	args[0] = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
	args[1] = CStringGetTextDatum(process);
	args[2] = ObjectIdGetDatum(role);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT 1 FROM tracelink.recorder_grants g"
							  "  JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name"
							  " WHERE g.link_id = $1 AND g.process = $2"
							  "   AND pg_catalog.pg_has_role($3, r.oid, 'USAGE')",
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tracelink.recorder_grants");
	allowed = SPI_processed > 0;
	tl_spi_finish(spi_nest);
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not record for process \"%s\" of link \"%s\"",
						GetUserNameFromId(role, false), process, link_name),
				 errdetail("Roles without tracelink_member record only for the processes granted to them."),
				 errhint("A tracelink_admin grants it: SELECT tracelink.grant_recorder(role, link, process);")));
	if (strlen(process) < sizeof(allowed_process))
	{
		allowed_lxid = MyProc->lxid;
		allowed_role = role;
		memcpy(allowed_link, link_id, TL_HASH_LEN);
		strlcpy(allowed_process, process, sizeof(allowed_process));
	}
}
