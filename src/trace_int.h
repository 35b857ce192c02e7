/*-------------------------------------------------------------------------
 *
 * trace_int.h
 *	  Private declarations of the trace part (docs/trace.md): shared by
 *	  trace.c, trace_model.c, trace_values.c, trace_project.c,
 *	  trace_query.c and trace_proof.c, and by no other file.
 *
 * trace.c shapes records into "tl.trace.record" entries (the API);
 * trace_model.c holds the trace lock, the link-version cache and this
 * transaction's view of links, codes and slots; trace_values.c checks a
 * record's values; trace_project.c is the projector; trace_query.c walks
 * the provenance; trace_proof.c proves a record against its origin's
 * signed tree head.  What the rest of tracelink sees of the trace part is
 * in tracelink.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRACE_INT_H
#define TRACE_INT_H

#include "tracelink.h"

#define TL_TRACE_CODE_MAX	200 /* longest trace code, in bytes */
#define TL_TRACE_CODES_CACHED	65536	/* codes a peer's transaction keeps cached */
#define TL_TRACE_MAX_FLOWS	250 /* inputs, or outputs, of one record: so
									 * that any record's dependencies fit in
									 * one entry */

/* columns of tracelink.codes (written by trace_model.c and the projector) */
enum
{
	CODE_ID, CODE_LINK, CODE_CODE, CODE_VERSION, CODE_CLOCK, CODE_ORD, CODE_SLOT,
	CODE_ENTRY, CODE_NATTS
};

/* one data item of a form of an adopted version */
typedef struct TlTraceItem
{
	const char *name;
	int			type;			/* TL_TYPE_* (definition.h), -1 unknown */
	int			widget;			/* TL_WIDGET_*, -1 none */
	int			sources;		/* allowed data sources: bit TL_SOURCE_* */
	bool		required;
	bool		trace_code;
	const char **options;		/* of a dropdown */
	int			noptions;
	bool		private_value;	/* its effective audience is not public */
	const char **audience;		/* then: the nodes of that audience within
								 * the business group, sorted (the
								 * recording node is added per record) */
	int			naudience;
} TlTraceItem;

typedef struct TlTraceProcess TlTraceProcess;

typedef struct TlTraceForm
{
	const char *stage;
	const char *form;
	TlTraceItem *items;			/* sorted by name (bytewise) */
	int			nitems;
	const char **members;		/* the stage's members, sorted; none: every
								 * participant of the process */
	int			nmembers;
	TlTraceProcess *process;
} TlTraceForm;

struct TlTraceProcess
{
	const char *name;
	const char **participants;	/* nodes invited to it and accepted, sorted */
	int			nparticipants;
	const char **producers;		/* processes with a mesh edge into it, sorted */
	int			nproducers;
	TlTraceForm *forms;			/* sorted by (stage, form) */
	int			nforms;
};

/* an adopted link version, parsed once per backend (keyed by proposal) */
typedef struct TlTraceVersion
{
	uint8		proposal[TL_HASH_LEN];
	int32		version;
	TlTraceProcess *processes;	/* sorted by name */
	int			nprocesses;
	const char **audience;		/* creator and participants, sorted */
	int			naudience;
} TlTraceVersion;

/* a trace code as projected: its binding (earliest mention) */
typedef struct TlTraceCode
{
	int64		code_id;		/* local surrogate key */
	int32		version;		/* the version it is bound to */
	int64		clock;			/* rank of the binding mention: clock, */
	uint8		entry[TL_HASH_LEN]; /* entry hash, */
	int32		ord;			/* and place among the entry's mentions */
	int32		slot;			/* record slot of the binding mention */
} TlTraceCode;

/* a link as the trace part needs it */
typedef struct TlTraceLink
{
	uint8		link_id[TL_HASH_LEN];
	char	   *name;
} TlTraceLink;

/*
 * What the API (trace.c) hands the projector of an entry it appends, as the
 * entry's local_arg (tl_ledger_append_arg): the tree it serialised the
 * payload from, so that the payload is not parsed again, and what errors
 * name records by on this node.
 */
typedef struct TlTraceHandoff
{
	JcsValue   *tree;			/* the payload as a tree */
	int			batch_offset;	/* records of the caller's batch before
								 * this entry's */
	const int64 *batch_ids;		/* staging ids of this entry's records
								 * (record_staged()), or NULL */
} TlTraceHandoff;

/* what errors say about the record being checked (projector, value checks) */
typedef struct TlTraceRecordContext
{
	const TlEntry *entry;
	const TlTraceHandoff *handoff;	/* on the appending node, else NULL */
	int			position;		/* in the entry */
	const char *code;
	const TlTraceLink *link;
	int32		version;
	const TlTraceForm *form;
} TlTraceRecordContext;

/* trace_model.c: the trace lock, versions, codes and slots */
extern int	tl_trace_records_per_entry;
extern void tl_trace_lock(void);
extern int	tl_trace_name_cmp(const void *a, const void *b);
extern void tl_trace_find_link(const char *link, bool latest, uint8 *link_id,
							   int32 *active_version);
extern TlTraceLink *tl_trace_link(const uint8 *link_id);
extern TlTraceVersion *tl_trace_version(const TlTraceLink *link, int32 version,
										uint8 *proposal_out);
extern int	tl_trace_version_adopted_by(const TlTraceLink *link, int32 version,
										const uint8 **hashes);
extern TlTraceProcess *tl_trace_find_process(const TlTraceVersion *v, const char *name);
extern TlTraceForm *tl_trace_find_form(const TlTraceProcess *p, const char *stage,
									   const char *form);
extern TlTraceItem *tl_trace_find_item(const TlTraceForm *f, const char *name);
extern void tl_trace_prefetch_codes(const uint8 *link_id, const char **codes, int n);
extern void tl_trace_forget_codes_if_many(void);
extern TlTraceCode *tl_trace_code(const uint8 *link_id, const char *code);
extern TlTraceCode *tl_trace_code_add(const uint8 *link_id, const char *code);
extern int32 tl_trace_slot(const uint8 *link_id, int32 version, const TlTraceForm *form,
						   const char *origin, int source);
extern bool tl_trace_mention_at(const TlTraceCode *code, const TlTraceProcess *consumer,
								uint8 *entry_out);

/* trace_values.c: syntax of codes, times and decimals; a record's values */
extern bool tl_trace_valid_code(const char *code, int len, const char **problem);
extern bool tl_trace_parse_time(const char *s, int len, bool require_time, TimestampTz *out);
extern void tl_trace_format_time(TimestampTz t, StringInfo out);
extern bool tl_trace_decimal_string(const char *s, int len);
extern char *tl_trace_quoted_list(const char *const *names, int n);
extern void tl_trace_check_data(const TlTraceRecordContext *rc, const JcsValue *data,
								const JcsValue *commitments, int source);
extern void tl_trace_check_value(const TlTraceRecordContext *rc, const TlTraceItem *item,
								 const JcsValue *value, int source);

/* trace_private.c: private values (docs/privacy.md) */
#define TL_TRACE_SALT_LEN	32	/* bytes of a commitment's salt */
extern void tl_trace_commitment(const uint8 *salt, const JcsValue *value, char *hex_out);
extern const char **tl_trace_private_audience(const TlTraceItem *item, const char *origin,
											  int *n);

#endif							/* TRACE_INT_H */
