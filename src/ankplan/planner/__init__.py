"""The pure planning core: dependency graph, spec hashing, diffing, plan building and rendering."""
