#!/usr/bin/env python3
"""openai_check.py - runs the official openai Python client against a running `lathe serve`
(not part of the test suite: CI has no openai package).

    python3 -m venv VENV && VENV/bin/pip install openai
    lathe serve -m SmolLM2-135M-Instruct.Q4_1.gguf --api-key KEY &
    VENV/bin/python tools/openai_check.py --base-url http://127.0.0.1:8080/v1 --api-key KEY

Checks: models.list; chat.completions.create whole and streamed (with usage) give the same greedy
text; completions.create whole and streamed; the client's error types for a 400 (n=2), a 401
(wrong key) and a 404. Prints what it saw; exits 1 on any mismatch.
"""
import argparse
import sys

import openai

ap = argparse.ArgumentParser()
ap.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
ap.add_argument("--api-key", default="none")
ap.add_argument("--max-tokens", type=int, default=48)
a = ap.parse_args()
client = openai.OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0)
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond


print(f"openai-python {openai.__version__}")
models = client.models.list()
model = models.data[0].id
check(len(models.data) == 1, f"models.list: {model}")
check(client.models.retrieve(model).id == model, "models.retrieve")

msgs = [{"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=a.max_tokens, temperature=0)
whole = r.choices[0].message.content
check(r.object == "chat.completion" and r.usage.completion_tokens > 0,
      f"chat whole: {whole!r} finish={r.choices[0].finish_reason} usage={r.usage.prompt_tokens}+{r.usage.completion_tokens}")
parts, usage, finish = [], None, None
for ch in client.chat.completions.create(model=model, messages=msgs, max_tokens=a.max_tokens, temperature=0,
                                         stream=True, stream_options={"include_usage": True}):
    if ch.usage:
        usage = ch.usage
    for c in ch.choices:
        parts.append(c.delta.content or "")
        finish = c.finish_reason or finish
check("".join(parts) == whole and usage is not None and usage.completion_tokens == r.usage.completion_tokens,
      f"chat streamed ({len(parts)} chunks, finish={finish}) = whole")

r = client.completions.create(model=model, prompt="The three primary colors are", max_tokens=a.max_tokens,
                              temperature=0)
whole = r.choices[0].text
check(r.object == "text_completion", f"completion whole: {whole!r}")
text = "".join(c.choices[0].text for c in client.completions.create(
    model=model, prompt="The three primary colors are", max_tokens=a.max_tokens, temperature=0, stream=True)
    if c.choices)
check(text == whole, "completion streamed = whole")

try:
    client.chat.completions.create(model=model, messages=msgs, n=2)
    check(False, "n=2 gives BadRequestError")
except openai.BadRequestError as e:
    check(e.status_code == 400, f"n=2 -> BadRequestError: {e.message}")
try:
    openai.OpenAI(base_url=a.base_url, api_key="wrong-key", max_retries=0).models.list()
    check(a.api_key == "none", "a wrong key gives AuthenticationError (no key set on the server)")
except openai.AuthenticationError as e:
    check(e.status_code == 401, f"wrong key -> AuthenticationError: {e.message}")
try:
    client.embeddings.create(model=model, input="x")
    check(False, "embeddings gives NotFoundError")
except openai.NotFoundError as e:
    check(e.status_code == 404, f"embeddings -> NotFoundError: {e.message}")
sys.exit(1 if fails else 0)
