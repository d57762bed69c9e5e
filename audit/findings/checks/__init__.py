"""One module per check type."""
