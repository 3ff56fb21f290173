"""L1 magnitude: the weights with the smallest |w| go (Han et al. 2015)."""
from compress_core.methods.criteria import Criterion, register


def l1_scores(module, calibration=None):
    """|w| of the effective weight (already-pruned weights score 0)."""
    return module.weight.detach().abs()


CRITERION = register(Criterion(
    name="l1", label="L1 magnitude pruning", colour="#1f77b4",
    description="zero the smallest weights (masks)", scores=l1_scores))
