"""The data error, torch-free so the API can check data paths without loading torch."""


class DataError(ValueError):
    """A data set that is missing or malformed; the message names the file and the problem."""
