"""The semantic index: canvas nodes in LanceDB, searched by words and meaning (see semantic_index.py).

Light to import: LanceDB and the embedding model load when the index starts.
"""
