"""addvocab.py IN.gguf OUT.gguf - IN with a placeholder SentencePiece vocabulary of vocab_size
tokens (<unk>, <s>, </s>, t3, t4, ...) so that llama.cpp loads a model written without a
tokenizer (the HF fixtures have none); every key and tensor is copied through gguf-py's reader,
which so reads the whole file."""
import sys, numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType
r = GGUFReader(sys.argv[1])
w = GGUFWriter(sys.argv[2], arch=bytes(r.fields['general.architecture'].parts[-1]).decode())
for k, f in r.fields.items():
    if k.startswith('GGUF.') or k == 'general.architecture':
        continue
    t = f.types[0]
    if t == GGUFValueType.STRING:
        w.add_string(k, bytes(f.parts[-1]).decode())
    elif t == GGUFValueType.UINT32:
        w.add_uint32(k, int(f.parts[-1][0]))
    elif t == GGUFValueType.FLOAT32:
        w.add_float32(k, float(f.parts[-1][0]))
    elif t == GGUFValueType.BOOL:
        w.add_bool(k, bool(f.parts[-1][0]))
n = int(r.fields['llama.vocab_size'].parts[-1][0]) if 'llama.vocab_size' in r.fields else 256
toks = ['<unk>', '<s>', '</s>'] + ['t%d' % i for i in range(3, n)]
w.add_tokenizer_model('llama')
w.add_token_list(toks)
w.add_token_scores([0.0] * n)
w.add_token_types([2, 3, 3] + [1] * (n - 3))
for t in r.tensors:
    w.add_tensor(t.name, np.array(t.data), raw_shape=list(reversed([int(x) for x in t.shape])), raw_dtype=t.tensor_type)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
