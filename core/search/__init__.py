"""Calibration search: the space of schedules, the budget check, the objective (a paired
difference at equal compute) and the Optuna study rebuilt from stored trials.

Imports core's root modules, core.stats and optuna only: never core.training, core.reports,
core.paper, data, models or the service (the coordinator in worker/ drives it).
"""
