"""The "Tap maps" tab: image-wide magnitude of each tap's contribution to one task's head."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demo.gradio_compat import SafeGallery, on_model_thread, user_errors
from demo.tabs.base import TabBase, thumb
from demo.tabs.predict import MainView
from pixelnet.tasks import TASKS
from pixelnet.teachers import HED_SIDES
from pixelnet.visualize import edges_to_rgb, heatmap

__all__ = ["TapMapsTab", "build"]


class TapMapsTab(TabBase):
    """Callbacks of the tap maps."""

    def tap_maps_or_clear(self, image: Any, *rest: Any) -> list[Any]:
        """UI trigger: like :meth:`tap_maps`, but empty without an image."""
        return [] if image is None else self.tap_maps(image, *rest)

    # ---- image-wide tap maps and samplers -------------------------------------------
    @user_errors
    @on_model_thread
    def tap_maps(
        self, image: Any, seg_model: str | None, normals_model: str | None, edges_model: str | None, task: str
    ) -> list[Any]:
        """Per tap, the magnitude of its first-layer contribution to ``task`` over the image; for
        edges under HED, its five side-output probability maps and the fused one; for seg under the raw
        teacher (no taps), the probability maps of its six categories with the most mass on the image."""
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            if task == "edges" and s.reference_edges is not None:
                sides = s.reference_edges.side_maps()
                return [
                    (thumb(edges_to_rgb(m), 256),
                     f"{name} ({HED_SIDES[name]}) P(edge), max {float(m.max()):.2f}" if name in HED_SIDES
                     else f"fused: HED's edge map, max {float(m.max()):.2f}")
                    for name, m in sides.items()
                ]
            if task == "seg" and s.reference_seg is not None:
                return [(thumb(heatmap(m, vmax=1.0), 256), f"P({name}), raw teacher (no taps), mean {mean:.2f}")
                        for name, mean, m in s.reference_seg.category_maps()]
            if task not in s.models:
                raise gr.Error(f"no model for task {task!r}")
            maps = s.contribution_maps(task)
        top = max(float(m.max()) for m in maps.values()) or 1.0
        return [
            (thumb(heatmap(m, vmax=top), 256), f"{name} (max {float(m.max()):.2g})")
            for name, m in maps.items()
        ]



def build(app: TapMapsTab, view: MainView) -> tuple[Any, list[Any], Any]:
    """Lay out the tab and wire its task choice.

    Returns:
        ``(fn, inputs, outputs)`` that refreshes the maps after a prediction (see :func:`demo.tabs.predict.wire`).
    """
    gr.Markdown(
        "Magnitude of each tap's contribution to the head's first layer, "
        "|W_t (c_t(p) - mean c_t)|, over the image (exact Shapley magnitude for a linear head). "
        "With HED as the edges model, *edges* shows HED's five side-output edge probabilities "
        "(dsn1 on conv1_2 ... dsn5 on conv5_3) and its fused map instead; with the raw ImageNet teacher as "
        "the segmentation model, which has no taps, *seg* shows its main categories' probability maps; with a "
        "*where* model, *seg* shows the taps' contributions to its background/object/person head."
    )
    map_task = gr.Radio(list(TASKS), value="seg", label="Task")
    maps = SafeGallery(label="Per-tap contribution maps", columns=3, height=420)
    inputs = [view.image_in, *view.models_in, map_task]
    map_task.change(app.tap_maps_or_clear, inputs, maps, preprocess=False, api_visibility="private")
    return app.tap_maps_or_clear, inputs, maps
