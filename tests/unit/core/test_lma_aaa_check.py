"""RFC 5213 §11 against a compromised MAG: the LMA registers a node only at the MAG where the
AAA (RADIUS accounting) places it (security-tests.md W4)."""

from __future__ import annotations

import pytest

from netlmm_aaa.core.events import AttachmentReported, TimerFired
from tests.lma_support import (
    ALICE,
    BOB,
    MAG2_ADDR,
    T0,
    audits,
    installs,
    make_lma,
    pba,
    pbu,
    receive,
    sent,
)

pytestmark = pytest.mark.hardening


def _lma():  # type: ignore[no-untyped-def]
    return make_lma(aaa_attachment_check=True, aaa_attachment_wait=1.0)


def test_a_pbu_waits_for_the_aaa_record_in_either_order() -> None:
    lma = _lma()
    # The accounting Start first: the PBU is accepted at once.
    lma.handle(AttachmentReported(mn_id=ALICE, mag="mag1"), T0)
    assert pba(receive(lma, pbu(1, mn_id=ALICE, timestamp=T0.utc), T0)).status == 0
    # The PBU first: nothing is sent until the record arrives, then it is processed as of its
    # arrival (its timestamp is judged against the moment it came in).
    out = receive(lma, pbu(1, mn_id=BOB, timestamp=T0.utc), T0)
    assert sent(out) == [] and installs(out) == []
    later = T0.after(0.6)  # beyond the 0.3 s timestamp window, within the AAA wait
    out = lma.handle(AttachmentReported(mn_id=BOB, mag="mag1"), later)
    assert pba(out).status == 0 and len(installs(out)) == 1


def test_a_mag_the_aaa_does_not_confirm_gets_154_and_moves_nothing() -> None:
    lma = _lma()
    lma.handle(AttachmentReported(mn_id=ALICE, mag="mag1"), T0)
    assert pba(receive(lma, pbu(1, mn_id=ALICE, timestamp=T0.utc), T0)).status == 0
    binding = lma.binding(ALICE)
    # MAG2 claims alice (a handover the AAA does not confirm): 154 once the wait is over.
    now = T0.after(5)
    out = receive(lma, pbu(1, mn_id=ALICE, hi=2, timestamp=now.utc), now, source=MAG2_ADDR)
    assert sent(out) == []
    assert lma.next_deadline() == now.monotonic + 1.0
    out = lma.handle(TimerFired(), now.after(1.0))
    answer = pba(out)
    assert answer.status == 154
    reason = audits(out, "pbu")[0].fields["reason"]
    assert "AAA places the node at mag1, not at mag2" in reason
    assert installs(out) == [] and lma.binding(ALICE) == binding
    # A node the AAA places nowhere (never started, or stopped) cannot be registered either.
    lma.handle(AttachmentReported(mn_id=BOB, mag=None), now)
    receive(lma, pbu(2, mn_id=BOB, timestamp=now.utc), now)
    out = lma.handle(TimerFired(), now.after(1.0))
    assert pba(out).status == 154
    assert "AAA places the node at no MAG" in audits(out, "pbu")[0].fields["reason"]


def test_a_confirmed_handover_proceeds_and_refreshes_are_not_held() -> None:
    lma = _lma()
    lma.handle(AttachmentReported(mn_id=ALICE, mag="mag1"), T0)
    receive(lma, pbu(1, mn_id=ALICE, timestamp=T0.utc), T0)
    now = T0.after(10)
    # A refresh from the serving MAG is never held, whatever the AAA says meanwhile.
    lma.handle(AttachmentReported(mn_id=ALICE, mag=None), now)
    assert pba(receive(lma, pbu(2, mn_id=ALICE, timestamp=now.utc), now)).status == 0
    # The handover: MAG2's PBU, then the new session's Start at MAG2's NAS.
    now = now.after(1)
    assert sent(receive(lma, pbu(1, mn_id=ALICE, hi=2, timestamp=now.utc), now,
                        source=MAG2_ADDR)) == []  # fmt: skip
    out = lma.handle(AttachmentReported(mn_id=ALICE, mag="mag2"), now.after(0.2))
    assert pba(out).status == 0
    assert lma.binding(ALICE).mag == "mag2"  # type: ignore[union-attr]
