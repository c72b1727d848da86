"""papersift.publish: the catalog, the daily digest, deep-dives and the static site, laid out from stored cards.

- :mod:`.view`: a paper as every publication shows it; :mod:`.render`: the templates' environment;
- :mod:`.catalog`, :mod:`.digest`, :mod:`.deepdive`: the three publications (Markdown, HTML, JSON, feeds);
- :mod:`.site`: all of them as linked static pages; :mod:`.formats`: the output formats, plugins included.
"""
