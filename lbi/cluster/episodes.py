"""Episodes on Ray: actors that each hold one environment and reuse it across episodes, and the driver loop
that feeds them and writes what they send back.

The driver opens each trajectory in the store (so a finished one is skipped and one left `running` by a
killed driver starts again clean, as with the local executor), then hands the episode to an actor, two at a
time (the next waits in the actor's queue and starts without a round trip). The actor runs the same agent
loop and recorder as a local worker, against a `StoreRelay`, and streams each step's writes back, with the
screenshots the step made, as soon as it is recorded (a Ray streaming generator); the driver writes them
(screenshots first, then the rows), so the workbench sees the trajectory grow live. The env lives on one
thread of the actor (Playwright's sync API is bound to the thread that made it).

Faults: an actor whose process (or node) dies mid-episode is replaced by a new actor, placed wherever the
cluster has room, and the episode runs again from its start, up to `[ray] episode_retries` times, then it
is recorded `failed` and the run goes on. A model error the next episode would meet too (a bad key) ends the
run, as locally.
"""

from __future__ import annotations

import importlib
import queue
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import psutil
import ray
from ray import ObjectRefGenerator
from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

from lbi.cluster.relay import StoreRelay, apply
from lbi.cluster.session import ClusterError
from lbi.cluster.shipping import Shipment, WorkerProject, open_worker_project, put_files, take_files
from lbi.envs.base import Env
from lbi.project import Project

START_TIMEOUT_S = 600.0
"""How long the driver waits for a first actor to start before saying the cluster has no room."""
WORKER_GONE = (RayActorError, WorkerCrashedError)
Play = Callable[[Project, Env, dict[str, Any], int, int, Callable[[], None]], Any]
"""Plays one episode of a work item (a dict) in an env: (project, env, item, run id, max steps, written) ->
the agent's `Episode`; `written()` follows each recorded step. A module-level function (or a partial of one),
so it travels to the actors by reference."""


def tree_cpu() -> float:
    """CPU seconds of this process and its children (browser, app server) so far."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass  # ended between listing and reading
    return total


class EpisodeWorker:
    """One environment, reused across episodes (rebuilt after it crashes)."""

    def __init__(self, shipment: Shipment, warm: Sequence[str] = ()) -> None:
        # the imports of the agent loop and the model client (seconds) belong to the actor's start, not its first
        # episode: `warm` names the module of the episodes' `play`, which brings the agent loop
        import lbi.models.litellm_model  # noqa: F401

        for module in warm:
            importlib.import_module(module)
        self.project: WorkerProject = open_worker_project(shipment)
        self.env: Env | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="env")

    def ready(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def run(self, play: Play, item: dict[str, Any], trajectory_id: int, run_id: int, max_steps: int) -> Iterator[dict]:
        """Play one episode (`play`: a rollout's or an evaluation's); yields a batch (store writes + files)
        after each step and at the end, the last one with the episode's timings."""
        out: queue.Queue[dict | None] = queue.Queue()
        done = self.thread.submit(self._play, play, item, trajectory_id, run_id, max_steps, out)
        ended = False
        while not ended and (batch := out.get()) is not None:
            while True:  # steps recorded while the last batch travelled go together
                try:
                    more = out.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    ended = True
                    break
                batch = {
                    "calls": batch["calls"] + more["calls"],
                    "files": {**batch["files"], **more["files"]},
                    **({"stats": more["stats"]} if "stats" in more else {}),
                }
            yield batch
        done.result()  # a model error that ends the run reaches the driver here

    def _play(
        self,
        play: Play,
        item: dict[str, Any],
        trajectory_id: int,
        run_id: int,
        max_steps: int,
        out: queue.Queue[dict | None],
    ) -> None:
        relay = StoreRelay(trajectory_id)
        self.project.store = relay  # type: ignore[assignment]
        started, cpu = time.perf_counter(), tree_cpu()

        def written() -> None:
            out.put({"calls": relay.drain(), "files": take_files(self.project)})

        try:
            self.env = self.env or self.project.make_env()
            episode = play(self.project, self.env, item, run_id, max_steps, written)
            if episode.crashed:
                self.env.close()
                self.env = None
            out.put(
                {
                    "calls": relay.drain(),
                    "files": take_files(self.project),
                    "stats": {"wall_s": time.perf_counter() - started, "cpu_s": tree_cpu() - cpu},
                }
            )
        finally:
            out.put(None)

    def close(self) -> None:
        if self.env is not None:
            self.thread.submit(self.env.close).result()
            self.env = None
        self.project.close()


@dataclass
class EpisodeStats:
    """What the driver learnt from the actors: per-episode wall, CPU (actor + its children) and model time."""

    episodes: int = 0
    retried: int = 0
    lost: int = 0  # recorded failed because their worker died every time
    wall_s: float = 0.0
    cpu_s: float = 0.0
    model_s: float = 0.0
    nodes: Counter = field(default_factory=Counter)  # episodes per node id


@dataclass
class _Slot:
    """An actor and the episodes given to it, oldest (the one it plays) first."""

    actor: Any
    node: str = ""
    given: deque = field(default_factory=deque)  # (generator, item, trajectory id)


DEPTH = 2
"""Episodes given to an actor at once: the next waits in its queue, so it starts without a round trip."""


def _deliver(project: Project, batch: dict, stats: EpisodeStats) -> None:
    put_files(project, batch["files"])
    apply(project.store, batch["calls"])
    stats.model_s += sum(kw.get("latency_ms") or 0 for name, _, kw in batch["calls"] if name == "log_llm_call") / 1000
    if "stats" in batch:
        stats.episodes += 1
        stats.wall_s += batch["stats"]["wall_s"]
        stats.cpu_s += batch["stats"]["cpu_s"]


def run_episodes(
    project: Project,
    items: Sequence[Any],
    *,
    play: Play,
    run_id: int,
    max_steps: int,
    workers: int,
    open_trajectory: Callable[[Any], int | None],
    after_each: Callable[[], Any],
) -> EpisodeStats:
    """Run `items` (dataclasses with a resume `key`) on `workers` actors, each by `play`;
    `open_trajectory(item)` opens an item's trajectory in the store and gives its id (None: finished before,
    skipped); `after_each()` follows every episode."""
    from lbi.cluster.session import connect
    from lbi.cluster.shipping import ship

    connect(project.config, workers)
    shipment = ship(project)
    actor_cls = ray.remote(num_cpus=1, max_restarts=0)(EpisodeWorker)
    warm = [getattr(play, "func", play).__module__]  # a partial's function, or the function
    budget = project.config.ray.episode_retries
    stats = EpisodeStats()
    todo, tries = deque(items), Counter[str]()
    starting: dict[Any, _Slot] = {}  # ready() ref -> slot
    running: dict[Any, _Slot] = {}  # streaming generator -> its actor's slot
    alive: list[_Slot] = []

    def new_actor() -> None:
        slot = _Slot(actor_cls.remote(shipment, warm))
        starting[slot.actor.ready.remote()] = slot

    def give() -> None:
        for slot in sorted(alive, key=lambda sl: len(sl.given)):
            while todo and len(slot.given) < DEPTH:
                item = todo.popleft()
                tid = open_trajectory(item)
                if tid is None:
                    continue
                gen = slot.actor.run.remote(play, asdict(item), tid, run_id, max_steps)
                slot.given.append((gen, item, tid))
                running[gen] = slot

    for _ in range(min(workers, len(items))):
        new_actor()
    waited_since = time.monotonic()
    try:
        while todo or running:
            give()
            if not running and not starting and todo:
                new_actor()  # every actor died at start: try a fresh one
            if running:
                waited_since = time.monotonic()
            elif time.monotonic() - waited_since > START_TIMEOUT_S:
                raise ClusterError(
                    f"no Ray worker started in {START_TIMEOUT_S:.0f}s: the cluster has no free CPU "
                    "for an episode actor (see `ray status`)"
                )
            ready, _ = ray.wait([*starting, *running], num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in starting:
                    slot = starting.pop(ref)
                    try:
                        slot.node = ray.get(ref)
                        alive.append(slot)
                    except WORKER_GONE:
                        pass
                    continue
                if ref not in running:
                    continue  # its actor died since `ready` was taken
                slot = running[ref]
                try:  # a key of `running`: a streaming generator
                    batch = ray.get(next(cast(ObjectRefGenerator, ref)))
                except StopIteration:
                    del running[ref]
                    slot.given.popleft()
                    stats.nodes[slot.node] += 1
                    after_each()
                    continue
                except RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None
                except WORKER_GONE as exc:
                    alive.remove(slot)
                    new_actor()
                    _lost_worker(project, slot, exc, tries, budget, todo, stats, running, after_each)
                    continue
                _deliver(project, batch, stats)
    finally:
        _stop(alive, [*starting.values()])
    return stats


def _stop(alive: list[_Slot], starting: list[_Slot]) -> None:
    """Close the actors' environments (browsers, app servers), then end every actor."""
    closing = [slot.actor.close.remote() for slot in alive]
    if closing:
        ray.wait(closing, num_returns=len(closing), timeout=60)
    for slot in [*alive, *starting]:
        ray.kill(slot.actor, no_restart=True)


def _lost_worker(
    project: Project,
    slot: _Slot,
    exc: Exception,
    tries: Counter,
    budget: int,
    todo: deque,
    stats: EpisodeStats,
    running: dict,
    after_each: Callable[[], Any],
) -> None:
    """The actor of `slot` died: the episode it played runs again from its start (or is recorded failed once
    it has used its retries); those waiting in its queue go back to the queue untouched."""
    playing, *waiting = slot.given
    for gen, *_ in slot.given:
        running.pop(gen, None)
    todo.extendleft(reversed([item for _, item, _ in waiting]))
    _, item, tid = playing
    tries[item.key] += 1
    if tries[item.key] <= budget:
        stats.retried += 1
        todo.appendleft(item)
        return
    stats.lost += 1
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    project.store.finish_trajectory(
        tid, status="failed", error=f"the Ray worker running it died {tries[item.key]} times: {reason}"
    )
    after_each()
