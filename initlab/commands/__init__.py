"""One module per command group; each defines `register(app)` and is found by cli.py."""
