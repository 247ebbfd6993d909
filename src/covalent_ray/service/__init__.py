"""The service process and its control: ``covalent-ray start`` starts a Ray head (or joins
a cluster) and a long-lived service process that creates the detached dispatcher and
result manager actors (``runtime``) and serves the HTTP API and dashboard (``api``)
under uvicorn; ``stop`` ends exactly what ``start`` began.
A composition root. May import: every layer below; only ``cli`` imports it.
"""
