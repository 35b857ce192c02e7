/*-------------------------------------------------------------------------
 *
 * trace_values.c
 *	  Checking a trace record's values against its form (data types,
 *	  widgets and sources of its data items): the syntax of trace codes,
 *	  ISO 8601 times, decimals and file references.
 *
 * Every check here depends only on the record and the adopted version, and
 * reads no setting (DateStyle, TimeZone, lc_numeric), so that every node
 * gives the same answer.
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/datetime.h"

/* ----------------------------------------------------------------
 * Syntax of codes, times, decimals and file references
 * ----------------------------------------------------------------
 */

/* ASCII whitespace, as in the rules of names in definitions */
static bool
ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Trace codes follow the rules of names in definitions (non-empty, at most
 * 200 bytes, no surrounding whitespace) and hold no control characters.
 */
bool
tl_trace_valid_code(const char *code, int len, const char **problem)
{
	int			i;

	if (len == 0)
		*problem = "must not be empty";
	else if (len > TL_TRACE_CODE_MAX)
		*problem = "must not be longer than 200 bytes";
	else if (ascii_space(code[0]) || ascii_space(code[len - 1]))
		*problem = "must not begin or end with whitespace";
	else
	{
		*problem = NULL;
		for (i = 0; i < len && *problem == NULL; i++)
			if ((unsigned char) code[i] < 0x20 || code[i] == 0x7f)
				*problem = "must not contain control characters";
	}
	return *problem == NULL;
}

/* n digits at s, as a number; false unless all are digits */
static bool
digits(const char *s, int n, int *out)
{
	int			i;

	*out = 0;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/*
 * An ISO 8601 date (YYYY-MM-DD) or date-time in extended format with an
 * offset (YYYY-MM-DDThh:mm[:ss[.ffffff]] followed by Z or +hh:mm/-hh:mm),
 * years 0001 to 9999, checked strictly and without any setting (DateStyle,
 * TimeZone), so that every node agrees.  With require_time, a date alone is
 * refused.  out (may be NULL) receives the instant; a date is its midnight
 * UTC.
 */
bool
tl_trace_parse_time(const char *s, int len, bool require_time, TimestampTz *out)
{
	int			year,
				month,
				day,
				hour = 0,
				minute = 0,
				second = 0,
				offset = 0;
	int64		fraction = 0;
	int			pos;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap;

	if (len < 10 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) ||
		s[7] != '-' || !digits(s + 8, 2, &day))
		return false;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1 || month < 1 || month > 12 || day < 1 ||
		day > mdays[month - 1] + (month == 2 && leap ? 1 : 0))
		return false;
	pos = 10;
	if (len == 10)
	{
		if (require_time)
			return false;
	}
	else
	{
		if (len < pos + 6 || s[pos] != 'T' || !digits(s + pos + 1, 2, &hour) ||
			s[pos + 3] != ':' || !digits(s + pos + 4, 2, &minute) || hour > 23 || minute > 59)
			return false;
		pos += 6;
		if (pos < len && s[pos] == ':')
		{
			if (len < pos + 3 || !digits(s + pos + 1, 2, &second) || second > 59)
				return false;
			pos += 3;
			if (pos < len && s[pos] == '.')
			{
				int			n = 0;

				pos++;
				while (pos < len && s[pos] >= '0' && s[pos] <= '9' && n < 7)
				{
					fraction = fraction * 10 + (s[pos] - '0');
					pos++;
					n++;
				}
				if (n == 0 || n > 6)
					return false;
				while (n++ < 6)
					fraction *= 10;
			}
		}
		if (pos < len && s[pos] == 'Z')
			pos++;
		else if (pos < len && (s[pos] == '+' || s[pos] == '-'))
		{
			int			oh,
						om;

			if (len < pos + 6 || !digits(s + pos + 1, 2, &oh) || s[pos + 3] != ':' ||
				!digits(s + pos + 4, 2, &om) || oh > 23 || om > 59)
				return false;
			offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
			pos += 6;
		}
		else
			return false;
		if (pos != len)
			return false;
	}
	if (out)
	{
		int64		days = date2j(year, month, day) - POSTGRES_EPOCH_JDATE;
		TimestampTz t = days * USECS_PER_DAY +
			((int64) ((hour * 60 + minute) * 60 + second)) * USECS_PER_SEC + fraction -
			(int64) offset * 60 * USECS_PER_SEC;

		if (!IS_VALID_TIMESTAMP(t))
			return false;
		*out = t;
	}
	return true;
}

/*
 * The canonical form of an instant in payloads:
 * YYYY-MM-DDThh:mm:ss.ffffffZ (UTC, six fraction digits).
 */
void
tl_trace_format_time(TimestampTz t, StringInfo out)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time of a trace record must lie in the years 0001 to 9999")));
	appendStringInfo(out, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					 tm.tm_sec, (int) fsec);
}

/* a decimal number in JSON number syntax, as a string (exact decimals) */
bool
tl_trace_decimal_string(const char *s, int len)
{
	int			i = 0;
	int			start;

	if (len > 1000)
		return false;
	if (i < len && s[i] == '-')
		i++;
	start = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == start || (s[start] == '0' && i - start > 1))
		return false;
	if (i < len && s[i] == '.')
	{
		start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	return i == len;
}

/* Exactly `want` lowercase hex digits? */
static bool
lower_hex(const char *s, int len, int want)
{
	int			i;

	if (len != want)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Why a file reference (image, video, file) is malformed, or NULL.  Format:
 * {"sha256": 64 lowercase hex digits of the content, "name": file name,
 * "uri": where it is kept (optional), "media_type": "type/subtype"
 * (optional; image/... for images, video/... for videos), "size": bytes
 * (optional)}.
 */
static const char *
file_reference_problem(const JcsValue *v, int type)
{
	static const char *const keys[] = {"media_type", "name", "sha256", "size", "uri", NULL};
	JcsValue   *sha = jcs_object_get(v, "sha256");
	JcsValue   *name = jcs_object_get(v, "name");
	JcsValue   *uri = jcs_object_get(v, "uri");
	JcsValue   *media = jcs_object_get(v, "media_type");
	JcsValue   *size = jcs_object_get(v, "size");
	const char *problem;
	int			i;

	if (v->kind != JCS_OBJECT)
		return "a file reference must be an object";
	for (i = 0; i < v->u.object.count; i++)
		if (tl_vocabulary_code(keys, v->u.object.members[i].key) < 0)
			return psprintf("a file reference has no key \"%s\" (keys: sha256, name, uri, media_type, size)",
							pnstrdup(v->u.object.members[i].key, Min(v->u.object.members[i].keylen, 64)));
	if (sha == NULL || sha->kind != JCS_STRING || !lower_hex(sha->u.string.str, sha->u.string.len, 64))
		return "a file reference needs \"sha256\": the SHA-256 of the content in 64 lowercase hex digits";
	if (name == NULL || name->kind != JCS_STRING ||
		!tl_trace_valid_code(name->u.string.str, name->u.string.len, &problem))
		return "a file reference needs a \"name\": non-empty, at most 200 bytes, no surrounding whitespace or control characters";
	if (uri != NULL && (uri->kind != JCS_STRING || uri->u.string.len == 0 || uri->u.string.len > 2048))
		return "\"uri\" of a file reference must be a non-empty string of at most 2048 bytes";
	if (media != NULL)
	{
		const char *slash;

		if (media->kind != JCS_STRING || media->u.string.len > 255 ||
			(slash = strchr(media->u.string.str, '/')) == NULL ||
			slash == media->u.string.str || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
			strpbrk(media->u.string.str, " \t\r\n;,\"") != NULL)
			return "\"media_type\" of a file reference must look like \"type/subtype\"";
		if (type == TL_TYPE_IMAGE && strncmp(media->u.string.str, "image/", 6) != 0)
			return "\"media_type\" of an image must be image/...";
		if (type == TL_TYPE_VIDEO && strncmp(media->u.string.str, "video/", 6) != 0)
			return "\"media_type\" of a video must be video/...";
	}
	if (size != NULL && (size->kind != JCS_NUMBER || size->u.number < 0 ||
						 size->u.number != floor(size->u.number) || size->u.number > 9007199254740992.0))
		return "\"size\" of a file reference must be a whole number of bytes";
	return NULL;
}

/* ----------------------------------------------------------------
 * Checking a record
 * ----------------------------------------------------------------
 */


/* "Form "F" of stage "S" of process "P" in version N of link "L"." */
static char *
where(const TlTraceRecordContext *rc)
{
	return psprintf("Form \"%s\" of stage \"%s\" of process \"%s\" in version %d of link \"%s\".",
					rc->form->form, rc->form->stage, rc->form->process->name, rc->version,
					rc->link->name);
}

/* A JSON kind, for messages. */
static const char *
kind_phrase(const JcsValue *v)
{
	switch (v->kind)
	{
		case JCS_NULL:
			return "null";
		case JCS_TRUE:
		case JCS_FALSE:
			return "a boolean";
		case JCS_NUMBER:
			return "a number";
		case JCS_STRING:
			return "a string";
		case JCS_ARRAY:
			return "an array";
		case JCS_OBJECT:
			return "an object";
	}
	return "a value";
}

/* "a", "b", "c" (or none), for details. */
char *
tl_trace_quoted_list(const char *const *names, int n)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < n; i++)
		appendStringInfo(&s, "%s\"%s\"", i > 0 ? ", " : "", names[i]);
	if (n == 0)
		appendStringInfoString(&s, "none");
	return s.data;
}

/* The sources of a bitmask, for details. */
static char *
source_list(int sources)
{
	const char *names[4];
	int			n = 0;
	int			i;

	for (i = 0; tl_source_names[i] != NULL; i++)
		if (sources & (1 << i))
			names[n++] = tl_source_names[i];
	return tl_trace_quoted_list(names, n);
}

/*
 * Check the value of one data item: its JSON kind and syntax against the
 * item's data type and widget.
 */
static void
check_value(const TlTraceRecordContext *rc, const TlTraceItem *item, const JcsValue *v)
{
	const char *problem;

	if (v->kind == JCS_NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("data item \"%s\" must not be null", item->name),
				 errdetail("%s", where(rc)),
				 errhint("Leave an item without a value out.")));
	if (item->widget == TL_WIDGET_CHECKBOX)
	{
		if (v->kind != JCS_TRUE && v->kind != JCS_FALSE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" is a check box: its value must be true or false, not %s",
							item->name, kind_phrase(v)),
					 errdetail("%s", where(rc))));
		return;
	}
	if (item->widget == TL_WIDGET_DROPDOWN)
	{
		int			i;

		if (v->kind == JCS_STRING)
			for (i = 0; i < item->noptions; i++)
				if (strcmp(item->options[i], v->u.string.str) == 0)
					return;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("data item \"%s\" is a drop-down: its value must be one of its options", item->name),
				 errdetail("%s Options: %s.", where(rc), tl_trace_quoted_list(item->options, item->noptions))));
	}
	switch (item->type)
	{
		case TL_TYPE_TEXT:
			if (v->kind != JCS_STRING)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes text, not %s", item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			break;
		case TL_TYPE_NUMERIC:
			if (v->kind == JCS_STRING)
			{
				if (!tl_trace_decimal_string(v->u.string.str, v->u.string.len))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("invalid decimal number \"%s\" for data item \"%s\"",
									pnstrdup(v->u.string.str, Min(v->u.string.len, 64)), item->name),
							 errdetail("%s", where(rc)),
							 errhint("A numeric item takes a JSON number, or a decimal string such as \"12.50\" to keep every digit.")));
			}
			else if (v->kind != JCS_NUMBER)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes a number, not %s", item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			break;
		case TL_TYPE_TIME:
			if (v->kind != JCS_STRING)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes an ISO 8601 time string, not %s",
								item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			if (!tl_trace_parse_time(v->u.string.str, v->u.string.len, false, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						 errmsg("invalid ISO 8601 time \"%s\" for data item \"%s\"",
								pnstrdup(v->u.string.str, Min(v->u.string.len, 64)), item->name),
						 errdetail("%s", where(rc)),
						 errhint("Give a date (2026-05-01) or a date and time with an offset (2026-05-01T08:15:00Z, 2026-05-01T10:15:00+02:00).")));
			break;
		case TL_TYPE_IMAGE:
		case TL_TYPE_VIDEO:
		case TL_TYPE_FILE:
			if ((problem = file_reference_problem(v, item->type)) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes a file reference: %s", item->name, problem),
						 errdetail("%s", where(rc)),
						 errhint("For example {\"sha256\": \"<64 hex digits>\", \"name\": \"leaf.jpg\", \"media_type\": \"image/jpeg\"}.")));
			break;
		default:
			elog(ERROR, "data item \"%s\" of an adopted version has an unknown type", item->name);
	}
}

/* Refuse a data source the item does not allow (TL030). */
static void
check_source(const TlTraceRecordContext *rc, const TlTraceItem *item, int source)
{
	if (!(item->sources & (1 << source)))
		ereport(ERROR,
				(errcode(ERRCODE_TL_SOURCE_NOT_ALLOWED),
				 errmsg("data item \"%s\" cannot be given by data source \"%s\"",
						item->name, tl_source_names[source]),
				 errdetail("%s The item allows: %s.", where(rc), source_list(item->sources))));
}

/* The item of the form a member of data or commitments names, or raise. */
static TlTraceItem *
named_item(const TlTraceRecordContext *rc, const JcsMember *m)
{
	TlTraceItem *item = tl_trace_find_item(rc->form, m->key);

	if (item == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("form \"%s\" has no data item \"%s\"", rc->form->form,
						pnstrdup(m->key, Min(m->keylen, 64))),
				 errdetail("%s", where(rc))));
	return item;
}

/*
 * Check one value of a data item: it fits the item, and the record's data
 * source is allowed for it.  The private entry's projector checks private
 * values with this (trace_private.c).
 */
void
tl_trace_check_value(const TlTraceRecordContext *rc, const TlTraceItem *item,
					 const JcsValue *value, int source)
{
	check_value(rc, item, value);
	check_source(rc, item, source);
}

/*
 * Check a record's values: known items, values that fit, the record's data
 * source allowed for each, required items present, trace-code items equal
 * to the record's code.  Items whose audience is not public have no value
 * here but a commitment (commitments: NULL, or an object of item names and
 * 64 lowercase hex digits); their values are checked where they are held.
 */
void
tl_trace_check_data(const TlTraceRecordContext *rc, const JcsValue *data,
					const JcsValue *commitments, int source)
{
	const TlTraceForm *f = rc->form;
	int			i;

	if (data->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the values of a record must be a JSON object of data item names and values, not %s",
						kind_phrase(data))));
	for (i = 0; i < data->u.object.count; i++)
	{
		JcsMember  *m = &data->u.object.members[i];
		TlTraceItem *item = named_item(rc, m);

		if (item->private_value)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" is private: the public record holds its commitment, not its value",
							item->name),
					 errdetail("%s", where(rc))));
		tl_trace_check_value(rc, item, m->value, source);
		if (item->trace_code &&
			(m->value->kind != JCS_STRING || strcmp(m->value->u.string.str, rc->code) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("trace-code item \"%s\" must hold the record's trace code \"%s\"",
							item->name, rc->code),
					 errdetail("%s", where(rc))));
	}
	if (commitments != NULL && (commitments->kind != JCS_OBJECT || commitments->u.object.count == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"commitments\" of a trace record must be a non-empty JSON object")));
	for (i = 0; commitments != NULL && i < commitments->u.object.count; i++)
	{
		JcsMember  *m = &commitments->u.object.members[i];
		TlTraceItem *item = named_item(rc, m);

		if (!item->private_value)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" is public: the record holds its value, not a commitment",
							item->name),
					 errdetail("%s", where(rc))));
		if (m->value->kind != JCS_STRING || !lower_hex(m->value->u.string.str, m->value->u.string.len, 64))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the commitment of data item \"%s\" must be 64 lowercase hex digits", item->name),
					 errdetail("%s", where(rc))));
		check_source(rc, item, source);
	}
	for (i = 0; i < f->nitems; i++)
		if (f->items[i].required && jcs_object_get(data, f->items[i].name) == NULL &&
			(commitments == NULL || jcs_object_get(commitments, f->items[i].name) == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("data item \"%s\" is required", f->items[i].name),
					 errdetail("%s", where(rc))));
}
