#!/usr/bin/env bash
# Writes the binary seeds of the protobuf fuzz targets (tests/fuzz/corpus/
# fuzz_rpc_*/) from the text-format messages below, with protoc --encode.
# The seeds are committed; rerun this after changing a message here.
#   bash tests/fuzz/make_seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
# seed <dir> <file> <selector bytes (octal escapes)> <message type> <text>
seed() {
  local dir=$1 file=$2 sel=$3 type=$4 text=$5
  mkdir -p "$out/$dir"
  { printf "$sel"; printf '%s' "$text" | protoc --proto_path=proto --encode="llmgw.v1.$type" \
      proto/llmgw/v1/*.proto; } >"$out/$dir/$file"
}
dp=fuzz_rpc_dataplane
seed $dp chat '\000' ChatRequest 'model: "chat" messages { role: "system" content: "Be brief." }
messages { role: "user" content: "What is 2+2?" name: "bob" } temperature: 0.2 max_tokens: 64
stop: "\n" seed: 7 user: "u1"'
seed $dp chat_tools '\000' ChatRequest 'model: "openai/gpt-4o" messages { role: "user" content: "weather?" }
messages { role: "assistant" tool_calls_json: "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]" }
messages { role: "tool" tool_call_id: "c1" content: "18C" }
tools_json: "[{\"type\":\"function\",\"function\":{\"name\":\"w\",\"parameters\":{\"type\":\"object\"}}}]"
tool_choice_json: "\"auto\"" response_format_json: "{\"type\":\"json_object\"}"
extra_body_json: "{\"logit_bias\":{\"1\":2}}" top_p: 0.9 presence_penalty: 0.5 frequency_penalty: -0.5
routing { strategy: "cost" allow_providers: "openai" deny_providers: "x" max_cost_usd: 0.01
max_latency_ms: 2000 disable_fallback: true required_capabilities: "tools" max_attempts: 2 }'
seed $dp ensemble '\001' EnsembleRequest 'request { messages { role: "user" content: "2+2?" } }
config { method: ENSEMBLE_METHOD_VOTING members { model: "a/m" weight: 1 } members { model: "b/m" }
min_responses: 2 member_timeout_ms: 1000 timeout_ms: 3000 extract_pattern: "([0-9]+)" require_agreement: true }'
seed $dp list_models '\002' ListModelsRequest 'provider: "openai"'
seed $dp providers '\003' ProvidersRequest ''
table='{"version":2,"providers":[{"name":"p","base_url":"http://127.0.0.1:1/v1","models":[{"name":"m"}]}],"routes":[{"name":"r","deployments":[{"provider":"p","model":"m"}]}]}'
sum=$(printf '%s' "$table" | sha256sum | cut -d' ' -f1)
seed $dp routing_table '\004' RoutingTable "version: 2 checksum_sha256: \"$sum\" table_json: '$table'"

cp=fuzz_rpc_controlplane
# The selector: service index (Registry 0, Distribution 1, AdminToken 2,
# Governance 3, Usage 4, Budget 5, Audit 6), then the method's index.
seed $cp create_provider '\000\000' CreateProviderRequest 'provider { name: "openai" preset: "openai"
api_key: "sk-x" headers { name: "OpenAI-Organization" value: "org-1" } timeout_ms: 30000
region: "us-east-1" enabled: true }'
seed $cp update_provider '\000\003' UpdateProviderRequest 'provider { name: "loc" base_url: "http://127.0.0.1:11434/v1"
auth_style: "none" wire_format: "openai" } clear_api_key: true'
seed $cp create_model '\000\005' CreateModelRequest 'model { provider: "openai" name: "gpt-4o-mini"
input_cost_per_mtok: 0.15 output_cost_per_mtok: 0.6 context_window: 128000 capabilities: "tools"
capabilities: "vision" quality: 0.7 }'
seed $cp create_route '\000\012' CreateRouteRequest 'route { name: "chat" strategy: "weighted"
deployments { provider: "openai" model: "gpt-4o-mini" weight: 3 } deployments { provider: "loc" model: "llama3" weight: 1 priority: 1 } }'
seed $cp node_hello '\001\000' NodeHello 'node_id: "node-1" group: "eu" last_version: 4'
seed $cp table_ack '\001\001' TableAck 'node_id: "node-1" version: 4 status: ACK_STATUS_NACK error: "providers[0].base_url: expected an http:// or https:// URL"'
seed $cp create_team '\003\000' CreateTeamRequest 'team { name: "search" description: "d" requests_per_min: 60 tokens_per_min: 1000 }'
seed $cp report_usage '\004\000' ReportUsageRequest 'node_id: "node-1" epoch: 1764720000000 seq: 3
records { request_id: "r1" key: "k1" team: "search" route: "chat" provider: "openai" model: "gpt-4o-mini"
prompt_tokens: 12 completion_tokens: 30 cost_usd: 0.00002 latency_ms: 420 status: 0 unix_ms: 1764720001000 }'

# A usage batch file (core/usage_spill.h): magic, payload length and CRC-32
# (big-endian), then the packed ReportUsageRequest; and a batch file name.
us=fuzz_usage_spill
mkdir -p "$out/$us"
tail -c +3 "$out/$cp/report_usage" >"$out/$us/payload.tmp"
python3 - "$out/$us/payload.tmp" "$out/$us/batch" <<'PY'
import struct, sys, zlib
p = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b'LGWUSE1\n' + struct.pack('>II', len(p), zlib.crc32(p)) + p)
PY
rm -f "$out/$us/payload.tmp"
printf 'batch-%020d-%020d.usage' 1764720000000 3 >"$out/$us/name"
