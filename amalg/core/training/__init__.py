"""Meta-training a run, one concern per module: ``build`` (components from a config),
``budget`` (memory before any work), ``meta_learner`` (phi and its optimizer), ``progress``
and ``checkpoint`` (typed records), ``events`` (what a run reports), ``trainer`` (the period
loop), ``run`` (meta-training then the comparison)."""
