"""The LLM call log, which is also the cache: every request, answer, token count and cost.

Owns ``llm_calls``. A call is looked up again by its cache key (a hash of everything that
shapes the answer); only calls that answered without an error are reused.
"""

from __future__ import annotations

from typing import Any

from .base import Connection, now

CALL_FIELDS = (
    "cache_key",
    "run_id",
    "paper_id",
    "backend",
    "model",
    "request",
    "response",
    "reasoning",
    "tokens_in",
    "tokens_out",
    "tokens_reasoning",
    "tokens_cached",
    "cost",
    "duration",
    "error",
)
CACHED_FIELDS = ("response", "reasoning", "model", "tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached")
LISTED_FIELDS = (
    "id",
    "created_at",
    "run_id",
    "paper_id",
    "backend",
    "model",
    "tokens_in",
    "tokens_out",
    "tokens_reasoning",
    "tokens_cached",
    "cost",
    "duration",
    "error",
)
TOTAL_FIELDS = ("calls", "errors", "tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached", "cost")


class CallTables(Connection):
    def cached_call(self, cache_key: str) -> dict[str, Any] | None:
        """The latest answered call with this key (its ``CACHED_FIELDS``), or None."""
        row = self.conn.execute(
            f"SELECT {', '.join(CACHED_FIELDS)} FROM llm_calls"
            " WHERE cache_key = ? AND error IS NULL AND response IS NOT NULL ORDER BY id DESC LIMIT 1",
            (cache_key,),
        ).fetchone()
        return dict(zip(CACHED_FIELDS, row)) if row else None

    def log_call(self, **fields: Any) -> None:
        """Log one call: every name of ``CALL_FIELDS``, none missing."""
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO llm_calls ({', '.join(CALL_FIELDS)}, created_at) VALUES ({', '.join('?' * (len(CALL_FIELDS) + 1))})",
                (*(fields[name] for name in CALL_FIELDS), now()),
            )

    def run_totals(self, run_id: int) -> dict[str, Any]:
        """Calls, tokens and cost that one run logged."""
        row = self.conn.execute(
            "SELECT count(*), sum(error IS NOT NULL), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
            " coalesce(sum(tokens_reasoning), 0), coalesce(sum(tokens_cached), 0), coalesce(sum(cost), 0.0)"
            " FROM llm_calls WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        return {name: (value or 0) for name, value in zip(TOTAL_FIELDS, row)}

    def recent_calls(self, limit: int = 20, run_id: int | None = None) -> list[dict[str, Any]]:
        """The latest logged calls (of one run, if given), newest first, without request and response."""
        where = "WHERE run_id = ?" if run_id is not None else ""
        rows = self.conn.execute(
            f"SELECT {', '.join(LISTED_FIELDS)} FROM llm_calls {where} ORDER BY id DESC LIMIT ?",
            ([run_id] if run_id is not None else []) + [limit],
        )
        return [dict(zip(LISTED_FIELDS, row)) for row in rows]
