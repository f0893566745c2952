"""Training: phases, init schemes, the stacked lockstep loop, checkpoints, runs, `initlab run`.

May import core's root modules, core.data, core.models, core.stats and core.reports (a whole
experiment writes its report files); never core.paper or the service (web, queue, database).
"""
