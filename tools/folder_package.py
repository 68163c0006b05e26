"""Import a folder of downloaded modeling files as a package, for the compare_with_* tools.

Upstream's and the release's modeling files import their config relatively (`from .configuration_llada
import ...`), so they only run as submodules of a package; neither ships as one.
"""

import importlib.util
import os
import sys


def import_folder_as_package(directory, package):
    """Register `directory` under the name `package`, so `importlib.import_module(f"{package}.<file>")`
    loads its files. An empty __init__.py is written there if it has none."""
    init_file = os.path.join(directory, "__init__.py")
    if not os.path.exists(init_file):
        open(init_file, "a").close()
    spec = importlib.util.spec_from_file_location(package, init_file, submodule_search_locations=[directory])
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
