"""Statistics: run records, epoch selection and summaries, paired tests, sequences, curves.

Imports only numpy, scipy and core's root modules: never core.training, core.reports, core.paper
or the service.
"""
