"""Accuracy of a rice map against a reference: confusion matrix, metrics, error maps, areas."""
