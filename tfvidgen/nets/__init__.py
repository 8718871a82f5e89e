"""Reusable Keras layers and blocks shared by several methods."""
