"""The ``covalent-ray`` command line."""
