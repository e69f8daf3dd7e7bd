"""One module per benchmark: each sets up its own node, measures, tears down."""
