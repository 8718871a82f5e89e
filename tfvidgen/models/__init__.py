"""Methods, one module each; importing this package registers them all.

Every module of this package is imported, so a new method is a new module
with a ``@registry.register_task`` decorator and no edit here.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
