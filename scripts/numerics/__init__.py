"""Plain numpy numerics shared by the topic modules. Nothing here imports matplotlib."""
