"""Texts and tokenizer.json files for the tokenizer tests, and `tokenizers` as the reference to compare with.

tokenizer.json files shaped like the bundled one are written with `tokenizers`; kb's tokenizer must give the same
ids and masks as `tokenizers` on the hard cases, random strings, the sample questions and the sample articles.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_tokenizer_json(path: Path, vocab: list[tuple[str, float]], *, mask: bool = False) -> Path:
    """A tokenizer.json shaped like the bundled one (kb.model.hf_tokenizer.build_tokenizer): Unigram over vocab (ids in
    order; the first four <s> <pad> </s> <unk>), NFKC with ～ kept, spaces collapsed, Metaspace, <s> $A </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, 0.0) for p, _ in vocab], unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex("[\\x{1}-\\x{8}\\x{B}\\x{E}-\\x{1F}\\x{7F}]"), ""),
        normalizers.Replace(Regex("[\\x{9}\\x{A}\\x{C}\\x{D}\\x{200B}\\x{2581}]"), " "),
        normalizers.Replace("\uff5e", "\ufdd0\ufdd1"), normalizers.NFKC(),
        normalizers.Replace("\ufdd0\ufdd1", "\uff5e"),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")])
    if mask:
        tok.add_special_tokens([AddedToken(vocab[-1][0], special=True, normalized=False, lstrip=True)])
    data = json.loads(tok.to_str())
    data["model"]["vocab"] = [[p, s] for p, s in vocab]  # the scores as written here, not as tokenizers holds them
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# Texts where a tokenizer can go wrong; each also runs with the "query: " prefix.
HARD_CASES = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t \n ", "a ", " a", "  a  b  ", "a\tb\nc", "a\u3000b", "\u3000",
    "ＡＢＣ１２３！？ａｂｃ", "ｶﾀｶﾅ ﾊﾟｿｺﾝ ｶﾞｷﾞ", "ﾡﾢﾣ ﾤ", "～～ ~~ 〜", "🈻", "㋿ ㍻ ㈜ ㎏ ① ⅲ ﬁ ß ẞ İ",
    "ㅂㅍ", "ㄱㄴㄷ ㅋㅋㅋ ㅠㅠ ㅜㅜ ㅎㅎ", "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8",
    unicodedata.normalize("NFD", "한국어 환불"), "좋아요ㅋㅋㅋㅋㅋㅋㅋ", *("ㅋ" * n for n in range(1, 13)),
    "환불이 안 들어와요ㅠㅠㅠㅠㅠ",
    "knnnn annnnn nnn iii ⅲ aaaa", "하하하하하 !!!!!! ...... ~~~~~ ?!?!?!", "😀👍🏽👨‍👩‍👧🇰🇷 emoji 😀😀😀",
    "\u0301", "\u0301\u0301 \u0323", "a\u0301", "e\u0323\u0301", "a\u1ac1\u0301\u0323", "\u08d3a\u08d3\u0301",
    "택배123abc환불ABC", "주문번호 2024-12-01-0001 확인 부탁드려요", "iPhone15 Pro맥스 256GB", "3~5일 이내, 10% 할인!",
    "𓀀𓀁 x𓀀𓀁y 𓀀 𓀁", "\ue000 \ufffd \ufdd0 \U0010fffd", "\x00a\x01b\x7f", "\u200b\u200d\ufeff", "▁a▁▁b▁", "a\u2581b",
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "a <mask> b", "a  <mask>", "a\u3000<mask>", "x</s>y<pad>z<unk>",
    "＜ｓ＞ ＜/ｓ＞ ＜unk＞ ＜ｍａｓｋ＞", "<S> < s > <<s>> <s", "query: passage: query:",
    "환불은 영업일 기준 3~5일 이내에 처리됩니다. " * 200, "ㅋ" * 5000, "a" * 700, ("결제 오류 " * 600)[:5000],
]


def reference_tokenizer(path: Path, max_length: int = 512, pad_id: int = 1) -> Any:
    """The old path: `tokenizers` on tokenizer.json, truncating and padding as kb did before."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=pad_id, pad_token="<pad>")
    return tok


def reference_encode(tok: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = tok.encode_batch(texts)
    return (np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1),
            np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(texts), -1))


def assert_same_encoding(path: Path, tokenizer: Any, texts: list[str], max_length: int = 512,
                         batch: int = 16) -> None:
    """Equal ids and masks, batch by batch (padding included), naming the first text that differs."""
    pytest.importorskip("tokenizers")
    old = reference_tokenizer(path, max_length)
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        ids, mask = tokenizer.encode(chunk)
        want_ids, want_mask = reference_encode(old, chunk)
        if ids.shape != want_ids.shape or (ids != want_ids).any() or (mask != want_mask).any():
            for text in chunk:
                got, want = tokenizer.encode([text])[0][0].tolist(), reference_encode(old, [text])[0][0].tolist()
                assert got == want, f"{text[:80]!r}: {got[:40]} != {want[:40]}"
            raise AssertionError(f"batch {i}: padding differs")  # pragma: no cover


def synthetic_vocab(seed: int = 7) -> list[tuple[str, float]]:
    """Pieces for the hard cases with float32 scores written to 17 digits, like the bundled tokenizer.json (so
    `tokenizers` reads some of them one ulp off), and ties: ᄏ/ᄏᄏ/ᄏᄏᄏ, n/nn, i/ii, a/aa."""
    pieces = ["▁", "▁a", "a", "aa", "ab", "▁ab", "b", "c", "k", "▁k", "▁kn", "n", "nn", "i", "ii", "x", "y", "xy", "z",
              "1", "2", "3", "12", "▁1", "0", "-", ".", "..", ",", "!", "!!", "?", "~", "~~", "%", "<", ">", "/", "s",
              "S", "A", "B", "C", "G", "P", "e", "o", "r", "u", "ー", "カ", "タ", "ナ", "パ", "ソ", "コ", "ン", "ガ",
              "ᄏ", "ᄏᄏ", "ᄏᄏᄏ", "ᅲ", "ᅲᅲ", "ᅮ", "ᄒ", "ᄒᄒ", "▁택배", "택", "배", "▁환불", "환", "불", "이", "▁안",
              "▁들어", "와", "요", "와요", "좋아요", "▁좋아", "▁결제", "▁오류", "▁주문", "번호", "▁확인", "일", "▁3",
              "할인", "😀", "▁😀", "🇰", "🇷", "(", ")", "주", "kg", "fi", "query", "▁query", ":", "▁passage", "한", "국",
              "어", "한국어", "하", "하하", "▁하하", "\u0301", "á", "ạ"]
    rng = np.random.default_rng(seed)
    scores = dict(zip(pieces, map(float, rng.uniform(-15, -3, len(pieces)).astype(np.float32)), strict=True))
    # the bundled model's own scores, where serde_json's extra ulp breaks the tie: "knnnn" is ▁kn nn n
    scores.update({"▁kn": -11.871331214904785, "n": -6.093497276306152, "nn": -11.493908882141113,
                   "ᄏ": -14.31084156036377, "ᄏᄏ": -13.600322723388672, "ᄏᄏᄏ": -13.754280090332031})
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    return [*specials, *scores.items(), ("<mask>", 0.0)]


def fuzz_texts(n: int, seed: int = 1) -> list[str]:
    """Random strings of the synthetic pieces' characters, unknown characters, spaces and special tokens."""
    rng = np.random.default_rng(seed)
    alphabet = sorted({ch for piece, _ in synthetic_vocab() for ch in piece if piece[0] != "<"})
    extra = [" ", "  ", "\t", "\n", "\u3000", "<s>", "</s>", "<mask>", " <mask>", "<unk>", "ㅋ", "ㅠ", "ｶ", "ﾟ", "Ａ",
             "𓀀", "é", "\u0323", "\u1ac1", "\x01"]
    pool = alphabet + extra
    return ["".join(pool[j] for j in rng.integers(0, len(pool), rng.integers(0, 30))) for _ in range(n)]


# Questions of the sample articles (articles/**/*.md: titles and `questions:`), Korean and English.
SAMPLE_QUESTIONS = [
    "환불은 언제 되나요?",
    "환불 언제 들어와요?",
    "반품했는데 환불까지 얼마나 걸려요",
    "환불 완료라는데 돈이 안 들어왔어요",
    "환불이 안 들어와요ㅠㅠ",
    "환불을 포인트로 받을지 원래 결제수단으로 받을지 선택할 수 있나요?",
    "적립금으로 환불해주세요",
    "지난 주문 내역은 어디서 확인하나요?",
    "예전에 산 거 어디서 봐요?",
    "비회원으로 주문한 거 어떻게 확인해요?",
    "결제가 안 돼요 (결제 오류·승인 실패)",
    "승인 거절이라고 떠요",
    "결제 오류 났는데 돈은 빠져나갔어요",
    "카드 할부 결제가 가능한가요? 무이자 할부도 되나요?",
    "My payment failed. What should I do?",
    "Can I pay with a foreign credit card?",
    "Do you ship overseas?",
    "Do I need a personal customs code?",
    "How can I contact Hangyeol Market customer support?",
    "What are your support hours?",
]


def corpus_texts() -> list[str]:
    """The sample knowledge base as the embedder sees it and as files, and the sample queries."""
    from kb.articles.parse import load_articles

    texts = list(SAMPLE_QUESTIONS)
    for article in load_articles(ROOT / "articles"):
        texts += [article.title, *article.questions, article.body]
        texts += [f"{section.question}\n{section.answer}" for section in article.sections]
    for path in sorted((ROOT / "articles").rglob("*.md")):
        whole = path.read_text(encoding="utf-8")
        texts += [whole, *whole.splitlines()]
    for path in sorted((ROOT / "tests" / "data").glob("sample_queries*.jsonl")):
        texts += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts
