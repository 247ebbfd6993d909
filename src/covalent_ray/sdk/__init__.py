"""What a user's process runs: decorators, graph building, dispatch and results."""
