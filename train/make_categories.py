"""Write the ImageNet category table from WordNet: ``python train/make_categories.py [--wordnet DIR]``.

Reads WordNet 3.0 (Debian's ``wordnet-base``: ``apt-get install wordnet-base`` puts it in
``/usr/share/wordnet``) and the 1,000 ImageNet-1k wnids and names that timm ships, resolves the
anchors of :data:`pixelnet.teachers.imagenet_categories.CATEGORY_ANCHORS` (printing each with its
gloss, for a reader to check), assigns every class its category by the hypernym rule
(:func:`pixelnet.teachers.imagenet_categories.category_of`) and writes the table
(``pixelnet/teachers/imagenet_categories.tsv`` by default) with the count of each category.

WordNet's two files are read by a 40-line parser here rather than NLTK, which would be a
dependency plus a download of its own copy of the same database.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

from pixelnet.engine import HelpFormatter, UsageError, run_cli
from pixelnet.teachers import CATEGORIES, CATEGORY_ANCHORS, CATEGORY_TABLE, category_of


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--wordnet", default="/usr/share/wordnet", help="folder holding data.noun and index.noun")
    p.add_argument("--out", default=str(CATEGORY_TABLE), help="the table written")
    return p


class WordNetNouns:
    """The noun synsets of WordNet's ``data.noun`` and the senses of ``index.noun``.

    Args:
        folder: the folder holding both files (WordNet 3.0 database format, ``wndb(5)``).
    """

    def __init__(self, folder: Path) -> None:
        self.parents: dict[str, list[str]] = {}
        self.words: dict[str, list[str]] = {}
        self.gloss: dict[str, str] = {}
        for line in (folder / "data.noun").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):  # the licence header
                continue
            head, _, gloss = line.partition(" | ")
            f = head.split()
            wnid = "n" + f[0]
            n_words = int(f[3], 16)
            self.words[wnid] = [f[4 + 2 * i] for i in range(n_words)]
            i = 4 + 2 * n_words
            n_ptrs = int(f[i])
            ptrs = [f[i + 1 + 4 * k: i + 5 + 4 * k] for k in range(n_ptrs)]
            self.parents[wnid] = ["n" + p[1] for p in ptrs if p[0] in ("@", "@i") and p[2] == "n"]
            self.gloss[wnid] = gloss.strip()
        self.senses: dict[str, list[str]] = {}
        for line in (folder / "index.noun").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue
            f = line.split()
            n_senses = int(f[2])
            self.senses[f[0]] = ["n" + o for o in f[-n_senses:]]

    def synset(self, name: str) -> str:
        """``"dog.n.01"`` -> its wnid.

        Raises:
            KeyError: no such lemma or sense.
        """
        lemma, pos, sense = name.rsplit(".", 2)
        if pos != "n" or lemma not in self.senses or not 1 <= int(sense) <= len(self.senses[lemma]):
            raise KeyError(f"no WordNet noun sense {name!r}")
        return self.senses[lemma][int(sense) - 1]


def timm_info_dir() -> Path:
    """timm's folder of class lists (``timm/data/_info``), found without importing timm (2-3 s)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("timm is not installed: it ships the ImageNet class lists")
    return Path(spec.submodule_search_locations[0]) / "data" / "_info"


def _timm_classes() -> list[tuple[str, str]]:
    """``(wnid, name)`` of the 1,000 ImageNet-1k classes in classifier order, from timm's files."""
    info = timm_info_dir()
    wnids = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    return [(w, lemmas[w].split(",")[0].strip()) for w in wnids]


def main(args: argparse.Namespace) -> int:
    folder = Path(args.wordnet)
    if not (folder / "data.noun").is_file():
        raise UsageError(f"no WordNet in {folder} (apt-get install wordnet-base, or --wordnet DIR)")
    wn = WordNetNouns(folder)
    anchors: dict[str, str] = {}
    for category, names in CATEGORY_ANCHORS:
        for name in names:
            try:
                wnid = wn.synset(name)
            except KeyError as e:
                raise UsageError(str(e)) from e
            anchors[wnid] = category
            print(f"{category:12s} {name:30s} {wnid}  {wn.gloss[wnid][:70]}")
    classes = _timm_classes()
    if len(classes) != 1000:
        raise UsageError(f"timm lists {len(classes)} ImageNet classes, expected 1000")
    def parents(w: str) -> list[str]:
        return wn.parents.get(w, [])

    rows = []
    for i, (wnid, name) in enumerate(classes):
        if wnid not in wn.parents:
            raise UsageError(f"ImageNet class {wnid} ({name}) is not a WordNet 3.0 noun")
        rows.append((i, wnid, name, category_of(wnid, parents, anchors)))
    for anchor, category in anchors.items():  # an anchor that decides no class is a mistake in CATEGORY_ANCHORS
        if not any(r[3] == category and category_of(r[1], parents, {anchor: category}) == category for r in rows):
            raise UsageError(f"anchor {anchor} ({wn.words[anchor][0]}) of {category!r} holds no ImageNet class")
    out = Path(args.out)
    with out.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["index", "wnid", "name", "category"])
        w.writerows(rows)
    counts = {c: sum(r[3] == c for r in rows) for c in CATEGORIES}
    print(f"wrote {out}: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, get_args_parser().parse_args(), prog="train/make_categories.py"))
