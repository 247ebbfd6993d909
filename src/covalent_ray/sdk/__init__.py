"""What a user's process runs: ``@ct.electron`` and ``@ct.lattice``, graph building,
deps, dispatch, results, config and SQL from Python.
May import: the leaf modules, ``core``, ``storage`` (its pure helpers), ``executors`` and
``client``; never ``runtime`` (what runs inside Ray) or anything above.
"""
