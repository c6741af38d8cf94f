"""Datasets for PixelNet: SynthScenes (procedural, exact ground truth) and real-dataset loaders."""

from pixelnet.data.synthscenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, render_scene

__all__ = ["SYNTH_CLASSES", "SYNTH_SPLITS", "SynthScenes", "render_scene"]
