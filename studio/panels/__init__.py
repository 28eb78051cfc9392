"""One module per panel, each with render(studio) and listen(studio, demo)."""
