"""SQL persistence: the LMA's binding table, its restart counter, and the audit trail.

SQLAlchemy 2 models (:mod:`.models`), engines (:mod:`.database`), and a store that writes on its
own thread with group commits so the event loops never wait on the database (:mod:`.store`).
The schema is created and changed only by the Alembic migrations in ``migrations/``.
"""

from __future__ import annotations
