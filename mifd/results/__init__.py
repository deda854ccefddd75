"""Results as data: the store and its file format, provenance (what code made a result, on
which machine), replay, condition parts and seed shards, exchange between machines, sweeps,
the runner that loads or computes a run, and the long background jobs."""
