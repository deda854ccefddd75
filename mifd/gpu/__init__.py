"""A GPU session: what to run on a lent GPU machine (plan), how the tree travels there (tree),
the session itself and its tables."""
