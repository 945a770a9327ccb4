"""Package discovery: the import package ``seaweed_volume`` is the ``src/`` tree.

Listing packages by hand drifted (a wheel once lacked ``core.erasure_coding``); every
directory under ``src/`` with an ``__init__.py`` is a subpackage of ``seaweed_volume``.
"""

from setuptools import find_packages, setup

setup(
    package_dir={"seaweed_volume": "src"},
    packages=["seaweed_volume", *(f"seaweed_volume.{name}" for name in find_packages("src"))],
    package_data={"seaweed_volume.adapters.grpc.pb": ["*.pyi"]},
)
