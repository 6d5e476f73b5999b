"""The audit trail's contract: every kind a core or daemon can record is routed by the store,
to a typed report table or, by decision, to ``audit_events``; and a record never changes."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import pytest

import netlmm_aaa
from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.persistence.report_rows import AUDIT_EVENT_KINDS, REPORT_KINDS


def test_every_kind_is_routed_exactly_once() -> None:
    typed, generic = set(REPORT_KINDS), set(AUDIT_EVENT_KINDS)
    assert not typed & generic, typed & generic
    assert typed | generic == set(AuditKind), set(AuditKind) - typed - generic


def test_every_kind_the_code_names_is_a_member_and_every_member_is_named() -> None:
    """No kind is spelled as a bare string in the package; each member is produced somewhere."""
    package = pathlib.Path(netlmm_aaa.__file__).parent
    named: set[str] = set()
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r'RecordAudit\(\s*kind="', text), path
        named.update(re.findall(r"AuditKind\.([A-Z0-9_]+)", text))
    stores = {"store.py", "audit_kinds.py"}
    produced = {
        name
        for path in package.rglob("*.py")
        if path.name not in stores
        for name in re.findall(r"AuditKind\.([A-Z0-9_]+)", path.read_text())
    }
    assert named <= set(AuditKind.__members__), named - set(AuditKind.__members__)
    assert produced == set(AuditKind.__members__), set(AuditKind.__members__) - produced


def test_a_record_cannot_be_changed() -> None:
    record = RecordAudit(kind=AuditKind.HANDOVER, utc=0.0, fields={"route_switch_ms": 1.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.kind = AuditKind.PBA  # type: ignore[misc]
    assert record.kind == "handover"  # the text the trail stores
