"""The ``template`` backend: upstream's fixed template and a seeded template combiner (no LLM).

Upstream 3D-DST prompts every image with "An image of {class}, best quality, extremely detailed". The
``rich`` style combines the asset's keywords with a scene that suits the category and a light, chosen by
the request's seed. It never names a viewpoint: the rendered edge map already fixes the pose, and a text
that contradicts it fights the ControlNet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from dst3d.prompts.base import Completion, Request
from dst3d.prompts.params import PromptsConfig, PromptTemplateConfig

OPENERS: tuple[str, ...] = (
    "A photo of",
    "A photograph of",
    "A realistic photo of",
    "A close-up photo of",
    "A wide-angle photo of",
    "A DSLR photo of",
    "A candid snapshot of",
    "A high-resolution photo of",
)

LIGHTS: tuple[str, ...] = (
    "at golden hour",
    "in soft morning light",
    "under an overcast sky",
    "in bright midday sun",
    "at dusk",
    "in warm evening light",
    "on a foggy morning",
    "after the rain",
    "in natural daylight",
    "in soft diffuse light",
)

# Places where each PASCAL3D+ category is plausibly photographed; other categories use GENERIC_SCENES.
SCENES: dict[str, tuple[str, ...]] = {
    "aeroplane": (
        "on an airport runway",
        "above the clouds",
        "parked on the tarmac",
        "over green fields",
        "against a clear blue sky",
        "near a hangar",
    ),
    "bicycle": (
        "leaning against a brick wall",
        "on a city street",
        "on a forest trail",
        "by a canal",
        "in a park",
        "next to a cafe",
    ),
    "boat": (
        "on a calm lake",
        "moored in a harbour",
        "on the open sea",
        "on a river bank",
        "near a wooden pier",
        "in a quiet bay",
    ),
    "bottle": (
        "on a kitchen table",
        "on a wooden shelf",
        "on a picnic blanket",
        "on a bar counter",
        "on a windowsill",
        "on a beach towel",
    ),
    "bus": (
        "on a city street",
        "at a bus stop",
        "on a country road",
        "in a depot",
        "on a busy avenue",
        "at a station",
    ),
    "car": (
        "on a city street",
        "parked in a driveway",
        "on a mountain road",
        "on a highway",
        "in a parking lot",
        "on a coastal road",
    ),
    "chair": ("in a living room", "on a porch", "in a garden", "in a cafe", "by a window", "in an office"),
    "diningtable": (
        "in a dining room",
        "in a bright kitchen",
        "on a patio",
        "in a restaurant",
        "in a farmhouse",
        "by a large window",
    ),
    "motorbike": (
        "on a city street",
        "on a winding mountain road",
        "parked by a cafe",
        "on a desert highway",
        "in a garage",
        "on a country lane",
    ),
    "sofa": (
        "in a living room",
        "in a loft apartment",
        "in a hotel lobby",
        "by a fireplace",
        "in a bright studio",
        "in a cozy den",
    ),
    "train": (
        "at a railway station",
        "crossing a bridge",
        "on tracks through the countryside",
        "in the mountains",
        "at a platform",
        "passing a forest",
    ),
    "tvmonitor": (
        "in a living room",
        "on an office desk",
        "on a wooden cabinet",
        "in a bedroom",
        "in a dark media room",
        "on a shop display",
    ),
}
GENERIC_SCENES: tuple[str, ...] = ("outdoors", "indoors", "in a natural setting", "in everyday surroundings")


def article_for(word: str) -> str:
    """'a' or 'an' by the first letter (good enough for captions: no 'an hour' cases in our vocabulary)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def upstream_prompt(name: str, quality: str) -> str:
    """Upstream's template, exactly: ``An image of {class}, {a_prompt}``."""
    return f"An image of {name}, {quality}"


def subject_for(
    name: str, keywords: Sequence[str], rng: np.random.Generator, terms: Sequence[str] = ()
) -> str:
    """The object as a noun phrase: the asset's first keyword (its subtype, e.g. "fishing boat", "sedan")
    as the head, the class name added unless the subtype already ends in it or in a synonym ("cargo
    ship"), and sometimes one of the next two keywords (a colour, a material) in front."""
    if not keywords:
        return name
    head = keywords[0]
    nouns = {name.split()[-1], *terms}
    if not any(re.search(rf"\b{re.escape(n)}s?$", head, re.IGNORECASE) for n in nouns):
        head = f"{head} {name}"
    extras = list(keywords[1:3])
    if extras and rng.random() < 0.5:
        head = f"{extras[int(rng.integers(len(extras)))]} {head}"
    return head


def rich_prompt(
    name: str,
    keywords: Sequence[str],
    scenes: Sequence[str],
    quality: str,
    rng: np.random.Generator,
    terms: Sequence[str] = (),
) -> str:
    """One seeded combination: opener, the object (:func:`subject_for`), a scene, a light, quality tags."""
    subject = subject_for(name, keywords, rng, terms)
    opener = OPENERS[int(rng.integers(len(OPENERS)))]
    scene = scenes[int(rng.integers(len(scenes)))]
    light = LIGHTS[int(rng.integers(len(LIGHTS)))]
    text = f"{opener} {article_for(subject)} {subject} {scene}, {light}"
    return f"{text}, {quality}" if quality else text


class TemplateBackend:
    """Writes prompts from templates; deterministic in each request's seed."""

    name = "template"

    def __init__(self, cfg: PromptTemplateConfig) -> None:
        self.cfg = cfg

    def scenes_for(self, category: str) -> tuple[str, ...]:
        return (*SCENES.get(category, GENERIC_SCENES), *self.cfg.scenes.get(category, ()))

    def write(self, request: Request) -> str:
        if self.cfg.style == "upstream":
            return upstream_prompt(request.name, self.cfg.quality)
        rng = np.random.default_rng(request.seed)
        scenes = self.scenes_for(request.category)
        return rich_prompt(request.name, request.keywords, scenes, self.cfg.quality, rng, request.terms)

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return [Completion(self.write(r), finished=True, n_tokens=0) for r in requests]

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "style": self.cfg.style}


def open(params: PromptTemplateConfig, cfg: PromptsConfig) -> TemplateBackend:
    """The ``template`` backend."""
    return TemplateBackend(params)
