"""The ``covalent-ray`` command line: thin Typer commands over the SDK and the service.
A composition root. May import: every layer below (``service``, ``api``, ``sdk``,
``client``, ``storage``, ...); nothing imports it.
"""
