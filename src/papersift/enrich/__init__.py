"""papersift.enrich: every paper's card in the reader's language, checked before it is stored.

- :mod:`.pipeline`: ``enrich_papers(store, settings, ...) -> RunReport``, the resumable run;
- :mod:`.prompts`: the card prompt (templates in ``papersift/prompts``), static part first;
- :mod:`.language`: target languages and the check that a reply is written in one;
- :mod:`.guard` / :mod:`.numbers`: the faithfulness guard;
- :mod:`.quality`: the quality gate (repeated, cut-off, badly sized fields, titles, the glossary);
- :mod:`.glossary`: English term → translation, starter (``glossary.toml``) plus the user's file;
- :mod:`.guard_eval` / :mod:`.card_eval`: ``papersift eval readings`` and ``eval cards``.
"""
