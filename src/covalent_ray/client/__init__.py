"""How a process joins the running service: ``service.json`` in the home, Ray's address
and token, and handles to the dispatcher and result manager actors. The SDK, the HTTP
API, the CLI and the service process all connect through here.
May import: the leaf modules and ``core``.
"""
