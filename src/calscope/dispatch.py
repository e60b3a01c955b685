"""`calscope.deconvolve`: one entry point for every spike-inference method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calscope.deconv import Deconvolution
from calscope.deconv import deconvolve as oasis_deconvolve
from calscope.errors import InputError
from calscope.infer.result import SpikeInference

METHODS = ("oasis", "amortized", "supervised")


def deconvolve(traces: np.ndarray, fs: float, method: str = "oasis",
               **settings: Any) -> Deconvolution | SpikeInference:
    """Infer spikes from (cells, T) or (T,) traces sampled at ``fs`` Hz.

    Args:
        traces: fluorescence (e.g. ΔF/F); NaN marks missing samples (output NaN there).
        fs: sampling rate (Hz).
        method: "oasis" (convex deconvolution, `calscope.deconv.deconvolve`), "amortized"
            (a VAE recognition network, `calscope.infer.amortized`: trained on ``traces``
            first unless ``model=`` gives a trained model or its ``.pt`` path) or
            "supervised" (a network trained on real ground truth,
            `calscope.infer.supervised`: the shipped model of ``cell_type``, "excitatory"
            (the default), "inhibitory" or "any", unless ``model=`` gives another).
        **settings: keyword arguments of the method. OASIS: order, penalty, g, sn, lam,
            baseline, s_min, optimize_g, native_fs. Amortized: model, n_samples, seed,
            progress, native_fs, device ("auto": a GPU when torch sees one) and any
            `calscope.config.AmortizedSettings` field.
            Supervised: model, cell_type, oasis_blend, oasis_blend_form ("linear" or
            "geometric"), native_fs, device ("auto": a GPU when torch sees one).

    Returns:
        `calscope.deconv.Deconvolution` (oasis) or `calscope.infer.SpikeInference`.
    """
    if method == "oasis":
        return oasis_deconvolve(traces, fs, **settings)
    if method == "amortized":
        from calscope.infer import amortized  # torch is imported only when asked for

        model = settings.pop("model", None)
        n_samples = int(settings.pop("n_samples", 0))
        seed = int(settings.get("seed", 0))
        progress = settings.pop("progress", None)
        native_fs = settings.pop("native_fs", None)
        device = settings.pop("device", None)
        if model is None:
            model = amortized.fit(traces, fs, progress=progress, native_fs=native_fs,
                                  device=device or "auto", **settings)
        else:
            training = sorted(set(settings) - {"seed", "oasis_blend"})
            if training:
                raise InputError(f"method='amortized' with a trained model= takes only "
                                 "n_samples=, seed=, progress=, native_fs=, device= and "
                                 f"oasis_blend=; {', '.join(training)} set how a model is "
                                 "trained: leave out model= to train on these traces with them")
            if isinstance(model, (str, Path)):
                model = amortized.load(model, device=device or "auto")
            elif device is not None:
                model = model.to(device)
        if "oasis_blend" in settings:  # an inference setting: it applies to a given model too
            model = model.with_oasis_blend(float(settings["oasis_blend"]))
        return model.infer(traces, fs, n_samples=n_samples, seed=seed, native_fs=native_fs)
    if method == "supervised":
        from calscope.infer import supervised

        model = settings.pop("model", None)
        cell_type = settings.pop("cell_type", None)
        weight = settings.pop("oasis_blend", None)
        form = settings.pop("oasis_blend_form", None)
        native_fs = settings.pop("native_fs", None)
        device = settings.pop("device", None)
        if settings:
            raise InputError("method='supervised' takes only model=, cell_type=, oasis_blend=, "
                             f"oasis_blend_form=, native_fs= and device=, got {sorted(settings)}")
        if not isinstance(model, supervised.SupervisedModel):
            model = supervised.load(model, cell_type, device=device or "auto")
        elif cell_type is not None:
            raise InputError("give a supervised model or a cell_type, not both (a model was "
                             "trained on its own cell types: model.card['cell_type'])")
        elif device is not None:
            model = model.to(device)
        model = model.with_oasis_blend(None if weight is None else float(weight), form)
        return model.infer(traces, fs, native_fs=native_fs)
    raise InputError(f"method: unknown spike inference method {method!r}; "
                     f"choose one of {', '.join(METHODS)}")
