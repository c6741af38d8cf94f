"""``train/predict.py`` at scale: shards under ``torchrun``, atomic files, resume after SIGKILL.

The reference is one uninterrupted in-process run at one thread; a two-process ``torchrun`` run
and a run killed half-way then re-run must leave the same bytes in the output folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_ddp import torchrun_env

from pixelnet.engine.cli import run_cli
from pixelnet.engine.distributed import DistContext, shard
from pixelnet.outputs import atomic_path, remove_stale_temporaries

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "train"))

import predict as predict_cli  # noqa: E402

MODELS = ["--model", str(REPO / "assets/models/seg"), "--model", str(REPO / "assets/models/normals")]
FILES_PER_IMAGE = 5  # seg: index, colour, legend; normals: png, npy


def _run(argv: list[str]) -> int:
    return run_cli(predict_cli.main, predict_cli.get_args_parser().parse_args(argv), prog="predict.py")


def _args(images: Path, out: Path, *extra: str) -> list[str]:
    return [*MODELS, "--images", str(images), "--out", str(out), "--device", "cpu", "--threads", "1", *extra]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _env() -> dict[str, str]:
    return {**torchrun_env(), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 small photos-like images and one unreadable file."""
    d = tmp_path_factory.mktemp("images")
    for i in range(16):
        rng = np.random.default_rng(i)
        img = rng.integers(0, 60, (48, 64, 3)).astype(np.uint8)
        img[:, : 8 + 3 * i, i % 3] += 180
        Image.fromarray(img).save(d / f"img{i:02d}.png")
    (d / "broken.jpg").write_bytes(b"not an image")
    return d


@pytest.fixture(scope="module")
def reference(images: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of one uninterrupted in-process run."""
    out = tmp_path_factory.mktemp("reference")
    assert _run(_args(images, out)) == 1  # the broken image fails, the others are written
    return _snapshot(out)


def test_shards_are_disjoint_cover_everything_and_balance() -> None:
    items = list(range(11))
    parts = [shard(items, DistContext(r, 3, r, None)) for r in range(3)]
    assert sorted(sum(parts, [])) == items and {len(p) for p in parts} == {3, 4}


def test_atomic_path_leaves_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    (tmp_path / ".a.txt.123.tmp").write_text("left by a killed writer")
    (tmp_path / ".b.txt.456.tmp").write_text("another process's")
    assert remove_stale_temporaries(tmp_path, {"a.txt"}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.txt.456.tmp", "a.txt"]


def test_summary_lists_every_image_and_a_rerun_skips_complete_ones(
        images: Path, reference: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = json.loads(reference["predictions.json"])
    assert summary["complete"] and len(summary["images"]) == 17
    broken = summary["images"][0]
    assert broken["image"].endswith("broken.jpg") and broken["outputs"] == []
    assert "not a readable image" in broken["error"]
    assert all(e["error"] is None and len(e["outputs"]) == FILES_PER_IMAGE for e in summary["images"][1:])
    assert set(reference) == {"predictions.json"} | {n for e in summary["images"] for n in e["outputs"]}

    out = tmp_path / "out"
    assert _run(_args(images, out)) == 1
    capsys.readouterr()
    stats = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir() if p.name != "predictions.json"}
    (out / "img03.seg.png").unlink()  # one image incomplete
    assert _run(_args(images, out)) == 1
    assert "wrote predictions of 1 of 17 images" in (o := capsys.readouterr().out) and "skipped 15" in o
    for p in out.iterdir():  # the complete images' files were not rewritten
        if p.name in stats and not p.name.startswith("img03."):
            assert (p.stat().st_ino, p.stat().st_mtime_ns) == stats[p.name], p.name
    assert _snapshot(out) == reference
    assert _run(_args(images, out, "--overwrite")) == 1
    assert "wrote predictions of 16 of 17" in capsys.readouterr().out and _snapshot(out) == reference
    # another model into the same folder is refused rather than mixed in
    assert _run([*MODELS[:2], "--images", str(images), "--out", str(out), "--device", "cpu"]) == 1
    assert "other models or settings" in capsys.readouterr().err


def test_two_torchrun_processes_write_the_files_of_one_process(images: Path, reference: dict[str, bytes],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "train" / "predict.py"), *_args(images, out)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0 and "broken.jpg" in proc.stderr  # the broken image fails on its rank
    assert "wrote predictions of 16 of 17 images" in proc.stdout and "(2 processes)" in proc.stdout
    assert proc.stdout.count("wrote predictions") == 1  # rank 0 alone reports
    assert _snapshot(out) == reference


def test_a_run_killed_half_way_leaves_no_partial_file_and_a_rerun_completes_it(
        images: Path, reference: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(REPO / "train" / "predict.py"), *_args(images, out)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "img01.normals.npy").exists():  # a few images in: kill it mid-run
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 120, "the run did not start"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    left = {p.name: p for p in out.iterdir() if not p.name.endswith(".tmp")}
    assert len(left) < len(reference), "the run finished before the kill"
    for name, p in left.items():  # whatever has its final name is complete
        assert p.read_bytes() == reference[name] or name == "predictions.json", name
    assert json.loads(left["predictions.json"].read_text())["complete"] is False
    kept = {n: p.stat().st_mtime_ns for n, p in left.items() if n.startswith("img00.")}
    assert len(kept) == FILES_PER_IMAGE

    rerun = subprocess.run([sys.executable, str(REPO / "train" / "predict.py"), *_args(images, out)],
                           env=_env(), capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 1 and "skipped" in rerun.stdout, rerun.stderr
    assert _snapshot(out) == reference  # no temporary, no missing, no extra file; the same bytes
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept  # finished files were not rewritten


def _pids_running(marker: str) -> list[int]:
    """Processes whose command line contains ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_ranks_do_not_outlive_a_killed_torchrun(images: Path, tmp_path: Path) -> None:
    """torchrun puts each rank in a session of its own: a SIGKILL of torchrun's process group must
    not leave the ranks running (they would keep writing beside a rerun)."""
    out = tmp_path / "orphans"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "train" / "predict.py"), *_args(images, out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        t0 = time.time()
        while len(_pids_running(str(out))) < 3 or not list(out.glob("*.npy")):  # both ranks are predicting
            assert proc.poll() is None and time.time() - t0 < 120, "the ranks did not start"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.time()
        while _pids_running(str(out)) and time.time() - t0 < 30:
            time.sleep(0.1)
        assert _pids_running(str(out)) == [], "ranks outlived the killed torchrun"
    finally:
        for pid in _pids_running(str(out)):
            os.kill(pid, signal.SIGKILL)
