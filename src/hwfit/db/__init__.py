"""The results database: every benchmark row, keyed by machine, behind one interface.

SQLite in the user's data folder by default; ``$HWFIT_DB`` or ``--db`` name another file or a
PostgreSQL URL for a team-shared history.

Example:
    >>> from hwfit.db import HistoryQuery, ResultStore
    >>> with ResultStore("sqlite://") as store:
    ...     store.query(HistoryQuery(runtime="onnxruntime"))
    []
"""

from __future__ import annotations

from hwfit.db.store import HistoryQuery, ResultStore, default_db_url

__all__ = ["HistoryQuery", "ResultStore", "default_db_url"]
