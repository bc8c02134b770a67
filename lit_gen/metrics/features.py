"""The training names that ``lit_gen/models/cvae/evaluation.py`` imports from here; they live in
:mod:`lit_gen.metrics.feature_net` and :mod:`lit_gen.metrics.feature_training`. Delete this file once that
import points there."""

from lit_gen.metrics.feature_net import DomainNetConfig
from lit_gen.metrics.feature_training import accuracy, train_domain_net

__all__ = ["DomainNetConfig", "accuracy", "train_domain_net"]
