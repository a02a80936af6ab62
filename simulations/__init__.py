"""Simulations for pipecast: synthetic datasets with known ground truth."""
