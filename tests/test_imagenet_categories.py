"""The ImageNet category table (pixelnet.teachers.imagenet_categories) and the script that derives it
from WordNet (train/make_categories.py): the parser and the first-match rule on a tiny WordNet in
the real file format, the committed table, and spot checks that catch a broken derivation."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import pytest

from pixelnet.teachers.imagenet_categories import (
    CATEGORIES,
    TABLE,
    category_index,
    category_of,
    imagenet_classes,
)

# a tiny noun hierarchy: entity <- vehicle <- wheeled_vehicle <- cart (also <- container);
# entity <- container <- cup; entity <- dog (instance hypernym only). Hyponym pointers (~) and a
# pointer to a verb are there to be ignored.
SYNSETS = [
    ("entity", [("~", "vehicle"), ("~", "container")]),
    ("vehicle", [("@", "entity"), ("~", "wheeled_vehicle")]),
    ("container", [("@", "entity")]),
    ("wheeled_vehicle", [("@", "vehicle")]),
    ("cart", [("@", "wheeled_vehicle"), ("@", "container")]),
    ("cup", [("@", "container")]),
    ("dog", [("+", "entity", "v"), ("@i", "entity")]),
]


@pytest.fixture(scope="module")
def make_categories(load_script):
    return load_script("make_categories")


def write_wordnet(folder: Path) -> dict[str, str]:
    """data.noun and index.noun with true byte offsets (wndb(5)); returns lemma -> wnid."""
    header = "  1 This is a test licence header line\n"
    offsets: dict[str, int] = {}
    for _ in range(2):  # pass 1 measures the lines (offsets are fixed-width), pass 2 writes true offsets
        lines, pos = [], len(header)
        for lemma, ptrs in SYNSETS:
            off = offsets.get(lemma, 0)
            ptr = " ".join(f"{p[0]} {offsets.get(p[1], 0):08d} {p[2] if len(p) > 2 else 'n'} 0000" for p in ptrs)
            line = f"{off:08d} 03 n 01 {lemma} 0 {len(ptrs):03d} {ptr} | gloss of {lemma}".replace("  ", " ") + "\n"
            offsets[lemma] = pos
            pos += len(line)
            lines.append(line)
    (folder / "data.noun").write_text(header + "".join(lines))
    index = "".join(f"{lemma} n 1 0 1 0 {offsets[lemma]:08d}\n" for lemma, _ in SYNSETS)
    (folder / "index.noun").write_text(header + index)
    return {lemma: f"n{offsets[lemma]:08d}" for lemma, _ in SYNSETS}


def test_parser_reads_offsets_pointers_and_senses(tmp_path: Path, make_categories) -> None:
    wnids = write_wordnet(tmp_path)
    data = (tmp_path / "data.noun").read_bytes()
    assert all(data[int(w[1:]):].startswith(w[1:].encode()) for w in wnids.values())  # the fixture is right
    wn = make_categories.WordNetNouns(tmp_path)
    assert set(wn.parents) == set(wnids.values())  # a wnid is the line's byte offset
    assert wn.parents[wnids["entity"]] == [] and wn.parents[wnids["vehicle"]] == [wnids["entity"]]  # not ~
    assert sorted(wn.parents[wnids["cart"]]) == sorted([wnids["wheeled_vehicle"], wnids["container"]])
    assert wn.parents[wnids["dog"]] == [wnids["entity"]]  # instance hypernyms count
    assert wn.synset("cup.n.01") == wnids["cup"] and wn.gloss[wnids["cup"]] == "gloss of cup"
    with pytest.raises(KeyError):
        wn.synset("cup.n.02")


def test_first_matching_category_wins(tmp_path: Path, make_categories) -> None:
    wnids = write_wordnet(tmp_path)
    wn = make_categories.WordNetNouns(tmp_path)

    def parents(w: str) -> list[str]:
        return wn.parents.get(w, [])

    # "vehicle" comes before "kitchenware" in CATEGORY_ANCHORS, so a cart (both) is a vehicle
    anchors = {wnids["vehicle"]: "vehicle", wnids["container"]: "kitchenware"}
    assert CATEGORIES.index("vehicle") < CATEGORIES.index("kitchenware")
    assert category_of(wnids["cart"], parents, anchors) == "vehicle"
    assert category_of(wnids["cup"], parents, anchors) == "kitchenware"
    assert category_of(wnids["dog"], parents, anchors) == "other"
    assert category_of(wnids["dog"], parents, {wnids["entity"]: "dog"}) == "dog"


def test_committed_table() -> None:
    timm_dir = Path(importlib.util.find_spec("timm").submodule_search_locations[0])  # not imported: 2-3 s
    classes = imagenet_classes()
    wnids = (timm_dir / "data" / "_info" / "imagenet_synsets.txt").read_text().split()
    assert [c.wnid for c in classes] == wnids and [c.index for c in classes] == list(range(1000))
    counts = {c: sum(k.category == c for k in classes) for c in CATEGORIES}
    assert all(n > 0 for n in counts.values()), counts
    assert 15 <= len(CATEGORIES) <= 25 and CATEGORIES[-1] == "other"
    assert category_index().shape == (1000,) and category_index().max() == len(CATEGORIES) - 1
    by_name = {c.name: c.category for c in classes}
    assert all(by_name[n] == "tool" for n in ("hammer", "screwdriver", "power drill", "chain saw", "hatchet",
                                              "plane", "shovel", "rule", "carpenter's kit"))
    assert all(by_name[n] == "kitchenware" for n in ("spatula", "wooden spoon", "ladle", "frying pan"))
    assert by_name["plow"] == by_name["nail"] == by_name["broom"] == "other"


@pytest.mark.parametrize("name,category", [
    ("tabby", "cat"), ("golden retriever", "dog"), ("goldfish", "sea life"), ("sports car", "vehicle"),
    ("school bus", "vehicle"), ("strawberry", "fruit/veg"), ("pizza", "food"), ("daisy", "plant"),
    ("coffee mug", "kitchenware"), ("acoustic guitar", "instrument"), ("tennis ball", "sports gear"),
    ("jersey", "clothing"), ("valley", "landscape"), ("laptop", "electronics"), ("studio couch", "furniture"),
    ("church", "building"), ("tree frog", "reptile"), ("ladybug", "insect"), ("zebra", "mammal"),
    ("goldfinch", "bird"),
])
def test_spot_checks(name: str, category: str) -> None:
    by_name = {c.name: c for c in imagenet_classes()}
    assert by_name[name].category == category


@pytest.mark.slow
def test_script_reproduces_the_table(tmp_path: Path, make_categories) -> None:
    """The committed table is what the script derives from the real WordNet (about 1 s); the script
    also fails if an anchor decides no class."""
    wordnet = Path(os.environ.get("WNSEARCHDIR", "/usr/share/wordnet"))  # WordNet's own variable for the folder
    if not (wordnet / "data.noun").is_file():
        pytest.skip(f"WordNet is not installed in {wordnet} (apt-get install wordnet-base, or set WNSEARCHDIR)")
    out = tmp_path / "table.tsv"
    assert make_categories.main(argparse.Namespace(wordnet=str(wordnet), out=str(out))) == 0
    assert out.read_text() == TABLE.read_text()
