"""Network spike inference (torch): amortized VAE inference (`calscope.infer.amortized`) and
supervised inference with the shipped ground-truth model (`calscope.infer.supervised`).

Import the method modules explicitly (``from calscope.infer import amortized, supervised``).
"""

from calscope.infer.result import SpikeInference

__all__ = ["SpikeInference"]
