"""Training a head from strokes (pixelnet.teach.scribbles): it learns, is deterministic, keeps the
backbone frozen, reuses the engine's step exactly, and refuses unusable strokes clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_BACKBONE_KWARGS

from pixelnet.backbones import build_backbone
from pixelnet.hypercolumn import HypercolumnTable, sample_hypercolumns
from pixelnet.predictor import Predictor
from pixelnet.teach.scribbles import ScribbleError, check_labels, fit_scribbles, predict_seg


def two_region_image(h: int = 64, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured image whose left part is reddish and right part bluish, and its true labels (1, 2)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
    truth = np.ones((h, w), np.uint8)
    truth[:, w // 2 :] = 2
    img[truth == 1, 0] += 180
    img[truth == 2, 2] += 180
    return img, truth


def strokes(truth: np.ndarray) -> np.ndarray:
    """One short horizontal stroke inside each region, away from the border between them."""
    lab = np.zeros_like(truth)
    h, w = truth.shape
    lab[h // 2, 4:12] = 1
    lab[h // 3, w - 12 : w - 4] = 2
    return lab


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("efficientnet_lite0", pretrained=True)


def test_learns_the_regions_from_two_strokes(backbone):
    img, truth = two_region_image()
    r = fit_scribbles([img], [strokes(truth)], class_names=["red", "blue"], shared_backbone=backbone, steps=40)
    assert r.counts == [8, 8]
    p = Predictor({"seg": r.model})
    p.set_image(img)
    probs = predict_seg(r.model, p.features("seg"), img.shape[:2])
    assert probs.shape == (2, *img.shape[:2])
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    acc = float((probs.argmax(0) + 1 == truth).mean())
    assert acc > 0.9, acc
    assert r.losses[-1] < r.losses[0]


def test_deterministic_and_backbone_frozen(backbone):
    img, truth = two_region_image()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    kw = dict(class_names=["a", "b"], shared_backbone=backbone, steps=5)
    r1 = fit_scribbles([img], [strokes(truth)], seed=3, **kw)
    r2 = fit_scribbles([img], [strokes(truth)], seed=3, **kw)
    r3 = fit_scribbles([img], [strokes(truth)], seed=4, **kw)
    h1, h2, h3 = (r.model.head.state_dict() for r in (r1, r2, r3))
    assert all(torch.equal(h1[k], h2[k]) for k in h1)
    assert r1.losses == r2.losses
    assert not all(torch.equal(h1[k], h3[k]) for k in h1)
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert r1.model.backbone is backbone


def test_cached_features_and_table_give_the_same_training(backbone):
    """Precomputed hypercolumns (HypercolumnTable) are exactly the interpolated ones, so handing in the
    predictor's tap maps or not, and with or without the table, trains the same head."""
    img, truth = two_region_image()
    lab = strokes(truth)
    p = Predictor({"seg": fit_scribbles([img], [lab], class_names=["a", "b"], shared_backbone=backbone,
                                        steps=1).model})
    p.set_image(img)
    feats = p.features("seg")
    a = fit_scribbles([img], [lab], class_names=["a", "b"], shared_backbone=backbone, steps=4)
    b = fit_scribbles([img], [lab], class_names=["a", "b"], shared_backbone=backbone, steps=4, features=[feats])
    assert a.losses == pytest.approx(b.losses, rel=1e-6)
    mask = torch.from_numpy(lab > 0)
    taps = a.model.taps
    table = HypercolumnTable(feats, taps, mask)
    yx = mask.nonzero()
    coords = torch.cat([torch.zeros(len(yx), 1, dtype=torch.long), yx], 1)
    torch.testing.assert_close(table.gather(coords.flip(0)), sample_hypercolumns(feats, taps, coords.flip(0)))
    with pytest.raises(ValueError, match="outside"):
        table.gather(torch.tensor([[0, 0, 0]]))


def test_several_images_of_different_sizes_and_another_backbone():
    vgg = build_backbone("vgg16", **TINY_BACKBONE_KWARGS["vgg16"])
    (a, ta), (b, tb) = two_region_image(64, 64, 1), two_region_image(48, 96, 2)
    r = fit_scribbles([a, b], [strokes(ta), strokes(tb)], class_names=["a", "b"], backbone="vgg16",
                      shared_backbone=vgg, backbone_kwargs=TINY_BACKBONE_KWARGS["vgg16"], taps=["conv3_3", "conv4_3"],
                      steps=3)
    assert [t.name for t in r.model.taps] == ["conv3_3", "conv4_3"]
    assert r.counts == [16, 16]
    assert r.model.config.backbone_kwargs == TINY_BACKBONE_KWARGS["vgg16"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda t: np.zeros_like(t), "no labelled pixels"),
        (lambda t: (strokes(t) == 1).astype(np.uint8), "only 'a' is labelled"),
        (lambda t: strokes(t)[:, :-1], "are 79x64 but the image is 80x64"),
        (lambda t: strokes(t) * 2, r"values \[4\] outside 0..2"),
        (lambda t: strokes(t).astype(np.float32), "must be integers"),
    ],
)
def test_unusable_strokes_get_a_clear_message(backbone, labels, message):
    img, truth = two_region_image()
    with pytest.raises(ScribbleError, match=message):
        fit_scribbles([img], [labels(truth)], class_names=["a", "b"], shared_backbone=backbone, steps=1)


def test_bad_classes_and_tiny_images(backbone):
    img, truth = two_region_image()
    with pytest.raises(ScribbleError, match="2 to 10 classes"):
        fit_scribbles([img], [strokes(truth)], class_names=["a"], shared_backbone=backbone, steps=1)
    with pytest.raises(ScribbleError, match="distinct"):
        fit_scribbles([img], [strokes(truth)], class_names=["a", "a"], shared_backbone=backbone, steps=1)
    small, t = two_region_image(20, 24)
    lab = np.zeros_like(t)
    lab[10, 2:5], lab[10, 18:22] = 1, 2
    with pytest.raises(ScribbleError, match="at least 32 pixels per side"):
        fit_scribbles([small], [lab], class_names=["a", "b"], shared_backbone=backbone, steps=1)


def test_a_stroke_over_the_whole_image_trains(backbone):
    img, truth = two_region_image()
    r = fit_scribbles([img], [truth], class_names=["a", "b"], shared_backbone=backbone, steps=3)
    assert r.counts == [int((truth == 1).sum()), int((truth == 2).sum())]


def test_check_labels_reads_grey_rgb_label_images():
    lab = np.zeros((4, 5, 3), np.uint8)
    lab[1, 2] = 2
    out = check_labels((4, 5, 3), lab, 2)
    assert out.shape == (4, 5) and out[1, 2] == 1 and out[0, 0] == 255
