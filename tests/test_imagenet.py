"""Dense ImageNet classification (pixelnet.teachers.imagenet): the backbone's classifier at every cell.

Contracts: the classifier loaded from the offline package is timm's full ImageNet model; the mean
of the cell logits is the global classifier's logits (linearity of the pooled classifier); the
per-pixel maps follow the tap's geometry exactly (the hypercolumn's interpolation); the dense
probabilities agree with the global classifier on the example photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelnet.backbones import build_backbone
from pixelnet.backbones.efficientnet import HEAD_TAP, lite0_weights_path
from pixelnet.hypercolumn import sample_tap
from pixelnet.taps import TapInfo
from pixelnet.teachers import load_reference
from pixelnet.teachers.imagenet import ImageNetClassifier, load_imagenet_classifier, resample_to_pixels
from pixelnet.teachers.imagenet_categories import CATEGORIES, imagenet_classes

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
PHOTOS = ("chelsea", "coffee", "astronaut", "motorcycle", "rocket")


@pytest.fixture(scope="module")
def classifier() -> ImageNetClassifier:
    return load_imagenet_classifier()


@pytest.fixture(scope="module")
def backbone() -> torch.nn.Module:
    return build_backbone("efficientnet_lite0", pretrained=True).eval()


def _photo(name: str, side: int = 224) -> torch.Tensor:
    im = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB").resize((side, side), Image.BILINEAR)
    return torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float().div(255)


def _head(backbone: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(backbone.mean).view(1, 3, 1, 1), torch.tensor(backbone.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return backbone((x - mean) / std, ["head"])["head"]


def test_classifier_is_timms_imagenet_model(classifier: ImageNetClassifier, backbone: torch.nn.Module) -> None:
    """The package's whole state dict, classifier included, in timm's model gives the same logits."""
    import timm

    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    net = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    net.load_state_dict(dict(zip(net.state_dict(), state.values())))
    x = _photo("chelsea")
    mean, std = torch.tensor(backbone.mean).view(1, 3, 1, 1), torch.tensor(backbone.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = net((x - mean) / std)
    torch.testing.assert_close(classifier.pooled_logits(_head(backbone, x)), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("side", [224, 320])
def test_mean_of_cell_logits_is_the_global_logits(classifier: ImageNetClassifier, backbone: torch.nn.Module,
                                                  side: int) -> None:
    head = _head(backbone, _photo("coffee", side)).double()
    cells = torch.nn.functional.conv2d(head, classifier.weight.double()[:, :, None, None], classifier.bias.double())
    pooled = torch.nn.functional.linear(head.mean(dim=(2, 3)), classifier.weight.double(), classifier.bias.double())
    torch.testing.assert_close(cells.mean(dim=(2, 3)), pooled, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(classifier(head.float()).mean(dim=(2, 3)), classifier.pooled_logits(head.float()),
                               atol=1e-4, rtol=1e-4)


def test_top_class_on_the_examples_is_the_global_classifiers(classifier: ImageNetClassifier,
                                                              backbone: torch.nn.Module) -> None:
    """On each example photo the dense classes agree with the global classifier: the top class of
    the mean cell logits is its top-1 (exactly), and the top class of the dense probabilities
    (softmax at every cell, averaged) is among its top 3 (the rocket's "missile" and "projectile"
    trade places); the global top-1 of the cat photo is a cat class."""
    classes = imagenet_classes()
    for name in PHOTOS:
        head = _head(backbone, _photo(name))
        pooled = classifier.pooled_logits(head)[0]
        cells = classifier(head)
        assert int(cells.mean(dim=(2, 3))[0].argmax()) == int(pooled.argmax()), name
        assert int(cells.softmax(dim=1).mean(dim=(2, 3))[0].argmax()) in pooled.topk(3).indices.tolist(), name
        top = int(pooled.argmax())
        if name == "chelsea":
            assert classes[top].category == "cat", classes[top]


def test_resample_to_pixels_is_the_hypercolumn_interpolation() -> None:
    torch.manual_seed(0)
    for tap, size in ((TapInfo("t", 3, 32, 0.0), (70, 45)), (TapInfo("v", 3, 8, 3.5), (33, 40))):
        maps = torch.randn(2, 3, -(-size[0] // tap.stride), -(-size[1] // tap.stride))
        dense = resample_to_pixels(maps, tap, size)
        yy, xx = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
        for b in range(2):
            coords = torch.stack([torch.full_like(yy, b), yy, xx], -1).reshape(-1, 3)
            expected = sample_tap(maps, coords, tap).T.reshape(3, *size)
            torch.testing.assert_close(dense[b], expected, atol=1e-5, rtol=1e-5)


def test_category_probs_and_topk(classifier: ImageNetClassifier, backbone: torch.nn.Module) -> None:
    x = _photo("chelsea", 256)
    heads = [_head(backbone, x), _head(backbone, torch.nn.functional.interpolate(x, size=(384, 384)))]
    probs = classifier.category_probs(heads, [(256, 256), (384, 384)], (256, 256))
    assert probs.shape == (1, len(CATEGORIES), 256, 256)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 256, 256), atol=1e-4, rtol=0)
    assert CATEGORIES[int(probs[0, :, 128, 128].argmax())] == "cat"
    logits = classifier.logits_at(heads[0], 100, 37)
    expected = classifier(resample_to_pixels(heads[0], classifier.tap, (256, 256)))[0, :, 100, 37]
    torch.testing.assert_close(logits, expected, atol=1e-3, rtol=1e-4)
    top = classifier.topk(logits, 5)
    assert len(top) == 5 and top[0].prob >= top[-1].prob and all(c.category in CATEGORIES for c in top)
    assert top[0].index == int(logits.argmax()) and top[0].name == imagenet_classes()[top[0].index].name


def test_dense_teacher_reference_model() -> None:
    """``load_reference("imagenet-dense")``: seg over the categories, the Predictor interface."""
    teacher = load_reference("imagenet-dense")
    assert teacher.task == "seg" and teacher.config.class_names == list(CATEGORIES)
    pred = teacher.predictor(device="cpu", max_side=200)
    rgb = np.asarray(Image.open(EXAMPLES / "chelsea.jpg").convert("RGB"))
    out = pred.predict(rgb, scales=(1.0, 1.5))["seg"]
    assert out.shape == (len(CATEGORIES), *pred.image.shape[:2]) and pred.image_scale < 1
    assert CATEGORIES[int(out.mean(axis=(1, 2)).argmax())] == "cat"
    h, w = pred.image.shape[:2]
    assert pred.topk(h // 2, w // 2)[0].category == "cat"
    with pytest.raises(ValueError, match="seg only"):
        pred.predict(tasks=["edges"])


def test_classifier_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        ImageNetClassifier(weight=torch.zeros(10, 7), bias=torch.zeros(10), tap=HEAD_TAP,
                           category_of=torch.zeros(10, dtype=torch.long), categories=["a"])
    with pytest.raises(ValueError, match="category"):
        ImageNetClassifier(weight=torch.zeros(10, 1280), bias=torch.zeros(10), tap=HEAD_TAP,
                           category_of=torch.full((10,), 3), categories=["a"])
    with pytest.raises(ValueError, match="no ImageNet classifier"):
        load_imagenet_classifier("vgg16")
