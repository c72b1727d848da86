"""papersift.classify"""
