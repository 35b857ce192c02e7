/*-------------------------------------------------------------------------
 *
 * reference.h
 *	  Independent reference implementations used as fuzzing oracles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_FUZZ_REFERENCE_H
#define TL_FUZZ_REFERENCE_H

#include "lib/stringinfo.h"

extern void es6_number(double value, StringInfo out);
extern int	utf16_compare(const char *a, int alen, const char *b, int blen);

#endif							/* TL_FUZZ_REFERENCE_H */
