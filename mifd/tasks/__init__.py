"""Task generators (one task, one file)."""
