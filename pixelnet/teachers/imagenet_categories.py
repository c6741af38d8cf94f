"""The 1,000 ImageNet-1k classes grouped into categories a person recognises, from WordNet.

Every ImageNet class is a WordNet 3.0 noun synset (its *wnid*, ``n`` + the synset's offset in
``data.noun``). Its category is the first entry of :data:`CATEGORY_ANCHORS` with an anchor synset
among its hypernyms (``@`` and ``@i`` pointers, followed to the root), else ``other``. The order
settles overlaps: a shopping cart is a wheeled vehicle and a container, and is a ``vehicle``;
a strawberry is an edible fruit and a food, and is ``fruit/veg``. Nothing is assigned by hand.

``train/make_categories.py`` reads Debian's ``wordnet-base`` (``/usr/share/wordnet``) and timm's
ImageNet class list, and writes the committed table ``imagenet_categories.tsv`` (``index``,
``wnid``, ``name``, ``category``); this module reads that table, so nothing at run time needs
WordNet. :func:`category_of` is the rule, kept here so that it is tested on a tiny fixture.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["CATEGORIES", "CATEGORY_ANCHORS", "TABLE", "ImageNetClass", "category_index", "category_of",
           "imagenet_classes"]

CATEGORY_ANCHORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Senses other than .n.01 were picked by their gloss (train/make_categories.py prints every
    # anchor's gloss): amphibian.n.03 the animal (n.01 is the vehicle), food.n.02 solid food,
    # foodstuff.n.02 a substance prepared as food, plant.n.02 the organism (n.01 is a factory),
    # footwear.n.02 a covering for the feet, mask.n.04 a protective mask, furnishing.n.02 furniture
    # and fittings (curtains, rugs), screen.n.03 a display. Anchors of one category may overlap; each
    # names a part of it, and every anchor holds at least one ImageNet-1k class.
    ("dog", ("dog.n.01",)),
    ("cat", ("feline.n.01",)),  # house cats and big cats
    ("bird", ("bird.n.01",)),
    ("sea life", ("fish.n.01", "aquatic_mammal.n.01", "crustacean.n.01", "mollusk.n.01", "echinoderm.n.01",
                  "coelenterate.n.01")),
    ("reptile", ("reptile.n.01", "amphibian.n.03")),
    ("insect", ("insect.n.01", "arachnid.n.01", "invertebrate.n.01")),  # after sea life: the rest of them
    ("mammal", ("mammal.n.01",)),
    # vehicle.n.01 holds craft (boats, aircraft); before kitchenware: WordNet files wheeled vehicles under container
    ("vehicle", ("vehicle.n.01", "public_transport.n.01")),
    ("fruit/veg", ("edible_fruit.n.01", "vegetable.n.01", "produce.n.01")),  # before food: both are food
    ("food", ("food.n.01", "food.n.02", "foodstuff.n.02", "nutriment.n.01", "beverage.n.01")),
    ("plant", ("plant.n.02", "fungus.n.01", "flower.n.01", "plant_part.n.01")),
    ("instrument", ("musical_instrument.n.01",)),
    ("sports gear", ("sports_equipment.n.01", "game_equipment.n.01")),
    ("clothing", ("clothing.n.01", "headdress.n.01", "footwear.n.01", "footwear.n.02", "mask.n.04",
                  "jewelry.n.01", "spectacles.n.01")),
    ("furniture", ("furniture.n.01", "furnishing.n.02")),
    ("electronics", ("electronic_equipment.n.01", "computer.n.01", "electronic_device.n.01", "telephone.n.01",
                     "photographic_equipment.n.01", "screen.n.03", "communication_system.n.01",
                     "electrical_device.n.01", "memory_device.n.01")),
    ("kitchenware", ("container.n.01", "kitchen_utensil.n.01", "tableware.n.01", "cooking_utensil.n.01",
                     "kitchen_appliance.n.01", "home_appliance.n.01")),  # containers of every kind
    # after kitchenware, so that a kitchen utensil WordNet also files as a tool would stay kitchenware
    # (none of ImageNet-1k's is: all 15 below came from other). hand_tool: hammer, screwdriver,
    # shovel, plunger, can opener, corkscrew; power_tool: chain saw, power drill; edge_tool: hatchet,
    # plane, cleaver, letter opener; garden_tool: lawn mower; rule.n.12: rule (ruler);
    # carpenter's_kit.n.01 (a set of carpenter's tools). Not tool.n.01 itself, which adds only the
    # plow (a farm tool drawn by a tractor or a horse); no wrench or pliers class in ImageNet-1k.
    ("tool", ("hand_tool.n.01", "power_tool.n.01", "edge_tool.n.01", "garden_tool.n.01", "rule.n.12",
              "carpenter's_kit.n.01")),
    ("building", ("structure.n.01", "building.n.01", "roof.n.01")),
    ("landscape", ("geological_formation.n.01",)),  # cliff, valley, seashore, volcano, coral reef
)
"""Category -> anchor synsets (WordNet ``lemma.n.NN`` names: the NN-th sense of the noun), in
the order the rule tries them; everything else is ``other``."""

OTHER = "other"
CATEGORIES: tuple[str, ...] = (*(name for name, _ in CATEGORY_ANCHORS), OTHER)
"""Category names, indexed as the dense classifier's category maps are."""

TABLE = Path(__file__).with_name("imagenet_categories.tsv")
"""The committed table, written by ``train/make_categories.py``."""


@dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet-1k class.

    Attributes:
        index: the classifier's output index.
        wnid: WordNet id.
        name: its first lemma (timm's class names).
        category: one of :data:`CATEGORIES`.
    """

    index: int
    wnid: str
    name: str
    category: str


def category_of(wnid: str, parents: Callable[[str], Iterable[str]], anchors: dict[str, str]) -> str:
    """The category of a synset: the first category of :data:`CATEGORY_ANCHORS` (in order) with an
    anchor among the synset itself and all its hypernyms, else ``other``.

    Args:
        wnid: the synset.
        parents: wnid -> its direct hypernyms (``@`` and ``@i``).
        anchors: anchor wnid -> its category.
    """
    seen, todo = set(), [wnid]
    while todo:  # the hypernym closure (WordNet allows several parents)
        w = todo.pop()
        if w not in seen:
            seen.add(w)
            todo.extend(parents(w))
    for name, _ in CATEGORY_ANCHORS:
        if any(anchors.get(w) == name for w in seen):
            return name
    return OTHER


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The 1,000 classes of the committed table, in classifier order.

    Raises:
        ValueError: the table is malformed (not 1,000 rows in order, or an unknown category).
    """
    with TABLE.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = tuple(ImageNetClass(int(r["index"]), r["wnid"], r["name"], r["category"]) for r in rows)
    if [c.index for c in out] != list(range(1000)) or any(c.category not in CATEGORIES for c in out):
        raise ValueError(f"{TABLE} is not a table of the 1,000 ImageNet classes in order with known categories")
    return out


@lru_cache(maxsize=1)
def category_index() -> np.ndarray:
    """int64 ``[1000]``: the index in :data:`CATEGORIES` of each ImageNet class's category."""
    out = np.array([CATEGORIES.index(c.category) for c in imagenet_classes()], dtype=np.int64)
    out.setflags(write=False)
    return out
