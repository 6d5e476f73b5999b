"""Requests on hostapd's monitor socket (ATTACH, the keepalive's LEVEL) are answered in order
with bare "OK"s that name no request: two sent at once must each get one answer, not one get
both and the other time out (seen in CI as the keepalive's LEVEL racing the test's own)."""

from __future__ import annotations

import asyncio

from netlmm_aaa.adapters.hostapd_control import HostapdControl


class _AnsweringMonitor:
    """Stands in for the monitor socket: each datagram sent is answered "OK" 10 ms later,
    in order, as hostapd does."""

    def __init__(self, control: HostapdControl) -> None:
        self.control = control
        self.sent: list[bytes] = []

    def sendto(self, data: bytes) -> None:
        self.sent.append(data)
        asyncio.get_running_loop().call_later(0.01, self.control._event_datagram, b"OK\n")

    def close(self) -> None:
        pass


def test_two_monitor_requests_at_once_each_get_their_answer() -> None:
    async def scenario() -> list[str]:
        bad: list[str] = []
        control = HostapdControl("/nonexistent/acc0", on_event=lambda e: None,
                                 on_bad_line=lambda line, why: bad.append(line),
                                 timeout=0.5)  # fmt: skip
        monitor = _AnsweringMonitor(control)
        control._events = monitor  # type: ignore[assignment]
        try:
            answers = await asyncio.gather(control._event_request(b"LEVEL 3"),
                                           control._event_request(b"LEVEL 3"))  # fmt: skip
        finally:
            control._events = None
            await control.close()
        assert monitor.sent == [b"LEVEL 3", b"LEVEL 3"]
        assert bad == [], bad  # no answer was taken for an event line
        return answers

    assert asyncio.run(scenario()) == ["OK", "OK"]
