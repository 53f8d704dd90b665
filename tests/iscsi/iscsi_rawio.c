/*
 * iscsi_rawio.c — a tiny libiscsi client for the iSCSI tests: one READ(16) or WRITE(16)
 * of one block at the last LBA of a LUN, as a given initiator, printing the SCSI status.
 * Exit 0 GOOD, 3 RESERVATION CONFLICT, 1 anything else.
 * `keys` prints the registered reservation keys (one line each, 16 hex digits, one per
 * registered session), `reservation` the holder's key and the type ("none" if none).
 *
 *   iscsi_rawio read|write|keys|reservation PORTAL IQN LUN INITIATOR
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

/* PERSISTENT RESERVE IN, retried over the unit attentions a fresh login brings. */
static int pr_in(struct iscsi_context *c, int lun, bool keys)
{
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = iscsi_persistent_reserve_in_sync(
			c, lun, keys ? SCSI_PERSISTENT_RESERVE_READ_KEYS : SCSI_PERSISTENT_RESERVE_READ_RESERVATION,
			8192);
		if (!t)
			return 1;
		if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
			scsi_free_scsi_task(t);
			continue;
		}
		void *d = t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
		if (!d) {
			printf("STATUS 0x%x\n", t->status);
			scsi_free_scsi_task(t);
			return 1;
		}
		if (keys) {
			struct scsi_persistent_reserve_in_read_keys *rk = d;
			for (int k = 0; k < rk->num_keys; k++)
				printf("%016llx\n", (unsigned long long)rk->keys[k]);
		} else {
			struct scsi_persistent_reserve_in_read_reservation *rr = d;
			if (rr->reserved)
				printf("%016llx type %d\n", (unsigned long long)rr->reservation_key, rr->pr_type);
			else
				printf("none\n");
		}
		scsi_free_scsi_task(t);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: iscsi_rawio read|write|keys|reservation PORTAL IQN LUN INITIATOR\n");
		return 2;
	}
	int lun = atoi(argv[4]);
	struct iscsi_context *c = iscsi_create_context(argv[5]);
	iscsi_set_targetname(c, argv[3]);
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(c, 10);
	if (iscsi_full_connect_sync(c, argv[2], lun) != 0) {
		printf("LOGIN FAILED: %s\n", iscsi_get_error(c));
		return 1;
	}
	if (strcmp(argv[1], "keys") == 0 || strcmp(argv[1], "reservation") == 0) {
		int rc = pr_in(c, lun, strcmp(argv[1], "keys") == 0);
		iscsi_logout_sync(c);
		iscsi_destroy_context(c);
		return rc;
	}
	struct scsi_task *t = iscsi_readcapacity16_sync(c, lun);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		printf("READ CAPACITY FAILED\n");
		return 1;
	}
	struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
	uint64_t lba = rc->returned_lba;
	uint32_t bs = rc->block_length;
	scsi_free_scsi_task(t);
	unsigned char *buf = calloc(1, bs);
	if (strcmp(argv[1], "write") == 0)
		t = iscsi_write16_sync(c, lun, lba, buf, bs, (int)bs, 0, 0, 0, 0, 0);
	else
		t = iscsi_read16_sync(c, lun, lba, bs, (int)bs, 0, 0, 0, 0, 0);
	int rcode = 1;
	if (!t)
		printf("TRANSPORT ERROR: %s\n", iscsi_get_error(c));
	else if (t->status == SCSI_STATUS_GOOD)
		printf("GOOD\n"), rcode = 0;
	else if (t->status == SCSI_STATUS_RESERVATION_CONFLICT)
		printf("RESERVATION CONFLICT\n"), rcode = 3;
	else
		printf("STATUS 0x%x\n", t->status);
	if (t)
		scsi_free_scsi_task(t);
	free(buf);
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
	return rcode;
}
