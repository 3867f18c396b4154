/* meta.c — the member metadata file: encode, verify, read and replace it atomically. */
#include "storage/meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/fs_util.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

#define HEADER_LINE "concur-meta 1\n"
#define FILE_NAME   "meta"
#define MAX_FILE    (STORAGE_META_PAIRS * (STORAGE_META_KEY_MAX + STORAGE_META_VAL_MAX + 2) + 64)

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > STORAGE_META_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int val_ok(const char *v, size_t n)
{
    if (n > STORAGE_META_VAL_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) return 0;
    return 1;
}

int storage_meta_set(struct storage_meta *m, const char *key, const char *val)
{
    if (!key_ok(key) || !val_ok(val, strlen(val))) return CC_EINVAL;
    uint32_t i = 0;
    while (i < m->n && strcmp(m->kv[i].key, key) != 0) i++;
    if (i == m->n) {
        if (m->n == STORAGE_META_PAIRS) return CC_ETOOBIG;
        m->n++;
        snprintf(m->kv[i].key, sizeof(m->kv[i].key), "%s", key);
    }
    snprintf(m->kv[i].val, sizeof(m->kv[i].val), "%s", val);
    return 0;
}

const char *storage_meta_get(const struct storage_meta *m, const char *key)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (strcmp(m->kv[i].key, key) == 0) return m->kv[i].val;
    return NULL;
}

int storage_meta_set_u64(struct storage_meta *m, const char *key, uint64_t v)
{
    char s[17];
    snprintf(s, sizeof(s), "%016" PRIx64, v);
    return storage_meta_set(m, key, s);
}

int storage_meta_get_u64(const struct storage_meta *m, const char *key, uint64_t *v)
{
    const char *s = storage_meta_get(m, key);
    if (!s) return CC_ENOTFOUND;
    size_t n = strlen(s);
    if (n == 0 || n > 16) return CC_ECORRUPT;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return CC_ECORRUPT;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

int storage_meta_write(const struct storage_fs *fs, const char *dir, const struct storage_meta *m)
{
    if (!fs) fs = storage_fs_posix();
    struct buf b;
    buf_init(&b, MAX_FILE);
    int rc = buf_append(&b, HEADER_LINE, strlen(HEADER_LINE));
    for (uint32_t i = 0; rc == 0 && i < m->n; i++) {
        if (!key_ok(m->kv[i].key) || !val_ok(m->kv[i].val, strlen(m->kv[i].val))) {
            rc = CC_EINVAL;
            break;
        }
        char line[STORAGE_META_KEY_MAX + STORAGE_META_VAL_MAX + 4];
        int n = snprintf(line, sizeof(line), "%s=%s\n", m->kv[i].key, m->kv[i].val);
        rc = buf_append(&b, line, (size_t)n);
    }
    if (rc == 0) {
        char line[32];
        int n = snprintf(line, sizeof(line), "crc32c=%08x\n", crc32c_extend(0, b.data, b.len));
        rc = buf_append(&b, line, (size_t)n);
    }
    if (rc == 0) {
        int r = storage__write_file_atomic(fs, dir, FILE_NAME, b.data, b.len);
        if (r < 0) rc = cc_from_errno(-r);
    }
    buf_free(&b);
    return rc;
}

int storage_meta_read(const struct storage_fs *fs, const char *dir, struct storage_meta *m)
{
    if (!fs) fs = storage_fs_posix();
    memset(m, 0, sizeof(*m));
    char path[STORAGE_PATH_MAX];
    if (storage__path(path, dir, FILE_NAME) < 0) return CC_EINVAL;
    uint8_t *data;
    size_t len;
    int r = storage__read_file(fs, path, MAX_FILE, &data, &len);
    if (r < 0) return r == -EFBIG ? CC_ECORRUPT : cc_from_errno(-r);
    int rc = CC_ECORRUPT;
    size_t hl = strlen(HEADER_LINE);
    if (len < hl || memcmp(data, HEADER_LINE, hl) != 0) goto out;
    /* The last line is the CRC of everything before it. */
    /* "crc32c=" + 8 hex digits + "\n" */
    if (len < hl + 16 || data[len - 1] != '\n') goto out;
    size_t crc_at = len - 16;
    if (memcmp(data + crc_at, "crc32c=", 7) != 0 || (crc_at > 0 && data[crc_at - 1] != '\n'))
        goto out;
    char hex[9];
    memcpy(hex, data + crc_at + 7, 8);
    hex[8] = '\0';
    char *end;
    unsigned long want = strtoul(hex, &end, 16);
    if (*end != '\0' || want != crc32c_extend(0, data, crc_at)) goto out;
    for (size_t p = hl; p < crc_at;) {
        uint8_t *nl = memchr(data + p, '\n', crc_at - p);
        uint8_t *eq = memchr(data + p, '=', crc_at - p);
        if (!nl || !eq || eq > nl) goto out;
        *nl = '\0';
        *eq = '\0';
        if (storage_meta_set(m, (char *)data + p, (char *)eq + 1) != 0) goto out;
        p = (size_t)(nl - data) + 1;
    }
    rc = 0;
out:
    free(data);
    if (rc) memset(m, 0, sizeof(*m));
    return rc;
}
