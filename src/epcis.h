/*-------------------------------------------------------------------------
 *
 * epcis.h
 *	  GS1 EPCIS 2.0: the CBV 2.0 "Event Hash ID" of one event.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_EPCIS_H
#define TL_EPCIS_H

#include "jcs.h"

/* "ni:///sha-256;" + 64 hex + "?ver=CBV2.0" + NUL */
#define TL_EPCIS_HASH_LEN	(14 + 64 + 11 + 1)

/* The canonical pre-hash string of one EPCIS 2.0 JSON/JSON-LD event. */
extern char *tl_epcis_prehash(const JcsValue *event);

/* Its event hash ID, written to out (TL_EPCIS_HASH_LEN bytes). */
extern void tl_epcis_event_hash(const JcsValue *event, char *out);

/* epcis_ids.c: values */
extern char *tl_epcis_format_number(double x);
extern bool tl_epcis_numeric_text(const char *s);
extern char *tl_epcis_epc_urn_to_dl(const char *uri);
extern char *tl_epcis_dl_canonical(const char *uri);
extern char *tl_epcis_utc_time(const char *s, int len);

#endif							/* TL_EPCIS_H */
