"""papersift.enrich: every paper's card in the reader's language, and deep-dive articles.

- :mod:`.pipeline`: ``enrich_papers(store, settings, ...) -> RunReport``, the resumable run;
- :mod:`.prompts`: the card prompt (templates in ``papersift/prompts``), static part first;
- :mod:`.grounded`: the card written from the abstract's own sentences (the embedded engine's way),
  with :mod:`.sentences`, :mod:`.roles` (which sentences each field is written from) and :mod:`.units`;
- :mod:`.fieldwise`: the card a field at a time from the whole abstract;
- :mod:`.deepdive` / :mod:`.sections`: the deep-dive article from the full text.

What a card must pass before it is stored is in :mod:`papersift.checks`; how cards measure up
against reference readings, in :mod:`papersift.evaluate`.
"""
