"""papersift.enrich: every paper's card in the reader's language, checked before it is stored.

- :mod:`.pipeline`: ``enrich_papers(store, settings, ...) -> RunReport``, the resumable run;
- :mod:`.prompts`: the card prompt (templates in ``papersift/prompts``), static part first;
- :mod:`.language`: target languages and the check that a reply is written in one;
- :mod:`.guard` / :mod:`.numbers`: the faithfulness guard.
"""
