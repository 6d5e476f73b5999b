"""Rules of the MAG daemon around its core.

It confirms hostapd's success events from the Access-Accept its RADIUS relay just passed: each of
the two success events once per Accept, never after a new authentication began, a failure, a
disconnection or the expiry, and never for another station. And while an isolated PBU awaits its
answer, the station queue pauses, bounded in time and in how often."""

from __future__ import annotations

import asyncio
import time
import tomllib

import pytest

from netlmm_aaa.config import parse_mag_config
from netlmm_aaa.core.events import StationEvent, StationEventKind
from netlmm_aaa.services import mag_service
from netlmm_aaa.services.mag_service import MagService
from netlmm_aaa.wire.radius_auth import MobilityProfile
from tests.conftest import REPO

MAC = "02:00:00:00:01:01"
OTHER = "02:00:00:00:01:02"


def _service() -> MagService:
    config = parse_mag_config(tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text()))
    assert config.radius_relay is not None
    return MagService(config)


def _accept(service: MagService, mac: str = MAC) -> None:
    nas = service.config.nases[0].address
    service._profile_seen(mac, MobilityProfile(user_name=b"alice@example.org"), nas)


def _event(kind: StationEventKind, mac: str = MAC) -> StationEvent:
    return StationEvent(kind=kind, mac=mac)


def test_one_accept_confirms_eap_success_then_port_authorized_once_each() -> None:
    service = _service()
    _accept(service)
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED, OTHER)) is None
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) == "alice@example.org"
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) is None
    assert service._accepted_for(_event(StationEventKind.AUTHORIZED)) == "alice@example.org"
    assert service._accepted_for(_event(StationEventKind.AUTHORIZED)) is None
    assert MAC not in service._accepted


def test_either_order_of_the_two_success_events() -> None:
    service = _service()
    _accept(service)
    assert service._accepted_for(_event(StationEventKind.AUTHORIZED)) == "alice@example.org"
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) == "alice@example.org"
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) is None


def test_new_authentication_failure_or_disconnection_voids_the_accept() -> None:
    for voiding in (
        StationEventKind.AUTHENTICATION_STARTED,
        StationEventKind.AUTHENTICATION_FAILED,
        StationEventKind.DISCONNECTED,
    ):
        service = _service()
        _accept(service)
        assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) is not None
        assert service._accepted_for(_event(voiding)) is None
        assert service._accepted_for(_event(StationEventKind.AUTHORIZED)) is None, voiding


def test_an_expired_accept_confirms_nothing() -> None:
    service = _service()
    _accept(service)
    name, _expiry, left = service._accepted[MAC]
    service._accepted[MAC] = (name, time.monotonic() - 0.001, left)
    assert service._accepted_for(_event(StationEventKind.AUTHENTICATED)) is None
    assert MAC not in service._accepted


@pytest.mark.asyncio
async def test_the_station_queue_pauses_for_an_isolated_pbus_answer_only() -> None:
    service = _service()
    # No answer: the pause ends by itself at the limit.
    service._expect_answer()
    assert service._answer is not None
    started = time.monotonic()
    await service._hold_for_answer()
    waited = time.monotonic() - started
    assert mag_service._HOLD_LIMIT * 0.9 <= waited < 1.0
    assert service._answer is None
    # A second PBU within the spacing does not pause the queue again (a busy MAG never waits).
    service._expect_answer()
    assert service._answer is None
    # After the spacing, a PBU pauses it again, and its answer ends the pause at once.
    await asyncio.sleep(mag_service._HOLD_SPACING)
    service._expect_answer()
    assert service._answer is not None
    service._answered()
    started = time.monotonic()
    await service._hold_for_answer()
    assert time.monotonic() - started < mag_service._HOLD_LIMIT
    assert service._answer is None
