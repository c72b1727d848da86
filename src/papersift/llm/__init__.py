"""papersift.llm"""
