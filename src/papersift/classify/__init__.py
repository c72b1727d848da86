"""papersift.classify: each paper filed under a sub-area of the taxonomy.

- :mod:`.pipeline`: training data, assignment and evaluation over the store;
- :mod:`.supervised`: the classifier trained on labelled papers (TF-IDF and embeddings);
- :mod:`.zeroshot`: filing by similarity to the sub-areas' descriptions, and by an LLM.
"""
