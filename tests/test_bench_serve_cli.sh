#!/usr/bin/env bash
# test_bench_serve_cli.sh - `lathe bench serve` on a tiny synthetic model and the bundled
# stories260K: the JSON has the keys the issue names with sane numbers, for both policies, with
# arrivals at a rate, with a JSONL dataset and with the capacity search; bad options are clear
# errors (exit 2 naming the option, exit 1 naming the file).
. "$(dirname "$0")/cli_lib.sh"
command -v python3 >/dev/null || { echo "no python3 to read the JSON"; exit 77; }

# check_json FILE N: keys present, counts and orders sane
check_json() {
  python3 - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
r = j["trials"][-1] if "trials" in j else j
assert r["completed"] == n and r["failed"] == 0, (r["completed"], r["failed"])
for k in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
    v = r[k]
    assert 0 <= v["p50"] <= v["p99"] and v["mean"] > 0, (k, v)
assert r["ttft_ms"]["p99"] <= r["e2e_ms"]["p99"] + 1e-6
assert r["throughput_tok_s"] > 0 and r["requests_per_s"] > 0 and r["total_tok_s"] >= r["throughput_tok_s"]
assert 0 <= r["goodput_req_s"] <= r["requests_per_s"] + 1e-9
assert r["duration_s"] > 0 and r["output_tokens"] >= n and r["steps"] >= 1
print("ok", j["policy"], r["requests_per_s"])
PY
}

for pol in sarathi prefill-first; do
  "$bin" bench serve --synthetic tiny --requests 12 --prompt-len 8:96 --output-len 2:12 --policy $pol \
    --token-budget 32 --slo ttft:5000,tpot:1000 --json -t 2 >"$tmp/$pol.json" 2>"$tmp/err"
  if [ $? -eq 0 ] && check_json "$tmp/$pol.json" 12 >/dev/null; then ok
  else bad "bench serve --policy $pol --json:"; cat "$tmp/$pol.json" "$tmp/err" | head -c 1500; echo; fi
done
grep -q '"policy":"prefill-first"' "$tmp/prefill-first.json" && ok || bad "policy not in the JSON"
# sarathi never goes over the budget in a step; prefill-first runs whole prompts
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j['max_step_tokens']<=32 else 1)" \
  "$tmp/sarathi.json" && ok || bad "sarathi step over the budget"

# n-gram speculation inside the engine
"$bin" bench serve -m "$root/assets/models/stories260K.bin" --tokenizer "$root/assets/models/tok512.bin" --requests 4 \
  --prompt-len 8:16 --output-len 48 --spec-ngram 4 --json -t 2 >"$tmp/spec.json" 2>"$tmp/err"
if [ $? -eq 0 ] && check_json "$tmp/spec.json" 4 >/dev/null && python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); assert 0 < j['accepted'] <= j['drafted']" "$tmp/spec.json"
then ok; else bad "spec-ngram:"; cat "$tmp/spec.json" "$tmp/err" | head -c 1500; echo; fi
# a draft model inside the engine (--spec draft:MODEL, as lathe generate names it)
"$bin" bench serve -m "$root/assets/models/stories260K.bin" --tokenizer "$root/assets/models/tok512.bin" --requests 4 \
  --prompt-len 8:16 --output-len 32 --spec "draft:$root/assets/models/llama2xs_model.bin" --gamma 3 --json -t 2 \
  >"$tmp/draft.json" 2>"$tmp/err"
if [ $? -eq 0 ] && check_json "$tmp/draft.json" 4 >/dev/null && python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); assert 0 < j['accepted'] <= j['drafted'] and j['spec'] == 'draft' and j['gamma'] == 3" "$tmp/draft.json"
then ok; else bad "spec draft:"; cat "$tmp/draft.json" "$tmp/err" | head -c 1500; echo; fi

# arrivals at a rate, bursty, and the table
expect "rate table" 0 "itl \(tbt\) +[0-9]" -- "$bin" bench serve --synthetic tiny --requests 10 --rate 400 \
  --burstiness 0.5 --prompt-len 16 --output-len 4 --seed 3 -t 2
"$bin" bench serve --synthetic tiny --requests 10 --rate 300 --prompt-len 16:32 --output-len 4:8 --json -t 2 \
  >"$tmp/rate.json" 2>/dev/null && check_json "$tmp/rate.json" 10 >/dev/null && ok || bad "rate --json"
grep -q '"rate":300' "$tmp/rate.json" && ok || bad "rate not in the JSON"

# a JSONL dataset, tokenized by the model's tokenizer
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
printf '{"prompt": "Once upon a time"}\n\n{"prompt": "The little dog ran to the park"}\n' >"$tmp/d.jsonl"
"$bin" bench serve -m "$model" --tokenizer "$tok" --dataset "$tmp/d.jsonl" --requests 5 --output-len 6 --json -t 2 \
  >"$tmp/ds.json" 2>"$tmp/err" && check_json "$tmp/ds.json" 5 >/dev/null && ok || { bad "dataset"; cat "$tmp/err"; }

# the capacity search
"$bin" bench serve --synthetic tiny --requests 8 --prompt-len 16:48 --output-len 4:8 --slo tbt:1000 --capacity \
  --capacity-steps 2 --json -t 2 >"$tmp/cap.json" 2>"$tmp/err"
if [ $? -eq 0 ] && check_json "$tmp/cap.json" 8 >/dev/null && python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); assert j['capacity_req_s'] > 0 and len(j['trials']) == 3" "$tmp/cap.json"
then ok; else bad "capacity:"; cat "$tmp/cap.json" "$tmp/err" | head -c 1500; echo; fi

# bad options
s=(bench serve --synthetic tiny)
expect "policy" 2 "--policy: unknown policy 'fcfs' \(sarathi or prefill-first\)" -- "$bin" "${s[@]}" --policy fcfs
expect "prompt-len" 2 "--prompt-len expects N or MIN:MAX.*'9:3'" -- "$bin" "${s[@]}" --prompt-len 9:3
expect "output-len" 2 "--output-len expects.*'x'" -- "$bin" "${s[@]}" --output-len x
expect "slo" 2 "--slo expects KEY:MS.*'ttft:abc'" -- "$bin" "${s[@]}" --slo ttft:abc
expect "slo key" 2 "--slo expects.*'latency:5'" -- "$bin" "${s[@]}" --slo latency:5
expect "capacity" 2 "--capacity needs a time-between-tokens SLO" -- "$bin" "${s[@]}" --capacity
expect "rate" 2 "--rate" -- "$bin" "${s[@]}" --rate -1
expect "budget" 2 "--token-budget" -- "$bin" "${s[@]}" --token-budget 0
expect "spec-ngram" 2 "--spec-ngram" -- "$bin" "${s[@]}" --spec-ngram 65
expect "spec triforce" 2 "--spec triforce needs a TriForce drafter per request" -- "$bin" "${s[@]}" --spec triforce
expect "spec unknown" 2 "--spec: unknown speculation 'eagle'" -- "$bin" "${s[@]}" --spec eagle
expect "gamma alone" 2 "--gamma needs --spec ngram or --spec draft:MODEL" -- "$bin" "${s[@]}" --gamma 3
expect "draft missing" 1 "nope.gguf" -- "$bin" "${s[@]}" --spec draft:$tmp/nope.gguf
expect "no model" 2 "give either -m MODEL or --synthetic" -- "$bin" bench serve
expect "dataset missing" 1 "nope.jsonl" -- "$bin" "${s[@]}" --dataset "$tmp/nope.jsonl"
expect "dataset no tokenizer" 1 "--dataset .*no tokenizer" -- "$bin" "${s[@]}" --dataset "$tmp/d.jsonl"
echo '{"text": 1}' >"$tmp/bad.jsonl"
expect "dataset bad line" 1 "bad.jsonl:1: expected a JSON object with a string \"prompt\"" -- \
  "$bin" bench serve -m "$model" --tokenizer "$tok" --dataset "$tmp/bad.jsonl"
finish
