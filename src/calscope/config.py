"""Settings: one pydantic model per stage, collected in `Settings`, round-tripping via YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from calscope.errors import InputError

#: how a network's spikes and OASIS's are mixed (`calscope.infer.blend.blend_with_oasis`)
BlendForm = Literal["linear", "geometric"]


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MotionSettings(_Stage):
    """Motion correction: rigid and piecewise-rigid registration (`calscope.motion.register`).

    The defaults suit a 512 × 512, 30 Hz two-photon GCaMP6 movie (7 × 7 blocks of 128 px) and
    also work on small movies (a 128 × 128 frame is one block, so registration is rigid; set
    block_size to 64 or 48 for piecewise-rigid registration of small frames).
    """

    max_shift: float | None = Field(None, gt=0, description="largest rigid shift searched "
                                    "(pixels, each axis); null: 10% of the frame's smaller side "
                                    "(±51 px at 512, ±12.8 px at 128)")
    nonrigid: bool = Field(True, description="after the rigid shift, register overlapping "
                           "blocks to correct motion that differs across the field of view "
                           "(brain pulsation, slow scanning); false: rigid only")
    block_size: int = Field(128, ge=16, description="side of the square blocks (pixels); "
                            "frames smaller than this are one block")
    block_overlap: float = Field(0.5, ge=0, lt=1, description="fraction of a block shared with "
                                 "its neighbour")
    max_block_shift: float = Field(5.0, gt=0, description="largest shift of a block relative "
                                   "to the rigid shift (pixels, each axis)")
    smooth_sigma: float = Field(1.15, ge=0, description="Gaussian σ (pixels) applied to the "
                                "phase correlation (in Fourier space): damps the whitened "
                                "high-frequency noise; raise to 2–3 for noisy one-photon "
                                "movies; 0: off")
    template_frames: int = Field(200, ge=2, description="frames, spread over the recording, "
                                 "that the template is built from")
    template_iterations: int = Field(3, ge=1, description="rounds of registering those frames "
                                     "to the template and averaging them again")
    chunk_frames: int = Field(200, ge=1, description="frames read and registered at a time: "
                              "memory is about 4 bytes per pixel of a chunk plus the chunk as "
                              "read, the template frames (4 bytes per pixel) and ~100 MB of "
                              "working arrays (0.45 GB at 512 × 512 with the defaults)")
    workers: int = Field(-1, description="threads for the FFTs (-1: all cores)")
    bidi_offset: float | Literal["auto"] | None = Field(
        None, description="line offset of a bidirectional (resonant) scan, undone before "
        "registration: the odd rows' content sits this many pixels to the right of the even "
        "rows' (negative: left). 'auto': measured on the template frames; null: none. "
        "`calscope register` reports the offset left in the template either way")

    @model_validator(mode="after")
    def _workers_are_a_count(self) -> MotionSettings:
        if self.workers == 0 or self.workers < -1:
            raise ValueError("workers must be a positive thread count, or -1 for all cores")
        return self


class CnmfSettings(_Stage):
    """Cell extraction by CNMF (`calscope.extract.cnmf`).

    The defaults suit a 30 Hz two-photon GCaMP6 movie with cells about 10–15 px across (a
    512 × 512 frame at ~1 µm per pixel) and also work on small test movies (cells 8–12 px
    across): the initialization adapts to the noise, and components that do not look like
    cells are kept but not accepted.
    """

    cell_radius_px: float = Field(6.0, gt=0, description="typical cell radius (pixels): sets "
                                  "the initialization's matched filter and search window")
    min_energy_z: float = Field(10.0, gt=0, description="initialization stops when no pixel's "
                                "filtered energy beyond its noise reaches this z-score (lower "
                                "finds fainter cells, and more noise)")
    max_cells: int | None = Field(None, ge=1, description="most cells initialized in each "
                                  "patch (the whole frame when it is one patch); null: as "
                                  "many as fit, one per (2·radius)² pixels")
    n_background: int = Field(2, ge=1, le=10, description="rank of the non-negative "
                              "background (static image + neuropil fluctuations); "
                              "background 'low_rank' only")
    background: Literal["low_rank", "ring"] = Field(
        "low_rank", description="background model: 'low_rank', a non-negative image × time "
        "course of rank n_background (two-photon); 'ring', each pixel's own level plus a gain "
        "× the mean fluctuation on a ring around it (one-photon movies, whose out-of-focus "
        "light is no low-rank image; after CNMF-E)")
    ring_radius_px: float | None = Field(None, gt=0, description="radius of the ring "
                                         "background's ring (pixels); null: 1.5 × "
                                         "cell_radius_px, just outside the cell")
    iterations: int = Field(3, ge=1, description="rounds of trace update (HALS + OASIS), "
                            "footprint update and merging")
    hals_sweeps: int = Field(3, ge=1, description="HALS passes per trace or footprint update")
    grow_px: int = Field(2, ge=0, description="pixels a footprint may grow per update")
    border_px: int = Field(0, ge=0, description="no cell is centred within this many pixels "
                           "of the frame's edge: the strip that motion correction filled by "
                           "repeating the edge (`calscope extract` sets it from the movie's "
                           "<name>.registration.npz when there is one)")
    merge_threshold: float = Field(0.8, gt=-1, le=1, description="merge components with "
                                   "overlapping footprints whose traces correlate above this")
    order: Literal[1, 2] = Field(2, description="AR order of the OASIS fit of each trace")
    baseline_window_s: float = Field(20.0, gt=0, description="time scale (s) of the slow "
                                     "baseline removed from each trace (OASIS) and of the "
                                     "background level in ΔF/F's denominator")
    min_spatial_r: float = Field(0.8, ge=-1, le=1, description="accept a component only if its "
                                 "footprint correlates at least this well with the data during "
                                 "its activity")
    min_snr: float = Field(3.0, ge=0, description="accept a component only if its calcium peak "
                           "reaches this many noise σ")
    init_rate_hz: float = Field(10.0, gt=0, description="the initialization looks for cells "
                                "in the movie averaged over runs of floor(fs / init_rate_hz) "
                                "frames, a rate of about this or faster (keeping at least 50 "
                                "frames): faster, and slow transients stand out from the "
                                "noise more; at or above fs: every frame")
    chunk_frames: int = Field(500, ge=1, description="frames read at a time")
    patch_px: int = Field(128, ge=16, description="frames wider or taller than this are cut "
                          "into overlapping patches of at most this side (as few as cover "
                          "the frame, each as long as that needs), each factorised alone "
                          "(memory is bounded by a patch), then joined")
    patch_overlap_px: int | None = Field(None, ge=0, description="least overlap of "
                                         "neighbouring patches (pixels); null: 4 × "
                                         "cell_radius_px, so every cell lies wholly inside "
                                         "the patch that keeps it")
    max_memory_gb: float = Field(8.0, gt=0, description="memory for the movie: a patch's two "
                                 "in-memory copies (4 bytes per pixel and frame each) must fit "
                                 "(else an error says what to change); the whole movie is "
                                 "kept in memory when it fits beside them, otherwise in a "
                                 "temporary file (TMPDIR)")


class DeconvSettings(_Stage):
    """Spike inference from traces (`calscope.deconvolve`)."""

    method: Literal["oasis"] = Field("oasis", description="the method these settings are for "
                                     "(the CLI's --method picks the method; its default is "
                                     "supervised)")
    order: Literal[1, 2] = Field(2, description="AR order of the calcium dynamics")
    penalty: Literal["l1", "l0"] = Field("l1", description="sparsity penalty")
    lam: float | None = Field(None, ge=0, description="L1 penalty λ; None = noise-constrained")
    baseline: bool | Literal["constant"] = Field(
        True, description="True: remove a slow baseline; 'constant': fit one; False: 0")
    baseline_window_s: float = Field(20.0, gt=0, description="slow baseline time scale (s)")
    optimize_g: bool = Field(False, description="refit each cell's decay time on its spikes")


class AmortizedSettings(_Stage):
    """Amortized (VAE) spike inference (`calscope.infer.amortized.fit`)."""

    generative: Literal["scf", "scdf", "mlphys"] = Field(
        "scdf", description="generative calcium model: AR(1), double exponential, biophysical")
    recognition: Literal["factorized", "autoregressive"] = Field(
        "factorized", description="recognition network q(s | x)")
    estimator: Literal["vimco", "relaxed"] = Field(
        "vimco", description="gradient estimator for the discrete spikes")
    n_samples: int = Field(8, ge=2, description="samples per trace and step (VIMCO's K)")
    window_s: float = Field(10.0, gt=0, description="training window length (s)")
    batch_windows: int = Field(32, ge=1, description="windows per training step")
    learning_rate: float = Field(3e-3, gt=0)
    max_epochs: int = Field(300, ge=1)
    patience: int = Field(15, ge=1, description="epochs without held-out improvement to stop")
    max_time_s: float = Field(150.0, gt=0, description="training time budget (s)")
    rate_hz: float = Field(1.0, gt=0, description="prior firing rate (spikes/s)")
    likelihood: Literal["gaussian", "student-t"] = Field(
        "gaussian", description="observation noise of the generative model: Gaussian, or "
        "Student-t with 4 degrees of freedom (robust to frames the calcium model cannot fit)")
    noise_start: Literal["spectral", "residual"] = Field(
        "spectral", description="starting noise σ of the likelihood: the spectral estimate, or "
        "the robust SD of an OASIS fit's residual (for traces whose spectrum top is not white "
        "noise, e.g. resampled up)")
    oasis_blend: float = Field(0.5, ge=0, le=1, description="inference: weight w of calscope's "
                               "OASIS spikes (scaled to the network's count) in the output, "
                               "(1 − w) · posterior mean + w · OASIS (0: the posterior mean)")
    channels: int = Field(16, ge=2, description="recognition network width")
    temperature: float = Field(0.5, gt=0, description="relaxed estimator's temperature")
    seed: int = 0

    @model_validator(mode="after")
    def _estimator_fits_the_recognition(self) -> AmortizedSettings:
        if self.recognition == "autoregressive" and self.estimator == "relaxed":
            raise ValueError("estimator 'relaxed' needs per-frame spike probabilities, which "
                             "the autoregressive recognition network does not give (each "
                             "frame depends on the spikes drawn before it); use "
                             "estimator 'vimco' with it")
        return self


class SupervisedSettings(_Stage):
    """Supervised spike inference trained on ground truth (`calscope.infer.supervised.train`)."""

    channels: int = Field(24, ge=2, description="network width")
    dilations: tuple[int, ...] = Field((1, 2, 4, 8, 16, 32), min_length=1,
                                       description="one residual block per dilation (frames)")
    window_frames: int = Field(256, ge=16, description="training window (model frames, 30 Hz)")
    batch_windows: int = Field(64, ge=1, description="windows per training step")
    windows_per_epoch: int = Field(4096, ge=1, description="windows drawn per noise realisation")
    epochs: int = Field(12, ge=1, description="training epochs (fresh noise each)")
    learning_rate: float = Field(2e-3, gt=0)
    max_noise_factor: float = Field(8.0, ge=1, description="noise raised up to this factor")
    clean_fraction: float = Field(0.2, ge=0, le=1, description="recordings kept at own noise")
    max_stretch: float = Field(1.0, ge=1, description="time axis of each training copy "
                               "stretched by a factor drawn log-uniformly from [1/s, s] "
                               "(faster and slower kinetics and rates; 1 = off)")
    max_gain: float = Field(1.0, ge=1, description="ΔF/F of each training copy multiplied by "
                            "a factor drawn log-uniformly from [1/g, g] (another ΔF/F per "
                            "spike; 1 = off)")
    low_rate_fraction: float = Field(0.3, ge=0, le=1, description="training copies first "
                                     "downsampled to a lower frame rate (frame averages), as "
                                     "recorded by a slower scan (0 = off)")
    min_rate_hz: float = Field(5.0, gt=0, description="lowest frame rate of those copies (Hz): "
                               "drawn log-uniformly from it to min(own rate, max_rate_hz)")
    max_rate_hz: float = Field(30.0, gt=0, le=30.0, description="highest frame rate of those "
                               "copies (Hz; at most the network's 30 Hz)")
    low_rate_point_fraction: float = Field(0.0, ge=0, le=1, description="of those copies, the "
                                           "fraction sampled at instants (a raster scan's brief "
                                           "visit to the cell) instead of averaged over each "
                                           "frame (a camera's exposure)")
    target_sigma_s: float = Field(0.05, ge=0, description="Gaussian smoothing of the truth (s)")
    target_sigma_frames: float = Field(0.0, ge=0, description="Gaussian smoothing of the truth "
                                       "in frames of each training copy's own rate, where that "
                                       "is wider than target_sigma_s: a slow scan cannot place "
                                       "a spike within its frame (0 = off)")
    cell_context: bool = Field(False, description="three more input channels, constant in time, "
                               "that describe the whole cell (OASIS activity and peak SNR in "
                               "noise units, decay time)")
    residual_input: bool = Field(False, description="the trace channels show what calscope's "
                                 "OASIS leaves unexplained and its calcium, instead of the trace "
                                 "itself (the indicator's kinetics absorbed by OASIS's fit)")
    balance: Literal["dataset", "indicator"] = Field(
        "dataset", description="training windows weigh every dataset the same, or every "
        "indicator (DSnn-<indicator>-… in the dataset's name; other names each their own)")
    simulated_minutes: float = Field(20.0, ge=0, description="simulated recordings added per "
                                     "indicator preset (minutes; 0 = none)")
    pretrain_epochs: int = Field(0, ge=0, description="epochs on the simulated recordings "
                                 "alone before training on all (0 = none; needs "
                                 "simulated_minutes > 0)")
    ensemble: int = Field(1, ge=1, le=8, description="networks trained with seeds seed, "
                          "seed + 1, …, their outputs averaged (inference takes about that "
                          "many times the network's time)")
    max_time_s: float | None = Field(None, gt=0, description="training time budget (s; of "
                                     "each network of an ensemble)")
    oasis_blend: float = Field(0.6, ge=0, le=1, description="inference: weight w of calscope's "
                               "OASIS spikes (scaled to the network's count) in the output "
                               "(0: the network alone; see oasis_blend_form)")
    oasis_blend_form: BlendForm = Field(
        "geometric", description="inference: how the OASIS spikes are mixed in: linear, "
        "(1 − w) · network + w · OASIS, or geometric, network^(1 − w) · OASIS^w (OASIS spread "
        "over ±1 frame, scaled to the network's count): events the two agree on")
    seed: int = 0


class PopulationSettings(_Stage):
    """Population analysis and report (`calscope analyze`)."""

    coupling_window: int = Field(100, ge=3, description="coupling-over-time window (frames)")
    coupling_window_s: float | None = Field(None, gt=0, description="the window in seconds "
                                            "(overrides coupling_window)")
    surrogates: Literal["shift", "isi"] = Field(
        "shift", description="null of the correlation test: circular shifts (keep each neuron's "
        "autocorrelation) or ISI shuffles (keep its rate and inter-event intervals)")
    n_surrogates: int | None = Field(None, ge=10, description="surrogates per pair for "
                                     "correlation p-values; null: every admissible shift, or "
                                     "1000 ISI shuffles")
    max_pairs: int = Field(200_000, ge=1, description="pairs tested with surrogates (a random "
                           "subset beyond that)")
    correlation_smooth_s: float | None = Field(
        0.1, gt=0, description="Gaussian σ (s) applied before pairwise correlations: inferred "
        "spikes land within ~1–2 frames of the truth, and per-frame correlations miss co-firing "
        "off by one frame; null: none")
    max_correlation_cells: int = Field(2000, ge=2, description="cells in the stored correlation "
                                       "matrix (a random subset beyond that)")
    alpha: float = Field(0.05, gt=0, lt=1, description="FDR level for significant correlations")
    event_alpha: float = Field(0.01, gt=0, lt=1, description="synchrony-event threshold level")
    sort: Literal["rastermap", "pc1", "hierarchical"] = Field(
        "rastermap", description="neuron order for the figures")
    n_shuffles: int = Field(20, ge=2, description="circularly shifted copies for the nulls of "
                            "significant PCA dimensions and of the assembly count")
    seed: int = 0


class SimulateSettings(_Stage):
    """Simulated recording used by `calscope demo` and `calscope simulate`."""

    n_cells: int = Field(50, ge=1)
    duration_s: float = Field(300.0, gt=0)
    fs: float = Field(30.0, gt=0)
    indicator: str = "GCaMP6f"
    rate_hz: float = Field(0.5, gt=0)
    bursty: bool = True
    snr: float = Field(4.0, gt=0, description="single-spike peak ΔF/F over noise σ")
    drift: float = Field(0.0, ge=0, description="peak slow baseline drift (ΔF/F)")
    n_assemblies: int = Field(3, ge=0, description="assemblies planted (cells that fire "
                              "together); only as many as fit in n_cells")
    assembly_size: int = Field(8, ge=1, description="cells per planted assembly")
    seed: int = 0


class ComputeSettings(_Stage):
    """Where the parallel parts run (today: CNMF's spatial patches), through dask.distributed.
    """

    scheduler: str | None = Field(None, description="null: in this process, one patch after "
                                  "another; 'local': a cluster of worker processes on this "
                                  "machine; or the address of a running dask scheduler "
                                  "('tcp://host:8786'), whose workers must see the same "
                                  "files")
    workers: int | None = Field(None, ge=1, description="worker processes of the 'local' "
                                "cluster (one thread each); null: one per core")

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str | None) -> str | None:
        if value is not None and value != "local" and "://" not in value:
            raise ValueError(f"{value!r}: use null, 'local' or a scheduler address such as "
                             "'tcp://host:8786'")
        return value


class Settings(_Stage):
    """All stage settings; `calscope config --show` prints the defaults as YAML."""

    motion: MotionSettings = MotionSettings()
    cnmf: CnmfSettings = CnmfSettings()
    deconv: DeconvSettings = DeconvSettings()
    amortized: AmortizedSettings = AmortizedSettings()
    supervised: SupervisedSettings = SupervisedSettings()
    population: PopulationSettings = PopulationSettings()
    simulate: SimulateSettings = SimulateSettings()
    compute: ComputeSettings = ComputeSettings()

    def to_yaml(self) -> str:
        """The settings as a YAML document."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "settings") -> Settings:
        """Parse YAML text (missing keys take their defaults)."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise InputError(f"{source}: not valid YAML ({error}); fix the file") from error
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a mapping of stage names to settings")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{source}: {where}: {first['msg']}; see `calscope config --show` "
                             "for the valid keys and defaults") from error

    @classmethod
    def load(cls, path: str | Path) -> Settings:
        """Read settings from a YAML file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: settings file not found; pass an existing YAML file")
        return cls.from_yaml(path.read_text(), source=str(path))
