/*
 * flip.c — a test tool for the symlink race (tests/hardening/race.sh): swaps two names
 * atomically (renameat2 RENAME_EXCHANGE), over and over, so that one of them is a
 * directory inside the allowed prefix one instant and a symbolic link to outside the
 * next. Runs until killed.
 *   flip PATH OTHER [MICROSECONDS between swaps, default 0]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: flip PATH OTHER [MICROSECONDS]\n");
		return 2;
	}
	long pause = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
	/* EBUSY while the directory is a mount point: keep trying until it is not; ENOENT
	 * after an unpublish removed the directory: make it again */
	for (;;) {
		if (pause > 0)
			usleep((useconds_t)pause);
		if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0 || errno == EBUSY)
			continue;
		if (errno == ENOENT && (mkdir(argv[1], 0755) == 0 || mkdir(argv[2], 0755) == 0 || errno == EEXIST))
			continue;
		perror("renameat2");
		return 1;
	}
}
