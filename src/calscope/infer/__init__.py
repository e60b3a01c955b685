"""Network spike inference (torch): amortized VAE inference (`calscope.infer.amortized`).

Import the method modules explicitly (``from calscope.infer import amortized``).
"""

from calscope.infer.result import SpikeInference

__all__ = ["SpikeInference"]
