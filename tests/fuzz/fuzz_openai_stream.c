/* fuzz_openai_stream: an upstream's SSE stream in the openai format
 * (providers/openai.c), cut into reads of a fuzzed size, through the SSE
 * parser and the adapter's stream_event, each chunk re-encoded as the HTTP
 * front door sends it. */
#include "fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_adapter_stream(&adapter_openai, data, size);
    return 0;
}
