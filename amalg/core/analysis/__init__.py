"""Measuring optimizers: training a task from the warm start and recording its curves, and
comparing a run's trained student with its teachers."""
