"""CLIP's text tokenizer rules, reimplemented to count tokens exactly as Stable Diffusion's encoder sees them.

A faithful port of OpenAI CLIP's ``simple_tokenizer.py`` as Hugging Face's ``CLIPTokenizer`` runs it (the
tokenizer of the SD 1.x/2.x text encoders in diffusers): clean the text, collapse whitespace, lowercase,
split into words with CLIP's regex, map bytes to unicode, then apply the BPE merges greedily by rank with
``</w>`` marking a word's end. Counting needs
only the merges, which ship as ``bpe_simple_vocab_16e6.txt.gz`` (PyPI ``openai-clip``, as package data)
or as ``merges.txt`` in any Hugging Face CLIP tokenizer folder.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import regex

from dst3d.prompts.resources import resolve_path

# CLIP's vocabulary is 49408 = 256 bytes + 256 bytes with </w> + 48894 merges + 2 special tokens.
N_MERGES = 49152 - 256 - 2
START, END = "<|startoftext|>", "<|endoftext|>"

# The word-splitting pattern of CLIP's simple_tokenizer (IGNORECASE, \p classes need the `regex` module).
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable-unicode map (BPE never sees whitespace/control bytes)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _fix_text(text: str) -> str:
    """CLIP runs ``ftfy.fix_text``; use it when installed (it only repairs mojibake, rare in LLM output)."""
    try:
        import ftfy  # optional, not a dependency
    except ImportError:
        return text
    return ftfy.fix_text(text)


def clean(text: str) -> str:
    """``fix_text`` + CLIP's ``whitespace_clean`` + lowercasing, as Hugging Face's CLIPTokenizer does.

    That is the tokenizer diffusers feeds the text encoder with. OpenAI's reference also unescapes HTML
    entities ("&amp;" -> "&"), which can only lower the count, so this count is never the smaller one.
    """
    return regex.sub(r"\s+", " ", _fix_text(text)).strip().lower()


def read_merges(path: str | Path) -> list[tuple[str, str]]:
    """The merge list from ``bpe_simple_vocab_16e6.txt.gz``, a ``merges.txt``, or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "merges.txt", path / "bpe_simple_vocab_16e6.txt.gz"]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise FileNotFoundError(f"{path}: no merges.txt or bpe_simple_vocab_16e6.txt.gz in this folder")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CLIP BPE merges file not found")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = raw.decode("utf-8").split("\n")
    # Both formats start with a "#version" header line; CLIP uses exactly the first N_MERGES merges.
    merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1] if line.strip()]
    bad = [m for m in merges if len(m) != 2]
    if bad or not merges:
        raise ValueError(f"{path}: not a BPE merges file (line {bad[0] if bad else 'none'!r})")
    return merges  # type: ignore[return-value]


class ClipTokenCounter:
    """Count CLIP BPE tokens; ``count`` excludes, ``length`` includes the start and end tokens."""

    def __init__(self, merges: list[tuple[str, str]]) -> None:
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self._byte_encoder = bytes_to_unicode()
        self._cache: dict[str, tuple[str, ...]] = {START: (START,), END: (END,)}

    @classmethod
    def from_spec(cls, spec: str) -> ClipTokenCounter:
        """Build from a params spec: a path or ``pkg:<package>/<file>`` (see :func:`resolve_path`)."""
        try:
            path = resolve_path(spec)
            return cls(read_merges(path))
        except (FileNotFoundError, ModuleNotFoundError) as err:
            raise FileNotFoundError(
                f"CLIP BPE merges {spec!r} not available ({err}). Install them with "
                "`pip install --no-deps openai-clip==1.0.1`, or set prompts.validation.clip_bpe to a "
                "merges.txt / bpe_simple_vocab_16e6.txt.gz / Stable Diffusion tokenizer folder."
            ) from None

    def bpe(self, token: str) -> tuple[str, ...]:
        """Split one byte-encoded word into BPE pieces (the last carries ``</w>``)."""
        if token in self._cache:
            return self._cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:], strict=False)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            first, second = best
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        self._cache[token] = word
        return word

    def words(self, text: str) -> list[str]:
        """CLIP's pre-tokenisation: cleaned, lowercased words and punctuation runs."""
        return _PATTERN.findall(clean(text))

    def tokenize(self, text: str) -> list[str]:
        """The BPE pieces of ``text`` (no start/end tokens)."""
        pieces: list[str] = []
        for word in self.words(text):
            encoded = "".join(self._byte_encoder[b] for b in word.encode("utf-8"))
            pieces.extend(self.bpe(encoded))
        return pieces

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    def length(self, text: str) -> int:
        """Tokens the text encoder sees: BPE pieces plus ``<|startoftext|>`` and ``<|endoftext|>``."""
        return self.count(text) + 2
