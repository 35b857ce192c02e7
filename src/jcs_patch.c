/*-------------------------------------------------------------------------
 *
 * jcs_patch.c
 *	  RFC 7386 JSON merge patch over canonical JSON trees.
 *
 * Used to edit definitions (tracelink.merge_patch(), src/deftypes.c); it
 * knows nothing of them.  Pure: fuzz/ can link it outside the server.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "miscadmin.h"

/*
 * RFC 7386 JSON merge patch: members of an object patch replace or (when
 * null) remove those of the target, recursively; any other patch replaces
 * the target.  Both objects are sorted, so one merge pass keeps the result
 * sorted.  The result may share nodes with both arguments.
 */
JcsValue *
jcs_merge_patch(JcsValue *target, JcsValue *patch)
{
	JcsValue   *result;
	int			tcount;
	int			pcount;
	int			i = 0;
	int			j = 0;

	check_stack_depth();
	if (patch->kind != JCS_OBJECT)
		return patch;
	tcount = (target != NULL && target->kind == JCS_OBJECT) ?
		target->u.object.count : 0;
	pcount = patch->u.object.count;
	result = jcs_make_object(tcount + pcount);
	while (i < tcount || j < pcount)
	{
		JcsMember  *tm = i < tcount ? &target->u.object.members[i] : NULL;
		JcsMember  *pm = j < pcount ? &patch->u.object.members[j] : NULL;
		int			c;

		if (tm == NULL)
			c = 1;
		else if (pm == NULL)
			c = -1;
		else
			c = jcs_key_compare(tm->key, tm->keylen, pm->key, pm->keylen);
		if (c < 0)
		{
			jcs_object_put(result, tm->key, tm->value);
			i++;
			continue;
		}
		if (pm->value->kind != JCS_NULL)
			jcs_object_put(result, pm->key,
						   jcs_merge_patch(c == 0 ? tm->value : NULL,
										   pm->value));
		if (c == 0)
			i++;
		j++;
	}
	return result;
}
