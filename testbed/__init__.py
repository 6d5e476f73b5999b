"""Network-namespace test beds built from real components (used by the tests and the demo).

Everything here names its namespaces with a random suffix and removes them, and the processes it
started, when closed.
"""

from __future__ import annotations


class TestbedUnavailable(Exception):
    """A tool or privilege the test bed needs is missing (the message says which)."""

    __test__ = False  # not a pytest test class
