/*
 * run_corpus.c — replay every file of the given directories through the fuzz target
 * (fuzz_csi_request.c) without libFuzzer: the kept corpus becomes a regression test
 * with any compiler (and under valgrind or ASan when the build has them).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	size_t count = 0;
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d))) {
			char path[4096];
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			uint8_t *buf = malloc(1 << 20);
			size_t len = fread(buf, 1, 1 << 20, f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
			count++;
		}
		closedir(d);
	}
	printf("%zu corpus inputs replayed\n", count);
	return count ? 0 : 77;
}
