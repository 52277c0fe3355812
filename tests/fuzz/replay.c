/* SPDX-License-Identifier: MIT */
/*
 * Corpus replayer, shared by every fuzz target: runs LLVMFuzzerTestOneInput
 * on every file of the directories (or files) named on the command line, so
 * the fuzz corpus runs as an ordinary test without libFuzzer.  Each input is
 * copied into a buffer of exactly its size, so ASan catches a parser that
 * reads one byte past its input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_INPUT (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *fn) {
        struct stat st;
        FILE *f = fopen(fn, "rb");
        uint8_t *buf;
        size_t n;

        if (!f || fstat(fileno(f), &st) < 0) {
                fprintf(stderr, "replay: %s: cannot open\n", fn);
                if (f)
                        fclose(f);
                return -1;
        }
        if (st.st_size < 0 || (uint64_t) st.st_size > REPLAY_MAX_INPUT) {
                fprintf(stderr, "replay: %s: larger than %u bytes\n", fn, REPLAY_MAX_INPUT);
                fclose(f);
                return -1;
        }
        n = (size_t) st.st_size;
        buf = malloc(n ? n : 1);
        if (!buf || fread(buf, 1, n, f) != n) {
                fprintf(stderr, "replay: %s: cannot read\n", fn);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
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
