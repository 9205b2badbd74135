"""Models behind the server: a catalog of ids, lazy loading (one load at a time per model), admission with
a per-model concurrency limit and a bounded queue, and unloading that gives the memory back.

Every MLX call (load, transcribe, generate, parity) runs on one compute thread: the event loop keeps serving
while a model works, and MLX never sees two threads at once.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .config import ServerConfig
from .errors import APIError

T = TypeVar("T")
FAMILIES = ("stt", "tts", "vad")  # what the server can use; codecs have no OpenAI endpoint


@dataclass
class Entry:
    """One model id: what `load()` gets, its family and port, and its runtime state."""

    id: str
    ref: str  # bundled name, folder, or "fixture:<model_type>"
    family: str
    model_type: str
    model: Any = None
    loaded_at: float = 0.0
    load_seconds: float = 0.0
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    slots: asyncio.Semaphore | None = None
    active: int = 0  # admitted requests (holding or waiting for the compute thread)
    waiting: int = 0  # requests queued for a slot

    def public(self) -> dict[str, Any]:
        """The OpenAI model object, with the workbench's fields beside it."""
        return {"id": self.id, "object": "model", "created": int(self.loaded_at), "owned_by": "mlx-audio-lab",
                "family": self.family, "model_type": self.model_type, "loaded": self.model is not None,
                "load_seconds": round(self.load_seconds, 3), "active": self.active, "waiting": self.waiting}


def _catalog(config: ServerConfig) -> dict[str, Entry]:
    """Model ids a client may name: bundled assets, fixtures, and the folders given on the command line."""
    from ..hub import resolve
    from ..registry import REGISTRY, detect

    out: dict[str, Entry] = {}
    for spec in REGISTRY.values():
        if spec.family not in FAMILIES:
            continue
        for name, _finder in spec.assets:
            out[name] = Entry(name, name, spec.family, spec.model_type)
        if config.fixtures:
            out[f"fixture:{spec.model_type}"] = Entry(f"fixture:{spec.model_type}", f"fixture:{spec.model_type}",
                                                     spec.family, spec.model_type)
    refs = {**{m: m for m in config.models if m not in out}, **config.extra}
    for model_id, ref in refs.items():
        spec = detect(resolve(ref))
        out[model_id] = Entry(model_id, ref, spec.family, spec.model_type)
    return out


def _load(ref: str) -> Any:
    from .. import load
    from ..fixtures import build

    if ref.startswith("fixture:"):
        return load(build(ref.split(":", 1)[1]))
    return load(Path(ref) if Path(ref).is_dir() else ref)


def active_memory_mb() -> float:
    import mlx.core as mx

    return mx.get_active_memory() / 2**20


class ModelManager:
    """The catalog, the loaded models and the compute thread."""

    def __init__(self, config: ServerConfig, loader: Callable[[str], Any] = _load):
        self.config = config
        self.entries = _catalog(config)
        self.loader = loader
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx-compute")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the compute thread, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.compute, lambda: fn(*args, **kwargs))

    def entry(self, model_id: Any, family: str | None = None) -> Entry:
        """The entry of `model_id`, or a 404 listing the ids (a 400 when it is of the wrong family)."""
        if not isinstance(model_id, str) or not model_id.strip():
            raise APIError(400, "missing 'model': name one of " + ", ".join(self.ids(family)), "model",
                           "missing_model")
        e = self.entries.get(model_id)
        if e is None:
            shown = model_id if len(model_id) <= 80 else model_id[:80] + "..."
            raise APIError(404, f"unknown model {shown!r}; models: {', '.join(self.ids(family))} "
                                f"(GET /v1/models lists them)", "model", "model_not_found")
        if family is not None and e.family != family:
            what = {"stt": "speech-to-text", "tts": "text-to-speech", "vad": "voice-activity"}[e.family]
            raise APIError(400, f"{model_id} is a {what} model; use one of {', '.join(self.ids(family))}",
                           "model", "wrong_model_family")
        return e

    def ids(self, family: str | None = None) -> list[str]:
        return [i for i, e in self.entries.items() if family is None or e.family == family]

    async def get(self, model_id: str, family: str | None = None) -> tuple[Entry, Any]:
        """The loaded model (loading it on first use, one load at a time per model)."""
        e = self.entry(model_id, family)
        async with e.load_lock:
            if e.model is None:
                t0 = time.perf_counter()
                try:
                    e.model = await self.run(self.loader, e.ref)
                except Exception as err:
                    raise APIError(503, f"{model_id} could not be loaded ({type(err).__name__}: {err})", "model",
                                   "model_load_failed") from err
                e.load_seconds = time.perf_counter() - t0
                e.loaded_at = time.time()
        return e, e.model

    async def unload(self, model_id: str) -> dict[str, Any]:
        """Drop the model and give its memory back (in-flight requests finish with their reference first)."""
        e = self.entry(model_id)
        async with e.load_lock:
            was = e.model is not None
            before = active_memory_mb()
            e.model = None
            e.loaded_at = 0.0
            await self.run(_free)
            after = active_memory_mb()
        return {"id": model_id, "object": "model", "deleted": was, "freed_mb": round(max(before - after, 0.0), 1)}

    @asynccontextmanager
    async def slot(self, e: Entry):
        """Admission: a slot of the model's concurrency limit, waiting in a bounded queue (429 when full,
        503 after `queue_timeout_s`)."""
        cfg = self.config
        if e.slots is None:
            e.slots = asyncio.Semaphore(cfg.max_concurrency)
        if e.slots.locked() and e.waiting >= cfg.max_queue:
            raise APIError(429, f"{e.id} is busy: {cfg.max_concurrency} running and {e.waiting} queued "
                                f"(queue limit {cfg.max_queue}); retry later", "model", "queue_full",
                           headers={"Retry-After": "1"})
        e.waiting += 1
        try:
            await asyncio.wait_for(e.slots.acquire(), timeout=cfg.queue_timeout_s)
        except TimeoutError as err:
            raise APIError(503, f"{e.id}: no slot within {cfg.queue_timeout_s:g} s; retry later", "model",
                           "queue_timeout", headers={"Retry-After": "5"}) from err
        finally:
            e.waiting -= 1
        e.active += 1
        try:
            yield
        finally:
            e.active -= 1
            e.slots.release()

    def shutdown(self) -> None:
        self.compute.shutdown(wait=False, cancel_futures=True)


def _free() -> None:
    import mlx.core as mx

    gc.collect()
    mx.clear_cache()
