"""vidiff's default weights, installed as the package data ``vidiff.default_weights`` (see
pyproject.toml); this folder holds no code. Read weights/README.md."""
