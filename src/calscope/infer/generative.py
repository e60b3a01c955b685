"""Generative calcium models p(x, s) for amortized inference (torch).

All models work on noise-normalised traces x = (y − baseline) / σ (the foundation's σ and slow
baseline), so the observation noise starts at unit scale:

    x_t = f(c)_t + bias + ε_t,   c = h * s  (causal convolution),

with spikes s ∈ {0, 1} per frame, a per-cell calcium kernel h and gain, and a Bernoulli prior
with per-frame probability p0 = rate / fs. The noise ε_t has a learned per-cell scale σ and is
Gaussian or Student-t with `STUDENT_DOF` degrees of freedom (``likelihood``): real traces
depart from any calcium model in large, rare frames (burst non-linearity, movement), which a
Gaussian can only absorb by widening σ for every frame. Three kernels / observation models
(Speiser et al. 2017):

* ``"scf"``: AR(1) linear calcium (h_k = d^k, instant rise), f(c) = gain · c.
* ``"scdf"``: double-exponential kernel h(t) ∝ exp(−t/τ_decay) − exp(−t/τ_rise) (peak 1),
  sampled at the end of each frame (t = (k + 1)/fs), f(c) = gain · c.
* ``"mlphys"``: the double-exponential kernel through a saturating Hill non-linearity
  f(c) = gain · c^n / (c^n + K^n) · (1 + K^n) (so f(1) = gain) and a slow linear drift per
  window, profiled out by least squares.

Per-cell parameters (one row per training cell): log gain, bias, log noise σ (to start with,
1 — the spectral estimate — or the level of an initial fit's residual), log τ_decay, log τ_rise
(and, for mlphys, log K and log n shared by all cells). Shapes: spikes (K, B, T) — K samples of B
windows; ``cells`` (B,) long indices of each window's cell.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

MODELS = ("scf", "scdf", "mlphys")
LIKELIHOODS = ("gaussian", "student-t")
#: Degrees of freedom of the Student-t noise: the usual robust choice (Lange, Little & Taylor
#: 1989); Gaussian within ±1.5 σ, polynomial tails beyond.
STUDENT_DOF = 4.0
_MIN_TAU_S = 0.005


class CalciumModel(nn.Module):
    """p(x | s) p(s) for noise-normalised traces, with per-cell kinetics and gain.

    Args:
        kind: one of `MODELS`.
        fs: sampling rate (Hz).
        tau_decay_s, tau_rise_s: (cells,) starting time constants (s).
        gain: (cells,) starting single-spike amplitude in noise σ units.
        rate_hz: prior firing rate (spikes/s) giving p0 = rate / fs per frame.
        noise: (cells,) starting observation noise σ in normalised units (default 1).
        likelihood: noise distribution, one of `LIKELIHOODS`.
    """

    def __init__(self, kind: str, fs: float, tau_decay_s: np.ndarray, tau_rise_s: np.ndarray,
                 gain: np.ndarray, rate_hz: float = 1.0, noise: np.ndarray | None = None,
                 likelihood: str = "gaussian") -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"generative model must be one of {MODELS}, got {kind!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.kind = kind
        self.likelihood = likelihood
        self.fs = float(fs)

        def param(values: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.as_tensor(np.asarray(values, np.float32)))

        self.log_tau_decay = param(np.log(np.maximum(tau_decay_s, 2 * _MIN_TAU_S)))
        self.log_tau_rise = param(np.log(np.maximum(tau_rise_s, _MIN_TAU_S)))
        self.log_gain = param(np.log(np.maximum(gain, 1e-3)))
        self.bias = param(np.zeros(len(gain)))
        self.log_noise = param(np.log(np.ones(len(gain)) if noise is None
                                      else np.maximum(noise, 1e-3)))
        self.log_hill_k = nn.Parameter(torch.tensor(math.log(2.0)))
        self.log_hill_n = nn.Parameter(torch.tensor(0.0))
        p0 = min(max(rate_hz / fs, 1e-5), 0.5)
        self.register_buffer("prior_logit", torch.tensor(math.log(p0 / (1.0 - p0))))

    @property
    def n_cells(self) -> int:
        return int(self.log_gain.shape[0])

    def kernel(self, cells: Tensor, length: int) -> Tensor:
        """(B, length) calcium response to one spike at frame 0 for each window's cell."""
        tau_d = self.log_tau_decay[cells].exp().clamp_min(2 * _MIN_TAU_S)[:, None]
        if self.kind == "scf":
            return torch.exp(-torch.arange(length, dtype=torch.float32, device=tau_d.device)
                             / self.fs / tau_d)
        # sampled at the end of each frame, t = (k + 1) / fs: the spike frame already shows
        # the rise (as the AR(2) impulse response (d^(k+1) − r^(k+1)) / (d − r) does)
        t = torch.arange(1, length + 1, dtype=torch.float32, device=tau_d.device) / self.fs
        decay = torch.exp(-t / tau_d)
        tau_r = torch.minimum(self.log_tau_rise[cells].exp().clamp_min(_MIN_TAU_S)[:, None],
                              0.9 * tau_d)
        h = decay - torch.exp(-t / tau_r)
        return h / h.amax(dim=1, keepdim=True).clamp_min(1e-6)

    def calcium(self, spikes: Tensor, cells: Tensor) -> Tensor:
        """(K, B, T) calcium c = h * s (causal), one unit per spike at its peak."""
        T = spikes.shape[-1]
        h = self.kernel(cells, T)
        n = 1 << (2 * T - 1).bit_length()
        conv = torch.fft.irfft(torch.fft.rfft(spikes, n=n) * torch.fft.rfft(h, n=n), n=n)
        return conv[..., :T]

    def predict(self, spikes: Tensor, cells: Tensor, x: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        """(K, B, T) expected normalised trace f(c) + bias (+ profiled drift for mlphys)."""
        c = self.calcium(spikes, cells)
        gain = self.log_gain[cells].exp()[:, None]
        if self.kind == "mlphys":
            k = self.log_hill_k.exp()
            n = self.log_hill_n.exp()
            cn = c.clamp_min(0.0) ** n
            f = gain * cn / (cn + k ** n) * (1.0 + k ** n)
        else:
            f = gain * c
        pred = f + self.bias[cells][:, None]
        if self.kind == "mlphys" and x is not None:
            pred = pred + _profiled_drift(x - pred, mask)
        return pred

    def log_likelihood(self, x: Tensor, mask: Tensor, spikes: Tensor, cells: Tensor) -> Tensor:
        """(K, B) log p(x | s) summed over observed frames (Gaussian or Student-t noise).

        The noise scale σ is 1 in normalised units to start with and learned per cell
        (``log_noise``): it absorbs errors of the spectral σ estimate (e.g. for traces resampled
        up from a lower frame rate, whose spectrum is empty at the top).
        """
        log_sd = self.log_noise[cells][:, None]
        z = (x - self.predict(spikes, cells, x, mask)) * mask * torch.exp(-log_sd)
        n_obs = mask.sum(dim=-1)
        if self.likelihood == "gaussian":
            log_density = -0.5 * (z ** 2).sum(dim=-1)
            norm = 0.5 * math.log(2 * math.pi)
        else:
            nu = STUDENT_DOF
            log_density = -0.5 * (nu + 1.0) * torch.log1p(z ** 2 / nu).sum(dim=-1)
            norm = (0.5 * math.log(nu * math.pi) + math.lgamma(0.5 * nu)
                    - math.lgamma(0.5 * (nu + 1.0)))
        return log_density - (norm + log_sd[:, 0]) * n_obs

    def log_prior(self, spikes: Tensor, mask: Tensor) -> Tensor:
        """(K, B) Bernoulli log p(s) over observed frames."""
        lp = torch.nn.functional.logsigmoid(self.prior_logit)
        ln = torch.nn.functional.logsigmoid(-self.prior_logit)
        return ((spikes * lp + (1.0 - spikes) * ln) * mask).sum(dim=-1)

    def log_joint(self, x: Tensor, mask: Tensor, spikes: Tensor, cells: Tensor) -> Tensor:
        """(K, B) log p(x, s)."""
        return self.log_likelihood(x, mask, spikes, cells) + self.log_prior(spikes, mask)

    def cell_parameters(self) -> dict[str, np.ndarray]:
        """Per-cell parameters as numpy arrays (gain in σ units, times in s)."""
        with torch.no_grad():
            out = {
                "gain_sigma": self.log_gain.exp().cpu().numpy().copy(),
                "bias_sigma": self.bias.cpu().numpy().copy(),
                "noise_sigma": self.log_noise.exp().cpu().numpy().copy(),
                "tau_decay_s": self.log_tau_decay.exp().cpu().numpy().copy(),
            }
            if self.kind != "scf":
                out["tau_rise_s"] = self.log_tau_rise.exp().cpu().numpy().copy()
        return out


def _profiled_drift(resid: Tensor, mask: Tensor | None) -> Tensor:
    """(K, B, T) least-squares line a + b·t through the residual of each sample and window."""
    T = resid.shape[-1]
    t = torch.linspace(-1.0, 1.0, T, device=resid.device)
    w = torch.ones_like(resid) if mask is None else mask.expand_as(resid)
    sw = w.sum(-1, keepdim=True).clamp_min(1.0)
    st = (w * t).sum(-1, keepdim=True)
    stt = (w * t * t).sum(-1, keepdim=True)
    sr = (w * resid).sum(-1, keepdim=True)
    srt = (w * resid * t).sum(-1, keepdim=True)
    det = (sw * stt - st * st).clamp_min(1e-6)
    slope = (sw * srt - st * sr) / det
    offset = (sr - slope * st) / sw
    return offset + slope * t
