/* fuzz_usage_spill: a usage batch file read back from disk
 * (core/usage_spill.c) — what a node replays to the control plane after an
 * outage, so a damaged file must be refused naming the cause and a whole one
 * must give back exactly the batch that was written. The input is the file
 * image; it is also tried as a batch file name. A payload that decodes is
 * unpacked as the ReportUsageRequest it holds, and encoding it again yields
 * the same image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "llmgw/v1/usage.pb-c.h"
#include "usage_spill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    char err[256] = "";
    if (usage_spill_decode(data, size, &payload, &payload_len, err, sizeof(err)) == 0) {
        if (!payload || payload_len + USAGE_SPILL_HEADER > size)
            abort();
        buf_t again;
        buf_init(&again, USAGE_SPILL_MAX_PAYLOAD + USAGE_SPILL_HEADER);
        if (usage_spill_encode(payload, payload_len, &again) < 0 ||
            again.len != payload_len + USAGE_SPILL_HEADER ||
            memcmp(again.data, data, again.len) != 0)
            abort(); /* the image a whole file holds is the one encode writes */
        buf_free(&again);
        Llmgw__V1__ReportUsageRequest *r =
            llmgw__v1__report_usage_request__unpack(NULL, payload_len, payload);
        if (r)
            llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    } else if (!err[0]) {
        abort(); /* a refusal must name the cause */
    }
    char *name = malloc(size + 1);
    if (name) {
        memcpy(name, data, size);
        name[size] = '\0';
        int64_t epoch, seq;
        if (usage_spill_parse_name(name, &epoch, &seq) == 0) {
            char back[64];
            usage_spill_name(epoch, seq, back, sizeof(back));
            int64_t e2, s2;
            if (usage_spill_parse_name(back, &e2, &s2) < 0 || e2 != epoch || s2 != seq)
                abort();
        }
        free(name);
    }
    return 0;
}
