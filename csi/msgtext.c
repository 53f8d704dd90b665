/*
 * msgtext.c — any decoded CSI message as JSON, walking the protobuf-c descriptors, for
 * request logs and `pvctl --endpoint ... -o json`.
 *
 * Redaction happens here, once, for every message type: a field named `secrets` prints
 * as "<redacted>" (the spec marks all of them csi_secret, which protobuf-c does not
 * expose), and a mount flag that looks like it carries a secret (pv_secret_looking)
 * prints as "<redacted>" too. Proto3 defaults (0, "", false, unset messages) are left
 * out, maps print as objects, enums by name.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"

static json_t *msg_json(const ProtobufCMessage *m);

static json_t *str_json(const char *s)
{
	json_t *j = json_string(s ? s : "");
	return j ? j : json_string("<not utf-8>");
}

static json_t *scalar_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t)*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return str_json(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		return json_sprintf("<%zu bytes>", b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? msg_json(sub) : json_null();
	}
	}
	return json_null();
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t len = strlen(d->name);
	return d->n_fields == 2 && len > 5 && strcmp(d->name + len - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p == NULL;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	default: {
		static const char zero[8];
		return memcmp(p, zero, elem_size(f)) == 0;
	}
	}
}

static json_t *repeated_json(const ProtobufCFieldDescriptor *f, const void *arr, size_t n)
{
	bool flags = strcmp(f->name, "mount_flags") == 0;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
		json_t *o = json_object();
		for (size_t i = 0; i < n; i++) {
			const struct csi_kv *kv = ((const struct csi_kv *const *)arr)[i];
			if (kv->key && json_object_set_new(o, kv->key, str_json(kv->value)) < 0)
				json_object_set_new(o, "<not utf-8 key>", json_string(""));
		}
		return o;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		const void *p = (const char *)arr + i * elem_size(f);
		if (flags && pv_secret_looking(*(char *const *)p))
			json_array_append_new(a, json_string("<redacted>"));
		else
			json_array_append_new(a, scalar_json(f, p));
	}
	return a;
}

static json_t *msg_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		const void *p = base + f->offset;
		json_t *v = NULL;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			if (!n)
				continue;
			if (strcmp(f->name, "secrets") == 0)
				v = json_string("<redacted>");
			else
				v = repeated_json(f, *(void *const *)p, n);
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
				if (which != f->id)
					continue;
			} else if (is_default(f, p)) {
				continue;
			}
			v = scalar_json(f, p);
		}
		json_object_set_new(o, f->name, v);
	}
	return o;
}

char *csi_msg_to_json(const ProtobufCMessage *m, bool pretty)
{
	json_t *j = msg_json(m);
	char *s = json_dumps(j, pretty ? JSON_INDENT(2) | JSON_SORT_KEYS : JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}
