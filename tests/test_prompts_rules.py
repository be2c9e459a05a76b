"""prompts: CLIP token counting, every validation rule (a passing and a failing case), templates, config."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from dst3d.params import ConfigError, from_dict
from dst3d.prompts import RULES, ClipTokenCounter, Validator, make_validator
from dst3d.prompts.clip_tokens import bytes_to_unicode, read_merges
from dst3d.prompts.generate import make_jobs, make_request
from dst3d.prompts.params import PromptsConfig
from dst3d.prompts.resources import resolve_path
from dst3d.prompts.template import TemplateBackend, rich_prompt, subject_for, upstream_prompt
from dst3d.prompts.validate import category_pattern, cut_to_sentence, normalise, unwrap_quotes
from dst3d.prompts.words import name_of, terms_of
from dst3d.schema import ModelRecord

CFG = PromptsConfig()
CAR = terms_of(CFG, "car")


@pytest.fixture(scope="module")
def clip() -> ClipTokenCounter:
    return ClipTokenCounter.from_spec(CFG.validation.clip_bpe)


@pytest.fixture(scope="module")
def validator(clip: ClipTokenCounter) -> Validator:
    return Validator(clip, max_clip_tokens=77, min_words=4)


# --------------------------------------------------------------------------- CLIP tokens
def test_bpe_algorithm_on_hand_made_merges(tmp_path):
    """Merges apply by rank, '</w>' marks a word's end, unknown pairs stay split."""
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\nc a\nca r</w>\nb u\n")
    counter = ClipTokenCounter(read_merges(merges))
    assert counter.tokenize("car") == ["car</w>"]
    assert counter.tokenize("bus") == ["bu", "s</w>"]
    assert counter.tokenize("Car, BUS!") == ["car</w>", ",</w>", "bu", "s</w>", "!</w>"]
    assert counter.length("car") == 3  # plus start and end tokens


def test_merges_file_formats_agree(tmp_path, clip):
    """The gz vocabulary, a merges.txt and a tokenizer folder give the same merges."""
    gz = resolve_path(CFG.validation.clip_bpe)
    merges = read_merges(gz)
    assert len(merges) == 48894
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    assert read_merges(folder) == merges
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        read_merges(tmp_path)
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(gzip.compress(b"#v\none two three\n"))
    with pytest.raises(ValueError, match="not a BPE merges file"):
        read_merges(bad)


def test_clip_pretokenisation_rules(clip):
    """Lowercased, contractions split, digits one by one, punctuation runs kept together."""
    assert clip.words("The TV's  screen,  4K!!") == ["the", "tv", "'s", "screen", ",", "4", "k", "!!"]
    assert clip.tokenize("a photo of a car") == ["a</w>", "photo</w>", "of</w>", "a</w>", "car</w>"]
    assert clip.count("supercalifragilistic") > 1  # a rare word costs several tokens


def test_counts_match_transformers_clip_tokenizer(tmp_path, clip):
    """The port gives exactly the tokens of transformers' CLIPTokenizer built from the same merges."""
    from transformers import CLIPTokenizer

    merges = read_merges(resolve_path(CFG.validation.clip_bpe))
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    (tmp_path / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    reference = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    texts = [
        "A red sedan car parked on a quiet street at sunset, best quality, extremely detailed",
        "The TV monitor's screen glows in a dim living-room; 4K HDR!!",
        "A Škoda café — naïve déjà vu 12345",
        "supercalifragilisticexpialidocious antidisestablishmentarianism, over-the-top",
    ]
    for text in texts:
        assert clip.tokenize(text) == reference.tokenize(text), text


def test_missing_clip_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="openai-clip"):
        ClipTokenCounter.from_spec(str(tmp_path / "nope.txt.gz"))
    with pytest.raises(FileNotFoundError, match="not installed"):
        ClipTokenCounter.from_spec("pkg:no_such_package_xyz/bpe.txt.gz")


# --------------------------------------------------------------------------- validation rules
GOOD = "A red sedan parked on a quiet street at dusk."

FAILING = {
    "empty": "   \n ",
    "multi_line": "A red car on a street.\nIt is evening.",
    "garbled": "A red car on a quiet street, bonne boireÃ¨re",
    "list": "1. A red car on a quiet street at dusk",
    "markdown": "A **red car** on a quiet street at dusk",
    "quotes": 'A "red car" on a quiet street at dusk',
    "chat_artefact": "Sure! A red car on a quiet street at dusk",
    "first_person": "I parked my red car on a quiet street at dusk",
    "too_short": "Red car.",
    "no_category": "A red bicycle on a quiet street at dusk",
    "too_long": "A red car " + "with shiny chrome wheels " * 20,
    "duplicate": GOOD,
}


def test_a_good_prompt_passes(validator):
    verdict = validator.check(GOOD, CAR)
    assert verdict.ok and verdict.prompt == GOOD
    assert verdict.clip_tokens == 13  # 11 BPE tokens ('.' is one) + start + end


@pytest.mark.parametrize("rule", [r for r in RULES if r != "truncated"])
def test_each_rule_has_a_failing_case(validator, rule):
    seen = {GOOD} if rule == "duplicate" else set()
    assert validator.check(FAILING[rule], CAR, seen).rule == rule


def test_truncated_reply_is_cut_to_its_last_sentence_or_clause_or_rejected(validator):
    cut = validator.check("A red car on a quiet street at dusk. Behind it, the sun sets", CAR, finished=False)
    assert cut.ok and cut.prompt == "A red car on a quiet street at dusk."
    clause = validator.check("A red car on a quiet street at dusk, its headlights", CAR, finished=False)
    assert clause.ok and clause.prompt == "A red car on a quiet street at dusk"
    assert validator.check("A red car on a quiet street at dusk, its headlights", CAR).ok  # finished: kept
    cut_off = validator.check("A red car on a quiet street at dusk and the", CAR, finished=False)
    assert cut_off.rule == "truncated"
    assert cut_to_sentence("no end here") is None


def test_too_long_is_decided_by_clip_tokens_not_characters(validator, clip):
    # 75 BPE tokens + start/end = 77: exactly the limit passes, one more fails.
    base = "A red car " + "on the road " * 24
    assert clip.length(base) == 77
    assert validator.check(base, CAR).ok
    assert validator.check(base + "today", CAR).rule == "too_long"
    # A short text of rare words can exceed the limit although it has few characters per token.
    assert clip.length("A car " + "x" * 8) < clip.length("A car " + " ".join("qzx" for _ in range(4)))


def test_garbled_text_is_caught_but_accents_are_fine(validator):
    garbled = ("A red car on a quiet street \ufffd", "A red car on a street 🚗", "A red car\x07 on a street")
    for text in garbled:
        assert validator.check(text, CAR).rule == "garbled", repr(text)
    assert validator.check("A red car outside a café in Zürich at dusk", CAR).ok


def test_chat_artefacts_caught_anywhere(validator):
    for text in (
        "Here's a caption: a red car on a quiet street",
        "Caption: a red car on a quiet street",
        "Car Photo: a red car on a quiet street",
        "A red car on a quiet street. I hope this helps!",
        "As an AI, I picture a red car on a street",
        "A red car on a quiet street <|im_end|>",
        "The [Car] is parked on [Street Name] at dusk",
    ):
        assert not validator.check(text, CAR).ok, text
    # A colon inside a sentence is fine.
    assert validator.check("A red car at dusk: the street is quiet and wet", CAR).ok


def test_category_match_plural_synonym_and_spacing():
    pattern = category_pattern(terms_of(PromptsConfig(), "diningtable"))
    for text in ("a dining table", "two dining-tables", "the diningtable", "a long table", "Dining Tables"):
        assert pattern.search(text), text
    assert not pattern.search("a tablet on a desk")  # whole words only
    assert category_pattern(CAR).search("three SUVs on a road")
    assert not category_pattern(CAR).search("a carpet")


def test_one_pair_of_wrapping_quotes_is_removed(validator):
    assert validator.check('"A red car on a quiet street."', CAR).prompt == "A red car on a quiet street."
    assert validator.check("“A red car on a quiet street”.", CAR).prompt == "A red car on a quiet street."
    for text in ('"A red car" on a quiet street', '"A "red" car on a quiet street"', '"A red car on a road'):
        assert validator.check(text, CAR).rule == "quotes", text
    assert unwrap_quotes("'A red car on a street'") == "'A red car on a street'"  # may be an apostrophe


def test_normalise_keeps_content():
    assert normalise("  A  red\tcar  ") == "A red car"
    assert normalise("a\n  b ") == "a\nb"


# --------------------------------------------------------------------------- templates and jobs
def _request(category="car", keywords=("sedan", "red"), index=0, attempt=1):
    model = ModelRecord(
        model_id=f"{category}_00", category=category, source="builtin", mesh="m.obj", keywords=keywords
    )
    job = make_jobs([model], from_dict(PromptsConfig, {"prompts_per_model": index + 1}, "p"))[index]
    return make_request(job, CFG, 0, attempt)


def test_upstream_template_is_exactly_upstreams():
    assert (
        upstream_prompt("car", "best quality, extremely detailed")
        == "An image of car, best quality, extremely detailed"
    )
    backend = TemplateBackend(from_dict(PromptsConfig, {"template": {"style": "upstream"}}, "p").template)
    assert backend.write(_request("aeroplane")) == "An image of airplane, best quality, extremely detailed"


def test_rich_template_is_seeded_varied_and_valid(validator):
    backend = TemplateBackend(CFG.template)
    first = backend.write(_request())
    assert backend.write(_request()) == first  # same seed, same prompt
    variants = {backend.write(_request(index=i % 4, attempt=1 + i // 4)) for i in range(16)}
    assert len(variants) >= 10
    for text in variants:
        assert validator.check(text, CAR).ok, text
    rng = np.random.default_rng(3)
    assert rich_prompt("airplane", (), ("on a runway",), "", rng).startswith(("A ", "An "))
    assert "an airplane" in rich_prompt("airplane", (), ("on a runway",), "", rng)


def test_rich_template_subject_uses_the_subtype_once():
    rng = np.random.default_rng(0)
    subjects = {subject_for("boat", ("fishing boat", "red hull", "mast"), rng) for _ in range(40)}
    assert subjects == {"fishing boat", "red hull fishing boat", "mast fishing boat"}
    assert subject_for("car", ("sedan",), rng) == "sedan car"
    assert subject_for("TV monitor", ("crt monitor",), rng) == "crt monitor"
    assert subject_for("boat", ("cargo ship",), rng, terms=terms_of(CFG, "boat")) == "cargo ship"
    assert subject_for("bottle", (), rng) == "bottle"


def test_jobs_and_requests():
    models = [
        ModelRecord(
            model_id="b", category="car", source="builtin", mesh="m", keywords=("car", "Red", "sedan")
        ),
        ModelRecord(model_id="a", category="tvmonitor", source="builtin", mesh="m", keywords=()),
    ]
    cfg = from_dict(PromptsConfig, {"prompts_per_model": 2}, "p")
    jobs = make_jobs(models, cfg)
    assert [(j.category, j.model_id, j.index) for j in jobs] == [
        ("car", "b", 0),
        ("car", "b", 1),
        ("tvmonitor", "a", 0),
        ("tvmonitor", "a", 1),
    ]
    assert jobs[0].keywords == ("Red", "sedan")  # 'car' only repeats the name; the subtype stays
    few = make_jobs(models, from_dict(PromptsConfig, {"max_keywords": 1}, "p"))
    assert few[0].keywords == ("Red",)
    req = make_request(jobs[2], cfg, 0, 1)
    assert req.name == "TV monitor" and "TV monitor" in req.messages[-1]["content"]
    assert req.messages[0]["role"] == "system"
    seeds = {make_request(j, cfg, 0, a).seed for j in jobs for a in (1, 2)}
    assert len(seeds) == 8  # every job and attempt has its own seed
    assert make_request(jobs[0], cfg, 1, 1).seed != make_request(jobs[0], cfg, 0, 1).seed


# --------------------------------------------------------------------------- config
def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(PromptsConfig, {"max_tokens": 3}, "prompts")
    with pytest.raises(ConfigError, match="backend"):
        from_dict(PromptsConfig, {"backend": "gpt"}, "prompts")
    with pytest.raises(ConfigError, match="placeholder"):
        from_dict(PromptsConfig, {"instruction": "a {colour} car"}, "prompts")
    with pytest.raises(ConfigError, match="top_p"):
        from_dict(PromptsConfig, {"sampling": {"top_p": 0}}, "prompts")
    with pytest.raises(ConfigError, match="base_url"):
        from_dict(PromptsConfig, {"openai": {"base_url": "localhost:8000"}}, "prompts")
    with pytest.raises(ConfigError, match="max_attempts"):
        from_dict(PromptsConfig, {"validation": {"max_attempts": 0}}, "prompts")


def test_names_and_synonyms_from_params_replace_the_builtin_ones():
    cfg = from_dict(PromptsConfig, {"names": {"car": "automobile"}, "synonyms": {"car": ["auto"]}}, "p")
    assert name_of(cfg, "car") == "automobile"
    assert terms_of(cfg, "car") == ("car", "automobile", "auto")
    assert name_of(cfg, "giraffe") == "giraffe" and terms_of(cfg, "giraffe") == ("giraffe",)
    assert make_validator(cfg).check("A blue auto on a sunny road", terms_of(cfg, "car")).ok
