"""Prompt validation: the rules every prompt passes before it reaches the diffusion model.

Each rule has a stable name (the key of its count in ``metrics/prompts.json``). The text is first
normalised (whitespace runs collapsed, ends stripped: never a change of content); a reply cut off by the
token limit is cut back to its last full sentence or clause, and one pair of quotes around the whole reply
is removed (small chat models wrap captions in quotes). Nothing else is repaired: a reply that breaks a
rule is regenerated, because fixing chat artefacts by hand leaves fragments ("caption: …") behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dst3d.prompts.clip_tokens import ClipTokenCounter

# Rule names, in the order they are checked (the first failing rule is the one counted).
RULES: tuple[str, ...] = (
    "empty",
    "truncated",
    "multi_line",
    "garbled",
    "list",
    "markdown",
    "quotes",
    "chat_artefact",
    "first_person",
    "too_short",
    "no_category",
    "too_long",
    "duplicate",
)

# Assistant-style openers and sign-offs; anchored ones only at the start, the rest anywhere.
_ARTEFACT_START = re.compile(
    r"^\s*(sure|certainly|of course|absolutely|okay|ok\b|here(?:'s| is| are)|i(?:'d| would) (?:be happy|love)"
    r"|as an ai|i'm sorry|i am sorry|i can(?:'t|not)"
    r"|caption|title|prompt|description|answer|assistant|user)\b",
    re.IGNORECASE,
)
_ARTEFACT_ANYWHERE = re.compile(
    r"(as an ai|language model|i hope (?:this|you)|let me know|feel free|here(?:'s| is) (?:a|the|your|an)\b"
    r"|\b(?:caption|prompt|title)\s*:|<\||\|>|<\/?s>|\bim_(?:start|end)\b"
    r"|\[[^\]]*\])",  # "[Airplane] landed on [Street Name]": unfilled template placeholders
    re.IGNORECASE,
)
# A leading "Label:" ("Caption:", "Tv Monitor:") is a heading, not a caption.
_LABEL = re.compile(r"^(?:[\w'-]+ ){0,2}[\w'-]+:\s")
# A photo caption describes the scene; "I"/"we" replies are chat or story-telling, not captions.
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'll|I'd)\b|\b(?:me|my|mine|we|we're|our|ours)\b", re.IGNORECASE)
# Broken decoding and non-text: U+FFFD, UTF-8 read as Latin-1 ("Ã¨", "â€™"), emoji and pictographs,
# control characters. A small model emits these when it samples half of a multi-byte character.
_GARBLED = re.compile(
    "\ufffd|[ÃÂ][\u0080-\u00bf]|â€|[\u0000-\u0008\u000b-\u001f\u007f]"
    "|[\u2600-\u27bf\U0001f000-\U0001faff\ufe0f]"
)
_QUOTES = re.compile(r"[\"“”„‟«»「」]|^'|'$|^‘|’$")
_LIST = re.compile(r"(^|\n)\s*(?:[-*•+]|\d+[.)])\s+")
_MARKDOWN = re.compile(r"\*\*|__|`|~~|#|\[[^\]]*\]\([^)]*\)|^\s*>", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_CLAUSE_END = re.compile(r"\s*(?:[,;:]|\s[-–—])\s")


def normalise(text: str) -> str:
    """Strip the ends and collapse runs of spaces/tabs; line breaks are kept for the ``multi_line`` rule."""
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.strip().split("\n")]
    return "\n".join(lines)


_PAIRS = {'"': '"', "“": "”", "«": "»", "„": "“"}
_QUOTE_CHARS = "\"“”„‟«»「」"


def unwrap_quotes(text: str) -> str:
    """``"A red car."`` or ``"A red car".`` -> ``A red car.``; only when no other quote is inside."""
    close = _PAIRS.get(text[:1])
    if close is None or len(text) < 2:
        return text
    if text.endswith(close):
        body, tail = text[1:-1], ""
    elif len(text) > 2 and text[-2] == close and text[-1] in ".!?":
        body, tail = text[1:-2], text[-1]
    else:
        return text
    return text if any(c in _QUOTE_CHARS for c in body) else (body + tail).strip()


def cut_to_sentence(text: str) -> str | None:
    """A reply cut off by the token limit, up to its last full sentence, else up to its last clause (a
    caption may be a phrase: "A red bus on a quiet lane, its windows"  ->  "A red bus on a quiet lane");
    None when neither ended (cut off mid-first-clause)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends:
        return text[: ends[-1]].strip()
    clauses = [m.start() for m in _CLAUSE_END.finditer(text)]
    return text[: clauses[-1]].strip() if clauses else None


def category_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of any term, its plural, and spaced/hyphenated/joined forms."""
    alts = []
    for term in sorted({t.lower() for t in terms if t.strip()}, key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s\-]+", term.strip())]
        alts.append(r"[\s\-]?".join(words))
    return re.compile(r"\b(?:" + "|".join(alts) + r")(?:s|es)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """One candidate's outcome: ``prompt`` is the normalised text, ``rule`` the failed rule (None: valid)."""

    prompt: str
    rule: str | None
    clip_tokens: int

    @property
    def ok(self) -> bool:
        return self.rule is None


class Validator:
    """Checks candidates against the rules; the category's terms are passed per call (patterns are cached)."""

    def __init__(self, counter: ClipTokenCounter, max_clip_tokens: int = 77, min_words: int = 4) -> None:
        self.counter = counter
        self.max_clip_tokens = max_clip_tokens
        self.min_words = min_words
        self._patterns: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _pattern(self, terms: tuple[str, ...]) -> re.Pattern[str]:
        if terms not in self._patterns:
            self._patterns[terms] = category_pattern(terms)
        return self._patterns[terms]

    def check(
        self,
        text: str,
        terms: tuple[str, ...],
        seen: set[str] | frozenset[str] = frozenset(),
        finished: bool = True,
    ) -> Verdict:
        """Validate ``text``; ``terms`` name the category, ``seen`` holds prompts already accepted,
        ``finished`` is False when generation stopped at the token limit rather than at end-of-text."""
        prompt = unwrap_quotes(normalise(text))
        if not prompt:
            return Verdict(prompt, "empty", 0)
        if not finished:
            cut = cut_to_sentence(prompt)
            if cut is None:
                return Verdict(prompt, "truncated", self.counter.length(prompt))
            prompt = cut
        n_tokens = self.counter.length(prompt)
        if "\n" in prompt:
            rule = "list" if _LIST.search(prompt) else "multi_line"
            return Verdict(prompt, rule, n_tokens)
        for rule, bad in (
            ("garbled", _GARBLED.search(prompt)),
            ("list", _LIST.search(prompt)),
            ("markdown", _MARKDOWN.search(prompt)),
            ("quotes", _QUOTES.search(prompt)),
            (
                "chat_artefact",
                _ARTEFACT_START.search(prompt) or _ARTEFACT_ANYWHERE.search(prompt) or _LABEL.search(prompt),
            ),
            ("first_person", _FIRST_PERSON.search(prompt)),
            ("too_short", len(prompt.split()) < self.min_words),
            ("no_category", not self._pattern(terms).search(prompt)),
            ("too_long", n_tokens > self.max_clip_tokens),
            ("duplicate", prompt in seen),
        ):
            if bad:
                return Verdict(prompt, rule, n_tokens)
        return Verdict(prompt, None, n_tokens)
