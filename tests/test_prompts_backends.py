"""prompts: the llm backend on a tiny local causal LM, the openai backend against a local HTTP server,
the generate/regenerate/fallback loop, diversity, and the stage script (deterministic output)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dst3d.params import from_dict
from dst3d.prompts import PromptBackendError, make_validator, open_backend
from dst3d.prompts.base import Completion, Request
from dst3d.prompts.generate import generate_prompts, make_jobs, make_request
from dst3d.prompts.openai_api import OpenAIBackend
from dst3d.prompts.params import PromptsConfig
from dst3d.schema import ModelRecord, read_jsonl, write_manifest

REPO = Path(__file__).resolve().parents[1]

CAPTIONS = [
    "A red car parked on a quiet street at dusk.",
    "A blue boat moored in a calm harbour.",
    "A wooden chair by a sunny window.",
    "A white airplane above the clouds at sunrise.",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _models(categories=("car", "boat"), per_category: int = 2) -> list[ModelRecord]:
    return [
        ModelRecord(model_id=f"{c}_{i:02d}", category=c, source="builtin", mesh="m.obj", keywords=("red",))
        for c in categories
        for i in range(per_category)
    ]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A tiny Llama with a BPE tokenizer trained here, taught for a few steps to answer with a caption
    and stop, so generation exercises end-of-sequence handling, decoding and validation for real."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_lm")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Train on the stage's real requests (default instruction) for each caption's category.
    cfg = PromptsConfig()
    requests = [
        make_request(make_jobs(_models((c,), 1), cfg)[0], cfg, 0, 1)
        for c in ("car", "boat", "chair", "aeroplane")
    ]
    words = [m["content"] for r in requests for m in r.messages]
    bpe.train_from_iterator([*CAPTIONS, *words, "system user assistant"] * 5, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    torch.set_num_threads(1)  # as conftest pins for tests: this fixture runs before that autouse fixture
    model = LlamaForCausalLM(config)
    texts = [
        tok.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True)
        + c
        + "<|im_end|>"
        for r, c in zip(requests, CAPTIONS, strict=True)
    ]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    # Loss on the replies only: the model must learn which caption answers which category.
    n_prompt = [
        len(tok(t.rsplit("assistant\n", 1)[0] + "assistant\n", add_special_tokens=False)["input_ids"])
        for t in texts
    ]
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    for row, n in enumerate(n_prompt):
        labels[row, : int((enc["attention_mask"][row] == 0).sum()) + n] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(80):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(folder)
    return folder


def _llm_cfg(tiny_lm: Path, **over: Any) -> PromptsConfig:
    data = {
        "backend": "llm",
        "llm": {"model": str(tiny_lm), "gguf_file": "", "batch_size": 3},
        "sampling": {"temperature": 0.5, "max_new_tokens": 16},
        "diversity": {"enabled": False},
    }
    for key, value in over.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return from_dict(PromptsConfig, data, "prompts")


# --------------------------------------------------------------------------- llm backend
def test_llm_backend_generates_deterministically_per_seed(tiny_lm):
    cfg = _llm_cfg(tiny_lm, sampling={"temperature": 1.5})  # hot enough that seeds matter for the tiny model
    backend = open_backend(cfg)
    assert backend.describe()["parameters"] > 0
    jobs = make_jobs(_models(("car", "boat", "chair"), 2), cfg)
    requests = [make_request(j, cfg, 0, 1) for j in jobs]
    first = backend.generate(requests)
    assert len(first) == len(requests) and all(isinstance(c, Completion) for c in first)
    assert backend.generate(requests) == first  # same seeds -> same text
    assert any(c.finished for c in first)  # the taught model ends its replies
    assert all(0 < c.n_tokens <= cfg.sampling.max_new_tokens for c in first)
    assert not any("<|im_end|>" in c.text for c in first)
    other = backend.generate([make_request(j, cfg, 7, 1) for j in jobs])
    assert [c.text for c in other] != [c.text for c in first]


def test_llm_backend_reports_truncation(tiny_lm):
    backend = open_backend(_llm_cfg(tiny_lm, sampling={"max_new_tokens": 2}))
    cfg = _llm_cfg(tiny_lm)
    out = backend.generate([make_request(make_jobs(_models(("car",), 1), cfg)[0], cfg, 0, 1)])
    assert out[0].finished is False and out[0].n_tokens == 2


def test_llm_chat_template_from_params(tiny_lm, tmp_path):
    template = tmp_path / "chat.jinja"
    template.write_text(
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant] "
    )
    backend = open_backend(_llm_cfg(tiny_lm, llm={"chat_template": str(template)}))
    cfg = _llm_cfg(tiny_lm)
    rendered = backend.render(make_request(make_jobs(_models(("car",), 1), cfg)[0], cfg, 0, 1))
    assert rendered.startswith("[system] ") and rendered.endswith("[assistant] ")


def test_llm_missing_model_is_a_clear_error(tmp_path):
    cfg = from_dict(PromptsConfig, {"llm": {"model": str(tmp_path), "gguf_file": ""}}, "prompts")
    with pytest.raises(PromptBackendError, match="cannot load language model"):
        open_backend(cfg)


def test_generate_with_llm_counts_every_outcome(tiny_lm):
    cfg = _llm_cfg(tiny_lm, validation={"max_attempts": 2}, prompts_per_model=1)
    jobs = make_jobs(_models(("car", "boat", "chair", "bus"), 2), cfg)
    rows, stats = generate_prompts(jobs, open_backend(cfg), make_validator(cfg), cfg, 0)
    d = stats.to_dict()
    assert d["jobs"] == len(jobs) == 8
    o = d["outcomes"]
    assert o["valid_first_try"] + o["valid_after_retry"] + o["fallback"] + o["dropped"] == len(jobs)
    assert d["candidates"] == d["outcomes"]["valid_first_try"] + o["valid_after_retry"] + sum(
        d["rejections"].values()
    )
    assert len(rows) == len(jobs) - o["dropped"]
    assert len({r.prompt for r in rows}) == len(rows)  # exact duplicates never survive
    # The model only knows car/boat/chair/airplane captions: 'bus' jobs can never pass and fall back.
    assert all(r.backend == "template" for r in rows if r.category == "bus")
    assert any(r.backend == "llm" for r in rows)
    assert d["rejections"]["no_category"] + d["rejections"]["duplicate"] > 0
    for r in rows:
        assert r.negative_prompt == cfg.negative_prompt
        assert 1 <= r.attempts <= cfg.validation.max_attempts + 1


# --------------------------------------------------------------------------- openai backend
class _Server:
    """A local OpenAI-compatible server on 127.0.0.1: ``handler(body, n)`` -> (status, reply, headers)."""

    def __init__(self, handler: Callable[[dict, int], tuple[int, Any, dict]], delay_s: float = 0.0) -> None:
        self.requests: list[tuple[dict, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    status, reply, headers = 404, {"error": "not found"}, {}
                else:
                    status, reply, headers = handler(body, len(owner.requests))
                time.sleep(delay_s)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Callable[..., _Server]]:
    started: list[_Server] = []

    def start(handler, delay_s: float = 0.0) -> _Server:
        started.append(_Server(handler, delay_s))
        return started[-1]

    yield start
    for s in started:
        s.close()


def _reply(text: str, finish: str = "stop") -> dict:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 30, "completion_tokens": len(text.split())},
    }


def _openai(url: str, **over: Any) -> PromptsConfig:
    openai = {
        "base_url": url,
        "model": "tiny",
        "api_key_env": "DST3D_TEST_KEY",
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.0,
        "concurrency": 1,
        **over,
    }
    # Three attempts, whatever the default: the scripted replies below count on it.
    return from_dict(
        PromptsConfig, {"backend": "openai", "openai": openai, "validation": {"max_attempts": 3}}, "prompts"
    )


def _one_request(cfg: PromptsConfig) -> Request:
    return make_request(make_jobs(_models(("car",), 1), cfg)[0], cfg, 0, 1)


def test_openai_request_payload_and_auth(server):
    srv = server(lambda body, n: (200, _reply("A red car on a wet street at night."), {}))
    cfg = _openai(srv.url)
    backend = OpenAIBackend(cfg.openai, cfg.sampling, env={"DST3D_TEST_KEY": "sk-test"})
    request = _one_request(cfg)
    out = backend.generate([request])
    assert out == [Completion("A red car on a wet street at night.", finished=True, n_tokens=9)]
    headers, body = srv.requests[0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny" and body["messages"] == list(request.messages)
    assert body["max_tokens"] == cfg.sampling.max_new_tokens and body["seed"] == request.seed % 2**31
    assert body["temperature"] == cfg.sampling.temperature
    # No key in the environment: no Authorization header (local servers need none).
    OpenAIBackend(cfg.openai, cfg.sampling, env={}).generate([request])
    assert "Authorization" not in srv.requests[1][0]


def test_openai_retries_transient_errors_then_succeeds(server):
    script = {1: (503, {"error": "loading"}, {}), 2: (429, {"error": "slow down"}, {"Retry-After": "0.5"})}
    srv = server(lambda body, n: script.get(n, (200, _reply("A red car by the sea."), {})))
    cfg = _openai(srv.url)
    sleeps: list[float] = []
    backend = OpenAIBackend(cfg.openai, cfg.sampling, env={}, sleep=sleeps.append)
    assert backend.generate([_one_request(cfg)])[0].text == "A red car by the sea."
    assert len(srv.requests) == 3 and backend.retries_used == 2
    assert sleeps[1] == 0.5  # Retry-After honoured


def test_openai_gives_up_after_retries_and_fails_fast_on_client_errors(server):
    srv = server(lambda body, n: (500, {"error": "boom"}, {}))
    cfg = _openai(srv.url)
    with pytest.raises(PromptBackendError, match="failed after 3 tries.*HTTP 500"):
        OpenAIBackend(cfg.openai, cfg.sampling, env={}, sleep=lambda s: None).generate([_one_request(cfg)])
    assert len(srv.requests) == 3
    bad = server(lambda body, n: (400, {"error": "unknown model"}, {}))
    with pytest.raises(PromptBackendError, match="HTTP 400.*unknown model"):
        OpenAIBackend(_openai(bad.url).openai, cfg.sampling, env={}).generate([_one_request(cfg)])
    assert len(bad.requests) == 1


def test_openai_timeout_is_retried_then_reported(server):
    srv = server(lambda body, n: (200, _reply("A red car."), {}), delay_s=0.6)
    cfg = _openai(srv.url, timeout_s=0.2, max_retries=1)
    t0 = time.perf_counter()
    with pytest.raises(PromptBackendError, match="failed after 2 tries"):
        OpenAIBackend(cfg.openai, cfg.sampling, env={}).generate([_one_request(cfg)])
    assert time.perf_counter() - t0 < 3
    assert len(srv.requests) == 2


def test_openai_unreachable_server(tmp_path):
    cfg = _openai("http://127.0.0.1:9/v1", max_retries=0)  # port 9 (discard) is closed here
    with pytest.raises(PromptBackendError, match="failed after 1 tries"):
        OpenAIBackend(cfg.openai, cfg.sampling, env={}).generate([_one_request(cfg)])


def test_generate_regenerates_invalid_replies_then_falls_back(server):
    """Through the openai backend: invalid replies are regenerated, hopeless jobs get the template.

    Each category's replies are served in order; a round asks for every pending job in job order."""
    answers = {
        # car_00#0: chat artefact, then a reply cut by the token limit (kept up to its last sentence).
        # car_00#1: valid at once.
        "car": [
            "Sure! Here is a caption: a red car.",
            "A red car parked by a lake at dawn.",
            "A red car in the snow at noon. Behind it the",
        ],
        # boat_00#1 first repeats #0 (a duplicate), then gets a reply of its own.
        "boat": [
            "A red boat on a calm lake at dusk.",
            "A red boat on a calm lake at dusk.",
            "A red boat by a pier.",
        ],
        "chair": ["1. A chair", "- a chair", 'A "comfy" chair by the window'],  # never valid
    }
    served: dict[str, int] = {}

    def handler(body: dict, n: int) -> tuple[int, Any, dict]:
        prompt = body["messages"][-1]["content"]
        category = next(c for c in answers if f" {c} " in prompt)
        i = served.get(category, 0)
        served[category] = i + 1
        text = answers[category][min(i, len(answers[category]) - 1)]
        return 200, _reply(text, "length" if text.endswith(" the") else "stop"), {}

    srv = server(handler)
    cfg = _openai(srv.url)
    jobs = make_jobs(_models(("boat", "car", "chair"), 1), cfg)
    rows, stats = generate_prompts(
        jobs, OpenAIBackend(cfg.openai, cfg.sampling, env={}), make_validator(cfg), cfg, 0
    )
    d = stats.to_dict()
    got = {(r.category, r.index): (r.prompt, r.attempts, r.backend) for r in rows}
    assert got[("boat", 0)] == ("A red boat on a calm lake at dusk.", 1, "openai")
    assert got[("boat", 1)] == ("A red boat by a pier.", 2, "openai")
    assert got[("car", 0)] == ("A red car in the snow at noon.", 2, "openai")
    assert got[("car", 1)] == ("A red car parked by a lake at dawn.", 1, "openai")
    for i in (0, 1):
        assert got[("chair", i)][1:] == (cfg.validation.max_attempts + 1, "template")
        assert "chair" in got[("chair", i)][0]
    assert d["outcomes"] == {"valid_first_try": 2, "valid_after_retry": 2, "fallback": 2, "dropped": 0}
    assert {k: v for k, v in d["rejections"].items() if v} == {
        "duplicate": 1,
        "chat_artefact": 1,
        "list": 2,
        "quotes": 4,
    }
    assert d["candidates"] == len(srv.requests) == 12
    assert d["validity_rate"] == pytest.approx(4 / 12) and d["success_rate"] == pytest.approx(4 / 6)
    assert d["fallback_count"] == 2
    assert d["rejected_examples"]["duplicate"] == ["A red boat on a calm lake at dusk."]
    assert d["per_category"]["chair"] == {
        "jobs": 2,
        "prompts": 2,
        "valid_first_try": 0,
        "valid_after_retry": 0,
        "fallback": 2,
        "dropped": 0,
    }


def test_fallback_duplicates_are_dropped_and_counted(server):
    """With upstream's template as the fallback, two hopeless jobs of one category share one sentence."""
    srv = server(lambda body, n: (200, _reply("Sure!"), {}))
    cfg = from_dict(
        PromptsConfig,
        {
            "backend": "openai",
            "openai": {"base_url": srv.url, "model": "m", "backoff_s": 0.0},
            "template": {"style": "upstream"},
            "validation": {"max_attempts": 1},
        },
        "p",
    )
    jobs = make_jobs(_models(("car",), 1), cfg)
    rows, stats = generate_prompts(
        jobs, OpenAIBackend(cfg.openai, cfg.sampling, env={}), make_validator(cfg), cfg, 0
    )
    assert [r.prompt for r in rows] == ["An image of car, best quality, extremely detailed"]
    assert stats.to_dict()["outcomes"] == {
        "valid_first_try": 0,
        "valid_after_retry": 0,
        "fallback": 1,
        "dropped": 1,
    }


# --------------------------------------------------------------------------- diversity and the stage
def test_sentence_embeddings_and_diversity():
    from dst3d.prompts.diversity import SentenceEmbedder, diversity_by_category, mean_pairwise_cosine_distance

    embedder = SentenceEmbedder(PromptsConfig().diversity.model)
    emb = embedder.embed(["A red car on a street.", "A red car on a street.", "A sailboat on a stormy sea."])
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert mean_pairwise_cosine_distance(emb[:2]) == pytest.approx(0.0, abs=1e-6)
    assert mean_pairwise_cosine_distance(emb[:1]) is None
    similar = diversity_by_category(
        embedder, [("car", "A red car on a street."), ("car", "A red car on a road.")]
    )
    varied = diversity_by_category(
        embedder, [("car", "A red car on a street."), ("car", "A vintage coupe in the snow.")]
    )
    assert 0 < similar["mean"] < varied["mean"]


def _stage(tmp_path: Path, tiny_lm: Path, out: str) -> tuple[Path, Path]:
    from stages.prompts import main  # the stage script, importable once REPO is on sys.path

    params = {
        "base": {"seed": 3, "categories": ["boat", "car"]},
        "prompts": {
            "prompts_per_model": 2,
            "llm": {"model": str(tiny_lm), "gguf_file": "", "batch_size": 4},
            "sampling": {"max_new_tokens": 16},
            "validation": {"max_attempts": 2},
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, _models(("car", "boat", "chair"), 2))  # chair is not in base.categories
    out_dir, metrics = tmp_path / out, tmp_path / f"{out}.json"
    assert (
        main(
            [
                "--params",
                str(tmp_path / "params.yaml"),
                "--manifest",
                str(manifest),
                "--out",
                str(out_dir),
                "--metrics",
                str(metrics),
            ]
        )
        == 0
    )
    return out_dir / "prompts.jsonl", metrics


def test_stage_writes_prompts_and_metrics_deterministically(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    first, metrics_path = _stage(tmp_path, tiny_lm, "a")
    second, _ = _stage(tmp_path, tiny_lm, "b")
    assert first.read_bytes() == second.read_bytes()  # same params -> identical file
    rows = read_jsonl(first)
    assert {r["category"] for r in rows} == {"boat", "car"} and len(rows) == 8
    assert set(rows[0]) == {
        "model_id",
        "category",
        "index",
        "prompt",
        "negative_prompt",
        "backend",
        "seed",
        "attempts",
        "clip_tokens",
    }
    metrics = json.loads(metrics_path.read_text())
    assert metrics["jobs"] == 8 and 0 <= metrics["validity_rate"] <= 1
    assert set(metrics["outcomes"]) == {"valid_first_try", "valid_after_retry", "fallback", "dropped"}
    div = metrics["diversity"]
    assert set(div["per_category"]) == {"boat", "car"}
    assert div["template_upstream"] == pytest.approx(0.0, abs=1e-5)  # one sentence per category
    assert div["prompts"] > 0 and div["template_rich"] > 0
    assert metrics["timing"]["tokens_per_s"] > 0
