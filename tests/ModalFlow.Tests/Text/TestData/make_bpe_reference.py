"""Writes bpe_reference.json: token ids of tricky strings from Hugging Face's own tokenizers, for the C# byte-level BPE tests.

Usage:  mkdir /tmp/tokref && (cd /tmp/tokref && npm install tokenizers@0.23.2)
        python3 make_bpe_reference.py /tmp/tokref      (needs Python's `regex` module and node)

References (no ModalFlow code involved):
  * "rust": huggingface/tokenizers 0.23.2 (the Rust library behind every fast tokenizer; npm build `tokenizers`),
    run on tokenizer.json files built here the way transformers' converters build them: Qwen2Converter for the two
    Qwen2 fixture folders (vocab.json + merges.txt + the folder's added tokens, NFC, Qwen2's split regex) and
    TikTokenConverter + Llama-3's specials / BOS template + llava-hf's <image> / <pad> for Meta's Llama-3 ranks file.
  * "slow" (Qwen2 only): the slow Qwen2Tokenizer pipeline restated in plain Python with the `regex` module
    (NFC, added tokens cut out first, regex findall, GPT-2's bpe loop), which is what made the fixtures. The script
    stops if it disagrees with the Rust ids.
  * "nfc": unicodedata.normalize("NFC", text) for strings that NFC changes.
"""
import base64, json, os, subprocess, sys, tempfile, unicodedata
import regex as re

FX = os.path.join(os.path.dirname(os.path.abspath(__file__)), *(['..'] * 5), 'shared', 'fixtures')
FX = os.path.normpath(FX) if os.path.isdir(os.path.normpath(FX)) else '/work/shared/fixtures'
QWEN2_PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3_PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

TEXTS = [
    "Hello world", " Hello world", "Is the jar full or empty?",
    "12345", "3.14159", "1,000,000 people in 2024", "x=42;y=-7", "\uff10\uff11\uff12\uff13",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "\u4e2d\u6587 mixed with English",
    "\U0001f600\U0001f44d\U0001f3fd", "I \u2764\ufe0f NY", "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",
    "\n\n", "a\n\nb", "line\r\nnext", "\t\tindent", "  leading spaces", "trailing spaces   ", "   ", "a  b   c", " \n", "x \n\n y",
    "it's John's", "IT'S MINE", "don't we'll they've I'd you're I'm", "'s 'S' 'll",
    "<|im_start|>user\nhi<|im_end|>\n", "a<|endoftext|>b", "<|vision_start|><|image_pad|><|vision_end|>Is it?", "<image>\nWhat?",
    "<|im_start|", "<|im_end|><|im_end|>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "e\u0301t\u00e9", "\u212b \u2126", "caf\u00e9 na\u00efve r\u00e9sum\u00e9", "M\u00fcnchen", "\u03a9\u03bc\u03ad\u03b3\u03b1", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab", "\U0001d400's and \U0001d401'll", "\U00020000\u4e2d\u6587", "x\U0001d7cf\U0001d7d0\U0001d7d1\U0001d7d2 \U0001d7d3",
    "\U0001d400\U0001d401\U0001d402 bold", "\U00020000\U00020001", "\U0001d7cf\U0001d7d0 123456789",
    "a\u00a0b", "a\u3000b", "a\u2028b", "\u00a0\u00a0x",
    "def f(x):\n    return x**2\n", "https://example.com/a?b=c&d=e", "[1, 2, 3] -> {'k': v}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "!!!!!!!!!!!!????", "....", "--- ***",
    "\x1c\x1d\x1e\x1fx", "tab\tsep\tvalues", "\u200bzero\u200dwidth",
]
NFC_TEXTS = ["e\u0301", "\u212b\u2126", "\u1100\u1161\u11a8", "a\u0323\u0302", "a\u0302\u0323", "\u1e0b\u0323", "q\u0307\u0323",
             "\u0344", "\u0958", "\u00c5\u0301", "\ufb01", "\u2000", "\U0001d15e", "\U0001d160", "\u3099\u304b\u3099", "\u0b47\u0b3e",
             "\u05b8\u05b9\u05b1\u0591\u05c3\u05b0\u05ac\u059f", "\u0061\u0315\u0300\u05ae\u0301\u0062"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BE = bytes_to_unicode()


def qwen2_json(model_dir):
    vocab = json.load(open(f'{FX}/tokenizers/qwen2/vocab.json', encoding='utf-8'))
    merges = [l for l in open(f'{FX}/tokenizers/qwen2/merges.txt', encoding='utf-8').read().split('\n')[1:] if l]
    cfg = json.load(open(f'{FX}/{model_dir}/tokenizer_config.json', encoding='utf-8'))
    added = [dict(id=int(k), **v) for k, v in sorted(cfg['added_tokens_decoder'].items(), key=lambda kv: int(kv[0]))]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PAT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": merges}}


def llama3_json():
    ranks = {}
    for line in open(f'{FX}/tokenizers/llama3/tokenizer.model', encoding='ascii'):
        if line.strip():
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    s = lambda b: ''.join(BE[x] for x in b)
    vocab, merges = {}, []
    for token, rank in ranks.items():
        vocab[s(token)] = rank
        local = [(token[:i], token[i:], rank) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        merges.extend(sorted(local, key=lambda x: (ranks[x[0]], ranks[x[1]])))
    merges = [f'{s(a)} {s(b)}' for a, b, _ in sorted(merges, key=lambda m: m[2])]
    meta = json.load(open(f'{FX}/tokenizers/llama3/tokenizer_meta.json', encoding='utf-8'))
    specials = sorted(meta['special_tokens'].items(), key=lambda kv: kv[1])
    specials += [("<image>", 128256), ("<pad>", 128257)]  # llava-hf's added tokens
    added = [dict(id=i, content=t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True) for t, i in specials]
    bos = "<|begin_of_text|>"
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PAT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [meta['special_tokens'][bos]], "tokens": [bos]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True, "vocab": vocab, "merges": merges}}


NODE = """
const { Tokenizer } = require(process.argv[2] + '/node_modules/tokenizers');
const fs = require('fs');
(async () => {
  const tk = Tokenizer.fromFile(process.argv[3]);
  const out = [];
  for (const t of JSON.parse(fs.readFileSync(process.argv[4], 'utf8'))) {
    const e = await tk.encode(t, null, { addSpecialTokens: false });
    out.push({ ids: e.getIds(), tokens: e.getTokens() });
  }
  fs.writeFileSync(process.argv[5], JSON.stringify(out));
})();
"""


def rust(node_dir, tokenizer_json, tmp):
    paths = [os.path.join(tmp, n) for n in ('tokenizer.json', 'texts.json', 'out.json', 'enc.js')]
    json.dump(tokenizer_json, open(paths[0], 'w', encoding='utf-8'), ensure_ascii=False)
    json.dump(TEXTS, open(paths[1], 'w', encoding='utf-8'), ensure_ascii=False)
    open(paths[3], 'w').write(NODE)
    subprocess.run(['node', paths[3], os.path.abspath(node_dir), paths[0], paths[1], paths[2]], check=True)
    return json.load(open(paths[2], encoding='utf-8'))


def slow_qwen2(model_dir):
    vocab = json.load(open(f'{FX}/tokenizers/qwen2/vocab.json', encoding='utf-8'))
    ranks = {}
    for i, line in enumerate(open(f'{FX}/tokenizers/qwen2/merges.txt', encoding='utf-8')):
        line = line.strip()
        if (i == 0 and line.startswith('#version:')) or not line:
            continue
        ranks[tuple(line.split())] = i
    cfg = json.load(open(f'{FX}/{model_dir}/tokenizer_config.json', encoding='utf-8'))
    added = {v['content']: int(k) for k, v in cfg['added_tokens_decoder'].items()}
    pat = re.compile(QWEN2_PAT)

    def bpe(word):
        word = tuple(word)
        while len(word) > 1:
            best = min(zip(word, word[1:]), key=lambda p: ranks.get(p, float('inf')))
            if best not in ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        return word

    def encode(text):
        text = unicodedata.normalize('NFC', text)
        ids, start, i = [], 0, 0
        while i < len(text):
            hit = max((a for a in added if text.startswith(a, i)), key=len, default=None)
            if hit is None:
                i += 1
                continue
            ids += plain(text[start:i]) + [added[hit]]
            i = start = i + len(hit)
        return ids + plain(text[start:])

    def plain(chunk):
        return [vocab[t] for w in pat.findall(chunk) for t in bpe(''.join(BE[b] for b in w.encode('utf-8')))]

    return [encode(t) for t in TEXTS]


def main():
    node_dir = sys.argv[1]
    result = {"generator": "tests/ModalFlow.Tests/Text/TestData/make_bpe_reference.py",
              "reference": "huggingface/tokenizers 0.23.2 (npm tokenizers) on converter-built tokenizer.json files; "
                           "Qwen2 also checked against the slow Qwen2Tokenizer pipeline (Python regex)",
              "python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version,
              "texts": TEXTS, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in (("tiny-qwen2-vl", "tiny-qwen2-vl"), ("tiny-llava-onevision", "tiny-llava-onevision")):
            fast = rust(node_dir, qwen2_json(folder), tmp)
            slow = slow_qwen2(folder)
            for t, f, s in zip(TEXTS, fast, slow):
                if f['ids'] != s:
                    sys.exit(f'{name}: slow and fast disagree on {t!r}: {s} vs {f["ids"]}')
            result["models"][name] = fast
        result["models"]["llama3"] = rust(node_dir, llama3_json(), tmp)
    result["nfc"] = [[t, unicodedata.normalize('NFC', t)] for t in NFC_TEXTS + TEXTS if unicodedata.normalize('NFC', t) != t]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bpe_reference.json')
    with open(out, 'w', encoding='utf-8', newline='\n') as f:
        json.dump(result, f, ensure_ascii=True, indent=1)
    print(out)


if __name__ == '__main__':
    main()
