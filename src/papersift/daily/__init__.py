"""The daily run: follow the configured sources, rank the new papers for the reader, write the
day's synthesis, publish and deliver the digest (see :mod:`papersift.daily.run`)."""

from .run import DailyReport, run_daily

__all__ = ["DailyReport", "run_daily"]
