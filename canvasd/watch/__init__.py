"""Following the vaults: the file watcher, the change feed with its cursor, canvasd's own writes, the debouncer
and the base of every subsystem that keeps something per canvas (`follower.py`).
"""
