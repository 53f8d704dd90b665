/* Unit tests: Kubernetes PersistentVolume manifests → PVs (cli/k8s_import.c), the pure
 * converter behind pvctl import. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8s_import.h"

static struct pvk_list parse_ok(const char *yaml)
{
	struct pvk_list l;
	struct pv_err err = { 0 };
	int r = pvk_parse(yaml, strlen(yaml), &l, &err);
	if (r < 0)
		fail_msg("pvk_parse: %s", err.msg);
	return l;
}

static void in_tree_nfs(void **state)
{
	(void)state;
	struct pvk_list l = parse_ok(
		"apiVersion: v1\n"
		"kind: PersistentVolume\n"
		"metadata:\n"
		"  name: shelf\n"
		"  annotations:\n"
		"    pv.beta.kubernetes.io/gid: \"5555\"\n"
		"spec:\n"
		"  capacity: {storage: 10Gi}\n"
		"  accessModes: [ReadWriteMany]\n"
		"  persistentVolumeReclaimPolicy: Delete\n"
		"  mountOptions: [nfsvers=3, noatime]\n"
		"  nfs:\n"
		"    server: nfs.example.com\n"
		"    path: /exports/shelf/\n"
		"    readOnly: true\n");
	assert_int_equal(l.n, 1);
	struct pvk_item *it = &l.items[0];
	assert_int_equal(it->outcome, PVK_CONVERTED);
	assert_string_equal(it->pv.name, "shelf");
	assert_string_equal(it->pv.driver, "nfs");
	assert_string_equal(it->source, "nfs");
	assert_true(it->pv.capacity == 10ull << 30);
	assert_string_equal(pv_map_get(&it->pv.attributes, "server"), "nfs.example.com");
	assert_string_equal(pv_map_get(&it->pv.attributes, "share"), "/exports/shelf");
	assert_null(pv_map_get(&it->pv.attributes, "subDir")); /* the export is the volume */
	assert_int_equal(it->pv.access_modes, PV_ACCESS_BIT(PV_ROX)); /* readOnly */
	assert_non_null(strstr(it->note, "readOnly"));
	assert_int_equal(it->pv.reclaim, PV_RECLAIM_DELETE);
	assert_int_equal(it->pv.gid, 5555);
	assert_int_equal(it->pv.n_mount_options, 2);
	assert_string_equal(it->pv.mount_options[1], "noatime");
	assert_string_equal(it->pv.fs_type, "");
	assert_null(it->pv.secret_ref);
	pvk_list_free(&l);
}

static void in_tree_iscsi(void **state)
{
	(void)state;
	struct pvk_list l = parse_ok(
		"kind: PersistentVolume\n"
		"apiVersion: v1\n"
		"metadata: {name: db}\n"
		"spec:\n"
		"  capacity: {storage: 5Gi}\n"
		"  accessModes: [ReadWriteOnce]\n"
		"  volumeMode: Filesystem\n"
		"  iscsi:\n"
		"    targetPortal: 10.0.0.5:3260\n"
		"    portals: ['10.0.0.6:3260', '10.0.0.7']\n"
		"    iqn: iqn.2026-11.com.example:db\n"
		"    lun: 3\n"
		"    fsType: xfs\n"
		"    iscsiInterface: default\n"
		"    chapAuthSession: true\n"
		"    secretRef: {name: db-chap}\n"
		"    initiatorName: iqn.2026-11.com.example:node\n");
	struct pvk_item *it = &l.items[0];
	assert_int_equal(it->outcome, PVK_CONVERTED);
	assert_string_equal(it->pv.driver, "iscsi");
	assert_string_equal(pv_map_get(&it->pv.attributes, "portals"), "10.0.0.5:3260,10.0.0.6:3260,10.0.0.7");
	assert_null(pv_map_get(&it->pv.attributes, "portal"));
	assert_string_equal(pv_map_get(&it->pv.attributes, "iqn"), "iqn.2026-11.com.example:db");
	assert_string_equal(pv_map_get(&it->pv.attributes, "lun"), "3");
	assert_string_equal(pv_map_get(&it->pv.attributes, "initiatorName"), "iqn.2026-11.com.example:node");
	assert_null(pv_map_get(&it->pv.attributes, "discovery"));
	assert_string_equal(it->pv.fs_type, "xfs");
	assert_int_equal(it->pv.access_modes, PV_ACCESS_BIT(PV_RWO));
	assert_string_equal(it->pv.secret_ref, "db-chap");
	assert_non_null(strstr(it->secret_keys, "node.session.auth.username=USER node.session.auth.password=-"));
	assert_int_equal(it->pv.reclaim, PV_RECLAIM_UNSET); /* registration makes it Retain */
	assert_string_equal(it->note, "");
	pvk_list_free(&l);
}

/* No rbd driver is needed to map an rbd source: the PV is produced, and refused later
 * by whatever build lacks the driver. */
static void in_tree_rbd(void **state)
{
	(void)state;
	struct pvk_list l = parse_ok(
		"{\"kind\": \"PersistentVolume\", \"apiVersion\": \"v1\", \"metadata\": {\"name\": \"ceph-a\"},\n"
		" \"spec\": {\"capacity\": {\"storage\": \"2Gi\"}, \"accessModes\": [\"ReadWriteOnce\"],\n"
		"  \"rbd\": {\"monitors\": [\"10.0.0.1:6789\", \"10.0.0.2:6789\"], \"pool\": \"kube\", \"image\": \"vol-a\",\n"
		"   \"user\": \"kube\", \"secretRef\": {\"name\": \"ceph-kube\"}, \"fsType\": \"ext4\"}}}\n"
		"---\n"
		"kind: PersistentVolume\n"
		"metadata: {name: ceph-b}\n"
		"spec:\n"
		"  capacity: {storage: 1Gi}\n"
		"  accessModes: [ReadOnlyMany]\n"
		"  volumeMode: Block\n"
		"  rbd: {monitors: ['mon1'], image: vol-b, keyring: /etc/ceph/keyring, fsType: ext4}\n");
	assert_int_equal(l.n, 2);
	struct pvk_item *a = &l.items[0], *b = &l.items[1];
	assert_int_equal(a->outcome, PVK_CONVERTED);
	assert_string_equal(a->pv.driver, "rbd");
	assert_string_equal(pv_map_get(&a->pv.attributes, "monitors"), "10.0.0.1:6789,10.0.0.2:6789");
	assert_string_equal(pv_map_get(&a->pv.attributes, "pool"), "kube");
	assert_string_equal(pv_map_get(&a->pv.attributes, "image"), "vol-a");
	assert_null(pv_map_get(&a->pv.attributes, "user")); /* the user goes with the key */
	assert_string_equal(a->pv.secret_ref, "ceph-kube");
	assert_string_equal(a->secret_keys, "userID=kube userKey=-");
	assert_string_equal(a->pv.fs_type, "ext4");
	assert_int_equal(b->outcome, PVK_CONVERTED);
	assert_string_equal(pv_map_get(&b->pv.attributes, "pool"), "rbd"); /* in-tree defaults */
	assert_string_equal(b->pv.secret_ref, "ceph-b-cephx");
	assert_string_equal(b->secret_keys, "userID=admin userKey=-");
	assert_int_equal(b->pv.volume_mode, PV_VOLUME_BLOCK);
	assert_string_equal(b->pv.fs_type, ""); /* Block: no filesystem */
	assert_non_null(strstr(b->note, "keyring"));
	pvk_list_free(&l);
}

static void unsupported_and_lists(void **state)
{
	(void)state;
	struct pvk_list l = parse_ok(
		"apiVersion: v1\n"
		"kind: List\n"
		"items:\n"
		"- kind: PersistentVolume\n"
		"  metadata: {name: ebs}\n"
		"  spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce],\n"
		"         awsElasticBlockStore: {volumeID: vol-1}}\n"
		"- kind: PersistentVolume\n"
		"  metadata: {name: other-csi}\n"
		"  spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce],\n"
		"         csi: {driver: ebs.csi.aws.com, volumeHandle: vol-2}}\n"
		"---\n"
		"kind: Secret\n"
		"metadata: {name: s}\n"
		"---\n");
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].outcome, PVK_SKIPPED);
	assert_string_equal(l.items[0].source, "awsElasticBlockStore");
	assert_non_null(strstr(l.items[0].why, "awsElasticBlockStore"));
	assert_int_equal(l.items[1].outcome, PVK_SKIPPED);
	assert_non_null(strstr(l.items[1].why, "ebs.csi.aws.com"));
	assert_int_equal(l.items[2].outcome, PVK_SKIPPED);
	assert_non_null(strstr(l.items[2].why, "Secret"));
	pvk_list_free(&l);
}

/* What pvctl get -o k8s prints comes back as the PV it was. */
static void csi_of_pvnode(void **state)
{
	(void)state;
	struct pvk_list l = parse_ok(
		"{\"apiVersion\": \"v1\", \"kind\": \"PersistentVolume\",\n"
		" \"metadata\": {\"name\": \"web\", \"creationTimestamp\": \"2026-12-01T21:22:12Z\",\n"
		"   \"annotations\": {\"pv.beta.kubernetes.io/gid\": \"42\"}},\n"
		" \"spec\": {\"capacity\": {\"storage\": \"64Mi\"}, \"accessModes\": [\"ReadWriteOnce\", \"ReadOnlyMany\"],\n"
		"  \"volumeMode\": \"Filesystem\", \"persistentVolumeReclaimPolicy\": \"Delete\", \"mountOptions\": [\"noatime\"],\n"
		"  \"csi\": {\"driver\": \"local.pvnode.csi.io\", \"volumeHandle\": \"web\", \"fsType\": \"xfs\",\n"
		"   \"volumeAttributes\": {\"path\": \"/var/lib/pvnode/images/web.img\", \"pvnode.io/driver\": \"file\",\n"
		"    \"pvnode.io/capacity\": \"67108864\", \"pvnode.io/fsType\": \"xfs\", \"pvnode.io/gid\": \"42\",\n"
		"    \"pvnode.io/volumeMode\": \"Filesystem\", \"pvnode.io/accessModes\": \"RWO,ROX\",\n"
		"    \"pvnode.io/mountOptions\": \"noatime\", \"csi.storage.k8s.io/pv/name\": \"web\"},\n"
		"   \"nodeStageSecretRef\": {\"name\": \"web-keys\", \"namespace\": \"default\"}}}}\n");
	struct pvk_item *it = &l.items[0];
	assert_int_equal(it->outcome, PVK_CONVERTED);
	struct pv *pv = &it->pv;
	assert_string_equal(pv->name, "web");
	assert_string_equal(pv->driver, "file");
	assert_true(pv->capacity == 64ull << 20);
	assert_int_equal(pv->access_modes, PV_ACCESS_BIT(PV_RWO) | PV_ACCESS_BIT(PV_ROX));
	assert_string_equal(pv->fs_type, "xfs");
	assert_int_equal(pv->gid, 42);
	assert_int_equal(pv->reclaim, PV_RECLAIM_DELETE);
	assert_int_equal(pv->n_mount_options, 1);
	assert_string_equal(pv_map_get(&pv->attributes, "path"), "/var/lib/pvnode/images/web.img");
	assert_int_equal(pv->attributes.n, 1); /* neither pvnode.io/ nor sidecar keys are attributes */
	assert_string_equal(pv->secret_ref, "web-keys");
	assert_true(pv->created == 1796160132);
	pvk_list_free(&l);
}

static void refusals(void **state)
{
	(void)state;
	static const struct {
		const char *spec, *want;
	} cases[] = {
		{ "{capacity: {storage: 1GB}, accessModes: [ReadWriteOnce], nfs: {server: s, path: /e}}", "spec.capacity.storage" },
		{ "{capacity: {storage: 1Gi}, accessModes: [Sometimes], nfs: {server: s, path: /e}}", "spec.accessModes[0]" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], nfs: {server: s}}", "spec.nfs" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], persistentVolumeReclaimPolicy: Recycle,"
		  " nfs: {server: s, path: /e}}", "Recycle" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], iscsi: {targetPortal: p, lun: 1}}", "iqn" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], iscsi: {targetPortal: p, iqn: i, lun: x}}",
		  "spec.iscsi.lun" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], iscsi: {targetPortal: p, iqn: i, lun: 0,"
		  " chapAuthSession: true}}", "secretRef" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], rbd: {image: i}}", "spec.rbd.monitors" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}", "no volume source" },
		{ "{capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], csi: {driver: pvnode.csi.io,"
		  " volumeHandle: v, volumeAttributes: {pvnode.io/driver: file, pvnode.io/colour: red}}}", "spec.csi" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char doc[1024];
		snprintf(doc, sizeof(doc), "kind: PersistentVolume\nmetadata: {name: v}\nspec: %s\n", cases[i].spec);
		struct pvk_list l = parse_ok(doc);
		assert_int_equal(l.n, 1);
		if (l.items[0].outcome != PVK_INVALID || !strstr(l.items[0].why, cases[i].want))
			fail_msg("case %zu: outcome %d, why '%s', wanted '%s'", i, l.items[0].outcome, l.items[0].why,
				 cases[i].want);
		pvk_list_free(&l);
	}
	struct pvk_list l = parse_ok("kind: PersistentVolume\nmetadata: {name: Bad/Name}\nspec: {}\n");
	assert_int_equal(l.items[0].outcome, PVK_INVALID);
	assert_non_null(strstr(l.items[0].why, "metadata.name"));
	pvk_list_free(&l);
}

static void not_yaml(void **state)
{
	(void)state;
	struct pvk_list l;
	struct pv_err err = { 0 };
	const char *text = "kind: PersistentVolume\nspec: [unclosed\n";
	assert_int_equal(pvk_parse(text, strlen(text), &l, &err), -EINVAL);
	assert_int_equal(err.kind, PV_E_INVALID);
	assert_non_null(strstr(err.msg, "line"));
	/* aliases that multiply are cut off, not expanded without bound */
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
	struct pv_err err2 = { 0 };
	assert_int_equal(pvk_parse(bomb, strlen(bomb), &l, &err2), -EINVAL);
	assert_non_null(strstr(err2.msg, "nodes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_tree_nfs),     cmocka_unit_test(in_tree_iscsi), cmocka_unit_test(in_tree_rbd),
		cmocka_unit_test(unsupported_and_lists), cmocka_unit_test(csi_of_pvnode), cmocka_unit_test(refusals),
		cmocka_unit_test(not_yaml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
