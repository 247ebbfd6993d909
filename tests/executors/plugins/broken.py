"""An executor module that fails on import: the registry must name it and say why."""

EXECUTOR_PLUGIN_NAME = "BrokenExecutor"

raise RuntimeError("this plugin is broken on purpose")
