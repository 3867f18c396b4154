/* procs_parse.c — Procfile parsing for `concurctl cluster`. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ctl/procs/procs.h"
#include "util/err.h"

int procs_parse(const char *text, size_t len, struct procs_entry *out, int max, char *err,
                size_t errlen)
{
    int n = 0, lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + (nl ? 1 : 0);
        lineno++;
        while (llen && (line[llen - 1] == '\r' || isspace((unsigned char)line[llen - 1]))) llen--;
        size_t i = 0;
        while (i < llen && isspace((unsigned char)line[i])) i++;
        if (i == llen || line[i] == '#') continue;
        size_t name_start = i;
        while (i < llen && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == '-'))
            i++;
        size_t name_len = i - name_start;
        if (name_len == 0 || i >= llen || line[i] != ':') {
            snprintf(err, errlen, "Procfile line %d: expected 'name: command'", lineno);
            return CC_EINVAL;
        }
        i++;
        while (i < llen && isspace((unsigned char)line[i])) i++;
        size_t cmd_len = llen - i;
        if (cmd_len == 0) {
            snprintf(err, errlen, "Procfile line %d: empty command", lineno);
            return CC_EINVAL;
        }
        if (name_len >= PROCS_NAME_MAX || cmd_len >= PROCS_CMD_MAX) {
            snprintf(err, errlen, "Procfile line %d: name or command too long", lineno);
            return CC_ETOOBIG;
        }
        if (n == max) {
            snprintf(err, errlen, "Procfile: more than %d processes", max);
            return CC_EINVAL;
        }
        memcpy(out[n].name, line + name_start, name_len);
        out[n].name[name_len] = 0;
        for (int k = 0; k < n; k++)
            if (!strcmp(out[k].name, out[n].name)) {
                snprintf(err, errlen, "Procfile line %d: duplicate name %s", lineno, out[n].name);
                return CC_EINVAL;
            }
        memcpy(out[n].cmd, line + i, cmd_len);
        out[n].cmd[cmd_len] = 0;
        n++;
    }
    return n;
}
