"""Where the page's files live: inside the installed package, or beside it in a source tree.

A wheel carries ``static/``, ``templates/`` and ``lessons/`` as package data of ``app``
(pyproject.toml maps the repository's top-level folders there), so an installed copy finds
them next to its own modules, whatever the working directory. An editable install or a plain
checkout has no such copies; there the repository's folders, one level above ``app/``, are
used.
"""

from importlib.resources import files
from pathlib import Path
from typing import Literal

PageFolder = Literal["static", "templates", "lessons"]


def page_dir(name: PageFolder) -> Path:
    """The folder of page files called ``name`` that ships with this copy of the app."""
    packaged = Path(str(files("app") / name))  # wheels install unzipped: a real folder
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name
