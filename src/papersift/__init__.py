"""papersift: turn the daily flood of research papers into something you can read."""

__version__ = "0.1.0"
