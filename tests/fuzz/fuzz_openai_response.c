/* fuzz_openai_response: an upstream's non-streaming answer in the openai format
 * (providers/openai.c): parse_chat_response on a 200, error_from_http on a
 * failure status, and a parsed answer re-encoded as chat.completion. */
#include "fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_adapter_response(&adapter_openai, data, size);
    return 0;
}
