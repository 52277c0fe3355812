/* SPDX-License-Identifier: MIT */
/* tools/lvss-backup/password.c: reading the repository password. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "macro.h"
#include "password.h"

#define PASSWORD_MAX 4096

static void chomp(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = 0;
}

static int ask(const char *prompt, char **ret) {
        _cleanup_free_ char *buf = malloc(PASSWORD_MAX);
        struct termios old, noecho;
        FILE *tty = fopen("/dev/tty", "r+");
        bool restore = false;

        if (!buf)
                return -ENOMEM;
        if (!tty)
                return -ENOKEY;
        fputs(prompt, tty);
        fflush(tty);
        if (tcgetattr(fileno(tty), &old) == 0) {
                noecho = old;
                noecho.c_lflag &= ~(tcflag_t) ECHO;
                restore = tcsetattr(fileno(tty), TCSANOW, &noecho) == 0;
        }
        char *got = fgets(buf, PASSWORD_MAX, tty);
        if (restore)
                (void) tcsetattr(fileno(tty), TCSANOW, &old);
        fputc('\n', tty);
        fclose(tty);
        if (!got)
                return -ENOKEY;
        chomp(buf);
        *ret = TAKE_PTR(buf);
        return 0;
}

int get_password(const char *file, bool confirm, char **ret) {
        const char *env;

        if (file) {
                _cleanup_free_ char *buf = calloc(1, PASSWORD_MAX + 1);
                FILE *f = fopen(file, "re");
                if (!buf)
                        return -ENOMEM;
                if (!f) {
                        int e = errno;
                        fprintf(stderr, "lvss-backup: password file '%s': %s\n", file, strerror(e));
                        return -e;
                }
                size_t n = fread(buf, 1, PASSWORD_MAX, f);
                fclose(f);
                buf[n] = 0;
                char *nl = strchr(buf, '\n');
                if (nl)
                        *nl = 0;
                chomp(buf);
                if (!*buf) {
                        fprintf(stderr, "lvss-backup: password file '%s': empty\n", file);
                        return -EINVAL;
                }
                *ret = TAKE_PTR(buf);
                return 0;
        }
        env = getenv("LVSS_BACKUP_PASSWORD");
        if (env && *env) {
                *ret = strdup(env);
                return *ret ? 0 : -ENOMEM;
        }
        if (!isatty(STDIN_FILENO))
                return -ENOKEY;
        _cleanup_free_ char *a = NULL, *b = NULL;
        int k = ask("Repository password: ", &a);
        if (k < 0)
                return k;
        if (confirm) {
                k = ask("Repeat password: ", &b);
                if (k < 0)
                        return k;
                if (strcmp(a, b) != 0) {
                        fprintf(stderr, "lvss-backup: the passwords do not match\n");
                        return -EINVAL;
                }
        }
        if (!*a) {
                fprintf(stderr, "lvss-backup: empty password\n");
                return -EINVAL;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int get_new_password(const char *file, char **ret) {
        const char *env = getenv("LVSS_BACKUP_NEW_PASSWORD");
        _cleanup_free_ char *a = NULL, *b = NULL;
        int k;

        if (file)
                return get_password(file, false, ret);
        if (env && *env) {
                *ret = strdup(env);
                return *ret ? 0 : -ENOMEM;
        }
        if (!isatty(STDIN_FILENO))
                return -ENOKEY;
        k = ask("New repository password: ", &a);
        if (k < 0)
                return k;
        k = ask("Repeat new password: ", &b);
        if (k < 0)
                return k;
        if (strcmp(a, b) != 0) {
                fprintf(stderr, "lvss-backup: the passwords do not match\n");
                return -EINVAL;
        }
        if (!*a) {
                fprintf(stderr, "lvss-backup: empty password\n");
                return -EINVAL;
        }
        *ret = TAKE_PTR(a);
        return 0;
}
