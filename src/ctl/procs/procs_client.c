/* procs_client.c — `concurctl cluster` command line: run a Procfile or control a running one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/procs/procs.h"
#include "ctl/procs/procs_internal.h"
#include "util/err.h"

#define DEFAULT_SOCK      "data/.procs.sock"
#define PROCFILE_MAX      (1 << 20)
#define REQUEST_TIMEOUT_S 30 /* a stop waits for the process to exit (<= 10 s grace) */

int procs__request(const char *sock_path, const char *line, char *reply, size_t replylen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(sock_path) >= sizeof(sa.sun_path)) return CC_EINVAL;
    strcpy(sa.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return CC_EIO;
    struct timeval tv = {REQUEST_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return CC_ENOTFOUND;
    }
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        close(fd);
        return CC_ENOTFOUND;
    }
    size_t got = 0;
    while (got + 1 < replylen) {
        ssize_t n = read(fd, reply + got, replylen - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    reply[got] = 0;
    char *nl = strchr(reply, '\n');
    if (nl) *nl = 0;
    if (got == 0) return CC_ENOTFOUND;
    return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

int procs__ping(const char *sock_path)
{
    char reply[512];
    int rc = procs__request(sock_path, "list", reply, sizeof(reply));
    return rc == 0 ? 0 : CC_ENOTFOUND;
}

static int load_procfile(const char *path, struct procs_entry *out, int max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "concurctl cluster: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *text = malloc(PROCFILE_MAX);
    if (!text) {
        fclose(f);
        return -1;
    }
    size_t len = fread(text, 1, PROCFILE_MAX, f);
    int big = !feof(f);
    fclose(f);
    if (big) {
        fprintf(stderr, "concurctl cluster: %s is larger than %d bytes\n", path, PROCFILE_MAX);
        free(text);
        return -1;
    }
    char err[256];
    int n = procs_parse(text, len, out, max, err, sizeof(err));
    free(text);
    if (n < 0) {
        fprintf(stderr, "concurctl cluster: %s: %s\n", path, err);
        return -1;
    }
    return n;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: concurctl cluster run [-f Procfile] [--sock PATH]\n"
            "       concurctl cluster stop|start|restart|kill NAME [--sock PATH]\n"
            "       concurctl cluster start -f Procfile.learner NAME [--sock PATH]\n"
            "       concurctl cluster list [--sock PATH]\n"
            "Runs a Procfile's processes in the foreground (run) or controls the ones a running\n"
            "`cluster run` started. The control socket defaults to %s.\n",
            DEFAULT_SOCK);
}

int procs_main(int argc, char **argv)
{
    const char *procfile = NULL, *sock = DEFAULT_SOCK, *verb = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-f") || !strcmp(a, "--procfile")) && i + 1 < argc)
            procfile = argv[++i];
        else if (!strncmp(a, "--procfile=", 11))
            procfile = a + 11;
        else if (!strcmp(a, "--sock") && i + 1 < argc)
            sock = argv[++i];
        else if (!strncmp(a, "--sock=", 7))
            sock = a + 7;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "concurctl cluster: unknown flag %s\n", a);
            usage(stderr);
            return 2;
        } else if (!verb)
            verb = a;
        else if (!name)
            name = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!verb) {
        usage(stderr);
        return 2;
    }
    struct procs_entry *entries = calloc(PROCS_MAX, sizeof(*entries));
    if (!entries) return 1;
    int rc = 2;
    if (!strcmp(verb, "run")) {
        int n = load_procfile(procfile ? procfile : "Procfile", entries, PROCS_MAX);
        if (n >= 0) rc = procs__run(entries, n, sock);
        free(entries);
        return rc;
    }
    char line[PROCS_CMD_MAX + 2 * PROCS_NAME_MAX + 16];
    if (!strcmp(verb, "list")) {
        snprintf(line, sizeof(line), "list");
    } else if (!name) {
        fprintf(stderr, "concurctl cluster %s: needs a process name\n", verb);
        free(entries);
        return 2;
    } else if (procfile && !strcmp(verb, "start")) {
        int n = load_procfile(procfile, entries, PROCS_MAX);
        const struct procs_entry *e = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp(entries[i].name, name)) e = &entries[i];
        if (!e) {
            if (n >= 0) fprintf(stderr, "concurctl cluster: %s is not in %s\n", name, procfile);
            free(entries);
            return 2;
        }
        snprintf(line, sizeof(line), "add %s %s", e->name, e->cmd);
    } else {
        snprintf(line, sizeof(line), "%s %s", verb, name);
    }
    free(entries);
    char reply[512];
    rc = procs__request(sock, line, reply, sizeof(reply));
    if (rc == CC_ENOTFOUND || rc == CC_EINVAL) {
        fprintf(stderr,
                "concurctl cluster: no supervisor answers on %s (start one with `make run`)\n",
                sock);
        return 2;
    }
    printf("%s\n", reply);
    return rc == 0 ? 0 : 1;
}
