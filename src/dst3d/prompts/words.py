"""Word tables of the prompts stage: category names, synonyms, upstream's quality and negative prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dst3d.prompts.params import PromptsConfig

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
INSTRUCTION_FIELDS = {"name": "car", "article": "a", "keywords": "red", "category": "car"}
"""The placeholders ``prompts.instruction`` may use, with sample values for checking it formats."""


def name_of(cfg: PromptsConfig, category: str) -> str:
    """The natural name the prompts use for ``category`` (``prompts.names`` first, then the table)."""
    return cfg.names.get(category) or PROMPT_NAMES.get(category, category)


def terms_of(cfg: PromptsConfig, category: str) -> tuple[str, ...]:
    """Every word that counts as mentioning ``category``: id, name, synonyms (params first)."""
    extra = cfg.synonyms.get(category, PROMPT_SYNONYMS.get(category, ()))
    terms = (category, name_of(cfg, category), *extra)
    return tuple(dict.fromkeys(t.lower() for t in terms if t.strip()))

