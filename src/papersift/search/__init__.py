"""papersift.search"""
