"""The ``caxton`` command line: one module per noun."""
