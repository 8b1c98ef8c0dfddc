#!/usr/bin/env python3
"""serve_check.py - the client side of tests/test_serve_cli.sh: talks to a running `lathe serve`
over loopback with the standard library only (CI has no openai package).

usage: serve_check.py PORT KEY REF_SHORT REF_LONG PROMPT LONG_N

REF_SHORT: `lathe generate`'s greedy continuation of PROMPT (-n 40); REF_LONG: the same with
--ignore-eos -n LONG_N. Checks /health, /v1/models, the API key, a whole and a streamed
completion equal to REF_SHORT, chat whole = chat streamed, stop sequences, seeded sampling, then
50 bad requests (each its 4xx and OpenAI error object) while a long stream runs, which must end
intact (= REF_LONG); a client that goes away mid-stream frees its request (/metrics); the
concurrency limit answers 503. Prints one line per failure; exits 1 on any.
"""
import http.client
import json
import socket
import sys
import threading
import time

port, key, ref_short, ref_long, prompt, long_n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
port = int(port)
AUTH = {"Authorization": "Bearer " + key}
fails = []
passes = 0


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        fails.append(what)
        print("FAIL:", what, flush=True)


def request(method, path, body=None, headers=None, raw=None):
    """(status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(AUTH)
    if headers is not None:
        h = headers
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h = dict(h, **{"Content-Type": "application/json"})
    if isinstance(data, list):  # a chunked body: no size declared up front
        c.request(method, path, body=iter(data), headers=dict(h, **{"Transfer-Encoding": "chunked"}),
                  encode_chunked=True)
    else:
        c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def metrics():
    st, _, b = request("GET", "/metrics")
    m = {}
    for line in b.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m


class Stream:
    """A streamed request read event by event over a raw socket (so it can be dropped)."""

    def __init__(self, path, body):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.s.sendall(head.encode() + data)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.body = b""  # de-chunked bytes not yet parsed into events
        self.ended = False

    def _more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _dechunk(self):
        while True:
            if not self.chunked:
                self.body += self.buf
                self.buf = b""
                return
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            n = int(self.buf[:i].split(b";")[0], 16)
            if len(self.buf) < i + 2 + n + 2:
                return
            if n == 0:
                self.ended = True
            self.body += self.buf[i + 2:i + 2 + n]
            self.buf = self.buf[i + 2 + n + 2:]

    def event(self):
        """The next `data:` payload (str), or None at the end of the response."""
        while True:
            self._dechunk()
            if b"\n\n" in self.body:
                ev, self.body = self.body.split(b"\n\n", 1)
                ev = ev.decode()
                assert ev.startswith("data: "), ev
                return ev[6:]
            if self.ended:
                return None
            try:
                self._more()
            except EOFError:
                return None

    def close(self):
        self.s.close()


def stream_all(st):
    """(text, finish_reason, usage, saw_done, errors) of a whole stream."""
    text, finish, usage, done, errors = "", None, None, False, []
    while True:
        ev = st.event()
        if ev is None:
            break
        if ev == "[DONE]":
            done = True
            continue
        j = json.loads(ev)
        if "error" in j:
            errors.append(j["error"])
            continue
        if j.get("usage"):
            usage = j["usage"]
        for c in j["choices"]:
            if "delta" in c:
                text += c["delta"].get("content") or ""
            else:
                text += c.get("text") or ""
            if c.get("finish_reason"):
                finish = c["finish_reason"]
    st.close()
    return text, finish, usage, done, errors


# ---- basics ----------------------------------------------------------------------------------
st, _, b = request("GET", "/health", headers={})
check(st == 200 and json.loads(b) == {"status": "ok"}, f"/health without a key: {st} {b[:200]}")
st, _, b = request("GET", "/v1/models")
check(st == 200 and json.loads(b)["data"][0]["object"] == "model", f"/v1/models: {st} {b[:200]}")
name = json.loads(b)["data"][0]["id"] if st == 200 else "?"
st, _, b = request("GET", "/v1/models/" + name)
check(st == 200 and json.loads(b)["id"] == name, f"/v1/models/{name}: {st} {b[:200]}")
st, _, b = request("GET", "/v1/models/nope")
check(st == 404 and json.loads(b)["error"]["code"] == "model_not_found", f"/v1/models/nope: {st} {b[:200]}")
st, h, b = request("GET", "/v1/models", headers={})
check(st == 401 and "error" in json.loads(b) and "www-authenticate" in h, f"/v1/models without the key: {st} {b[:200]}")

# ---- a whole and a streamed completion = `lathe generate`'s greedy output ----------------------
body = {"model": "x", "prompt": prompt, "max_tokens": 40, "temperature": 0}
st, _, b = request("POST", "/v1/completions", body)
j = json.loads(b) if st == 200 else {}
check(st == 200 and j["object"] == "text_completion" and j["choices"][0]["text"] == ref_short,
      f"completion = generate: {st} {b[:300]!r} vs {ref_short!r}")
if st == 200:
    u = j["usage"]
    check(u["completion_tokens"] > 0 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"],
          f"usage {u}")
    check(j["choices"][0]["finish_reason"] in ("length", "stop") and j["id"].startswith("cmpl-"), f"fields {j}")
s = Stream("/v1/completions", dict(body, stream=True, stream_options={"include_usage": True}))
check(s.status == 200 and s.headers.get("content-type", "").startswith("text/event-stream"), f"stream head {s.status}")
text, finish, usage, done, errors = stream_all(s)
check(text == ref_short and done and finish and usage and not errors,
      f"streamed completion = generate: {text!r} finish={finish} usage={usage} done={done} errors={errors}")

# chat: whole = streamed; stop sequences; seeded sampling repeats
chat = {"model": "x", "messages": [{"role": "system", "content": "Tell a story."},
                                   {"role": "user", "content": "A cat"}], "max_tokens": 30, "temperature": 0}
st, _, b = request("POST", "/v1/chat/completions", chat)
cj = json.loads(b) if st == 200 else {}
check(st == 200 and cj["object"] == "chat.completion" and cj["choices"][0]["message"]["role"] == "assistant",
      f"chat: {st} {b[:300]}")
s = Stream("/v1/chat/completions", dict(chat, stream=True))
text, finish, usage, done, errors = stream_all(s)
check(st == 200 and text == cj["choices"][0]["message"]["content"] and done and not errors,
      f"chat streamed = whole: {text!r} vs {cj.get('choices')}")
words = ref_short.split()
if len(words) > 3:
    stop = " " + words[2]
    cut = ref_short[:ref_short.find(stop)]
    st, _, b = request("POST", "/v1/completions", dict(body, stop=["zzzz", stop]))
    j = json.loads(b) if st == 200 else {}
    check(st == 200 and j["choices"][0]["text"] == cut and j["choices"][0]["finish_reason"] == "stop",
          f"stop {stop!r}: {b[:300]!r} vs {cut!r}")
samp = dict(body, temperature=0.9, seed=42)
a = request("POST", "/v1/completions", samp)
b2 = request("POST", "/v1/completions", samp)
check(a[0] == 200 and json.loads(a[2])["choices"][0]["text"] == json.loads(b2[2])["choices"][0]["text"],
      "the same seed gives the same text")

# ---- 50 bad requests during a long stream ------------------------------------------------------
long_body = {"prompt": prompt, "max_tokens": long_n, "temperature": 0, "ignore_eos": True, "stream": True}
m0 = metrics()
s = Stream("/v1/completions", long_body)
first = s.event()  # the stream is running
check(first is not None and first != "[DONE]", "the long stream started")
big = b'{"prompt": "' + b"a" * 70000 + b'"}'
long_prompt = "Once upon a time " * 800  # more tokens than the context (2048)
bad = [
    ("POST", "/v1/completions", None, b'{"prompt": ', 400),                 # malformed JSON
    ("POST", "/v1/completions", None, b'[1, 2]', 400),                      # not an object
    ("POST", "/v1/completions", None, b'', 400),                            # no body
    ("POST", "/v1/completions", {"prompt": 5}, None, 400),                  # wrong type
    ("POST", "/v1/completions", {"max_tokens": 3}, None, 400),              # missing prompt
    ("POST", "/v1/completions", {"prompt": "a", "max_tokens": "x"}, None, 400),
    ("POST", "/v1/completions", {"prompt": "a", "temperature": "hot"}, None, 400),
    ("POST", "/v1/completions", {"prompt": "a", "n": 2}, None, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stream": "yes"}, None, 400),
    ("POST", "/v1/completions", {"prompt": "a", "stop": [1]}, None, 400),
    ("POST", "/v1/completions", {"prompt": long_prompt}, None, 400),        # over the context
    ("POST", "/v1/chat/completions", {"messages": "hi"}, None, 400),
    ("POST", "/v1/chat/completions", {"messages": []}, None, 400),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, None, 400),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": 7}]}, None, 400),
    ("POST", "/v1/completions", None, big, 413),                            # body over --max-body
    ("POST", "/v1/completions", None, [big[:40000], big[40000:]], 413),     # the same, chunked
    ("GET", "/v1/nothing", None, None, 404),                                # bad path
    ("GET", "/v1/completions", None, None, 405),                            # wrong method
    ("POST", "/health", None, b"{}", 405),
    ("BADKEY", "/v1/completions", {"prompt": "a"}, None, 401),              # wrong key
]
results = [None] * 50


def one(i):
    method, path, js, raw, want = bad[i % len(bad)]
    headers = None
    if method == "BADKEY":
        method, headers = "POST", {"Authorization": "Bearer wrong"}
    try:
        st, h, b = request(method, path, js, headers, raw)
        err = json.loads(b).get("error", {}) if b else {}
        ok = st == want and isinstance(err.get("message"), str) and err["message"] != "" and "type" in err
        results[i] = (ok, f"bad request {i} {method} {path} {(raw or json.dumps(js) or '')[:60]!r}: got {st} {b[:200]!r}, want {want}")
    except Exception as e:  # a reset instead of an answer is a failure too
        results[i] = (False, f"bad request {i} {method} {path}: {e!r}")


threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for ok, what in results:
    check(ok, what)
m1 = metrics()
check(m1["lathe_requests_running"] == 1, f"the stream was still generating after the 50 bad requests: {m1}")
check(m1["lathe_http_responses_total{class=\"4xx\"}"] - m0["lathe_http_responses_total{class=\"4xx\"}"] == 50,
      "the 4xx counter moved by 50")
text, finish, usage, done, errors = stream_all(s)
text = json.loads(first)["choices"][0]["text"] + text
check(text == ref_long and finish == "length" and done and not errors,
      f"the long stream ended intact: {len(text)} vs {len(ref_long)} chars, finish={finish} done={done} errors={errors}")

# ---- a client that goes away frees its request -------------------------------------------------
m0 = metrics()
s = Stream("/v1/completions", long_body)
s.event()
s.close()
ok = False
for _ in range(200):
    m = metrics()
    if m["lathe_requests_running"] == 0 and m["lathe_kv_blocks_used"] == 0 and \
            m["lathe_requests_cancelled_total"] == m0["lathe_requests_cancelled_total"] + 1:
        ok = True
        break
    time.sleep(0.05)
gen = m["lathe_generation_tokens_total"] - m0["lathe_generation_tokens_total"]
check(ok and gen < long_n, f"a dropped stream is cancelled and frees its KV blocks: {m} ({gen} tokens generated)")
# a non-streamed request whose client goes away is cancelled as well
m0 = metrics()
c = socket.create_connection(("127.0.0.1", port))
data = json.dumps(dict(long_body, stream=False)).encode()
c.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
           f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
time.sleep(0.2)
c.close()
ok = False
for _ in range(200):
    m = metrics()
    if m["lathe_requests_running"] == 0 and m["lathe_requests_cancelled_total"] == m0["lathe_requests_cancelled_total"] + 1:
        ok = True
        break
    time.sleep(0.05)
check(ok, f"a dropped whole-answer request is cancelled: {m}")

# ---- the concurrency limit ----------------------------------------------------------------------
streams = [Stream("/v1/completions", long_body) for _ in range(2)]
for x in streams:
    x.event()
st, h, b = request("POST", "/v1/completions", {"prompt": "a", "max_tokens": 2})
check(st == 503 and h.get("retry-after") and "max-concurrency" in json.loads(b)["error"]["message"],
      f"over --max-concurrency: {st} {h} {b[:200]}")
for x in streams:
    x.close()
for _ in range(200):
    if metrics()["lathe_requests_running"] == 0:
        break
    time.sleep(0.05)
st, _, b = request("POST", "/v1/completions", {"prompt": "a", "max_tokens": 2})
check(st == 200, f"room again after the streams went away: {st} {b[:200]}")

print(f"{passes} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
