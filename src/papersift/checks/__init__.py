"""papersift.checks: what every LLM output meets before it is published, whoever wrote it.

- :mod:`.guard` / :mod:`.numbers`: the faithfulness guard (every number and name in the source);
- :mod:`.quality`: the quality gate (repeated, cut-off, badly sized fields, titles, the glossary);
- :mod:`.language`: target languages and the check that a reply is written in one;
- :mod:`.glossary`: English term → translation, starter (``glossary.toml``) plus the user's file.

Cards (:mod:`papersift.enrich`), the daily synthesis and deep-dives all call them.
"""
