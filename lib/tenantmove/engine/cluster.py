"""The engine's second worker pool: a workload's scopes (a mailbox, a drive, ...) as tasks on Dask distributed, the
engine the Jupyter ecosystem already uses. The ``cluster`` parameter chooses it:
- empty: the notebook's own thread pool (as before);
- ``local:N``: a ``distributed.LocalCluster`` of N worker processes on this machine;
- an address (``tcp://host:8786``): an existing scheduler. Users start it, and its workers, with Dask's own
  deployment tools (Kubernetes, a batch system, ``dask scheduler`` and ``dask worker``).

One scope is one task. Its items keep their per-scope limits inside it, and each worker process works on at most
``workers`` scopes at once. The notebook's kernel stays the only writer of the ledger: it records each item's
attempt before it hands the scope out, and each result as it comes back.

A scope whose worker was lost runs again. The scheduler may rerun it elsewhere, or the engine submits it again.
Either way the rerun knows it is one (the task's metadata on the scheduler), and marks its items ``retried``, so that
``find`` adopts what the lost worker made. Workers sign in themselves, with the same app registration, from their
own environment or certificate file. No secret travels in a task, and a worker that cannot sign in is named
before anything starts."""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from ..errors import TenantmoveError
from .workload import ManualStep, Work, Workload

log = logging.getLogger("tenantmove.cluster")
ItemResult = tuple[str, str, Any]  # (key, "done" | "manual" | "failed", Applied | ManualStep | message)
CONNECT_SECONDS = 15
ITEM_THREADS = 64  # a worker process's threads for items, shared by the scopes it works on at once
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


class ClusterError(TenantmoveError):
    """The cluster cannot be used: nothing was handed out."""


def parse(spec: str) -> tuple[str, int]:
    """("local", N) or ("address", 0) for a valid ``cluster`` parameter; raises :class:`ValueError` otherwise."""
    spec = spec.strip()
    if spec.startswith("local:"):
        n = int(spec.split(":", 1)[1])
        if not 1 <= n <= 64:
            raise ValueError("local:N takes 1 to 64 worker processes")
        return "local", n
    if "://" in spec or ":" in spec:
        host, _, port = spec.split("://", 1)[-1].rpartition(":")
        if host and port.isdigit():
            return "address", 0
    raise ValueError(f"{spec!r} is neither local:N nor a scheduler's address")


def connect(spec: str, threads: int, timeout: float = CONNECT_SECONDS) -> Any:
    """A Dask client for ``spec`` (the ``cluster`` parameter), each worker process taking ``threads`` scopes at
    once. A scheduler that cannot be reached, or whose Dask differs from this one's, is refused in one line."""
    import dask
    from distributed import Client, LocalCluster

    kind, n = parse(spec)
    if kind == "local":
        with dask.config.set({"distributed.worker.daemon": False}):
            local = LocalCluster(n_workers=n, threads_per_worker=max(1, threads), processes=True,
                                 dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(local)
    from distributed.versions import VersionMismatchWarning

    try:
        with warnings.catch_warnings():  # Dask's warning of other versions: :func:`mismatches` refuses them instead
            warnings.simplefilter("ignore", VersionMismatchWarning)
            client = Client(spec, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"the Dask scheduler at {spec} cannot be reached: {exc}", where="cluster",
                           hint="start it (dask scheduler) and its workers, check the address and the firewall, "
                                "or leave cluster empty for this machine's thread pool") from exc
    differ = mismatches(client.get_versions())
    if differ:
        client.close()
        raise ClusterError(f"the cluster at {spec} runs other versions than this notebook: {'; '.join(differ)}",
                           where="cluster", hint="install the same versions on the scheduler and every worker as "
                                                 "here (pip install -e . from this project in their environment)")
    return client


def mismatches(versions: dict[str, Any]) -> list[str]:
    """What differs between this process and the cluster's scheduler and workers, from ``Client.get_versions()``:
    Python's minor version and the packages Dask itself needs alike (a task is pickled here and unpickled there).
    Dask only warns of them; a migration does not start on a warning nobody reads."""
    from distributed.versions import required_packages

    def minor(python: str | None) -> str:
        return ".".join(str(python).split(".")[:2])

    mine = versions["client"]["packages"]
    others = {"the scheduler": versions["scheduler"]["packages"],
              **{f"worker {w}": (v or {}).get("packages", {}) for w, v in sorted(versions["workers"].items())}}
    out = []
    for who, theirs in others.items():
        if minor(theirs.get("python")) != minor(mine.get("python")):
            out.append(f"Python {minor(theirs.get('python'))} on {who}, {minor(mine.get('python'))} here")
        out += [f"{pkg} {theirs.get(pkg) or 'missing'} on {who}, {mine.get(pkg)} here" for pkg in required_packages
                if pkg != "msgpack" and theirs.get(pkg) != mine.get(pkg)]
    return out


def check_workers(client: Any, signin: Any) -> list[str]:
    """Each worker signs in to both tenants itself, now: the addresses of those that cannot, with why."""
    def both() -> str:
        signin.client("source")
        signin.client("target")
        return "ok"

    answers = client.run(both, on_error="return")
    return [f"{worker}: {answer}" for worker, answer in sorted(answers.items()) if answer != "ok"]


def run_scope(factory: Callable[[], Workload], works: list[Work], limit: int, token: str) -> list[ItemResult]:
    """A worker's part: the scope's works found and applied, at most ``limit`` at once. A rerun of the same task
    (its first worker was lost) marks them ``retried``, so that ``find`` adopts what the lost one made."""
    from distributed import get_client

    scheduler = get_client()  # the task's own record on the scheduler: was it started before, on a lost worker?
    again = bool(scheduler.get_metadata([token, "started"], default=False))
    scheduler.set_metadata([token, "started"], True)
    if again:
        works = [replace(w, retried=True) for w in works]
    try:
        workload = factory()
        workload.begin(works)
    except Exception as exc:  # noqa: BLE001 - every item of the scope fails with the reason (sign-in, the scope)
        message = exc.one_line() if isinstance(exc, TenantmoveError) else f"{type(exc).__name__}: {exc}"
        return [(w.key, "failed", message) for w in works]

    def one(work: Work) -> ItemResult:
        try:
            result = workload.apply(work, workload.find(work))
        except TenantmoveError as exc:
            return work.key, "failed", exc.one_line()
        except Exception as exc:  # noqa: BLE001 - any item's failure is recorded by the kernel, by name
            return work.key, "failed", f"{type(exc).__name__}: {exc}"
        return work.key, "manual" if isinstance(result, ManualStep) else "done", result

    pool, out = _items_pool(), []
    queue = list(works)
    running = {pool.submit(one, w) for w in queue[:max(1, limit)]}
    queue = queue[max(1, limit):]
    while running:
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            out.append(future.result())
            if queue:
                running.add(pool.submit(one, queue.pop(0)))
    return out


def _items_pool() -> ThreadPoolExecutor:
    """This worker process's threads for the items of its scopes, kept for its life. A pool a task would make its
    threads, their HTTP sessions and their TLS connections anew each time; and the garbage collector, closing the
    old ones in whatever thread it runs, once locked a worker's event loop (seen with 32 drives on 4 processes)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=ITEM_THREADS, thread_name_prefix="tm-scope")
        return _POOL


def submit(client: Any, factory: Callable[[], Workload], works: list[Work], limit: int) -> Any:
    """The scope as one task (never cached: ``pure=False``)."""
    token = f"tm-{uuid.uuid4().hex}"
    return client.submit(run_scope, factory, works, limit, token, pure=False, key=token)


def lost(exc: BaseException) -> bool:
    """Whether a task's error means its worker was lost (run it again), not that the scope failed."""
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    return isinstance(exc, KilledWorker | CommClosedError | ConnectionError)

