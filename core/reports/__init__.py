"""Reports: Tables I-V as CSV, Markdown and LaTeX, the curve figures, `initlab report` of a folder.

May import core's root modules and core.stats; never core.training, core.paper or the service.
"""
