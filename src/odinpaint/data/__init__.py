"""Data sets: sources of images, preparation into memory-mapped splits, and loading."""
