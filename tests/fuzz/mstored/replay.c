/* SPDX-License-Identifier: MIT */
/*
 * Corpus replayer: runs LLVMFuzzerTestOneInput on every file of the
 * directories (or files) named on the command line.  Built with the tests
 * so the fuzz corpus is replayed as an ordinary test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *fn) {
        FILE *f = fopen(fn, "rb");
        if (!f) {
                fprintf(stderr, "replay: %s: cannot open\n", fn);
                return -1;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        return 0;
}

int main(int argc, char **argv) {
        int files = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: not found\n", argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        files++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        char path[4096];
                        snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
                        if (run_file(path) < 0)
                                return 1;
                        files++;
                }
                if (d)
                        closedir(d);
        }
        printf("replayed %d inputs\n", files);
        return files > 0 ? 0 : 1;
}
