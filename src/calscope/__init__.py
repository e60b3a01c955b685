"""calscope: calcium imaging from movies and traces to spikes and dynamics.

Public API::

    import calscope
    result = calscope.deconvolve(traces, fs=30.0)      # OASIS, noise-constrained
    inf = calscope.deconvolve(traces, 30.0, method="amortized")   # VAE, SpikeInference
    sim = calscope.simulate.traces(50, 9000, 30.0)     # ground truth for tests
    data = calscope.io.read_traces("F.npy", fs=30.0)
    registration = calscope.motion.register(calscope.io.read_movie("session.tif"))
"""

from importlib.metadata import PackageNotFoundError, version

from calscope import io, motion, simulate
from calscope.config import AmortizedSettings, DeconvSettings, Settings, SimulateSettings
from calscope.deconv import Deconvolution
from calscope.dispatch import deconvolve
from calscope.errors import CalscopeError, InputError
from calscope.infer.result import SpikeInference

try:
    __version__ = version("calscope")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "AmortizedSettings", "CalscopeError", "DeconvSettings", "Deconvolution", "InputError",
    "Settings", "SimulateSettings", "SpikeInference", "__version__", "deconvolve", "io", "motion",
    "simulate",
]
