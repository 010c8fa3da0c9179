/* usage_spill: usage batches kept on disk while the control plane is away.
 *
 * One file per batch in <state-dir>/usage/, named
 * "batch-<epoch, 20 digits>-<seq, 20 digits>.usage" so the names sort in
 * sending order. Content: the 8-byte magic "LGWUSE1\n", the payload length
 * (4 bytes, big-endian), its CRC-32 (IEEE, 4 bytes, big-endian), then the
 * payload — a packed llmgw.v1.ReportUsageRequest. A file is written to a
 * temporary name, fsync'd, renamed and the directory fsync'd, so a file with
 * a batch name is always whole; a reader still checks length and CRC and
 * refuses anything else naming the cause. A batch the control plane refused
 * as invalid is renamed to "<name>.rejected" and kept for inspection.
 *
 * Pure functions (encode/decode/name) plus file I/O; no shared state.
 */
#ifndef LLMGW_USAGE_SPILL_H
#define LLMGW_USAGE_SPILL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define USAGE_SPILL_MAGIC "LGWUSE1\n"
#define USAGE_SPILL_HEADER 16
#define USAGE_SPILL_MAX_PAYLOAD (64u << 20)

uint32_t usage_spill_crc32(const void *p, size_t n);
/* The file image of a payload, appended to out. 0 or -1 (out's cap). */
int usage_spill_encode(const void *payload, size_t len, buf_t *out);
/* Checks a file image; *payload points into data. 0, or -1 with err
 * ("truncated: header says 100 bytes, 40 present", "crc mismatch", "bad magic"). */
int usage_spill_decode(const void *data, size_t len, const uint8_t **payload, size_t *payload_len,
                       char *err, size_t errlen);
/* "batch-…-….usage" into out (at least 64 bytes). */
void usage_spill_name(int64_t epoch, int64_t seq, char *out, size_t outlen);
/* Parses a batch file name; 0, or -1 when it is not one. */
int usage_spill_parse_name(const char *name, int64_t *epoch, int64_t *seq);

/* Writes the batch file atomically into dir; 0 or -1 with err. */
int usage_spill_write(const char *dir, int64_t epoch, int64_t seq, const void *payload, size_t len,
                      char *err, size_t errlen);
/* Reads and checks a batch file; the payload replaces out's content. */
int usage_spill_read(const char *dir, int64_t epoch, int64_t seq, buf_t *out, char *err,
                     size_t errlen);
int usage_spill_remove(const char *dir, int64_t epoch, int64_t seq);
/* Renames the batch file to "<name>.rejected". */
int usage_spill_reject(const char *dir, int64_t epoch, int64_t seq);
/* The batches in dir in sending order: (*epochs)[i], (*seqs)[i] malloc'd
 * (free both). 0 or -1 (cannot read the directory). */
int usage_spill_list(const char *dir, int64_t **epochs, int64_t **seqs, size_t *n);

#endif
