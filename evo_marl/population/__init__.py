"""Population-batched acting and learning: members with equal network shapes compute as one stack.

See ``docs/architecture.md`` ("Population-batched learning") for the design; :mod:`.stack` holds the
stacked parameters and Adam state, :mod:`.network` groups members by layout, :mod:`.off_policy` and
:mod:`.on_policy` run MADDPG / MATD3 and IPPO through the algorithms' own loss code.
"""
