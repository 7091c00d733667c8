"""Put the checkout on sys.path as ansible_collections.freifunk.gateway."""

import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "link_collection", os.path.join(_HERE, "..", "bed", "link_collection.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
sys.path.insert(0, _mod.link())
