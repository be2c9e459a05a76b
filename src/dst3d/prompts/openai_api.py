"""The ``openai`` backend: any OpenAI-compatible ``POST {base_url}/chat/completions`` (vLLM, Ollama,
llama.cpp server, OpenAI itself), over the standard library's HTTP client: no SDK dependency.

Transient failures (connection errors, timeouts, 408/409/429 and 5xx) are retried ``max_retries`` times
with exponential backoff, honouring ``Retry-After``; other 4xx answers are configuration errors and fail
at once. Requests run ``concurrency`` at a time (servers batch concurrent requests); results keep
request order and each carries its own seed, so the output does not depend on timing.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dst3d import progress
from dst3d.prompts.base import Completion, PromptBackendError, Request
from dst3d.prompts.params import PromptOpenAIConfig, PromptSamplingConfig, PromptsConfig

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        cfg: PromptOpenAIConfig,
        sampling: PromptSamplingConfig,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cfg = cfg
        self.sampling = sampling
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.api_key = (os.environ if env is None else env).get(cfg.api_key_env, "")
        self._sleep = sleep
        self.retries_used = 0

    def payload(self, request: Request) -> dict[str, Any]:
        s = self.sampling
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": list(request.messages),
            "max_tokens": s.max_new_tokens,
            "n": 1,
            # Greedy decoding is temperature 0 in this API.
            "temperature": s.temperature if s.do_sample else 0.0,
            "top_p": s.top_p if s.do_sample else 1.0,
        }
        if self.cfg.send_seed:
            body["seed"] = request.seed % 2**31  # some servers reject seeds beyond int32
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            delay = self.cfg.backoff_s * 2**attempt
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", "replace")[:300]
                if err.code not in RETRY_STATUS:
                    raise PromptBackendError(f"{self.url}: HTTP {err.code}: {detail}") from None
                last = f"HTTP {err.code}: {detail}"
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
                    delay = min(float(retry_after), MAX_RETRY_AFTER_S)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
            except json.JSONDecodeError as err:
                last = f"reply is not JSON: {err}"
            if attempt < self.cfg.max_retries:
                self.retries_used += 1
                self._sleep(delay)
        raise PromptBackendError(
            f"{self.url}: failed after {self.cfg.max_retries + 1} tries; last error: {last}"
        )

    def complete(self, request: Request) -> Completion:
        reply = self._post(self.payload(request))
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise PromptBackendError(f"{self.url}: unexpected reply {str(reply)[:300]}") from None
        usage = reply.get("usage") or {}
        return Completion(
            text,
            finished=choice.get("finish_reason") != "length",
            n_tokens=int(usage.get("completion_tokens") or 0),
        )

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        if self.cfg.concurrency == 1 or len(requests) <= 1:
            return list(progress.track(map(self.complete, requests), "prompts (openai)", "prompt", len(requests)))
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            done = pool.map(self.complete, requests)  # in request order; counted as they come back
            return list(progress.track(done, "prompts (openai)", "prompt", len(requests)))

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "model": self.cfg.model,
            "base_url": self.cfg.base_url,
            "retries_used": self.retries_used,
        }


def open(params: PromptOpenAIConfig, cfg: PromptsConfig) -> OpenAIBackend:
    """The ``openai`` backend (the server is asked on the first request)."""
    return OpenAIBackend(params, cfg.sampling)
