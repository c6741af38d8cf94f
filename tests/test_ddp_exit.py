"""A rank that leaves right after its last collective must not die of SIGABRT at exit.

A blocking gloo collective returns as soon as its result is ready; gloo's worker thread lets go
of the work, and of its tensors, a moment later. Had Python dropped those tensors already, the
worker frees their Python objects and takes the GIL to do so; when that falls into interpreter
shutdown, Python 3.11 ends the thread inside a ``noexcept`` C++ destructor ("terminate called
without an active exception", SIGABRT) and torchrun fails the job. ``test_ddp`` failed so about
once in 40 runs on a busy 2-core machine (rank 1, right after the final checkpoint's
``all_gather_objects``). Here the timing is forced: an ``LD_PRELOAD`` shim makes rank 1's gloo
worker hold each finished collective until the rank's atexit handlers run, and the last of them
keeps the GIL until the interpreter is finalizing.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_ddp import torchrun_env
from test_train import ROOT

# c10d::ProcessGroupGloo::AsyncWork::execute, which ProcessGroupGloo::runLoop calls through the PLT
EXECUTE = ("_ZN4c10d16ProcessGroupGloo9AsyncWork7executeERKN3c1013intrusive_ptrIS1_NS2_6detail34"
           "intrusive_target_default_null_typeIS1_EEEE")

SHIM = r"""
// In rank 1, the gloo worker holds each finished collective for up to 3 s, or until the
// process sets HOLD_GLOO_WORK=0, before it lets go of it (and of its tensors).
#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
extern "C" void EXECUTE(const void* work) {
  static auto real = (void (*)(const void*))dlsym(dlopen("libtorch_cpu.so", RTLD_LAZY | RTLD_NOLOAD), "EXECUTE");
  real(work);
  const char* rank = getenv("RANK");
  if (!rank || strcmp(rank, "1") != 0) return;
  if (const char* log = getenv("HOLD_GLOO_WORK_LOG"))
    if (FILE* f = fopen(log, "a")) { fputs("held\n", f); fclose(f); }
  for (int ms = 0; ms < 3000; ++ms) {
    const char* hold = getenv("HOLD_GLOO_WORK");
    if (!hold || strcmp(hold, "0") == 0) break;
    usleep(1000);
  }
}
""".replace("EXECUTE", EXECUTE)

SCRIPT = r"""
import atexit, os, sys
# atexit runs the last registered first: this C-level sum runs last, keeping the GIL (no bytecode)
# right up to the interpreter's finalization; the handler before it lets the held gloo work go
atexit.register(sum, range(20_000_000))
atexit.register(os.environ.__setitem__, "HOLD_GLOO_WORK", "0")


class RunsPythonWhenFinalized:  # a module global: freed, running Python code, during finalization
    def __del__(self):
        sum(i for i in range(100_000))


_late = RunsPythonWhenFinalized()

import torch
import torch.distributed as dist

from pixelnet.engine.distributed import all_gather_objects, all_reduce_sum, cleanup, init_distributed

ctx = init_distributed("cpu")
group = dist.group.WORLD  # held past cleanup, as a DistributedDataParallel model holds it
if sys.argv[1] == "gather":
    print("result", all_gather_objects({"rank": ctx.rank}, ctx))
else:
    print("result", all_reduce_sum(torch.tensor([ctx.rank + 1.0]), ctx).tolist())
cleanup(ctx)
"""


def _shim_target() -> bool:
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        return hasattr(lib, EXECUTE)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD shim: Linux only")
@pytest.mark.parametrize(("op", "expected"), [("gather", "[{'rank': 0}, {'rank': 1}]"), ("reduce", "[3.0]")])
def test_rank_leaving_right_after_a_gloo_collective_exits_cleanly(op: str, expected: str, tmp_path: Path) -> None:
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None or not _shim_target():
        pytest.skip("needs a C++ compiler and gloo's AsyncWork::execute exported by libtorch_cpu")
    (tmp_path / "shim.cpp").write_text(SHIM)
    subprocess.run([cxx, "-O1", "-shared", "-fPIC", "-o", str(tmp_path / "shim.so"), str(tmp_path / "shim.cpp"),
                    "-ldl"], check=True, capture_output=True)
    (tmp_path / "script.py").write_text(SCRIPT)
    log = tmp_path / "held.log"
    env = {**torchrun_env(), "PYTHONPATH": str(ROOT), "LD_PRELOAD": str(tmp_path / "shim.so"),
           "HOLD_GLOO_WORK": "1", "HOLD_GLOO_WORK_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "--tee", "3", str(tmp_path / "script.py"), op],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert log.exists()  # the shim did hold rank 1's gloo work
    assert proc.stdout.count(f"result {expected}") == 2
