"""Hypothesis over event sequences: the LMA's invariants hold after every step.

A model kernel (applying Install/RemoveBindingRoutes) and a model store (Store/DeleteStoredBinding)
follow the actions; after each event they must agree with the binding cache, no prefix or IPv4
address may be held by two nodes, an accepted registration must leave the node at that MAG, and the
sequence numbers accepted from one MAG for one node must increase while its binding lives.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlmm_aaa.core.actions import (
    DeleteStoredBinding,
    InstallBindingRoutes,
    RemoveBindingRoutes,
    StoreBinding,
)
from netlmm_aaa.core.events import RevocationRequested, TimerFired
from netlmm_aaa.core.lma import BindingState
from netlmm_aaa.core.messages import ProxyBindingAcknowledgement, find_option
from netlmm_aaa.core.options import (
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
)
from netlmm_aaa.core.sequence_numbers import sequence_newer
from tests.lma_support import MAG1_ADDR, MAG2_ADDR, T0, make_lma, pbu, receive

NODES = [b"n0@example.org", b"n1@example.org", b"n2@example.org"]
MAGS = [MAG1_ADDR, MAG2_ADDR]

step = st.one_of(
    st.tuples(
        st.just("pbu"),
        st.integers(0, 2),  # node
        st.integers(0, 1),  # MAG
        st.sampled_from([1, 2, 3, 4, 5]),  # HI
        st.sampled_from([0, 0, 15, 30, 900]),  # lifetime units
        st.integers(-2, 3),  # sequence step
        st.booleans(),  # IPv4 request
    ),
    st.tuples(st.just("time"), st.sampled_from([0.5, 1.0, 2.0, 11.0, 70.0, 4000.0])),
    st.tuples(st.just("revoke"), st.integers(0, 2)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, min_size=1, max_size=40), st.booleans())
def test_invariants_over_random_event_sequences(steps: list[tuple], wait_hi4: bool) -> None:
    lma = make_lma(max_delay_before_new_bce_assign=1.5 if wait_hi4 else 0)
    now = T0
    sequences = {(n, m): 100 for n in range(3) for m in range(2)}
    kernel: dict[bytes, tuple[tuple[str, ...], str | None, str]] = {}
    store: dict[bytes, object] = {}
    accepted_seq: dict[tuple[bytes, str], int] = {}
    for item in steps:
        if item[0] == "pbu":
            _, n, m, hi, lifetime, dseq, v4 = item
            sequences[(n, m)] = (sequences[(n, m)] + dseq) & 0xFFFF
            extra = (IPv4HomeAddressRequestOption(),) if v4 else ()
            message = pbu(sequences[(n, m)], lifetime, mn_id=NODES[n], hi=hi, extra=extra)
            actions = receive(lma, message, now=now, source=MAGS[m])
        elif item[0] == "time":
            now = now.after(item[1])
            actions = lma.handle(TimerFired(), now)
        else:
            actions = lma.handle(RevocationRequested(mn_id=NODES[item[1]]), now)

        last_accept: dict[bytes, str] = {}
        for action in actions:
            if type(action) is InstallBindingRoutes:
                b = action.binding
                kernel[b.mn_id] = (b.home_network_prefixes, b.ipv4_home_address, b.proxy_coa)
            elif type(action) is RemoveBindingRoutes:
                kernel.pop(action.binding.mn_id, None)
            elif type(action) is StoreBinding:
                store[action.binding.mn_id] = action.binding
            elif type(action) is DeleteStoredBinding:
                store.pop(action.mn_id, None)
                # The binding is gone, and with it the sequence history (a new BCE takes any).
                for key in [k for k in accepted_seq if k[0] == action.mn_id]:
                    del accepted_seq[key]
            elif (
                type(action).__name__ == "SendMessage"
                and type(action.message) is ProxyBindingAcknowledgement
            ):  # type: ignore[union-attr]
                reply = action.message  # type: ignore[union-attr]
                mn = find_option(reply, MobileNodeIdentifierOption)
                if reply.status < 128 and mn is not None:
                    key = (mn.identifier, action.destination)  # type: ignore[union-attr]
                    if reply.lifetime > 0:
                        last_accept[mn.identifier] = action.destination  # type: ignore[union-attr]
                        if key in accepted_seq and key[1] in MAGS:
                            previous = accepted_seq[key]
                            assert reply.sequence == previous or sequence_newer(
                                reply.sequence, previous
                            )
                        accepted_seq[key] = reply.sequence
                    else:
                        last_accept.pop(mn.identifier, None)  # type: ignore[union-attr]

        bindings = {b.mn_id: b for b in lma.bindings()}
        # 1. the kernel model follows the binding cache exactly
        for mn_id in NODES:
            state = lma.binding_state(mn_id)
            b = bindings.get(mn_id)
            if state is BindingState.ACTIVE:
                assert b is not None
                assert kernel.get(mn_id) == (
                    b.home_network_prefixes,
                    b.ipv4_home_address,
                    b.proxy_coa,
                )
            else:
                assert mn_id not in kernel
            # 2. the store model holds exactly the cache's entries
            assert (mn_id in store) == (b is not None)
            if b is not None:
                assert store[mn_id] == b
        # 3. nothing is held twice
        held = [p for b in bindings.values() for p in b.home_network_prefixes]
        held += [b.ipv4_home_address for b in bindings.values() if b.ipv4_home_address]
        assert len(held) == len(set(held))
        # 4. an accepted registration leaves the node at that MAG
        for mn_id, mag_address in last_accept.items():
            b = bindings.get(mn_id)
            assert b is not None
            assert lma.binding_state(mn_id) is BindingState.ACTIVE
            assert b.signalling_address == mag_address


# In the hardening suite (security-tests.md F2/F3: the sequences hold duplicated (step 0) and
# reordered (negative step) PBUs from two MAGs).
pytestmark = pytest.mark.hardening
