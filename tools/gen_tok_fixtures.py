#!/usr/bin/env python3
"""gen_tok_fixtures.py - small Hugging Face tokenizers of every tokenizer.json kind lathe reads,
trained with the `tokenizers` library on the bundled Shakespeare excerpt (no downloads), and the
ids `tokenizers` gives for a list of test strings: tests/fixtures/tok/KIND/tokenizer.json (+
tokenizer_config.json) and tests/fixtures/tok/expected.json, which tests/test_tokfix.c checks
lathe against.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers==0.23.3
    /tmp/venv/bin/python tools/gen_tok_fixtures.py [--only KIND,...]

Also, with --llama-tokenize BIN --gguf MODEL: the ids llama.cpp's llama-tokenize gives for the
same strings on a GGUF vocabulary (SmolLM2-135M-Instruct) into tests/fixtures/tok/smollm2_llamacpp.json.
"""
import argparse
import json
import os
import subprocess
import sys

import tokenizers

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tok")

STRINGS = [
    "Hello world",
    "Once upon a time, there was a little girl named Lily.",
    " leading space",
    "trailing space ",
    "multiple   spaces\tand\ttabs\n\nnewlines\r\n",
    "digits 1234567890 and 3.14159, 42nd, 2024-01-01",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 (precomposed)",
    "cafe\u0301 nai\u0308ve (combining marks)",
    "\uff21\uff22\uff23 \ufb01 \u2460 \u00bd (compatibility forms)",
    "UPPER lower MiXeD \u00c9COLE \u0130stanbul",
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0 \u4e2d\u6587 \ud55c\uad6d\uc5b4",
    "emoji \U0001f600\U0001f680 and \u2603",
    "<s>special</s> text",
    "a <mask> in the middle",
    "<|sep|>around<|sep|>",
    "x  <|sep|>  y",
    "punctuation!?... \"quotes\" 'single' (parens) [brackets]",
    "",
    "   ",
    "KING RICHARD III: Now is the winter of our discontent",
]
# strings for the pieces added later (tools/gen_tok_fixtures.py --only KINDS keeps the other kinds'
# trained tokenizers and encodes these with them too)
STRINGS += [
    "HELLO there, the theory of hello-world; Hello!",
    "``quoted''   text  with   gaps -- and - dashes...",
    "  <extra> token, x--y (a)(b) 12-34 \u00e9t\u00e9-2 ",
]


def corpus():
    with open(os.path.join(ROOT, "assets", "text", "tinyshakespeare-head.txt"), encoding="utf-8") as f:
        text = f.read()[:12000]
    extra = " ".join(STRINGS) + " 0123456789 caf\u00e9 r\u00e9sum\u00e9 \u00c9cole \u65e5\u672c\u8a9e"
    return [line for line in (text + "\n" + extra).split("\n") if line.strip()]


def save(tok, kind, config):
    d = os.path.join(OUT, kind)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"), pretty=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1, ensure_ascii=False)
        f.write("\n")


def bpe_bytelevel():
    """GPT-2/Llama-3 style: NFC, byte-level BPE with Digits, a BOS only from TemplateProcessing
    (tokenizer_config.json says nothing of add_bos_token), added tokens with lstrip/rstrip."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "</s>", "<mask>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    tok.add_special_tokens([AddedToken("<|sep|>", lstrip=True, rstrip=True, special=True)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok, {"bos_token": "<s>", "eos_token": "</s>"}


def bpe_metaspace():
    """Llama-2/Mistral style: BPE with byte_fallback over Metaspace, BOS from TemplateProcessing."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tr = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"] +
                             ["<0x%02X>" % b for b in range(256)])
    tok.train_from_iterator(corpus(), tr)
    tok.add_special_tokens([AddedToken("<|sep|>", special=True), AddedToken("<mask>", special=True)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def unigram():
    """T5/ALBERT style: NFKC, Metaspace, a Unigram model with scores, EOS from TemplateProcessing."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tr = trainers.UnigramTrainer(vocab_size=500, special_tokens=["<pad>", "</s>", "<unk>", "<s>", "<mask>"],
                                 unk_token="<unk>")
    tok.train_from_iterator(corpus(), tr)
    tok.add_special_tokens([AddedToken("<|sep|>", special=True)])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return tok, {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def wordpiece():
    """BERT style: BertNormalizer (lowercase, strip accents), BertPreTokenizer, WordPiece, [CLS] $A [SEP]."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tr = trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(corpus(), tr)
    tok.add_special_tokens([AddedToken("<|sep|>", special=True)])
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    return tok, {"cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]"}


def roberta():
    """RoBERTa style: byte-level BPE with add_prefix_space, Lowercase+NFKC, RobertaProcessing."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")), add_prefix_space=False)
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def bpe_split():
    """Byte-level BPE after a Split regex no llama.cpp pre-tokenizer name has (numbers in pairs,
    words with one leading space or apostrophe), ByteLevel without its own regex."""
    tok = Tokenizer(models.BPE())
    rx = tokenizers.Regex(r"\p{N}{1,2}|'?[^\s\p{L}\p{N}]?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(rx, behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    return tok, {"eos_token": "<|endoftext|>"}


def wordpiece_ws():
    """WordPiece behind the Whitespace pre-tokenizer; NFD, StripAccents, Lowercase, Strip; added
    tokens matched in the normalized text ("hello", normalized) and as whole words only ("the",
    single_word); "[CLS] $A [SEP]" with a pair template."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(),
                                           normalizers.Strip(left=True, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tr = trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(corpus(), tr)
    tok.add_tokens([AddedToken("hello", normalized=True), AddedToken("the", single_word=True, normalized=True)])
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok, {"cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]"}


def bpe_punct():
    """Byte-level BPE with ByteLevel add_prefix_space after Punctuation (merged_with_previous);
    Replace by Regex and by String, NFKC; "<s> <extra> $A </s>" (two special tokens before)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.Replace(tokenizers.Regex(" {2,}"), " "),
                                           normalizers.Replace("``", '"'), normalizers.Replace("''", '"'),
                                           normalizers.NFKC()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Punctuation(behavior="merged_with_previous"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "</s>", "<extra>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    ids = {t: tok.token_to_id(t) for t in ("<s>", "</s>", "<extra>")}
    tok.post_processor = processors.TemplateProcessing(single="<s> <extra> $A </s>", pair="<s> $A </s> $B </s>",
                                                       special_tokens=list(ids.items()))
    return tok, {"bos_token": "<s>", "eos_token": "</s>"}


def bpe_split_beh():
    """Byte-level BPE after WhitespaceSplit, Split by a String (merged_with_next), Split by a Regex
    (removed), Punctuation (contiguous), Digits, ByteLevel without its regex but with a prefix space;
    "the" added as a single word."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split("-", behavior="merged_with_next"),
        pre_tokenizers.Split(tokenizers.Regex("[;:]"), behavior="removed"),
        pre_tokenizers.Punctuation(behavior="contiguous"), pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    tok.add_tokens([AddedToken("the", single_word=True)])  # no normalizer: matched in the raw text
    return tok, {"eos_token": "<|endoftext|>"}


def unigram_t5():
    """T5 style: NFKC, Replace(Regex " {2,}"), Strip, WhitespaceSplit then Metaspace; "$A </s>"."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(tokenizers.Regex(" {2,}"), " "),
                                           normalizers.Strip(left=True, right=False)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always",
                                                                          split=True)])
    tr = trainers.UnigramTrainer(vocab_size=500, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tok.train_from_iterator(corpus(), tr)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return tok, {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def spm_punct():
    """BPE with byte_fallback behind Punctuation (merged_with_next), an inverted Split and Metaspace
    (prepend_scheme first, no split); Strip normalizer."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Strip()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(behavior="merged_with_next"),
        pre_tokenizers.Split(tokenizers.Regex("[A-Za-z]+"), behavior="merged_with_previous", invert=True),
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)])
    tr = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"] +
                             ["<0x%02X>" % b for b in range(256)])
    tok.train_from_iterator(corpus(), tr)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


KINDS = {"bpe_split": bpe_split, "bpe_bytelevel": bpe_bytelevel, "bpe_metaspace": bpe_metaspace, "unigram": unigram,
         "wordpiece": wordpiece, "roberta": roberta, "wordpiece_ws": wordpiece_ws, "bpe_punct": bpe_punct,
         "bpe_split_beh": bpe_split_beh, "unigram_t5": unigram_t5, "spm_punct": spm_punct}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-tokenize", help="llama.cpp's llama-tokenize binary")
    ap.add_argument("--gguf", help="GGUF model whose vocabulary llama-tokenize reads")
    ap.add_argument("--only", help="comma-separated kinds to (re)train; the others' saved tokenizer.json are "
                                   "kept and only encoded (the trainers are not deterministic)")
    a = ap.parse_args()
    if a.llama_tokenize:
        strings = STRINGS + ["<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                             "Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                             "<|im_start|>assistant\n", "<|endoftext|>x<|im_end|><|im_start|>"]
        res = {"command": "tools/gen_tok_fixtures.py --llama-tokenize BIN --gguf SmolLM2-135M-Instruct.Q4_1.gguf",
               "strings": strings, "ids": [], "ids_no_special": []}
        strings = [s for s in strings if s]  # llama-tokenize refuses an empty prompt
        res["strings"] = strings
        for s in strings:
            for key, extra in (("ids", []), ("ids_no_special", ["--no-parse-special"])):
                out = subprocess.run([a.llama_tokenize, "-m", a.gguf, "-p", s, "--ids", "--log-disable"] + extra,
                                     check=True, capture_output=True, text=True).stdout
                res[key].append(json.loads(out.strip().splitlines()[-1]))
        with open(os.path.join(OUT, "smollm2_llamacpp.json"), "w", encoding="utf-8") as f:
            json.dump(res, f, ensure_ascii=False)
            f.write("\n")
        return
    exp = {"command": "tools/gen_tok_fixtures.py", "tokenizers": tokenizers.__version__, "strings": STRINGS,
           "kinds": {}}
    only = set(a.only.split(",")) if a.only else None
    for kind, make in KINDS.items():
        if only is None or kind in only:
            tok, cfg = make()
            save(tok, kind, cfg)
        tok = Tokenizer.from_file(os.path.join(OUT, kind, "tokenizer.json"))
        exp["kinds"][kind] = [tok.encode(s).ids for s in STRINGS]
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
