"""Fit once: the saved posterior file and the cache of fits.

A saved fit is one netCDF file that ArviZ opens (``az.from_netcdf(path)``): the PyMC
posterior (and ``sample_stats`` for NUTS) as the fit produced it, plus a group
:data:`ENGINE_GROUP` holding the simulator's arrays (:class:`PipelinePosterior`) bit for
bit, whose ``attrs[META_ATTR]`` is a JSON record of what was fitted:

* ``data_fingerprint`` (a hash of the dataset as loaded) and ``input_files`` (the SHA-256
  of each file of the dataset directory), ``data_source``;
* ``as_of``, ``model_config``, ``sampler_config``, ``seed`` (the seed the fit ran with);
* ``package_version``, ``format_version`` and ``id``: a hash of the model type, the
  configuration and the version (as pymc-marketing's ``save``/``load``: a file whose id
  does not match its own configuration is refused);
* ``diagnostics``.

:func:`check_fit` refuses (:class:`PosteriorMismatch`, exit 2 on the command line) a file
of other data, another ``as_of``, another model configuration or another version, saying
which and how to refit. :class:`FitCache` keeps such files under
``<cache dir>/<key>.nc``, the key hashing the data fingerprint, ``as_of``, model and sampler
configuration, seed and version. Every file is written to a temporary name in the same
folder, flushed to disk and renamed into place (:func:`write_fit`): readers only open final
names, so a half-written file is never read; an unreadable cache entry is a miss and is
removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.data.problems import UsageError
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.config import ModelConfig, SamplerConfig
from forecast.posterior import PipelinePosterior, snapshot_fingerprint

#: version of the file layout (groups, metadata keys)
FILE_FORMAT = 1
MODEL_TYPE = "pipecast.PipelineForecaster"
ENGINE_GROUP = "pipecast_engine"
META_ATTR = "pipecast_meta"
#: environment variable naming the cache folder (tests, CI, shared machines)
CACHE_ENV = "PIPECAST_CACHE_DIR"
#: sampler settings that do not change the numbers, left out of keys and checks
NOT_IN_KEY = ("progressbar", "cores")
#: files of a dataset directory that :func:`forecast.data.dataset.load_dataset` reads
DATASET_FILES = ("deals.csv", "deals.parquet", "stage_history.csv", "stage_history.parquet",
                 "quotas.csv", "quotas.parquet", "pipeline.yaml")
#: a temporary file older than this is from a writer that died; it is swept
STALE_TMP_SECONDS = 3600
#: ``pipeline.yaml`` and model settings added after fits were first saved, with the default
#: that earlier versions had in effect: left out of fingerprints and ids at that default
CONFIG_ADDED_LATER = {"calendar": False, "drift": False, "seasonal": False}
MODEL_ADDED_LATER = {"calendar_sd": 0.3, "drift_sd": 0.15, "drift_before_sd": 1.0}
#: revisions of a model part that a ``pipeline.yaml`` key turns on, hashed into the
#: fingerprint of a dataset that turns it on: its fits saved before a revision do not match
#: (drift 2: the walk starts at the first quarter with recorded closes; drift 3 and
#: calendar 2: neither before the history holds a whole quarter of closes)
MODEL_REVISIONS = {"drift": 3, "calendar": 2}


class PosteriorMismatch(UsageError):
    """A saved posterior that does not belong to this data, date, configuration or version."""


class PosteriorFileError(UsageError):
    """A file that cannot be read as a pipecast posterior."""


def package_version() -> str:
    from forecast import __version__

    return __version__


# ----------------------------------------------------------------------------- fingerprints
def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _without_later_defaults(config: dict, later: dict) -> dict:
    return {k: v for k, v in config.items() if not (k in later and v == later[k])}


def _frame_hash(h, frame: pd.DataFrame | None) -> None:
    if frame is None:
        h.update(b"<none>")
        return
    h.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def dataset_fingerprint(dataset: Dataset) -> str:
    """A hash of the dataset as loaded: every row and column of deals, stage history and
    quotas, and the whole pipeline configuration (one changed amount changes it).

    A configuration key added later is left out while it has its default
    (:data:`CONFIG_ADDED_LATER`), so the fingerprint of a dataset that does not use it is
    the one earlier versions computed and their saved fits still match; a dataset that
    turns on a revised model part adds its revision (:data:`MODEL_REVISIONS`).
    """
    h = hashlib.sha256()
    for frame in (dataset.deals, dataset.stage_history, dataset.quotas):
        _frame_hash(h, frame)
    h.update(json.dumps(_without_later_defaults(asdict(dataset.config), CONFIG_ADDED_LATER),
                        sort_keys=True, default=str).encode())
    revisions = {k: v for k, v in MODEL_REVISIONS.items() if getattr(dataset.config, k)}
    if revisions:
        h.update(json.dumps(revisions, sort_keys=True).encode())
    return h.hexdigest()[:32]


def input_files(dataset: Dataset) -> dict[str, str]:
    """SHA-256 of each file of the dataset's directory (empty for a dataset in memory)."""
    folder = Path(dataset.source)
    if not folder.is_dir():
        return {}
    out = {}
    for name in DATASET_FILES:
        f = folder / name
        if f.is_file():
            out[name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def sampler_key(sampler_config: SamplerConfig) -> dict:
    """The sampler settings that change the numbers."""
    return {k: v for k, v in sampler_config.to_dict().items() if k not in NOT_IN_KEY}


def fit_id(model_config: ModelConfig, sampler_config: SamplerConfig,
           version: str | None = None) -> str:
    """Identity of a model and its configuration (pymc-marketing's ``id``)."""
    model = _without_later_defaults(model_config.to_dict(), MODEL_ADDED_LATER)
    return _sha({"model_type": MODEL_TYPE, "model": model,
                 "sampler": sampler_key(sampler_config),
                 "version": version or package_version()})[:16]


def fit_key(data_fingerprint: str, as_of: pd.Timestamp | str, model_config: ModelConfig,
            sampler_config: SamplerConfig, seed: int) -> str:
    """The cache key of a fit: data, ``as_of``, configuration, seed, version."""
    return _sha({"data": data_fingerprint, "as_of": str(pd.Timestamp(as_of).date()),
                 "id": fit_id(model_config, sampler_config), "seed": int(seed),
                 "format": FILE_FORMAT})[:32]


# ----------------------------------------------------------------------------- the file
class SavedFit:
    """A fit as written to (or read from) a posterior file.

    ``idata`` (ArviZ ``InferenceData``) is built on first use: the simulator needs only
    ``posterior``, and importing ArviZ costs seconds.
    """

    def __init__(self, groups: dict, posterior: PipelinePosterior, meta: dict,
                 path: Path | None = None):
        self._groups = groups
        self._idata = None
        self.posterior = posterior
        self.meta = meta
        self.path = path

    @property
    def idata(self):
        if self._idata is None:
            import arviz as az

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self._idata = az.InferenceData(**self._groups)
        return self._idata

    @property
    def as_of(self) -> str:
        return self.meta["as_of"]

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(**self.meta["model_config"])

    @property
    def sampler_config(self) -> SamplerConfig:
        return SamplerConfig(**self.meta["sampler_config"])


def fit_meta(snapshot: Snapshot, posterior: PipelinePosterior, model_config: ModelConfig,
             sampler_config: SamplerConfig, seed: int) -> dict:
    """The metadata record of a fit (see the module docstring)."""
    fp = dataset_fingerprint(snapshot.dataset)
    as_of = str(snapshot.as_of.date())
    return {"format_version": FILE_FORMAT, "model_type": MODEL_TYPE,
            "id": fit_id(model_config, sampler_config), "package_version": package_version(),
            "as_of": as_of, "data_fingerprint": fp, "input_files": input_files(snapshot.dataset),
            "data_source": snapshot.dataset.source,
            "snapshot_fingerprint": snapshot_fingerprint(snapshot),
            "model_config": model_config.to_dict(), "sampler_config": sampler_config.to_dict(),
            "seed": int(seed), "diagnostics": posterior.diagnostics,
            "key": fit_key(fp, as_of, model_config, sampler_config, seed)}


def _engine_dataset(posterior: PipelinePosterior, meta: dict):
    """The simulator's arrays as an xarray Dataset (zero-size arrays only in the metadata)."""
    import xarray as xr

    arrays, engine_meta = posterior.to_arrays()
    shapes, variables = {}, {}
    for name, a in arrays.items():
        shapes[name] = [list(a.shape), a.dtype.str]
        if a.size:
            var = name.replace(".", "__")
            values = a.astype(np.uint8) if a.dtype == bool else a
            variables[var] = xr.Variable([f"{var}_dim_{i}" for i in range(a.ndim)], values)
    record = dict(meta, engine=dict(engine_meta, shapes=shapes))
    return xr.Dataset(variables, attrs={META_ATTR: json.dumps(record)})


def _posterior_from_engine(ds) -> tuple[PipelinePosterior, dict]:
    record = json.loads(ds.attrs[META_ATTR])
    engine = record.pop("engine")
    arrays = {}
    for name, (shape, dtype) in engine.pop("shapes").items():
        var = name.replace(".", "__")
        if var in ds:
            arrays[name] = np.asarray(ds[var].values).astype(np.dtype(dtype)).reshape(shape)
        else:
            arrays[name] = np.zeros(shape, dtype=np.dtype(dtype))
    return PipelinePosterior.from_arrays(arrays, engine), record


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_fit(path: str | Path, idata, posterior: PipelinePosterior, meta: dict) -> Path:
    """Write a posterior file atomically: a temporary file in the same folder, flushed to
    disk, then renamed onto ``path`` (a reader sees the old file, the new one, or none)."""
    import arviz as az

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    groups = {g: idata[g].assign_attrs(pipecast_id=meta["id"], as_of=meta["as_of"],
                                       pipecast_version=meta["package_version"])
              for g in idata.groups()}
    groups[ENGINE_GROUP] = _engine_dataset(posterior, meta)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the engine group is pipecast's own
            az.InferenceData(**groups).to_netcdf(str(tmp), engine="h5netcdf")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _group_names(path: Path) -> list[str]:
    import h5py

    with h5py.File(path, "r") as f:
        return [k for k in f.keys() if isinstance(f[k], h5py.Group)]


def read_meta(path: str | Path) -> dict:
    """Only the metadata record of a posterior file (cheap: no arrays read)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            record = json.loads(f[ENGINE_GROUP].attrs[META_ATTR])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error
        raise PosteriorFileError(f"{path} is not a readable pipecast posterior file "
                                 f"({type(exc).__name__}: {exc})") from exc
    record.pop("engine", None)
    return record


def read_fit(path: str | Path) -> SavedFit:
    """Read a posterior file fully into memory (the file is closed on return).

    Raises
    ------
    PosteriorFileError
        The file is missing, truncated or not written by :func:`write_fit`.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise PosteriorFileError(f"posterior file {path} not found; write one with "
                                 "`pipecast fit --data DIR --as-of DATE --out FILE`")
    try:
        names = _group_names(path)
        groups = {g: xr.load_dataset(path, group=g, engine="h5netcdf") for g in names}
        posterior, meta = _posterior_from_engine(groups.pop(ENGINE_GROUP))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error
        raise PosteriorFileError(f"{path} is not a readable pipecast posterior file "
                                 f"({type(exc).__name__}: {exc}); refit with `pipecast fit`"
                                 ) from exc
    return SavedFit(groups, posterior, meta, path)


# ----------------------------------------------------------------------------- checks
def _diff(saved: dict, here: dict, skip: tuple[str, ...] = ()) -> list[str]:
    keys = sorted((set(saved) | set(here)) - set(skip))
    return [f"{k} {saved.get(k)!r} in the file, {here.get(k)!r} here" for k in keys
            if saved.get(k) != here.get(k)]


def check_version(saved: SavedFit) -> list[str]:
    """Problems of version and identity (pymc-marketing's id check)."""
    m, v = saved.meta, package_version()
    if m.get("format_version") != FILE_FORMAT or m.get("package_version") != v:
        return [f"it was written by pipecast {m.get('package_version')} (file format "
                f"{m.get('format_version')}), this is pipecast {v} (file format "
                f"{FILE_FORMAT})"]
    try:
        expected = fit_id(saved.model_config, saved.sampler_config)
    except (TypeError, ValueError) as exc:
        return [f"its configuration cannot be read by this version ({exc})"]
    if m.get("id") != expected or m.get("model_type") != MODEL_TYPE:
        return [f"its id {m.get('id')} does not match its own configuration ({expected}): "
                "it holds another model or was altered"]
    return []


def check_fit(saved: SavedFit, dataset: Dataset, as_of: pd.Timestamp | str,
              model_config: ModelConfig | None = None,
              sampler_config: SamplerConfig | None = None) -> None:
    """Refuse a saved fit that is not the fit of ``dataset`` at ``as_of`` here.

    ``sampler_config`` ``None`` accepts the file's sampler settings; given, they must match
    (progress bar and cores aside). Every mismatch is listed at once.

    Raises
    ------
    PosteriorMismatch
        Naming each mismatch (other data, other as_of, other model configuration, other
        sampler settings, other version) and how to refit.
    """
    m = saved.meta
    as_of = str(pd.Timestamp(as_of).date())
    problems = check_version(saved)
    if m.get("data_fingerprint") != dataset_fingerprint(dataset):
        files_now = input_files(dataset)
        files_then = m.get("input_files", {})
        changed = sorted(n for n in set(files_now) | set(files_then)
                         if files_now.get(n) != files_then.get(n))
        which = f" ({', '.join(changed)} changed)" if changed else ""
        problems.append(f"it was fitted on other data: {m.get('data_source')}{which}, not "
                        f"the data of {dataset.source}")
    if m.get("as_of") != as_of:
        problems.append(f"it was fitted as of {m.get('as_of')}, not {as_of}")
    model_here = (model_config or ModelConfig()).to_dict()
    d = _diff(dict(MODEL_ADDED_LATER, **m.get("model_config", {})), model_here)
    if d:
        problems.append("its model configuration differs: " + "; ".join(d))
    if sampler_config is not None:
        d = _diff(m.get("sampler_config", {}), sampler_config.to_dict(), skip=NOT_IN_KEY)
        if d:
            problems.append("its sampler configuration differs: " + "; ".join(d))
    if problems:
        where = saved.path or "the posterior"
        raise PosteriorMismatch(
            f"refusing posterior {where}: " + "; ".join(problems) + ". Refit with "
            f"`pipecast fit --data {dataset.source} --as-of {as_of} --out {where} --force` "
            "(with the sampler options wanted), or run without --posterior")


# ----------------------------------------------------------------------------- the cache
def default_cache_dir() -> Path:
    """``$PIPECAST_CACHE_DIR`` if set, else ``<user cache dir>/pipecast/fits``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("pipecast", appauthor=False)) / "fits"


class FitCache:
    """Fits on disk, one posterior file per key (see :func:`fit_key`).

    Safe under concurrent runs: entries are written by :func:`write_fit` (atomic rename)
    and readers open only final ``<key>.nc`` names; an entry that cannot be read, or whose
    recorded key is not its name, is removed and counts as a miss.
    """

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}.nc"

    def get(self, key: str) -> SavedFit | None:
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            saved = read_fit(path)
        except PosteriorFileError:
            path.unlink(missing_ok=True)
            return None
        if saved.meta.get("key") != key:
            path.unlink(missing_ok=True)
            return None
        return saved

    def put(self, key: str, idata, posterior: PipelinePosterior, meta: dict) -> Path | None:
        """Store a fit; a cache that cannot be written is reported, never fatal."""
        try:
            self._sweep()
            return write_fit(self.path_for(key), idata, posterior, dict(meta, key=key))
        except OSError as exc:
            warnings.warn(f"fit not cached in {self.directory}: {exc}", RuntimeWarning,
                          stacklevel=2)
            return None

    def _sweep(self) -> None:
        if not self.directory.is_dir():
            return
        now = time.time()
        for tmp in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()

    def entries(self) -> list[dict]:
        """One record per cached fit (unreadable ones with their ``error``)."""
        out = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("*.nc")):
            try:
                size = path.stat().st_size
                m = read_meta(path)
            except (OSError, PosteriorFileError) as exc:
                out.append({"path": str(path), "error": str(exc)})
                continue
            out.append({"path": str(path), "key": path.stem, "bytes": size,
                        "as_of": m.get("as_of"), "data_source": m.get("data_source"),
                        "method": m.get("sampler_config", {}).get("method"),
                        "seed": m.get("seed"), "version": m.get("package_version"),
                        "written": time.strftime("%Y-%m-%d %H:%M:%S",
                                                 time.localtime(path.stat().st_mtime))})
        return out

    def clear(self) -> int:
        """Remove every cached fit and leftover temporary file; returns how many."""
        n = 0
        if not self.directory.is_dir():
            return n
        for path in [*self.directory.glob("*.nc"), *self.directory.glob(".*.tmp")]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                n += 1
        return n


# ----------------------------------------------------------------------------- fit or reuse
@dataclass
class FitResult:
    """A fitted state, however obtained: ``source`` is ``"fit"``, ``"cache"`` or the path of
    the posterior file given; ``path``, a file holding it (the file given, or the cache
    entry), if any."""

    snapshot: Snapshot
    posterior: PipelinePosterior
    #: the ArviZ InferenceData, or the SavedFit it is read from on first use
    idata_source: object
    model_config: ModelConfig
    sampler_config: SamplerConfig
    seed: int
    source: str
    fitter: object | None = None
    path: Path | None = None

    @property
    def idata(self):
        """The posterior as ArviZ ``InferenceData``."""
        src = self.idata_source
        return src.idata if isinstance(src, SavedFit) else src


def obtain_fit(data: Dataset | Snapshot, as_of: pd.Timestamp | str | None = None,
               seed: int = 0, model_config: ModelConfig | None = None,
               sampler_config: SamplerConfig | None = None,
               posterior: str | Path | None = None,
               cache: FitCache | None = None) -> FitResult:
    """The fit of ``data`` at ``as_of``: read from ``posterior`` (checked, see
    :func:`check_fit`), else from ``cache``, else fitted (and then stored in ``cache``).

    ``sampler_config`` ``None`` means the defaults when fitting, and "whatever the file
    holds" with ``posterior``.
    """
    snapshot = data if isinstance(data, Snapshot) else build_snapshot(data, _need(as_of))
    mc = model_config or ModelConfig()
    if posterior is not None:
        saved = read_fit(posterior)
        check_fit(saved, snapshot.dataset, snapshot.as_of, mc, sampler_config)
        return _from_saved(saved, snapshot, str(posterior))
    sc = sampler_config or SamplerConfig()
    key = None
    if cache is not None:
        key = fit_key(dataset_fingerprint(snapshot.dataset), snapshot.as_of, mc, sc, seed)
        saved = cache.get(key)
        if saved is not None:
            return _from_saved(saved, snapshot, "cache")
    from forecast.models.fit import ModelFitter  # the modelling stack, only when fitting

    fitter = ModelFitter(mc, sc).fit(snapshot, seed=seed)
    result = FitResult(snapshot=snapshot, posterior=fitter.posterior, idata_source=fitter.idata,
                       model_config=mc, sampler_config=sc, seed=int(seed), source="fit",
                       fitter=fitter)
    if cache is not None:
        result.path = cache.put(key, fitter.idata, fitter.posterior,
                                fit_meta(snapshot, fitter.posterior, mc, sc, seed))
    return result


def _need(as_of):
    if as_of is None:
        raise ValueError("as_of is required: pass the forecast date explicitly")
    return as_of


def _from_saved(saved: SavedFit, snapshot: Snapshot, source: str) -> FitResult:
    return FitResult(snapshot=snapshot, posterior=saved.posterior, idata_source=saved,
                     model_config=saved.model_config, sampler_config=saved.sampler_config,
                     seed=saved.seed, source=source, path=saved.path)


def save_result(result: FitResult, path: str | Path) -> Path:
    """Write a :class:`FitResult` as a posterior file."""
    meta = fit_meta(result.snapshot, result.posterior, result.model_config,
                    result.sampler_config, result.seed)
    return write_fit(path, result.idata, result.posterior, meta)
