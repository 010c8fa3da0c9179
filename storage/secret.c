/* secret: AES-256-GCM sealing and SHA-256 helpers. See secret.h. */
#include "secret.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define SECRET_NONCE_LEN 12
#define SECRET_TAG_LEN 16
#define SECRET_PREFIX "v1:"
#define SECRET_MAX_PLAINTEXT 8192

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes standard base64; returns the byte count or -1. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 != 0 || n / 4 * 3 > cap + 2)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    return len;
}

int secret_key_parse(const char *text, secret_key_t *out, char *err, size_t errlen)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    if (n == 2 * SECRET_KEY_LEN) {
        bool ok = true;
        for (size_t i = 0; i < SECRET_KEY_LEN && ok; i++) {
            int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                out->key[i] = (unsigned char)(hi << 4 | lo);
        }
        if (ok)
            return 0;
    }
    unsigned char tmp[64];
    if (n == 44 && b64_decode(text, n, tmp, sizeof(tmp)) == SECRET_KEY_LEN) {
        memcpy(out->key, tmp, SECRET_KEY_LEN);
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return 0;
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
    snprintf(err, errlen, "master key: expected 32 bytes as 64 hex characters or base64");
    return -1;
}

int secret_key_load(const char *path, secret_key_t *out, char *err, size_t errlen)
{
    const char *env = getenv("LLMGW_MASTER_KEY");
    if (env && *env)
        return secret_key_parse(env, out, err, errlen);
    if (!path) {
        snprintf(err, errlen, "master key: set LLMGW_MASTER_KEY or --master-key-file");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open the master key file", path);
        return -1;
    }
    char text[256];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    int rc = secret_key_parse(text, out, err, errlen);
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

char *secret_seal(const secret_key_t *k, const char *aad, const char *plaintext, char *err,
                  size_t errlen)
{
    size_t pn = strlen(plaintext);
    unsigned char *raw = NULL;
    char *out = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0, fin = 0;
    if (pn > SECRET_MAX_PLAINTEXT) {
        snprintf(err, errlen, "api_key: longer than %d bytes", SECRET_MAX_PLAINTEXT);
        return NULL;
    }
    size_t rawn = SECRET_NONCE_LEN + pn + SECRET_TAG_LEN;
    raw = malloc(rawn);
    out = malloc(sizeof(SECRET_PREFIX) + 4 * ((rawn + 2) / 3) + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!raw || !out || !ctx)
        goto fail;
    if (RAND_bytes(raw, SECRET_NONCE_LEN) != 1)
        goto fail;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRET_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, raw) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, raw + SECRET_NONCE_LEN, &len, (const unsigned char *)plaintext,
                          (int)pn) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + SECRET_NONCE_LEN + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SECRET_TAG_LEN,
                            raw + SECRET_NONCE_LEN + pn) != 1)
        goto fail;
    memcpy(out, SECRET_PREFIX, strlen(SECRET_PREFIX));
    EVP_EncodeBlock((unsigned char *)out + strlen(SECRET_PREFIX), raw, (int)rawn);
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(raw, rawn);
    free(raw);
    return out;
fail:
    snprintf(err, errlen, "api_key: encryption failed");
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    free(out);
    return NULL;
}

char *secret_open(const secret_key_t *k, const char *aad, const char *sealed, char *err,
                  size_t errlen)
{
    size_t pl = strlen(SECRET_PREFIX);
    unsigned char *raw = NULL;
    char *plain = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0, fin = 0;
    size_t cn = 0;
    if (strncmp(sealed, SECRET_PREFIX, pl) != 0) {
        snprintf(err, errlen, "sealed key: unknown format");
        return NULL;
    }
    size_t bn = strlen(sealed + pl);
    raw = malloc(bn / 4 * 3 + 3);
    if (!raw)
        goto fail;
    int rawn = b64_decode(sealed + pl, bn, raw, bn / 4 * 3 + 3);
    if (rawn < SECRET_NONCE_LEN + SECRET_TAG_LEN) {
        snprintf(err, errlen, "sealed key: malformed");
        goto out;
    }
    cn = (size_t)rawn - SECRET_NONCE_LEN - SECRET_TAG_LEN;
    plain = malloc(cn + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!plain || !ctx)
        goto fail;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRET_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, raw) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, raw + SECRET_NONCE_LEN, (int)cn) !=
            1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SECRET_TAG_LEN,
                            raw + SECRET_NONCE_LEN + cn) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &fin) != 1) {
        snprintf(err, errlen, "sealed key: authentication failed (wrong master key or tampered)");
        goto out;
    }
    plain[cn] = '\0';
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    return plain;
fail:
    snprintf(err, errlen, "sealed key: out of memory");
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    if (plain) {
        OPENSSL_cleanse(plain, cn + 1);
        free(plain);
    }
    return NULL;
}

void secret_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
