/* usage_spill: the batch file format and its atomic writes. See usage_spill.h. */
#include "usage_spill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t usage_spill_crc32(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void us_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t us_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int usage_spill_encode(const void *payload, size_t len, buf_t *out)
{
    if (len > USAGE_SPILL_MAX_PAYLOAD)
        return -1;
    unsigned char h[USAGE_SPILL_HEADER];
    memcpy(h, USAGE_SPILL_MAGIC, 8);
    us_put32(h + 8, (uint32_t)len);
    us_put32(h + 12, usage_spill_crc32(payload, len));
    if (buf_append(out, h, sizeof(h)) < 0 || buf_append(out, payload, len) < 0)
        return -1;
    return 0;
}

int usage_spill_decode(const void *data, size_t len, const uint8_t **payload, size_t *payload_len,
                       char *err, size_t errlen)
{
    const unsigned char *d = data;
    if (len < USAGE_SPILL_HEADER) {
        snprintf(err, errlen, "truncated: %zu bytes, the header alone is %d", len,
                 USAGE_SPILL_HEADER);
        return -1;
    }
    if (memcmp(d, USAGE_SPILL_MAGIC, 8) != 0) {
        snprintf(err, errlen, "bad magic: not a usage batch file");
        return -1;
    }
    uint32_t n = us_get32(d + 8);
    if (n > USAGE_SPILL_MAX_PAYLOAD || n != len - USAGE_SPILL_HEADER) {
        snprintf(err, errlen, "truncated: header says %" PRIu32 " bytes, %zu present", n,
                 len - USAGE_SPILL_HEADER);
        return -1;
    }
    if (usage_spill_crc32(d + USAGE_SPILL_HEADER, n) != us_get32(d + 12)) {
        snprintf(err, errlen, "crc mismatch: the payload is damaged");
        return -1;
    }
    *payload = d + USAGE_SPILL_HEADER;
    *payload_len = n;
    return 0;
}

void usage_spill_name(int64_t epoch, int64_t seq, char *out, size_t outlen)
{
    snprintf(out, outlen, "batch-%020" PRId64 "-%020" PRId64 ".usage", epoch, seq);
}

int usage_spill_parse_name(const char *name, int64_t *epoch, int64_t *seq)
{
    /* Exactly the shape usage_spill_name makes: nothing else is ours. */
    if (strlen(name) != 6 + 20 + 1 + 20 + 6 || strncmp(name, "batch-", 6) != 0 || name[26] != '-' ||
        strcmp(name + 47, ".usage") != 0)
        return -1;
    int64_t v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const char *p = name + 6 + k * 21;
        for (int i = 0; i < 20; i++) {
            if (p[i] < '0' || p[i] > '9' || v[k] > (INT64_MAX - 9) / 10)
                return -1;
            v[k] = v[k] * 10 + (p[i] - '0');
        }
    }
    if (v[0] <= 0 || v[1] <= 0)
        return -1;
    *epoch = v[0];
    *seq = v[1];
    return 0;
}

static int us_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int usage_spill_write(const char *dir, int64_t epoch, int64_t seq, const void *payload, size_t len,
                      char *err, size_t errlen)
{
    char name[64], path[PATH_MAX], tmp[PATH_MAX];
    buf_t img = BUF_INIT(USAGE_SPILL_MAX_PAYLOAD + USAGE_SPILL_HEADER);
    int fd = -1;
    usage_spill_name(epoch, seq, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    if (usage_spill_encode(payload, len, &img) < 0) {
        snprintf(err, errlen, "%s: batch too large or out of memory", path);
        goto fail;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        goto fail_errno;
    for (size_t off = 0; off < img.len;) {
        ssize_t n = write(fd, img.data + off, img.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail_errno;
        off += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail_errno;
    int rc = close(fd);
    fd = -1;
    if (rc != 0 || rename(tmp, path) != 0 || us_fsync_dir(dir) != 0)
        goto fail_errno;
    buf_free(&img);
    return 0;
fail_errno:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    buf_free(&img);
    return -1;
}

int usage_spill_read(const char *dir, int64_t epoch, int64_t seq, buf_t *out, char *err,
                     size_t errlen)
{
    char name[64], path[PATH_MAX], chunk[65536];
    buf_t img = BUF_INIT(USAGE_SPILL_MAX_PAYLOAD + USAGE_SPILL_HEADER);
    usage_spill_name(epoch, seq, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (buf_append(&img, chunk, (size_t)n) < 0) {
            snprintf(err, errlen, "%s: larger than a batch can be", path);
            goto fail;
        }
    }
    close(fd);
    fd = -1;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    char why[200];
    if (usage_spill_decode(img.data, img.len, &payload, &plen, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    buf_reset(out);
    if (buf_append(out, payload, plen) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    buf_free(&img);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    buf_free(&img);
    return -1;
}

int usage_spill_remove(const char *dir, int64_t epoch, int64_t seq)
{
    char name[64], path[PATH_MAX];
    usage_spill_name(epoch, seq, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int usage_spill_reject(const char *dir, int64_t epoch, int64_t seq)
{
    char name[64], path[PATH_MAX], to[PATH_MAX];
    usage_spill_name(epoch, seq, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(to, sizeof(to), "%s/%s.rejected", dir, name);
    return rename(path, to);
}

static int us_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

int usage_spill_list(const char *dir, int64_t **epochs, int64_t **seqs, size_t *n)
{
    *epochs = NULL;
    *seqs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int64_t *pairs = NULL;
    size_t count = 0, alloc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t e, s;
        if (usage_spill_parse_name(de->d_name, &e, &s) < 0)
            continue;
        if (count == alloc) {
            size_t na = alloc ? alloc * 2 : 64;
            int64_t *np = realloc(pairs, na * 2 * sizeof(*np));
            if (!np)
                goto fail;
            pairs = np;
            alloc = na;
        }
        pairs[2 * count] = e;
        pairs[2 * count + 1] = s;
        count++;
    }
    closedir(d);
    d = NULL;
    if (count > 1)
        qsort(pairs, count, 2 * sizeof(*pairs), us_cmp);
    *epochs = malloc((count ? count : 1) * sizeof(int64_t));
    *seqs = malloc((count ? count : 1) * sizeof(int64_t));
    if (!*epochs || !*seqs)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        (*epochs)[i] = pairs[2 * i];
        (*seqs)[i] = pairs[2 * i + 1];
    }
    free(pairs);
    *n = count;
    return 0;
fail:
    if (d)
        closedir(d);
    free(pairs);
    free(*epochs);
    free(*seqs);
    *epochs = NULL;
    *seqs = NULL;
    return -1;
}
