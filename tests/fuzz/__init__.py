"""Property-based fuzzing of the management protocol against a real node process."""
