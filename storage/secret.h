/* secret: provider API keys sealed at rest with AES-256-GCM (OpenSSL EVP).
 *
 * A sealed value is "v1:" + base64(12-byte random nonce | ciphertext |
 * 16-byte tag). The additional data binds the value to one row (the provider
 * name), so a sealed key copied onto another provider fails to open. The
 * master key never leaves this module's callers' memory and is never logged.
 */
#ifndef LLMGW_SECRET_H
#define LLMGW_SECRET_H

#include <stddef.h>

#define SECRET_KEY_LEN 32

typedef struct {
    unsigned char key[SECRET_KEY_LEN];
} secret_key_t;

/* Parses 64 hex characters or base64 of 32 bytes (surrounding whitespace is
 * ignored). 0 or -1 with err filled. */
int secret_key_parse(const char *text, secret_key_t *out, char *err, size_t errlen);
/* From LLMGW_MASTER_KEY, else from the file `path` (NULL: none). 0 or -1. */
int secret_key_load(const char *path, secret_key_t *out, char *err, size_t errlen);
/* A malloc'd sealed string, or NULL with err filled. */
char *secret_seal(const secret_key_t *k, const char *aad, const char *plaintext, char *err,
                  size_t errlen);
/* The malloc'd plaintext, or NULL when the value is malformed, sealed for
 * another aad or tampered with (err says which). */
char *secret_open(const secret_key_t *k, const char *aad, const char *sealed, char *err,
                  size_t errlen);
/* Lower-case hex SHA-256 of n bytes into out[65]. */
void secret_sha256_hex(const void *data, size_t n, char out[65]);

#endif
