"""Heads taught in the explorer, held per browser session with a bound.

Each browser session (Gradio's ``session_hash``) keeps its last few taught heads and its last
label mask. At most ``max_sessions`` sessions are kept: the least recently used is evicted whole,
and a session that comes back afterwards is told so instead of failing obscurely. Labels of
taught heads are unique in the process (``taught #N: a/b``), so sessions never see each other's.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from pixelnet.model import PixelNet

__all__ = ["TAUGHT_PREFIX", "TaughtGone", "TaughtStore", "current_session"]

TAUGHT_PREFIX = "taught #"


class TaughtGone(LookupError):
    """A taught head that this session no longer has (evicted, or never taught here)."""


def current_session() -> str:
    """The browser session of the running Gradio request (``"local"`` outside a request)."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    except (ImportError, LookupError):
        request = None
    return str(getattr(request, "session_hash", None) or "local")


@dataclass
class _Session:
    heads: OrderedDict[str, PixelNet] = field(default_factory=OrderedDict)
    labels: np.ndarray | None = None


class TaughtStore:
    """Per-session taught heads (LRU over sessions, and over heads within a session).

    Args:
        max_sessions: sessions kept; the least recently used is evicted beyond this.
        heads_per_session: taught heads a session keeps (its oldest is dropped beyond this).
    """

    def __init__(self, *, max_sessions: int = 16, heads_per_session: int = 4) -> None:
        self.max_sessions = max_sessions
        self.heads_per_session = heads_per_session
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._evicted: OrderedDict[str, None] = OrderedDict()  # bounded memory of evicted sessions
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: str, model: PixelNet, labels: np.ndarray) -> str:
        """Keep ``model`` (and the ``(H, W)`` label mask it was taught from) for ``session``; returns its label."""
        names = "/".join(model.config.class_names or [])
        label = f"{TAUGHT_PREFIX}{next(self._counter)}: {names}"
        with self._lock:
            s = self._sessions.pop(session, None) or _Session()
            self._evicted.pop(session, None)
            s.heads[label] = model
            s.labels = labels
            while len(s.heads) > self.heads_per_session:
                s.heads.popitem(last=False)
            self._sessions[session] = s
            while len(self._sessions) > self.max_sessions:
                old, _ = self._sessions.popitem(last=False)
                self._evicted[old] = None
                while len(self._evicted) > 64 * self.max_sessions:
                    self._evicted.popitem(last=False)
        return label

    def labels_of(self, session: str) -> list[str]:
        """The taught-head labels of ``session``, oldest first."""
        with self._lock:
            s = self._sessions.get(session)
            return list(s.heads) if s else []

    def get(self, session: str, label: str) -> PixelNet:
        """The taught head ``label`` of ``session``.

        Raises:
            TaughtGone: with a message that says why (evicted session, dropped head, another session's).
        """
        with self._lock:
            s = self._sessions.get(session)
            if s is None:
                if session in self._evicted:
                    raise TaughtGone(
                        "your taught heads were cleared to make room for other sessions (the server keeps "
                        f"the {self.max_sessions} most recent); paint and train again")
                raise TaughtGone(f"no taught head {label!r} in this session; train one in the Teach tab")
            self._sessions.move_to_end(session)
            model = s.heads.get(label)
            if model is None:
                raise TaughtGone(f"taught head {label!r} is gone (a session keeps its last "
                                 f"{self.heads_per_session}); choose another or train again")
            return model
