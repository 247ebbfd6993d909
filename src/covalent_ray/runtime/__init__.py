"""The service on Ray: the dispatcher and result manager actors, the actor adaptors of
explicit executors, and the code that runs each electron inside a Ray worker (capture,
deps and hooks, timeouts, events).
May import: the leaf modules, ``core``, ``storage``, ``executors`` and ``client``; never
``sdk`` (a worker needs none of the user-facing API) or anything above.
"""
