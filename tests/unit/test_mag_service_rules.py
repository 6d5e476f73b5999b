"""Rules of the MAG daemon around its core: while an isolated PBU awaits its answer, the station
queue pauses, bounded in time; under steady load it never pauses. (The station rules are core
tests: tests/unit/core/test_mag_station_rules.py.)"""

from __future__ import annotations

import asyncio
import time
import tomllib

import pytest

from netlmm_aaa.config import parse_mag_config
from netlmm_aaa.dataplane.in_memory import RecordingMagDataPlane
from netlmm_aaa.services import mag_service
from netlmm_aaa.services.mag_service import MagService
from tests.conftest import REPO


def _service() -> MagService:
    config = parse_mag_config(tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text()))
    return MagService(config, RecordingMagDataPlane())


@pytest.mark.asyncio
async def test_the_station_queue_pauses_for_an_isolated_pbus_answer_only() -> None:
    service = _service()
    # The first PBU in a while: no answer comes, so the pause ends at the limit.
    service._expect_answer()
    assert service._answer is not None
    started = time.monotonic()
    await service._hold_for_answer()
    waited = time.monotonic() - started
    assert mag_service._HOLD_LIMIT * 0.9 <= waited < 1.0
    assert service._answer is None
    # A PBU close behind another (a MAG under load) does not pause the queue.
    service._expect_answer()
    assert service._answer is None
    # After a quiet spell a PBU pauses it again, and its answer ends the pause at once.
    await asyncio.sleep(mag_service._QUIET)
    service._expect_answer()
    assert service._answer is not None
    service._answered()
    started = time.monotonic()
    await service._hold_for_answer()
    assert time.monotonic() - started < mag_service._HOLD_LIMIT
    assert service._answer is None
    # Steady PBUs never pause it, however long they go on (the old rule paused once per 50 ms).
    for _ in range(12):
        await asyncio.sleep(mag_service._QUIET / 10)
        service._expect_answer()
        assert service._answer is None
