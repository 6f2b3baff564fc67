"""amalg's contract suites, shipped for plugin authors: every component of every kind,
built-in or installed, meets the same checks.

Installing amalg registers a pytest plugin (the ``amalg`` ``pytest11`` entry point, the
module :mod:`amalg.testing.plugin`). With it, one line runs every suite over every
installed component, or over one plugin's components only::

    pytest --pyargs amalg.testing                       # everything installed
    pytest --pyargs amalg.testing --amalg-plugin NAME   # the components of plugin NAME

NAME is the plugin's entry-point name (``amalg list`` shows it as the source). The suites,
one module per kind (``test_teachers``, ``test_students``, ``test_schemes``,
``test_estimators``, ``test_strategies``, ``test_perturbations``, ``test_tasks``) plus
``test_runs`` (every scheme, student, teacher, estimator, strategy and perturbation
completes a tiny ``amalg run`` and leaves a loadable optimizer), need no network: dataset
tasks run on tensorflow-datasets' mock data. :mod:`amalg.testing.checks` and
:mod:`amalg.testing.problems` hold the checks and small problems, for a plugin's own tests.
"""
