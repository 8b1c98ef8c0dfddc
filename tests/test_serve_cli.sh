#!/usr/bin/env bash
# test_serve_cli.sh - `lathe serve` on loopback with the bundled stories260K (as GGUF, so it can
# run past its stories with ignore_eos): /health, /v1/models, the API key, a whole and a streamed
# completion equal to `lathe generate`'s greedy output (both with an f32 KV cache), 50 bad requests answered 4xx while a long
# stream runs and ends intact, a client going away frees its request, the concurrency limit
# (tests/serve_check.py, standard library only); Ctrl-C ends a running stream with an error event
# and [DONE] and exits 0; bad options are clear errors.
. "$(dirname "$0")/cli_lib.sh"
command -v python3 >/dev/null || { echo "no python3 for the HTTP client"; exit 77; }

model="$tmp/s260.gguf" prompt="Once upon a time" long_n=1200 ctx=2048
"$bin" convert "$root/assets/models/stories260K.bin" "$model" --tokenizer "$root/assets/models/tok512.bin" \
  >/dev/null 2>&1 || { bad "convert stories260K"; finish; exit; }

# generate's greedy continuation (the prompt echoed first, a newline after)
ref() {
  local out
  out=$("$bin" generate -m "$model" -p "$prompt" --temp 0 --ctx $ctx -t 1 "$@" 2>/dev/null; echo x)
  out=${out%x}
  out=${out%$'\n'}
  printf '%s' "${out#"$prompt"}"
}
ref_short=$(ref -n 40; echo x) ref_short=${ref_short%x}
ref_long=$(ref -n $long_n --ignore-eos; echo x) ref_long=${ref_long%x}
[ ${#ref_short} -gt 20 ] && [ ${#ref_long} -gt ${#ref_short} ] && ok || bad "generate's reference output"

# start_server LOG ARGS...: starts lathe serve on a free port; sets $pid and $port
start_server() {
  local log=$1
  shift
  : >"$log" # emptied here, not only by the child's redirection: a reused log would still name the last server's port
  "$bin" serve -m "$model" --port 0 --ctx $ctx -t 1 "$@" 2>"$log" &
  pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
    [ -n "$port" ] && return 0
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  bad "lathe serve did not start:"
  cat "$log"
  return 1
}

if start_server "$tmp/serve.log" --kv-type f32 --api-key sekrit --max-body 65536 --max-concurrency 2; then
  if python3 "$root/tests/serve_check.py" "$port" sekrit "$ref_short" "$ref_long" "$prompt" $long_n >"$tmp/check.out" 2>&1
  then ok; else bad "serve_check.py:"; cat "$tmp/check.out"; tail -20 "$tmp/serve.log"; fi
  tail -1 "$tmp/check.out"
  # the log names each answer
  grep -q "POST /v1/completions 400" "$tmp/serve.log" && ok || bad "no request log lines"
  # Ctrl-C during a stream: it ends with an error event and [DONE], the server exits 0
  python3 - "$port" >"$tmp/sigint.out" 2>&1 <<'PY' &
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/v1/completions", json.dumps({"prompt": "Once", "max_tokens": 1200, "ignore_eos": True,
          "stream": True}), {"Authorization": "Bearer sekrit"})
r = c.getresponse()
print(r.read().decode().strip().split("\n\n")[-2:])
PY
  cpid=$!
  for _ in $(seq 600); do # up to 30 s: a loaded CI machine may take seconds to answer
    grep -q "/v1/completions 200 .*(stream)" <(tail -1 "$tmp/serve.log") && break
    sleep 0.05
  done
  kill -INT $pid
  wait $pid
  rc=$?
  wait $cpid
  [ $rc -eq 0 ] && ok || bad "lathe serve after Ctrl-C: exit $rc"
  grep -q "shutting down.*\[DONE\]" "$tmp/sigint.out" && ok || { bad "a stream at Ctrl-C:"; cat "$tmp/sigint.out"; }
fi

# speculation inside the engine (--spec draft:MODEL, n-gram): the greedy answers stay generate's
for spec in "draft:$root/assets/models/llama2xs_model.bin" ngram; do
  if start_server "$tmp/spec.log" --kv-type f32 --spec "$spec" --gamma 3; then
    python3 - "$port" "$prompt" "$ref_short" "$ref_long" $long_n >"$tmp/spec.out" 2>&1 <<'PY'
import http.client, json, sys, threading
port, prompt, short, long_, long_n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def complete(n, out, i, extra={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/completions", json.dumps(dict({"prompt": prompt, "max_tokens": n, "temperature": 0}, **extra)))
    out[i] = json.loads(c.getresponse().read())["choices"][0]["text"]
got = [None] * 3
th = [threading.Thread(target=complete, args=(40, got, 0)), threading.Thread(target=complete, args=(40, got, 1)),
      threading.Thread(target=complete, args=(long_n, got, 2, {"ignore_eos": True}))]
[t.start() for t in th]
[t.join() for t in th]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("GET", "/metrics")
m = dict(l.split() for l in c.getresponse().read().decode().splitlines() if l and not l.startswith("#"))
drafted, accepted = int(m["lathe_spec_draft_tokens_total"]), int(m["lathe_spec_accepted_tokens_total"])
print("short:", got[0] == short, got[1] == short, "long:", got[2] == long_, "drafted", drafted, "accepted", accepted)
sys.exit(0 if got[0] == short and got[1] == short and got[2] == long_ and drafted > 0 and 0 <= accepted <= drafted else 1)
PY
    [ $? -eq 0 ] && ok || { bad "lathe serve --spec $spec:"; cat "$tmp/spec.out"; tail -5 "$tmp/spec.log"; }
    grep -q "speculation: " "$tmp/spec.log" && ok || bad "lathe serve --spec: no speculation line"
    kill -INT $pid
    wait $pid
  fi
done

# SmolLM2 (skipped when absent, and in the sanitizer suite, tools/sanitize.sh, which sets
# ASAN_OPTIONS: the server's code paths are the tiny model's above; SmolLM2 under ASan costs a
# minute of CI's 20): a chat answer through its template = `lathe chat`'s (both with the default
# f16 KV cache), and four chats at once (one batch per step) = each alone, token for token (Q4_1
# rows do not depend on the batch)
smol=$(smollm2_path)
if [ -n "${ASAN_OPTIONS:-}" ]; then
  echo "note: sanitizer run - the SmolLM2 checks run in the Release suite only"
elif [ -f "$smol" ]; then
  sys="You are a helpful assistant." q="Name three colors of the rainbow."
  want=$(printf '%s\n' "$q" | "$bin" chat -m "$smol" --temp 0 --device cpu -t 1 --system "$sys" -n 40 2>/dev/null; echo x)
  want=${want%x} want=${want%$'\n'}
  model=$smol
  if start_server "$tmp/smol.log" --device cpu --max-concurrency 4; then
    python3 - "$port" "$sys" "$q" "$want" >"$tmp/smol.out" 2>&1 <<'PY'
import http.client, json, sys, threading
port, system, q, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def chat(msgs, out, i, n=40):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/v1/chat/completions", json.dumps({"messages": msgs, "max_tokens": n, "temperature": 0}))
    r = c.getresponse()
    out[i] = json.loads(r.read())["choices"][0]["message"]["content"]
got = [None]
chat([{"role": "system", "content": system}, {"role": "user", "content": q}], got, 0)
ok = got[0] == want
print("chat = lathe chat:", ok, repr(got[0]), repr(want))
qs = [[{"role": "user", "content": f"Write one sentence about the number {i}."}] for i in range(4)]
alone, together = [None] * 4, [None] * 4
for i in range(4):
    chat(qs[i], alone, i, 24)
th = [threading.Thread(target=chat, args=(qs[i], together, i, 24)) for i in range(4)]
[t.start() for t in th]
[t.join() for t in th]
print("four at once = alone:", alone == together, alone, together)
sys.exit(0 if ok and alone == together else 1)
PY
    [ $? -eq 0 ] && ok || { bad "SmolLM2 through lathe serve:"; cat "$tmp/smol.out"; }
    kill -INT $pid
    wait $pid
  fi
else
  echo "note: $smol is absent - the SmolLM2 checks are skipped"
fi

# bad options and a taken port
expect "no model" 2 "-m MODEL is required" -- "$bin" serve --port 0
expect "bad host" 2 "--host expects an IPv4 or IPv6 address" -- "$bin" serve -m "$model" --host localhost.x
expect "bad port" 2 "--port" -- "$bin" serve -m "$model" --port 70000
expect "bad policy" 2 "--policy" -- "$bin" serve -m "$model" --policy fcfs
expect "bad spec" 2 "--spec triforce needs a TriForce drafter per request" -- "$bin" serve -m "$model" --spec triforce
expect "bad kv type" 2 "--kv-type expects f16 or f32, got 'q8'" -- "$bin" serve -m "$model" --kv-type q8
python3 -c "
import socket, time, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(30)" \
  >"$tmp/busy" &
busy=$!
for _ in $(seq 50); do [ -s "$tmp/busy" ] && break; sleep 0.1; done
expect "port taken" 1 "cannot listen on 127.0.0.1 port $(cat "$tmp/busy")" -- "$bin" serve -m "$model" --port "$(cat "$tmp/busy")"
kill $busy 2>/dev/null
wait $busy 2>/dev/null
finish
