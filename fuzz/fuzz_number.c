/*-------------------------------------------------------------------------
 *
 * fuzz_number.c
 *	  libFuzzer target for jcs_append_number(), the ECMAScript number
 *	  layout of src/jcs_serialize.c, over raw IEEE-754 doubles.
 *
 * fuzz_jcs reaches numbers only through JSON text, and coverage can hardly
 * tell one double from another, while the hard cases (a shortest form on
 * the boundary of the rounding interval, about one double in 5000) are
 * spread all over the range.  Here every input is the 8 bytes of a double
 * in host byte order (other lengths, NaN and infinities are refused), so
 * each execution tests a new double.  Oracles:
 *
 * - the text equals reference.c's independent es6_number();
 * - it reads back as the same double through strtod() and through
 *	 jcs_parse(), which must accept it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>

#include "tracelink.h"

#include "reference.h"
#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jcs_parse() of the text jcs_append_number() produced */
typedef struct NumberPass
{
	const char *text;
	int			len;
	JcsValue   *tree;
} NumberPass;

static void
step_parse(void *arg)
{
	NumberPass *pass = arg;

	pass->tree = jcs_parse(pass->text, pass->len);
}

static void
check_number(double value, const char *bytes)
{
	StringInfoData got;
	StringInfoData want;
	NumberPass	pass;
	ErrorData  *edata;

	initStringInfo(&got);
	initStringInfo(&want);
	jcs_append_number(&got, value);
	es6_number(value, &want);
	fuzz_show("formatted", got.data, got.len, NULL);
	if (strcmp(got.data, want.data) != 0)
		fuzz_fail(psprintf("%.17g laid out as %s, ECMAScript gives %s",
						   value, got.data, want.data),
				  bytes, sizeof(double), got.data, got.len, NULL);
	if (strtod(got.data, NULL) != value)
		fuzz_fail(psprintf("%.17g laid out as %s, which reads back as %.17g",
						   value, got.data, strtod(got.data, NULL)),
				  bytes, sizeof(double), got.data, got.len, NULL);

	pass.text = got.data;
	pass.len = got.len;
	edata = fuzz_try(step_parse, &pass);
	if (edata != NULL)
		fuzz_fail("jcs_parse refuses a formatted number",
				  bytes, sizeof(double), got.data, got.len, edata);
	if (pass.tree->kind != JCS_NUMBER || pass.tree->u.number != value)
		fuzz_fail("jcs_parse reads a formatted number as another value",
				  bytes, sizeof(double), got.data, got.len, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double		value;

	if (size != sizeof(double))
		return -1;
	memcpy(&value, data, sizeof(double));
	if (isnan(value) || isinf(value))
		return -1;
	fuzz_begin_input((const char *) data, size);
	check_number(value, (const char *) data);
	fuzz_end_input();
	return 0;
}
