"""Sources: each turns a provider's records into :class:`papersift.models.Paper` objects."""
