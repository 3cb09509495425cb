"""The ColorMNet network: stateless modules with named stage methods."""
