"""papersift.scale"""
