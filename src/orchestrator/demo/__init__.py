"""Demo data: three brands and their mentions, written for this project."""
