/* fuzz_anthropic_response: an upstream's non-streaming answer in the anthropic format
 * (providers/anthropic.c): parse_chat_response on a 200, error_from_http on a
 * failure status, and a parsed answer re-encoded as chat.completion. */
#include "anthropic.h"
#include "fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_adapter_response(&adapter_anthropic, data, size);
    return 0;
}
