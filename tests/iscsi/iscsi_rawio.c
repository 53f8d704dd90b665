/*
 * iscsi_rawio.c — a tiny libiscsi client for the iSCSI tests: one READ(16) or WRITE(16)
 * of one block at the last LBA of a LUN, as a given initiator, printing the SCSI status.
 * Exit 0 GOOD, 3 RESERVATION CONFLICT, 1 anything else.
 *
 *   iscsi_rawio read|write PORTAL IQN LUN INITIATOR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: iscsi_rawio read|write PORTAL IQN LUN INITIATOR\n");
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
