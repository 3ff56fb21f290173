"""Python factories the user owns: `path/to/file.py:function` or `package.module:function`.

Trusted code by definition (the CLI and API run what their user names; the browser offers only
files in `<home>/models/`, a folder the operator controls, marked as local code). The function
returns an `nn.Module`; it may take any of `input_shape`, `num_classes`, `in_channels` by name.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

from torch import nn

from compress_core.errors import CompressError
from compress_core.models.sources import ResolvedModel, Source, Target, register_source

_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def split(value: str) -> tuple[str, str]:
    where, _, function = value.rpartition(":")
    return where, function


def _matches(value: str) -> bool:
    where, function = split(value)
    return bool(where) and (where.endswith(".py") or bool(_MODULE.match(where))) and ":" not in where[2:] \
        and bool(function)


def _check(value: str) -> None:
    where, function = split(value)
    if not _IDENT.match(function):
        raise CompressError(f"model factory {value!r}: {function!r} is not a Python function name")
    if not where.endswith(".py") and not _MODULE.match(where):
        raise CompressError(f"model factory {value!r}: {where!r} is neither a .py file nor a dotted module name")


def _load_function(value: str):
    where, function = split(value)
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise CompressError(f"model factory file {where!r} does not exist")
        source = path.read_bytes()
        digest = hashlib.sha256(source).hexdigest()[:20]
        name = f"compress_lab_factory_{digest}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # the user's code: report its error in one line
                raise CompressError(f"model factory file {where!r} failed to import: "
                                    f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
            sys.modules[name] = module
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise CompressError(f"model factory module {where!r} cannot be imported: {exc}") from None
        file = getattr(module, "__file__", None)
        digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()[:20] if file else where
    fn = getattr(module, function, None)
    if not callable(fn):
        found = [n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")]
        raise CompressError(f"{where!r} has no function {function!r}; functions found: {', '.join(found) or 'none'}")
    return fn, digest


def _build(value: str, target: Target) -> ResolvedModel:
    fn, digest = _load_function(value)
    offered = {"input_shape": target.input_shape, "num_classes": target.num_classes,
               "in_channels": target.input_shape[0]}
    try:
        params = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in offered.items() if k in params}
        model = fn(**kwargs)
    except CompressError:
        raise
    except Exception as exc:
        raise CompressError(f"model factory {value!r} raised {type(exc).__name__}: {' '.join(str(exc).split())}") \
            from None
    if not isinstance(model, nn.Module):
        raise CompressError(f"model factory {value!r} returned {type(model).__name__}, not a torch.nn.Module")
    return ResolvedModel(model, None, False, "auto", f"{type(model).__name__} from factory {value}", "factory",
                         f"factory:{digest}:{split(value)[1]}")


register_source(Source("factory", "file.py:function or package.module:function (a Python factory; CLI and API)",
                       _matches, _check, _build, browser=False))
