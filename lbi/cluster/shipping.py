"""What a Ray worker gets from the driver, and the project it makes of it.

The driver ships the project's configuration (by value) and the files its environment reads (the options
its spec lists in `EnvSpec.shipped_options`, e.g. the SQL env's `db`, the repo env's `repo`) as archives in
the object store. A worker unpacks each archive once per node (under `$TMPDIR/lbi-ray/data/<hash>`, shared by
the actors there) and points the option at it, so no directory is copied by hand and no node needs the
project folder. The worker's project lives in a directory of its own (its screenshots, before they travel
back to the driver with the step that made them) and its store is a `StoreRelay`.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lbi
from lbi.cluster.relay import StoreRelay
from lbi.config import Config
from lbi.envs import env_spec
from lbi.project import Project


def node_root() -> Path:
    """Where a worker keeps what it unpacks and makes, on its own node."""
    path = Path(tempfile.gettempdir()) / "lbi-ray"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Shipment:
    """Everything a worker needs from the driver: the config and object refs to the env's files."""

    config: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)  # option name -> ObjectRef of a .tar.gz
    lbi_version: str = lbi.__version__
    cache_key: str = ""


def pack(path: Path) -> bytes:
    """A file or folder as gzipped tar bytes (its own name at the top)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(str(path), arcname=path.name)
    return out.getvalue()


def ship(project: Project, extra: dict[str, Path] | None = None) -> Shipment:
    """Put the env's files in the object store; the config travels by value."""
    import ray

    config = project.config
    options = dict(config.env.options)
    files = {
        name: Path(options[name]).expanduser()
        for name in env_spec(config.env.name).shipped_options
        if options.get(name) and Path(options[name]).expanduser().exists()
    }
    files.update(extra or {})
    data = {name: ray.put(pack(path)) for name, path in files.items()}
    key = hashlib.sha256(str(project.dir.resolve()).encode()).hexdigest()[:16]
    return Shipment(config=config.model_dump(mode="json"), data=data, cache_key=key)


def unpack(blob: bytes) -> Path:
    """The archive's top entry, unpacked once per node (by content)."""
    digest = hashlib.sha256(blob).hexdigest()[:24]
    target = node_root() / "data" / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}-", dir=target.parent))
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
        try:
            os.rename(staging, target)  # atomic: another actor on this node may have won the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    entries = list(target.iterdir())
    return entries[0]


@dataclass
class WorkerProject(Project):
    """A project on a worker: config from the driver, a `StoreRelay` for a store, a folder of its own, and the
    model cache shared by the actors of this node."""

    cache_root: Path | None = None

    @property
    def cache_dir(self) -> Path:
        return self.cache_root or super().cache_dir

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def open_worker_project(shipment: Shipment) -> WorkerProject:
    import ray

    if shipment.lbi_version != lbi.__version__:
        raise RuntimeError(
            f"this node runs lbi {lbi.__version__}, the driver {shipment.lbi_version}: install the "
            "same lbi on every node"
        )
    config = Config.model_validate(shipment.config)
    for name, ref in shipment.data.items():
        config.env.options[name] = str(unpack(ray.get(ref)))
    root = node_root()
    folder = Path(tempfile.mkdtemp(prefix="actor-", dir=root))
    return WorkerProject(
        dir=folder,
        config=config,
        store=StoreRelay(),  # type: ignore[arg-type]
        cache_root=root / "cache" / shipment.cache_key / "llm",
    )


def take_files(project: WorkerProject) -> dict[str, bytes]:
    """The screenshots made since the last call, by their path in the project; they leave this node."""
    out = {}
    folder = project.dir / "screenshots"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file():
                out[str(path.relative_to(project.dir))] = path.read_bytes()
                path.unlink()
    return out


def put_files(project: Project, files: dict[str, bytes]) -> None:
    """Write a worker's files into the driver's project (the paths its step records name)."""
    base = project.dir.resolve()
    for rel, blob in files.items():
        target = (base / rel).resolve()
        if not target.is_relative_to(base):
            raise ValueError(f"a worker sent a file outside the project: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
