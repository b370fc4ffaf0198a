"""Connecting this process (the driver) to a Ray cluster.

`[ray] address` (or `--ray [ADDRESS]` on the command line) says which: empty starts a cluster inside this
process, sized by `[ray] num_cpus` and `object_store_mb` and stopped when the process ends (Ray's own exit
hook; its processes die with the driver even on `kill -9`); `auto` joins the cluster `ray start` runs on this
machine; `HOST:PORT` joins a head node. Workers get the driver's `LBI_*`, offline and provider-key variables
in the job's runtime environment, so a worker node needs lbi installed (the same version) but no settings.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any

from lbi.cluster.auth import TOKEN_HELP, enable_token_auth
from lbi.config import Config
from lbi.errors import UserError

IN_PROCESS = "in-process"
"""The value `--ray` takes when given without an address: a cluster inside this process
(`lbi.cli.common.ray_flag_value`)."""
PASSED_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LITELLM_LOCAL_MODEL_COST_MAP", "ANONYMIZED_TELEMETRY")
_PROVIDER_VAR = re.compile(r"^(LBI_|[A-Z0-9]+_API_(KEY|BASE|VERSION)$)")


class ClusterError(UserError):
    """The Ray cluster cannot be reached or cannot run the work; the message says what to start or change."""


def use_ray(config: Config, flag: str | None) -> None:
    """Apply `--ray [ADDRESS]` to the config: None leaves `synth.executor` as configured; `IN_PROCESS` (the flag
    alone) starts a cluster here; any other value is the address (`auto`, `HOST:PORT`), which must answer
    (`check_address`) before the command starts any work."""
    if flag is None:
        return
    config.synth.executor = "ray"
    config.ray.address = "" if flag == IN_PROCESS else flag
    check_address(config.ray.address)


REACH_TIMEOUT_S = 3.0


def check_address(address: str) -> None:
    """A head node's address (`HOST:PORT`, or `ray://HOST:PORT`) must accept a connection within
    `REACH_TIMEOUT_S`; Ray itself retries a wrong one for minutes, logging as it goes."""
    if address in ("", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"--ray {address!r}: give HOST:PORT of a head node, `auto` for the cluster `ray start` "
            "runs here, or nothing to start one inside this process"
        )
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start its head there with "
            f"`ray start --head --port {port}`, or give `--ray` alone to start one inside this "
            "process"
        ) from None


def on_ray(config: Config) -> bool:
    return config.synth.executor == "ray"


def worker_env() -> dict[str, str]:
    """Variables every worker gets from the driver (its runtime environment)."""
    return {k: v for k, v in os.environ.items() if k in PASSED_VARS or _PROVIDER_VAR.match(k)}


def prepare_environment(address: str) -> None:
    """Ray's switches that must be set before it is imported: a cluster started in this process is this
    machine's alone, so its processes talk over loopback (otherwise Ray swaps 127.0.0.1 for the machine's own
    address, expecting other machines to join); a driver sends the cluster's token when it has one
    (`lbi.cluster.auth`, which the package's face already ran)."""
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    enable_token_auth()


def connect(config: Config, workers: int = 1) -> None:
    """Join or start the configured cluster (once per process; later calls reuse the connection). A cluster
    started here offers at least `workers` CPUs, so that many episode actors fit on it."""
    prepare_environment(config.ray.address.strip())
    token_auth = os.environ.get("RAY_AUTH_MODE") == "token"
    import ray

    if ray.is_initialized():
        return
    common: dict[str, Any] = {
        "runtime_env": {"env_vars": worker_env()},
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": True,
    }
    address = config.ray.address.strip()
    try:
        if address:
            ray.init(address=address, **common)
        else:
            cpus = config.ray.num_cpus or max(os.cpu_count() or 1, workers)
            ray.init(
                num_cpus=cpus,
                object_store_memory=config.ray.object_store_mb * 1024 * 1024,
                include_dashboard=False,
                **common,
            )
    except ConnectionError as exc:
        where = "on this machine" if address == "auto" else f"at {address}"
        if address and not token_auth:  # it answered (check_address) but refused a driver without a token
            raise ClusterError(
                f"the Ray cluster {where} did not let this driver join ({exc}); a cluster started "
                f"with RAY_AUTH_MODE=token requires its token: {TOKEN_HELP}"
            ) from None
        raise ClusterError(
            f"no Ray cluster {where} ({exc}); start one with `ray start --head` or give `--ray` "
            "without an address to start one inside this process"
        ) from None


def disconnect() -> None:
    """Leave the cluster (and stop it, if this process started it)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
