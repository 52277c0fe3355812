/* SPDX-License-Identifier: MIT */
/*
 * tools/lvss-backup/password.c: reading the repository password.
 *
 * Every password buffer is PASSWORD_SIZE bytes, so password_free() can zero
 * all of it (a file's later lines or a longer earlier entry included), not
 * just up to the first NUL.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "macro.h"
#include "password.h"

#define PASSWORD_MAX 4096
#define PASSWORD_SIZE (PASSWORD_MAX + 1)

static bool insecure_file_ok;

void password_allow_insecure_file(bool on) {
        insecure_file_ok = on;
}

void password_free(char *pw) {
        if (!pw)
                return;
        sodium_memzero(pw, PASSWORD_SIZE);
        free(pw);
}

static void chomp(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = 0;
}

static int ask(const char *prompt, char **ret) {
        _cleanup_(password_freep) char *buf = calloc(1, PASSWORD_SIZE);
        struct termios old, noecho;
        FILE *tty;
        bool restore = false;

        if (!buf)
                return -ENOMEM;
        tty = fopen("/dev/tty", "r+e");
        if (!tty)
                return -ENOKEY;
        /* No stdio buffer: it would keep a copy of the password. */
        setvbuf(tty, NULL, _IONBF, 0);
        fputs(prompt, tty);
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

static int read_password_file(const char *file, char **ret) {
        _cleanup_(password_freep) char *buf = calloc(1, PASSWORD_SIZE);
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        fd = open(file, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                if (e == ELOOP)
                        fprintf(stderr, "lvss-backup: password file '%s': is a symbolic link (refused)\n", file);
                else
                        fprintf(stderr, "lvss-backup: password file '%s': %s\n", file, strerror(e));
                return -e;
        }
        if (fstat(fd, &st) < 0) {
                int e = errno;
                fprintf(stderr, "lvss-backup: password file '%s': %s\n", file, strerror(e));
                return -e;
        }
        if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "lvss-backup: password file '%s': not a regular file\n", file);
                return -EINVAL;
        }
        if (!insecure_file_ok && (st.st_mode & 077)) {
                fprintf(stderr,
                        "lvss-backup: password file '%s': readable or writable by group or others (mode %04o); "
                        "chmod 600 it, or pass --insecure-password-file\n",
                        file, (unsigned) (st.st_mode & 07777));
                return -EACCES;
        }
        if (!insecure_file_ok && st.st_uid != geteuid() && st.st_uid != 0) {
                fprintf(stderr,
                        "lvss-backup: password file '%s': owned by uid %u, neither you nor root; "
                        "pass --insecure-password-file to use it anyway\n",
                        file, (unsigned) st.st_uid);
                return -EACCES;
        }
        while (n < PASSWORD_MAX) {
                ssize_t k = read(fd, buf + n, PASSWORD_MAX - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        fprintf(stderr, "lvss-backup: password file '%s': %s\n", file, strerror(e));
                        return -e;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        char *nl = strchr(buf, '\n');
        if (nl)
                sodium_memzero(nl, n - (size_t) (nl - buf));   /* only the first line is the password */
        chomp(buf);
        if (!*buf) {
                fprintf(stderr, "lvss-backup: password file '%s': empty\n", file);
                return -EINVAL;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

/* A copy of the environment variable NAME's value ENV in a PASSWORD_SIZE buffer. */
static int password_from_env(const char *name, const char *env, char **ret) {
        if (strlen(env) > PASSWORD_MAX) {
                fprintf(stderr, "lvss-backup: %s: longer than %d bytes\n", name, PASSWORD_MAX);
                return -EINVAL;
        }
        *ret = calloc(1, PASSWORD_SIZE);
        if (!*ret)
                return -ENOMEM;
        strcpy(*ret, env);
        return 0;
}

/* One prompt on the terminal, asked twice when @confirm: both must match and
 * be non-empty. */
static int ask_terminal(const char *prompt, const char *repeat, bool confirm, char **ret) {
        _cleanup_(password_freep) char *a = NULL;
        _cleanup_(password_freep) char *b = NULL;
        int k;

        if (!isatty(STDIN_FILENO))
                return -ENOKEY;
        k = ask(prompt, &a);
        if (k < 0)
                return k;
        if (confirm) {
                k = ask(repeat, &b);
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

int get_password(const char *file, bool confirm, char **ret) {
        const char *env;

        if (file)
                return read_password_file(file, ret);
        env = getenv("LVSS_BACKUP_PASSWORD");
        if (env && *env)
                return password_from_env("LVSS_BACKUP_PASSWORD", env, ret);
        return ask_terminal("Repository password: ", "Repeat password: ", confirm, ret);
}

int get_new_password(const char *file, char **ret) {
        const char *env = getenv("LVSS_BACKUP_NEW_PASSWORD");

        if (file)
                return read_password_file(file, ret);
        if (env && *env)
                return password_from_env("LVSS_BACKUP_NEW_PASSWORD", env, ret);
        return ask_terminal("New repository password: ", "Repeat new password: ", true, ret);
}

int get_password_from(const char *file, const char *env_name, char **ret) {
        const char *env = getenv(env_name);

        if (file)
                return read_password_file(file, ret);
        if (env && *env)
                return password_from_env(env_name, env, ret);
        return -ENOKEY;
}
