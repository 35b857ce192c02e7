/*-------------------------------------------------------------------------
 *
 * fuzz_epcis_hash.c
 *	  libFuzzer target for the GS1 CBV 2.0 event hash ID (src/epcis_hash.c,
 *	  src/epcis_ids.c).
 *
 * Each input is JSON text for jcs_parse(); what parses is taken as one
 * EPCIS event (the server hands any jsonb to tracelink.epcis_prehash()).
 * Besides "no crash, no sanitizer report, memory linear in the input":
 *
 * - errors: tl_epcis_prehash() raises only 22023 (not an event, a bad
 *	 value), 22007 (a bad time), 22003 (a number out of range), 54000 (the
 *	 pre-hash string over the size limit) or 54001 (stack);
 * - the pre-hash string is the same when computed twice (no hidden state);
 * - the event hash ID is "ni:///sha-256;" + the hex SHA-256 of the pre-hash
 *	 string + "?ver=CBV2.0";
 * - eventID and recordTime are left out: the same event without them has
 *	 the same pre-hash string, or fails the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"
#include "epcis.h"

#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ParsePass
{
	const char *json;
	int			len;
	JcsValue   *tree;
} ParsePass;

typedef struct HashPass
{
	const JcsValue *event;
	char	   *prehash;
	char		hash_id[TL_EPCIS_HASH_LEN];
} HashPass;

static void
step_parse(void *arg)
{
	ParsePass  *pass = arg;

	pass->tree = jcs_parse(pass->json, pass->len);
}

static void
step_prehash(void *arg)
{
	HashPass   *pass = arg;

	pass->prehash = tl_epcis_prehash(pass->event);
}

static void
step_hash_id(void *arg)
{
	HashPass   *pass = arg;

	tl_epcis_event_hash(pass->event, pass->hash_id);
}

static bool
hash_error_expected(const ErrorData *edata)
{
	return edata->elevel == ERROR &&
		(edata->sqlerrcode == ERRCODE_INVALID_PARAMETER_VALUE ||
		 edata->sqlerrcode == ERRCODE_INVALID_DATETIME_FORMAT ||
		 edata->sqlerrcode == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ||
		 edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		 edata->sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX);
}

/* the event's object without eventID and recordTime (members stay sorted) */
static JcsValue *
without_ignored_members(const JcsValue *event)
{
	JcsValue   *copy = palloc(sizeof(JcsValue));
	int			i;

	*copy = *event;
	copy->u.object.members = palloc(sizeof(JcsMember) * Max(event->u.object.count, 1));
	copy->u.object.count = 0;
	for (i = 0; i < event->u.object.count; i++)
	{
		const JcsMember *m = &event->u.object.members[i];

		if ((m->keylen == 7 && memcmp(m->key, "eventID", 7) == 0) ||
			(m->keylen == 10 && memcmp(m->key, "recordTime", 10) == 0))
			continue;
		copy->u.object.members[copy->u.object.count++] = *m;
	}
	return copy;
}

static void
hash_and_check(const char *json, int len)
{
	ParsePass	parse = {json, len};
	HashPass	first = {0};
	HashPass	again = {0};
	HashPass	bare = {0};
	ErrorData  *edata;
	ErrorData  *bare_edata;
	uint8		digest[TL_HASH_LEN];
	char		hex[TL_HASH_LEN * 2 + 1];
	char		want[TL_EPCIS_HASH_LEN];

	edata = fuzz_try(step_parse, &parse);
	if (edata != NULL)
	{
		if (!fuzz_error_expected(edata))
			fuzz_fail("jcs_parse raised an unexpected error", json, len, NULL, 0, edata);
		fuzz_show("jcs_parse refused the input", NULL, 0, edata);
		return;
	}

	first.event = parse.tree;
	edata = fuzz_try(step_prehash, &first);
	if (parse.tree->kind == JCS_OBJECT)
	{
		bare.event = without_ignored_members(parse.tree);
		bare_edata = fuzz_try(step_prehash, &bare);
		if ((edata == NULL) != (bare_edata == NULL) ||
			(edata != NULL && edata->sqlerrcode != bare_edata->sqlerrcode) ||
			(edata == NULL && strcmp(first.prehash, bare.prehash) != 0))
			fuzz_fail("eventID or recordTime changed the pre-hash string",
					  json, len, first.prehash ? first.prehash : "",
					  first.prehash ? strlen(first.prehash) : 0, edata ? edata : bare_edata);
	}
	if (edata != NULL)
	{
		if (!hash_error_expected(edata))
			fuzz_fail("tl_epcis_prehash raised an unexpected error", json, len, NULL, 0, edata);
		fuzz_show("tl_epcis_prehash refused the event", NULL, 0, edata);
		return;
	}
	fuzz_show("pre-hash", first.prehash, strlen(first.prehash), NULL);

	again.event = parse.tree;
	edata = fuzz_try(step_prehash, &again);
	if (edata != NULL || strcmp(first.prehash, again.prehash) != 0)
		fuzz_fail("the pre-hash string differs the second time",
				  json, len, first.prehash, strlen(first.prehash), edata);

	edata = fuzz_try(step_hash_id, &first);
	if (edata != NULL)
		fuzz_fail("tl_epcis_event_hash failed where tl_epcis_prehash did not",
				  json, len, first.prehash, strlen(first.prehash), edata);
	tl_sha256(first.prehash, strlen(first.prehash), digest);
	tl_hex_encode(digest, TL_HASH_LEN, hex);
	snprintf(want, sizeof(want), "ni:///sha-256;%s?ver=CBV2.0", hex);
	if (strcmp(want, first.hash_id) != 0)
		fuzz_fail("the event hash ID is not the SHA-256 of the pre-hash string",
				  json, len, first.hash_id, strlen(first.hash_id), NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *) data;

	if (size > FUZZ_MAX_INPUT ||
		fuzz_json_nesting(json, size) > FUZZ_MAX_NESTING)
		return -1;
	fuzz_begin_input(json, size);
	hash_and_check(json, (int) size);
	fuzz_end_input();
	return 0;
}
