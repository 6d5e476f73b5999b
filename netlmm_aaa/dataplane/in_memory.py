"""Data planes that only record: for tests of the daemons and for ``--dry-run``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from netlmm_aaa.core.actions import StationBinding
from netlmm_aaa.dataplane.port import ReconcileReport, RouteOperation, destinations, endpoint_of


class RecordingLmaDataPlane:
    """Keeps the routes it would program in a dict: destination -> tunnel endpoint."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}
        self.operations: list[RouteOperation] = []
        self.started = False
        self.peers: tuple[str, ...] = ()

    @property
    def backend_name(self) -> str:
        return "recording"

    async def start(self) -> None:
        self.started = True

    async def apply(self, operations: Sequence[RouteOperation]) -> None:
        self.apply_now(operations)

    async def set_peers(self, peers: Collection[str]) -> None:
        self.peers = tuple(peers)

    def apply_now(self, operations: Sequence[RouteOperation]) -> bool:
        for op in operations:
            self.operations.append(op)
            for destination in destinations(op.binding):
                if op.install:
                    self.routes[destination] = endpoint_of(op.binding)
                else:
                    self.routes.pop(destination, None)
        return True

    async def reconcile(
        self, routes: Mapping[str, str], uplink_keys: Mapping[int, str] | None = None
    ) -> ReconcileReport:
        wanted = routes
        added = sum(1 for d in wanted if d not in self.routes)
        replaced = sum(1 for d, v in wanted.items() if d in self.routes and self.routes[d] != v)
        removed = sum(1 for d in self.routes if d not in wanted)
        kept = len(wanted) - added - replaced
        self.routes = dict(wanted)
        return ReconcileReport(added=added, replaced=replaced, removed=removed, kept=kept)

    async def close(self) -> None:
        self.started = False


class RecordingMagDataPlane:
    """The MAG's data plane, recorded: each call as (operation, argument), in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.started = False

    @property
    def backend_name(self) -> str:
        return "recording"

    async def start(self) -> None:
        self.started = True

    async def set_peers(self, peers: Collection[str]) -> None:
        self.calls.append(("set_peers", tuple(peers)))

    async def prepare_access_interface(self, interface: str) -> None:
        self.calls.append(("prepare_access_interface", interface))

    async def install(self, station: StationBinding) -> None:
        self.calls.append(("install", station))

    async def remove(self, station: StationBinding) -> None:
        self.calls.append(("remove", station))

    async def prepare_downlink(self, station: StationBinding) -> None:
        self.calls.append(("prepare_downlink", station))

    async def withdraw_downlink(self, station: StationBinding) -> None:
        self.calls.append(("withdraw_downlink", station))

    async def close(self) -> None:
        self.started = False
