"""Project tools: make check, the gallery, make preview, make textwidth."""
