"""The birdie.v1 and grpc.health.v1 Python modules that the build generated from proto/ (proto/
gen_python.py), imported without shadowing grpcio: the generated folder is appended to sys.path, the
messages come from the package path `birdie.v1`, and health_pb2 is loaded from its file because the
name `grpc` is grpcio's. load() also checks that `grpc` still is grpcio after the imports.
"""
import importlib.util
import os
import sys


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def load(py_dir):
    """(birdie_pb2, health_pb2) from py_dir; raises RuntimeError when grpc is not grpcio's package."""
    if py_dir not in sys.path:
        sys.path.append(py_dir)
    import grpc
    from birdie.v1 import birdie_pb2
    from birdie.v1 import services_pb2  # noqa: F401  (its import of birdie/v1/birdie.proto must resolve)
    path = os.path.join(py_dir, 'grpc', 'health', 'v1', 'health_pb2.py')
    spec = importlib.util.spec_from_file_location('birdie_generated_health_pb2', path)
    health_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health_pb2)
    grpc_file = getattr(grpc, '__file__', None)
    if not grpc_file or _inside(grpc_file, py_dir) or not hasattr(grpc, 'insecure_channel'):
        raise RuntimeError(f'the grpc package is {grpc_file!r}, not grpcio (generated modules in {py_dir})')
    return birdie_pb2, health_pb2
