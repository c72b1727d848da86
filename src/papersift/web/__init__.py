"""papersift.web"""
