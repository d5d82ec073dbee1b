"""What ``recsys-bench models list`` and ``models show`` print: every model's parameters,
defaults and capabilities, read from the classes themselves (built-ins and plug-ins alike)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass

from recsys_bench import models
from recsys_bench.errors import UserError


@dataclass(frozen=True)
class ModelInfo:
    """One model as the registry sees it.

    Attributes
    ----------
    name : str
        The name a config uses (a registry name or ``package.module:Class``).
    target : str
        ``package.module:Class``.
    source : str
        ``built-in``, ``registered``, ``entry point of DIST`` or ``import path``.
    summary : str
        First paragraph of the class docstring, on one line.
    defaults : dict
        Every parameter with its default.
    aliases : dict
        Alternative parameter name -> parameter name.
    capabilities : dict
        The declared :class:`~recsys_bench.protocol.Capabilities`, by field.
    doc : str
        The whole class docstring.
    error : str
        Why the model cannot be loaded here (empty when it can).
    """

    name: str
    target: str
    source: str
    summary: str = ""
    defaults: dict = dataclasses.field(default_factory=dict)
    aliases: dict = dataclasses.field(default_factory=dict)
    capabilities: dict = dataclasses.field(default_factory=dict)
    doc: str = ""
    error: str = ""

    def to_json(self) -> dict:
        """The info as a JSON-serialisable dict (without the docstring)."""
        out = dataclasses.asdict(self)
        out.pop("doc")
        out["defaults"] = {k: _jsonable(v) for k, v in self.defaults.items()}
        return out


def _jsonable(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def info(name: str) -> ModelInfo:
    """Describe the model ``name`` (a registered name or ``package.module:Class``).

    Raises
    ------
    UserError
        Unknown name, a plug-in that does not import or breaks the contract.
    """
    target, source = models.targets().get(name, (name, "import path"))
    cls = models.model_class(name)
    doc = inspect.cleandoc(cls.__doc__ or "")
    caps = cls.capabilities
    return ModelInfo(name=name, target=target, source=source,
                     summary=" ".join(doc.split("\n\n")[0].split()), defaults=dict(cls.defaults),
                     aliases=dict(cls.aliases),
                     capabilities=dataclasses.asdict(caps) if dataclasses.is_dataclass(caps)
                     else {}, doc=doc)


def all_models() -> list[ModelInfo]:
    """Every registered model; one that cannot be loaded here (a missing optional dependency, a
    broken plug-in) carries the reason in ``error`` instead of stopping the listing."""
    out = []
    for name, (target, source) in models.targets().items():
        try:
            out.append(info(name))
        except (UserError, ImportError) as exc:
            reason = str(exc) if isinstance(exc, UserError) else f"cannot import: {exc}"
            out.append(ModelInfo(name=name, target=target, source=source,
                                 error=" ".join(reason.split())))
    return out


def _params_line(model: ModelInfo) -> str:
    params = " ".join(f"{k}={json.dumps(_jsonable(v))}" for k, v in model.defaults.items())
    aliases = ", ".join(f"{a} -> {t}" for a, t in model.aliases.items())
    return (params or "(no parameters)") + (f"  (aliases: {aliases})" if aliases else "")


def _capability_words(model: ModelInfo) -> str:
    return ", ".join(k for k, v in model.capabilities.items() if v) or "none"


def format_list(infos: list[ModelInfo]) -> str:
    """The text of ``models list``: one block per model."""
    blocks = []
    for m in infos:
        head = f"{m.name}  [{m.source}]  {m.target}"
        if m.error:
            blocks.append(f"{head}\n  unavailable: {m.error}")
            continue
        blocks.append(f"{head}\n  {m.summary}\n  params: {_params_line(m)}\n"
                      f"  capabilities: {_capability_words(m)}")
    return "\n\n".join(blocks)


def format_show(m: ModelInfo) -> str:
    """The text of ``models show``: the list entry, every capability, and the docstring."""
    width = max(map(len, m.capabilities), default=0)
    caps = "\n".join(f"  {k:<{width}}  {'yes' if v else 'no'}" for k, v in m.capabilities.items())
    params = "\n".join(f"  {k} = {json.dumps(_jsonable(v))}" for k, v in m.defaults.items())
    aliases = "".join(f"\n  (alias {a} -> {t})" for a, t in m.aliases.items())
    return (f"{m.name}  [{m.source}]  {m.target}\n\nparameters (defaults):\n"
            f"{params or '  (none)'}{aliases}\n\ncapabilities:\n{caps}\n\n{m.doc}").rstrip()
