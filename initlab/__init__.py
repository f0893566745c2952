"""The `initlab` command line."""
