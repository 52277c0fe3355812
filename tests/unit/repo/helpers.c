/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

char *scratch_dir(void) {
        char tmpl[] = "/tmp/lvss-repo-test.XXXXXX";
        char *d = mkdtemp(tmpl);
        return d ? strdup(d) : NULL;
}

void scratch_cleanup(char *dir) {
        char cmd[512];
        if (!dir)
                return;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cleanup of %s failed\n", dir);
        free(dir);
}

void fill_random(uint8_t *buf, size_t n, uint64_t seed) {
        uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
        for (size_t i = 0; i < n; i++) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                buf[i] = (uint8_t) (s >> 24);
        }
}

void write_file(const char *path, const void *data, size_t n) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", path);
        for (char *p = tmp + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                mkdir(tmp, 0755);
                *p = '/';
        }
        FILE *f = fopen(path, "we");
        if (!f)
                abort();
        if (n && fwrite(data, 1, n, f) != n)
                abort();
        fclose(f);
}

uint8_t *read_whole(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL;
        size_t cap = 0, n = 0;
        if (!f)
                return NULL;
        for (;;) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap);
                        if (!buf)
                                abort();
                }
                size_t k = fread(buf + n, 1, cap - n, f);
                if (k == 0)
                        break;
                n += k;
        }
        fclose(f);
        *ret_n = n;
        return buf;
}

char *find_first_file(const char *dir, const char *sub) {
        char path[1024];
        DIR *d;
        struct dirent *de;
        char *found = NULL;

        snprintf(path, sizeof path, "%s/%s", dir, sub);
        d = opendir(path);
        if (!d)
                return NULL;
        while (!found && (de = readdir(d))) {
                struct stat st;
                char child[1400];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(child, sizeof child, "%s/%s", path, de->d_name);
                if (stat(child, &st) < 0)
                        continue;
                if (S_ISREG(st.st_mode))
                        found = strdup(child);
                else if (S_ISDIR(st.st_mode)) {
                        char s2[1400];
                        snprintf(s2, sizeof s2, "%s/%s", sub, de->d_name);
                        found = find_first_file(dir, s2);
                }
        }
        closedir(d);
        return found;
}
