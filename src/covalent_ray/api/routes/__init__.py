"""One router per resource: dispatches, electrons, the live event stream, the system."""
