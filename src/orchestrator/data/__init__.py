"""Data shipped with the package: the sentiment training set, written for this project."""
