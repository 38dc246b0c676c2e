"""Machine learning on the catalogue: features, training jobs, a model registry, hot-swapped predictions."""
