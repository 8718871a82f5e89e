"""Per-method settings: config dataclasses that parse, validate and describe themselves.

Each method's hyperparameters live in its own frozen dataclass (TF Model
Garden's per-task configs), a subclass of ``Settings`` whose fields are
declared with ``setting(default, help, ...)``. Defaults are the paper's.
Run-level options (model, dataset, model_dir, max_steps, strategy, ...) are
absl flags in ``tfvidgen.flags``; everything else on a command line or in a
flagfile is a setting of the chosen method, parsed here against that
method's dataclass only:

* a value is set only when given: ``bin/train --model=svg_lp`` uses
  ``SVGConfig``'s defaults, not another method's;
* an unknown name is an error that suggests the closest setting or flag
  (``--max_step`` is not a setting of rjgan: did you mean ``--max_steps``?);
* ``validate`` checks every field's bounds and choices from its declaration,
  then the class's ``check`` for rules across fields, and the message names
  the setting (``--z_dim must be >= 1, got 0``);
* ``help_text`` lists the settings with defaults and help
  (``bin/train --model=X --helpfull``), ``to_args`` writes them back as
  flagfile lines (a run's resolved ``flags.txt``).

A new method declares its config class beside its Task and edits nothing
here.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Dict, Iterable, List, Optional, Sequence, Tuple


class ConfigError(ValueError):
    """A bad setting; the message names it and says what is allowed."""


def setting(default, help: str, *, choices: Optional[Sequence] = None, min=None, max=None,
            min_exclusive: bool = False, mutable: bool = False):
    """A dataclass field of a ``Settings`` class.

    Args:
      default: the paper's value.
      help: one line for ``--helpfull``.
      choices: allowed values (strings for enums).
      min, max: inclusive bounds (``min_exclusive``: strictly above ``min``).
      mutable: a resumed run may change it (e.g. where to warm-start from,
        which only matters at step 0); other settings of a run are fixed.
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": tuple(choices) if choices is not None else None,
        "min": min, "max": max, "min_exclusive": min_exclusive, "mutable": mutable})


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "t", "1", "yes"):
        return True
    if low in ("false", "f", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


_PARSERS = {int: int, float: float, str: str, bool: _parse_bool}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every method's config dataclass.

    ``batch_size`` is the one setting every method has: the global batch of
    one training step (videos, or images for image-only methods), whose
    default is the method's.
    """
    batch_size: int = setting(16, "Global batch size of one training step.", min=1)

    def __post_init__(self):
        self.validate()

    # Declaration ---------------------------------------------------------------------
    @classmethod
    def fields(cls) -> Dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def field_type(cls, name: str) -> type:
        hint = typing.get_type_hints(cls)[name]
        if hint not in _PARSERS:
            raise TypeError(f"{cls.__name__}.{name}: settings are int, float, str or bool, "
                            f"not {hint}")
        return hint

    # Validation ------------------------------------------------------------------------
    def validate(self) -> None:
        """Checks every field's declared bounds and choices, then ``check``."""
        for name, f in self.fields().items():
            value, meta = getattr(self, name), f.metadata
            kind = self.field_type(name)
            if kind in (int, float) and not (isinstance(value, (int, float))
                                             and not isinstance(value, bool)):
                raise ConfigError(f"--{name} must be a number, got {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise ConfigError(f"--{name} must be true or false, got {value!r}")
            if meta.get("choices") and value not in meta["choices"]:
                raise ConfigError(f"--{name} must be one of {', '.join(map(str, meta['choices']))};"
                                  f" got {value!r}")
            low, high = meta.get("min"), meta.get("max")
            if low is not None:
                if meta.get("min_exclusive") and not value > low:
                    raise ConfigError(f"--{name} must be > {low}, got {value}")
                if not meta.get("min_exclusive") and not value >= low:
                    raise ConfigError(f"--{name} must be >= {low}, got {value}")
            if high is not None and not value <= high:
                raise ConfigError(f"--{name} must be <= {high}, got {value}")
        self.check()

    def check(self) -> None:
        """Rules across fields; raise ConfigError naming the settings. Override."""

    # Parsing ---------------------------------------------------------------------------
    @classmethod
    def parse_args(cls, args: Iterable[str], known: Iterable[str] = (),
                   method: str = "") -> Dict[str, object]:
        """``--name=value`` / ``--name`` / ``--noname`` arguments -> {name: value}.

        The last occurrence of a setting wins (a command line after a
        flagfile). ``known`` names the run-level flags, for suggestions.
        Raises ConfigError for an unknown name, a bad value or a stray word.
        """
        fields, given = cls.fields(), {}
        for arg in args:
            if not arg.startswith("--") or arg == "--":
                raise ConfigError(f"unexpected argument {arg!r}: settings are written "
                                  "--name=value.")
            body = arg[2:]
            name, _, text = body.partition("=")
            has_value = "=" in body
            if name not in fields and not has_value and name.startswith("no") \
                    and name[2:] in fields and cls.field_type(name[2:]) is bool:
                given[name[2:]] = False
                continue
            if name not in fields:
                raise ConfigError(cls.unknown_message(name, known, method))
            kind = cls.field_type(name)
            if not has_value:
                if kind is not bool:
                    raise ConfigError(f"--{name} needs a value: --{name}=...")
                given[name] = True
                continue
            try:
                given[name] = _PARSERS[kind](text)
            except ValueError:
                raise ConfigError(f"--{name}={text}: expected {kind.__name__}") from None
        return given

    @classmethod
    def unknown_message(cls, name: str, known: Iterable[str] = (), method: str = "") -> str:
        candidates = list(cls.fields()) + list(known)
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f" Did you mean --{close[0]}?" if close else ""
        method = method or cls.__name__
        return (f"--{name} is not a flag nor a setting of {method}.{hint} "
                f"bin/train --model={method if method != cls.__name__ else '<model>'} "
                "--helpfull lists its settings.")

    @classmethod
    def from_values(cls, values: Dict[str, object]):
        """The config with the given fields set (others at their defaults);
        keys that are not fields are ignored (run-level flag values)."""
        fields = cls.fields()
        try:
            return cls(**{k: v for k, v in values.items() if k in fields})
        except TypeError as e:  # wrong type that dataclass itself rejects
            raise ConfigError(str(e)) from None

    # Description -----------------------------------------------------------------------
    def to_args(self) -> List[str]:
        """Every setting as a flagfile line (the run's resolved settings)."""
        lines = []
        for name in self.fields():
            value = getattr(self, name)
            if isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            else:
                lines.append(f"--{name}={value}")
        return lines

    @classmethod
    def help_text(cls, title: str = "") -> str:
        out = [title or f"settings of {cls.__module__}.{cls.__name__}:"]
        for name, f in cls.fields().items():
            meta = f.metadata
            extra = ""
            if meta.get("choices"):
                extra = f" One of: {', '.join(map(str, meta['choices']))}."
            out.append(f"  --{name}: {meta.get('help', '')}{extra}")
            out.append(f"    (default: {f.default!r})")
        return "\n".join(out)

    def differences(self, other: "Settings") -> List[Tuple[str, object, object]]:
        """(name, self's value, other's value) of fixed settings that differ."""
        out = []
        for name, f in self.fields().items():
            if f.metadata.get("mutable"):
                continue
            a, b = getattr(self, name), getattr(other, name, None)
            if a != b:
                out.append((name, a, b))
        return out
