#!/usr/bin/env python3
"""Tokenizer conformance fixtures: HF `tokenizers` output on a >= 5,000-string multilingual corpus.

Writes tests/fixtures/tokenizer/corpus.json.gz (the strings), one <name>.json.gz per tokenizer with its
tokenizer.json (or a recipe to rebuild it from the embedded model's) and the reference encodings, and the trained
multilingual tokenizer. Tokenizers:
  minilm        models/all-MiniLM-L6-v2/tokenizer.json as shipped (bert-base-uncased vocab and semantics)
  cased         the same vocab with BertNormalizer(lowercase=False), so accents are kept: bert-base-cased semantics
  multilingual  an mBERT-style cased WordPiece (8,000 tokens) trained here with tokenizers' own trainer on the corpus
  nfkc-split    Sequence[NFKC, Replace("``" -> '"'), Lowercase] normalizer; Sequence[WhitespaceSplit, Punctuation,
                Digits(individual)] pre-tokenizer; multilingual vocab
  nfd-strip     Sequence[NFD, StripAccents, Lowercase, NFC] normalizer; Whitespace pre-tokenizer; multilingual vocab
Cases recorded per tokenizer: every string alone; 1,000 pairs; truncation of singles at 12 tokens with stride 3
(overflowing windows), right and left; pairs truncated at 24 with longest_first / only_first / only_second.
Offsets are HF's: code points of the original string.

Run: tools/.venv/bin/python tools/make_tokenizer_fixtures.py, then npx tsx tools/compress_fixtures.ts (the tests read .refs.br)
"""
import gzip
import json
import os
import random
import unicodedata

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece
from tokenizers.processors import TemplateProcessing
from tokenizers.trainers import WordPieceTrainer
from tokenizers import decoders

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
MINILM = os.path.join(ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json")

SEEDS = {
    "latin": ["Café au lait, s'il vous plaît.", "Über den Wolken muß die Freiheit wohl grenzenlos sein.",
              "¿Dónde está la biblioteca? ¡Aquí!", "São Paulo é a maior cidade do Brasil.",
              "Zażółć gęślą jaźń.", "Tiếng Việt có dấu: Hà Nội, Đà Nẵng.", "İstanbul'da ağaç ışığı.",
              "Ærøskøbing ligger på Ærø.", "naïve coöperation façade résumé", "ǅemal ǈubović ǋegoš"],
    "cyrillic": ["Съешь же ещё этих мягких французских булок, да выпей чаю.", "Україна — це держава.",
                 "Београд је главни град Србије.", "ЁЛКА и ёлка"],
    "greek": ["Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.", "Ἐν ἀρχῇ ἦν ὁ λόγος.", "ΑΘΗΝΑ Αθήνα αθήνα"],
    "arabic": ["اللغة العربية جميلة جداً.", "مَرْحَبًا بِكُمْ", "٣٤٥ و 345"],
    "hebrew": ["שָׁלוֹם עֲלֵיכֶם", "עברית היא שפה שמית."],
    "devanagari": ["हिन्दी भारत की राजभाषा है।", "संस्कृतम् जगतः एकतमा अतिप्राचीना समृद्धा शास्त्रीया च भाषासु वर्तते।"],
    "cjk": ["我们的目标是星辰大海。", "漢字と仮名を混ぜて書く。", "𠮷野家の牛丼", "中文，标点符号！"],
    "japanese": ["ひらがなとカタカナ、ﾊﾝｶｸｶﾀｶﾅ。", "東京スカイツリーは高い。", "ｱｲｳｴｵ ＡＢＣ １２３"],
    "korean": ["한국어는 아름답습니다.", "ᄒᆞᆫ글 자모 조합", "서울특별시 강남구"],
    "thai": ["ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ", "สวัสดีครับ"],
    "emoji": ["I ❤️ NY 🗽", "👨‍👩‍👧‍👦 family", "👍🏽👍🏿 skin tones", "🏳️‍🌈 flag", "😀😃😄😁", "🇫🇷🇯🇵 flags",
              "a🙂b", "x̧̃ combining", "𝐀𝐁𝐂 𝕏𝕐 math alphanumerics", "①②③ ⅰⅱⅲ ¼½"],
    "control": ["tab\there", "new\nline", "cr\r\nlf", "nul\x00char", "bell\x07", "zero\u200bwidth",
                "soft\u00adhyphen", "bom\ufeffmark", "nbsp\u00a0space", "em\u2003space", "ideographic\u3000space",
                "rtl\u202eoverride", "replacement\ufffdchar", "private\ue000use", "line\u2028sep",
                "del\x7fete", "nel\x85char"],
    "code": ["def f(x):\n    return x ** 2  # square", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
             "https://example.com/path?q=1&r=%20x#frag", "user@example.org", "SELECT * FROM t WHERE a<>b;",
             "<p class=\"x\">Hi &amp; bye</p>", "$HOME/.config/app.json", "C:\\Windows\\System32", "0x1F4A9 0b1010 1e-9"],
    "long": ["a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious" * 3, "pneumonoultramicroscopicsilicovolcanoconiosis",
             "ab" * 60 + " end", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"],
    "special": ["[CLS] text [SEP]", "a [MASK] b", "[mask] lowercase", "[UNK][UNK]", "[PAD]", "x[SEP]y", "[ CLS ]"],
    "whitespace": ["", " ", "   ", "\t\n", " leading", "trailing ", "  multiple   spaces  ", "\u00a0\u2009\u202f"],
}

ALPHABETS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžĳ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώΑΒΓΔΕΖΗΘ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह्ािीुूेैोौं",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "kana": "あいうえおかきくけこさしすせそアイウエオカキクケコサシスセソ",
    "hangul": "가나다라마바사아자차카타파하한국어글",
    "thai": "กขคงจฉชซญดตถทนบปผพฟมยรลวสหอะาิีึืุู่้",
    "digits": "0123456789٠١٢٣٤٥٦٧٨٩०१२३",
    "punct": ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|«»„“”‘’—–…·•§¶†‡※。、，！？「」『』（）",
}


def random_string(rng):
    kind = rng.random()
    if kind < 0.55:  # words from one or two scripts with punctuation and spaces
        scripts = rng.sample(list(ALPHABETS), rng.choice([1, 1, 2, 3]))
        words = []
        for _ in range(rng.randint(1, 12)):
            alpha = ALPHABETS[rng.choice(scripts)]
            w = "".join(rng.choice(alpha) for _ in range(rng.randint(1, 12)))
            if rng.random() < 0.2:
                w += rng.choice(ALPHABETS["punct"])
            words.append(w)
        return rng.choice([" ", " ", " ", "  ", "\t", "\n", "\u00a0"]).join(words)
    if kind < 0.8:  # mutate a seed
        s = list(rng.choice(rng.choice(list(SEEDS.values()))))
        for _ in range(rng.randint(0, 4)):
            op = rng.random()
            pos = rng.randint(0, len(s))
            if op < 0.4:
                s.insert(pos, chr(rng.choice([0x300, 0x301, 0x308, 0x327, 0x200d, 0xfe0f, 0x1f3fd, 0x20, 0x2e, 0x3000, 0x00ad])))
            elif op < 0.7 and s:
                del s[min(pos, len(s) - 1)]
            else:
                s.insert(pos, rng.choice(ALPHABETS["punct"]))
        s = "".join(s)
        return s.upper() if rng.random() < 0.1 else s
    # arbitrary code points, excluding surrogates (Python strings with them cannot reach the Rust library)
    out = []
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        if r < 0.5:
            cp = rng.randint(0x20, 0x2FF)
        elif r < 0.8:
            cp = rng.randint(0x300, 0xFFFF)
        else:
            cp = rng.randint(0x10000, 0x3FFFF)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(chr(cp))
    return "".join(out)


def corpus():
    rng = random.Random(20261125)
    strings = [s for group in SEEDS.values() for s in group]
    with open(os.path.join(ROOT, "bench", "data", "sentences.txt"), encoding="utf-8") as f:
        strings += [l.rstrip("\n") for l in f][:1200]
    golden = json.loads(__import__("brotli").decompress(open(os.path.join(ROOT, "tests", "fixtures", "golden-minilm.json.br"), "rb").read()))
    strings += [s["text"] for s in golden["sentences"]]
    while len(strings) < 5600:
        strings.append(random_string(rng))
    return strings


def bert_like(tok_json, lowercase, strip_accents=None):
    t = Tokenizer.from_str(tok_json)
    t.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase)
    return t


def record(tok, strings, rng):
    tok.no_truncation()
    tok.no_padding()

    def enc(e):
        return {"ids": e.ids, "type_ids": e.type_ids, "offsets": [x for o in e.offsets for x in o],
                "special": e.special_tokens_mask, "words": [-1 if w is None else w for w in e.word_ids]}

    out = {"single": [enc(e) for e in tok.encode_batch(strings)]}
    pairs = [(rng.randrange(len(strings)), rng.randrange(len(strings))) for _ in range(1000)]
    out["pairs"] = [[a, b] for a, b in pairs]
    out["pair"] = [enc(e) for e in tok.encode_batch([(strings[a], strings[b]) for a, b in pairs])]
    out["decode"] = [tok.decode(e["ids"]) for e in out["single"][:2000]]
    trunc = {}
    sub = list(range(0, len(strings), 5))
    for direction in ["right", "left"]:
        tok.enable_truncation(12, stride=3, strategy="longest_first", direction=direction)
        trunc[f"single-12-stride3-{direction}"] = [
            [enc(e)] + [enc(o) for o in e.overflowing] for e in tok.encode_batch([strings[i] for i in sub])]
    for strategy in ["longest_first", "only_first", "only_second"]:
        tok.enable_truncation(24, stride=0, strategy=strategy, direction="right")
        res = []
        for a, b in pairs[:400]:
            try:
                e = tok.encode(strings[a], strings[b])
                res.append(enc(e))
            except Exception as err:  # only_first / only_second cannot always fit: HF raises
                res.append({"error": str(err)})
        trunc[f"pair-24-{strategy}"] = res
    tok.no_truncation()
    out["truncation_subset"] = sub
    out["truncation"] = trunc
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    strings = corpus()
    minilm_json = open(MINILM, encoding="utf-8").read()
    # Multilingual mBERT-style vocabulary, trained on the corpus with HF's trainer.
    ml = Tokenizer(WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    ml.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, handle_chinese_chars=True, clean_text=True)
    ml.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    ml.decoder = decoders.WordPiece()
    ml.train_from_iterator(strings, WordPieceTrainer(vocab_size=8000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    ml.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    with open(os.path.join(OUT, "multilingual.tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(ml.to_str())
    nfkc = Tokenizer.from_str(ml.to_str())
    nfkc.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("``", '"'), normalizers.Lowercase()])
    nfkc.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)])
    nfd = Tokenizer.from_str(ml.to_str())
    nfd.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(), normalizers.NFC()])
    nfd.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizers = {
        "minilm": ("models/all-MiniLM-L6-v2/tokenizer.json", Tokenizer.from_str(minilm_json)),
        "cased": (None, bert_like(minilm_json, lowercase=False)),
        "multilingual": ("tests/fixtures/tokenizer/multilingual.tokenizer.json", ml),
        "nfkc-split": (None, nfkc),
        "nfd-strip": (None, nfd),
    }
    with gzip.open(os.path.join(OUT, "corpus.json.gz"), "wt", encoding="utf-8") as f:
        json.dump(strings, f, ensure_ascii=False)
    for name, (source, tok) in tokenizers.items():
        rng = random.Random(name)
        data = record(tok, strings, rng)
        spec = json.loads(tok.to_str())
        if source is None:  # store the tokenizer.json minus the vocabulary, which the test takes from `vocab_from`
            vocab_from = "models/all-MiniLM-L6-v2/tokenizer.json" if name == "cased" else "tests/fixtures/tokenizer/multilingual.tokenizer.json"
            spec["model"]["vocab"] = None
            data["tokenizer"] = {"json": spec, "vocab_from": vocab_from}
        else:
            data["tokenizer"] = {"file": source}
        with gzip.open(os.path.join(OUT, f"{name}.json.gz"), "wt", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        print(name, "done")
    print(len(strings), "strings; tokenizers", __import__("tokenizers").__version__, "unicode", unicodedata.unidata_version)


if __name__ == "__main__":
    main()
