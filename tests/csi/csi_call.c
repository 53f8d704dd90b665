/*
 * csi_call.c — a tiny generic CSI client for the tests: build any request from
 * field=value arguments (walking the protobuf-c descriptors), call the method, print
 * the response as JSON and exit with the gRPC status code.
 *
 *   csi_call ENDPOINT METHOD [FIELD=VALUE]...      e.g.
 *   csi_call unix:///t/csi.sock NodeStageVolume volume_id=v1 \
 *        staging_target_path=/t/allowed/s/v1 volume_capability.mount.fs_type=ext4 \
 *        volume_capability.access_mode.mode=SINGLE_NODE_WRITER \
 *        volume_context.pvnode.io/driver=file 'volume_capabilities[0].block='
 *   csi_call ENDPOINT METHOD --raw HEX              send raw bytes (malformed bodies)
 *   csi_call - METHOD [FIELD=VALUE]...              write a fuzz seed (method index + body)
 *
 * METHOD is a bare name (the service is looked up) or a full path. Map fields take
 * the rest of the dotted path as the key; repeated messages take [N]; repeated scalars
 * append; an empty message (block=) is just created; FIELD=@FILE reads the value from FILE. Status: "STATUS: details" on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "csi.h"

static const char *const services[] = {"Identity", "Controller", "Node"};

static void *new_msg(const ProtobufCMessageDescriptor *d)
{
	void *m = calloc(1, d->sizeof_message);
	if (!m)
		abort();
	protobuf_c_message_init(d, m);
	return m;
}

static void **grow(void **arr, size_t n)
{
	void **p = realloc(arr, (n + 1) * sizeof(*p));
	if (!p)
		abort();
	return p;
}

static int set_scalar(const ProtobufCFieldDescriptor *f, void *p, const char *v)
{
	char *end = NULL;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)p = strdup(v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		return 0;
	case PROTOBUF_C_TYPE_INT32:
		*(int32_t *)p = (int32_t)strtol(v, &end, 0);
		break;
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)p = strtoll(v, &end, 0);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v);
		if (ev) {
			*(int *)p = ev->value;
			return 0;
		}
		*(int *)p = (int)strtol(v, &end, 0);
		break;
	}
	default:
		return -EINVAL;
	}
	return end && *end ? -EINVAL : 0;
}

static int set_field(ProtobufCMessage *m, const char *path, const char *value)
{
	char name[128];
	size_t len = strcspn(path, ".[");
	if (len >= sizeof(name))
		return -EINVAL;
	memcpy(name, path, len);
	name[len] = '\0';
	const char *rest = path + len;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (!f) {
		fprintf(stderr, "csi_call: %s has no field %s\n", m->descriptor->name, name);
		return -EINVAL;
	}
	char *base = (char *)m;
	void *p = base + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *n = (size_t *)(base + f->quantifier_offset);
		void **arr = *(void ***)p;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessageDescriptor *d = f->descriptor;
			if (d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 && *rest == '.') {
				struct csi_kv *kv = new_msg(d);
				kv->key = strdup(rest + 1);
				kv->value = strdup(value);
				arr = grow(arr, *n);
				arr[(*n)++] = kv;
				*(void ***)p = arr;
				return 0;
			}
			if (*rest != '[')
				return -EINVAL;
			size_t idx = strtoul(rest + 1, NULL, 10);
			rest = strchr(rest, ']');
			if (!rest)
				return -EINVAL;
			rest++;
			while (*n <= idx) {
				arr = grow(arr, *n);
				arr[(*n)++] = new_msg(d);
			}
			*(void ***)p = arr;
			if (!*rest)
				return 0;
			return set_field(arr[idx], rest + 1, value);
		}
		if (f->type != PROTOBUF_C_TYPE_STRING)
			return -EINVAL;
		arr = grow(arr, *n);
		arr[(*n)++] = strdup(value);
		*(void ***)p = arr;
		return 0;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + f->quantifier_offset) = f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		ProtobufCMessage **sub = p;
		if (!*sub)
			*sub = new_msg(f->descriptor);
		return *rest ? set_field(*sub, rest + 1, value) : 0;
	}
	if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)p != protobuf_c_empty_string)
		free(*(char **)p);
	return set_scalar(f, p, value);
}

static int unhex(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s) / 2;
	*out = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		(*out)[i] = (unsigned char)v;
	}
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: csi_call ENDPOINT METHOD [FIELD=VALUE]... | --raw HEX\n");
		return 100;
	}
	const struct csi_method *m = NULL;
	char path[256];
	for (size_t i = 0; !m && i < 3; i++) {
		snprintf(path, sizeof(path), "/csi.v1.%s/%s", services[i], argv[2]);
		m = csi_method_find(argv[2][0] == '/' ? argv[2] : path);
	}
	if (argv[2][0] == '/')
		snprintf(path, sizeof(path), "%s", argv[2]);
	if (!m && argv[2][0] != '/') {
		fprintf(stderr, "csi_call: unknown method %s\n", argv[2]);
		return 100;
	}
	unsigned char *body = NULL;
	size_t len = 0;
	const ProtobufCMessageDescriptor *out_desc = NULL;
	if (argc >= 5 && strcmp(argv[3], "--raw") == 0) {
		if (unhex(argv[4], &body, &len) < 0)
			return 100;
	} else if (m) {
		ProtobufCMessage *req = new_msg(m->input);
		for (int i = 3; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			if (!eq) {
				fprintf(stderr, "csi_call: %s: expected FIELD=VALUE\n", argv[i]);
				return 100;
			}
			*eq = '\0';
			char *value = eq + 1, *loaded = NULL;
			if (value[0] == '@') {   /* FIELD=@FILE: the value is the file's content */
				size_t cap = 0;
				FILE *f = fopen(value + 1, "r");
				if (!f || getdelim(&loaded, &cap, '\0', f) < 0) {
					fprintf(stderr, "csi_call: cannot read %s\n", value + 1);
					return 100;
				}
				fclose(f);
				value = loaded;
			}
			int sr = set_field(req, argv[i], value);
			free(loaded);
			if (sr < 0) {
				fprintf(stderr, "csi_call: cannot set %s\n", argv[i]);
				return 100;
			}
		}
		len = protobuf_c_message_get_packed_size(req);
		body = malloc(len + 1);
		protobuf_c_message_pack(req, body);
		protobuf_c_message_free_unpacked(req, NULL);
	}
	if (m)
		out_desc = m->output;
	if (strcmp(argv[1], "-") == 0 && m) {   /* a fuzz seed: method index, then the body */
		size_t n;
		const struct csi_method *all = csi_methods(&n);
		putchar((int)(m - all));
		fwrite(body, 1, len, stdout);
		free(body);
		return 0;
	}
	struct csi_client *c;
	if (csi_client_open(argv[1], &c) < 0) {
		fprintf(stderr, "csi_call: bad endpoint %s\n", argv[1]);
		return 100;
	}
	void *resp = NULL;
	size_t resp_len = 0;
	char details[1024];
	int st = csi_client_call_raw(c, path, body, len, &resp, &resp_len, details, sizeof(details),
				     120000);
	free(body);
	if (st < 0) {
		fprintf(stderr, "csi_call: the call failed: %s\n", strerror(-st));
		csi_client_close(c);
		return 101;
	}
	fprintf(stderr, "%s: %s\n", csi_status_name(st), details);
	if (st == 0 && out_desc) {
		ProtobufCMessage *r = protobuf_c_message_unpack(out_desc, NULL, resp_len, resp);
		if (!r) {
			fprintf(stderr, "csi_call: the response does not decode as %s\n", out_desc->name);
			st = 102;
		} else {
			char *s = csi_msg_to_json(r, false);
			printf("%s\n", s);
			free(s);
			protobuf_c_message_free_unpacked(r, NULL);
		}
	}
	free(resp);
	csi_client_close(c);
	return st;
}
