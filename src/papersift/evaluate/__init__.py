"""papersift.evaluate: the checks and the cards measured against reference readings.

- :mod:`.readings`: ``papersift eval readings``, the guard's false-alarm and catch rates;
- :mod:`.cards`: ``papersift eval cards``, a store's cards against reference readings or digests.
"""
