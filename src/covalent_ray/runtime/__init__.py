"""The service on Ray: the dispatcher and result manager actors, the code that runs each
electron inside a Ray worker, and the start/stop of the whole service."""
