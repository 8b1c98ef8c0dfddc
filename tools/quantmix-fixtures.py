#!/usr/bin/env python3
"""quantmix-fixtures.py - regenerates tests/fixtures/quantmix/*.txt: the tensor type that
llama.cpp's llama-quantize chooses for every tensor of a model under each mix, read from its
log, for tests/test_quantmix.c to compare lathe's rules (core/compress/quantmix.c) against.

    tools/quantmix-fixtures.py LLAMA_QUANTIZE SMOLLM2.gguf STORIES260K_F32.gguf OUTDIR

SMOLLM2.gguf is SmolLM2-135M-Instruct (any type; requantized), STORIES260K_F32.gguf is
`lathe convert assets/models/stories260K.bin s.gguf`. The other models are written here:
llama-family GGUF files with small random f32 tensors whose row lengths are divisible by 256
exactly where a big model's are (the rules look only at names, row lengths, head counts and
the layer count), standing in for Llama-2-7B (32 layers, MHA), Llama-3-8B (32 layers,
GQA 4) and Llama-2-70B (80 layers, GQA 8). Needs no numpy; runs llama-quantize in a
temporary folder (outputs outside the repository).
"""
import os, random, re, struct, subprocess, sys, tempfile

MIXES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S",
         "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16", "F32"]

def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def write_gguf(path, n_layers, dim, ff, heads, kv_heads, vocab, tied):
    """A llama GGUF v3 with random f32 tensors (no tokenizer: llama-quantize needs none)."""
    hd = dim // heads
    kv = [("general.architecture", 8, "llama"), ("general.name", 8, os.path.basename(path)),
          ("llama.block_count", 4, n_layers), ("llama.context_length", 4, 256),
          ("llama.embedding_length", 4, dim), ("llama.feed_forward_length", 4, ff),
          ("llama.attention.head_count", 4, heads), ("llama.attention.head_count_kv", 4, kv_heads),
          ("llama.rope.dimension_count", 4, hd), ("llama.vocab_size", 4, vocab),
          ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5), ("general.file_type", 4, 0)]
    tensors = [("token_embd.weight", [vocab, dim])]
    for l in range(n_layers):
        p = "blk.%d." % l
        tensors += [(p + "attn_norm.weight", [dim]), (p + "attn_q.weight", [dim, dim]),
                    (p + "attn_k.weight", [kv_heads * hd, dim]), (p + "attn_v.weight", [kv_heads * hd, dim]),
                    (p + "attn_output.weight", [dim, dim]), (p + "ffn_norm.weight", [dim]),
                    (p + "ffn_gate.weight", [ff, dim]), (p + "ffn_up.weight", [ff, dim]),
                    (p + "ffn_down.weight", [dim, ff])]
    tensors.append(("output_norm.weight", [dim]))
    if not tied:
        tensors.append(("output.weight", [vocab, dim]))
    rng = random.Random(1)
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
        for k, t, v in kv:
            f.write(gguf_str(k) + struct.pack("<I", t))
            f.write(gguf_str(v) if t == 8 else struct.pack("<f", v) if t == 6 else struct.pack("<I", v))
        off = 0
        for name, shape in tensors:
            f.write(gguf_str(name) + struct.pack("<I", len(shape)))
            for d in reversed(shape):
                f.write(struct.pack("<Q", d))
            f.write(struct.pack("<IQ", 0, off))
            n = 1
            for d in shape:
                n *= d
            off += (n * 4 + 31) // 32 * 32
        f.write(b"\0" * ((32 - f.tell() % 32) % 32))
        for name, shape in tensors:
            n = 1
            for d in shape:
                n *= d
            row = struct.pack("<256f", *[rng.gauss(0, 0.02) for _ in range(256)])
            data = (row * (n // 256 + 1))[: n * 4]
            f.write(data + b"\0" * ((32 - len(data) % 32) % 32))

LINE = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+-\s+\[([\d,\s]+)\], type =\s+(\S+?),(?: converting to (\S+) \.\.)?")

def run_mix(quantize, model, mix, tmp):
    out = os.path.join(tmp, "out.gguf")
    cmd = [quantize, "--allow-requantize", model, out, mix, "2"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        sys.exit("llama-quantize failed (%s):\n%s" % (" ".join(cmd), r.stdout[-2000:]))
    rows, version = [], "?"
    for line in r.stdout.splitlines():
        if line.startswith("version:"):
            version = line.split(":", 1)[1].strip()
        m = LINE.match(line)
        if m:
            ne = [int(x) for x in m.group(2).split(",")]
            while len(ne) > 1 and ne[-1] == 1:
                ne.pop()
            rows.append((m.group(1), "x".join(str(d) for d in reversed(ne)), m.group(3), m.group(4) or m.group(3)))
    os.remove(out)
    return rows, version

def fixture(quantize, model, label, config, outdir, tmp):
    cols, version, base = {}, "?", None
    for mix in MIXES:
        rows, version = run_mix(quantize, model, mix, tmp)
        if base is None:
            base = [r[:3] for r in rows]
        assert [r[:3] for r in rows] == base, "tensor list changed between runs"
        cols[mix] = [r[3] for r in rows]
    path = os.path.join(outdir, label + ".txt")
    with open(path, "w") as f:
        f.write("# %s: the tensor types llama.cpp's llama-quantize chooses, per mix (generated by\n" % label)
        f.write("# tools/quantmix-fixtures.py; do not edit). For each MIX below, the command was\n")
        f.write("#   llama-quantize --allow-requantize %s OUT.gguf MIX 2\n" % os.path.basename(model))
        f.write("# llama.cpp: the copy in the llama-cpp-python 0.3.36 sdist (llama-quantize reports\n")
        f.write("# 'version: %s'), built with cmake, target llama-quantize.\n" % version)
        f.write("# Rows are in llama-quantize's order (blk.N sorted by layer, then by name); a row is\n")
        f.write("# NAME SHAPE(outermost first) SOURCE_TYPE and one type per mix, in the mixes: order.\n")
        f.write("config: %s\n" % config)
        f.write("mixes: %s\n" % " ".join(MIXES))
        for i, (name, shape, src) in enumerate(base):
            f.write("%s %s %s %s\n" % (name, shape, src, " ".join(cols[m][i] for m in MIXES)))
    print("wrote", path, len(base), "tensors")

def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    quantize, smol, stories, outdir = sys.argv[1:]
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fixture(quantize, smol, "smollm2", "arch=llama n_layers=30 n_heads=9 n_kv_heads=3", outdir, tmp)
        fixture(quantize, stories, "stories260k", "arch=llama n_layers=5 n_heads=8 n_kv_heads=4", outdir, tmp)
        for label, nl, heads, kvh, ff in [("llama32_mha", 32, 32, 32, 768), ("llama32_gqa4", 32, 32, 8, 768),
                                          ("llama80_gqa8", 80, 64, 8, 256)]:
            m = os.path.join(tmp, label + ".gguf")
            write_gguf(m, nl, 256, ff, heads, kvh, 512, False)
            fixture(quantize, m, label, "arch=llama n_layers=%d n_heads=%d n_kv_heads=%d" % (nl, heads, kvh),
                    outdir, tmp)

main()
