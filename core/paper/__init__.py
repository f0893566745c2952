"""The paper: its protocols as presets, its printed figures, the authors' results, Ackley (Fig. 1).

May import any room of core and core's root modules; no other room imports it, and it never
imports the service.
"""
