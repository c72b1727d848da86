"""papersift.publish"""
