"""papersift.enrich"""
