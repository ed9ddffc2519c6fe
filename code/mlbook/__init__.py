"""The code of the book *Machine Learning with PyTorch*.

Each module holds one concept and is shown and run by the chapter of the same name. This
file deliberately imports nothing: a chapter that imports one module must not depend on
the others (the book re-executes a chapter exactly when a module it uses changes).
"""

__version__ = "0.1.0"
