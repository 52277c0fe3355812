/* SPDX-License-Identifier: MIT */
/*
 * Corpus replayer: runs LLVMFuzzerTestOneInput on every file of the
 * directories (or files) named on the command line, so the fuzz corpus runs
 * as an ordinary test without libFuzzer.
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
        static uint8_t buf[4 << 20];
        size_t n;

        if (!f) {
                fprintf(stderr, "replay: %s: cannot open\n", fn);
                return -1;
        }
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        return 0;
}

int main(int argc, char **argv) {
        int files = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

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
                d = opendir(argv[i]);
                while (d && (de = readdir(d))) {
                        char path[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
                        if (run_file(path) < 0) {
                                closedir(d);
                                return 1;
                        }
                        files++;
                }
                if (d)
                        closedir(d);
        }
        printf("replayed %d inputs\n", files);
        return files > 0 ? 0 : 1;
}
