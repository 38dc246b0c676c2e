"""The model names, importable without scikit-learn (the CLI and the API schemas need them; training needs more)."""

from typing import Final

RANDOM_FOREST: Final = "random_forest"
LOGISTIC_REGRESSION: Final = "logistic_regression"
SVM: Final = "svm"
HIST_GRADIENT_BOOSTING: Final = "hist_gradient_boosting"
MODEL_NAMES: Final = (RANDOM_FOREST, LOGISTIC_REGRESSION, SVM, HIST_GRADIENT_BOOSTING)
