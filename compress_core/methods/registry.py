"""The one registry of run kinds, keyed by spec class (torchao's `quantize_(model, config)` pattern).

A method module describes itself once with `register_method(Method(...))`: its spec class, the
function that runs it, its label and colour, its command-line options, the parameters a sweep
may vary and the settings a report shows. The API, the CLI, sweeps, the report, the figures and
the pages all read this registry; nothing else lists run kinds.

Adding a run kind is one file in this package (found by `load_methods`, which imports every
module here) plus its test.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Optional

from compress_core.errors import CompressError
from compress_core.methods import labels
from compress_core.registry import Registry


@dataclass(frozen=True)
class SweepParam:
    """A parameter a sweep can vary: which spec field it sets and what its levels look like.

    `fixed` holds other spec fields the sweep pins (a bits sweep simulates k bits, so it fixes
    `scheme` to "fake"); `integer` levels are whole numbers (bits, widths).
    """

    field: str
    example: str  # default levels, e.g. "0.5,0.7,0.9,0.95,0.98"
    help: str = ""  # what a level means and its range
    integer: bool = False
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """Everything the rest of the lab needs to know about one run kind."""

    kind: str  # the run kind stored with every run, e.g. "prune"
    spec: type  # its frozen spec dataclass (with KIND == kind)
    run: Callable  # run(spec, ctx) -> RunResult
    label: str  # human name, e.g. "quantization"
    colour: str  # the same colour on every page and in the report
    help: str  # one line for `--help` and page captions
    add_arguments: Optional[Callable] = None  # add_arguments(argparse parser): the CLI options
    spec_from_args: Optional[Callable] = None  # spec_from_args(argparse namespace) -> spec
    sweep: Mapping[str, SweepParam] = field(default_factory=dict)  # first entry: the default parameter
    # Spec fields the report shows: a tuple, or a function of the spec dict (prune's depend on its criterion).
    report_settings: Any = ()
    describe: Optional[Callable[[Mapping], str]] = None  # spec dict -> short label of its main settings
    page: Optional[str] = None  # the page (file under pages/) that shows a run of this kind
    order: int = 50  # position in lists (commands, legends)

    def __post_init__(self):
        if getattr(self.spec, "KIND", None) != self.kind:
            raise ValueError(f"method {self.kind!r}: its spec class {self.spec.__name__} has KIND "
                             f"{getattr(self.spec, 'KIND', None)!r}")

    @property
    def sweepable(self) -> bool:
        return bool(self.sweep)


METHODS: Registry[Method] = Registry("run kind")
_BY_SPEC: dict[type, Method] = {}
_SKIP = {"registry", "labels", "spec_fields"}  # modules of this package that register nothing
_loaded = False


def register_method(method: Method) -> Method:
    """Add a run kind; called once at import by the module that defines it."""
    METHODS.add(method.kind, method)
    _BY_SPEC[method.spec] = method
    return method


def load_methods() -> None:
    """Import every module of this package so each registers its run kind (once per process).

    Sub-packages (such as pruning criteria) are left to their own loaders.
    """
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg and info.name not in _SKIP:
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def all_methods() -> list[Method]:
    """Every registered run kind, in display order."""
    load_methods()
    return sorted((METHODS.get(name) for name in METHODS.names()), key=lambda m: (m.order, m.kind))


def kinds() -> list[str]:
    return [m.kind for m in all_methods()]


def get_method(kind: str) -> Method:
    """The run kind `kind`, or a CompressError that lists the allowed kinds."""
    load_methods()
    if kind not in METHODS:
        raise CompressError(f"unknown run kind {kind!r}; allowed: {', '.join(kinds())}")
    return METHODS.get(kind)


def method_for(spec) -> Method:
    """Dispatch on the spec's class: the method that runs `spec`."""
    load_methods()
    for cls in type(spec).__mro__:
        if cls in _BY_SPEC:
            return _BY_SPEC[cls]
    raise CompressError(f"no run kind takes a {type(spec).__name__}; allowed kinds: {', '.join(kinds())}")


def sweep_methods() -> list[Method]:
    """Run kinds a sweep can vary, in display order."""
    return [m for m in all_methods() if m.sweep]


def spec_from_dict(d: Mapping[str, Any]):
    """Rebuild a spec from its `to_dict()` form (JSON, the store, a pipeline file)."""
    if not isinstance(d, Mapping):
        raise CompressError(f"a spec must be a JSON object; got {type(d).__name__}")
    cls = get_method(d.get("kind")).spec
    allowed = {f.name for f in fields(cls)}
    extra = sorted(set(d) - allowed - {"kind"})
    if extra:
        raise CompressError(f"unknown field(s) {', '.join(extra)} for a {d['kind']} spec; "
                            f"allowed: {', '.join(sorted(allowed))}")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k != "kind"}
    return cls(**values)


def report_settings(kind: str, spec: Mapping) -> list[str]:
    """The spec fields a report shows for a run of `kind` (empty for an unknown kind)."""
    if kind not in kinds():
        return []
    settings = get_method(kind).report_settings
    return list(settings(spec) if callable(settings) else settings)


def describe(kind: str, spec: Mapping) -> str:
    """A run's main settings as a short label, e.g. '90% global oneshot, 3 ep' ('' for an unknown kind)."""
    built_in = labels.describe(kind, spec)  # the same function, found without importing every method (torch)
    if built_in is not None:
        return built_in
    if kind not in kinds() or get_method(kind).describe is None:
        return ""
    return get_method(kind).describe(spec or {})
