"""The ImageNet category table (pixelnet.data.imagenet_categories) and the script that derives it
from WordNet (train/make_categories.py): the parser and the first-match rule on a tiny WordNet in
the real file format, the committed table, and spot checks that catch a broken derivation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from pixelnet.data.imagenet_categories import CATEGORIES, TABLE, category_index, category_of, imagenet_classes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "train"))
import make_categories  # noqa: E402

# a tiny noun hierarchy: entity <- vehicle <- wheeled_vehicle <- cart (also <- container);
# entity <- container <- cup; entity <- dog (instance hypernym only)
SYNSETS = [
    ("entity", []),
    ("vehicle", [("@", "entity")]),
    ("container", [("@", "entity")]),
    ("wheeled_vehicle", [("@", "vehicle")]),
    ("cart", [("@", "wheeled_vehicle"), ("@", "container")]),
    ("cup", [("@", "container")]),
    ("dog", [("@i", "entity")]),
]


def write_wordnet(folder: Path) -> dict[str, str]:
    """data.noun and index.noun with true byte offsets (wndb(5)); returns lemma -> wnid."""
    header = "  1 This is a test licence header line\n"
    offsets: dict[str, int] = {}
    for _ in range(2):  # offsets depend on line lengths, which depend on offsets: iterate to a fixed point
        lines, pos = [], len(header)
        for lemma, ptrs in SYNSETS:
            off = offsets.get(lemma, 0)
            ptr = " ".join(f"{sym} {offsets.get(t, 0):08d} n 0000" for sym, t in ptrs)
            line = f"{off:08d} 03 n 01 {lemma} 0 {len(ptrs):03d} {ptr} | gloss of {lemma}".replace("  ", " ") + "\n"
            offsets[lemma] = pos
            pos += len(line)
            lines.append(line)
    (folder / "data.noun").write_text(header + "".join(lines))
    index = "".join(f"{lemma} n 1 0 1 0 {offsets[lemma]:08d}\n" for lemma, _ in SYNSETS)
    (folder / "index.noun").write_text(header + index)
    return {lemma: f"n{offsets[lemma]:08d}" for lemma, _ in SYNSETS}


def test_parser_reads_offsets_pointers_and_senses(tmp_path: Path) -> None:
    wnids = write_wordnet(tmp_path)
    wn = make_categories.WordNetNouns(tmp_path)
    assert set(wn.parents) == set(wnids.values())  # a wnid is the line's byte offset
    assert sorted(wn.parents[wnids["cart"]]) == sorted([wnids["wheeled_vehicle"], wnids["container"]])
    assert wn.parents[wnids["dog"]] == [wnids["entity"]]  # instance hypernyms count
    assert wn.synset("cup.n.01") == wnids["cup"] and wn.gloss[wnids["cup"]] == "gloss of cup"
    with pytest.raises(KeyError):
        wn.synset("cup.n.02")


def test_first_matching_category_wins(tmp_path: Path) -> None:
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
    import timm

    classes = imagenet_classes()
    wnids = (Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt").read_text().split()
    assert [c.wnid for c in classes] == wnids and [c.index for c in classes] == list(range(1000))
    counts = {c: sum(k.category == c for k in classes) for c in CATEGORIES}
    assert all(n > 0 for n in counts.values()), counts
    assert 15 <= len(CATEGORIES) <= 25 and CATEGORIES[-1] == "other"
    assert category_index().shape == (1000,) and category_index().max() == len(CATEGORIES) - 1


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


def test_script_reproduces_the_table(tmp_path: Path) -> None:
    wordnet = Path("/usr/share/wordnet")
    if not (wordnet / "data.noun").is_file():
        pytest.skip("WordNet is not installed (apt-get install wordnet-base)")
    out = tmp_path / "table.tsv"
    assert make_categories.main(argparse.Namespace(wordnet=str(wordnet), out=str(out))) == 0
    assert out.read_text() == TABLE.read_text()
