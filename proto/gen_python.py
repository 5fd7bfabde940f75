#!/usr/bin/env python3
"""Generates the Python modules of the .proto files under the build tree, with proto/ as the only
include root, so module paths follow the packages: birdie/v1/birdie_pb2.py, birdie/v1/services_pb2.py
(which imports `birdie.v1.birdie_pb2`) and grpc/health/v1/health_pb2.py.

usage: gen_python.py PROTOC PROTO_ROOT OUT_DIR STAMP FILE.proto...

OUT_DIR is emptied first (no stale modules survive a rename). A client appends OUT_DIR to sys.path
(never prepends it) and imports `birdie.v1.birdie_pb2`; grpc/health/v1/health_pb2.py is loaded from its
file (importlib), because the name `grpc` belongs to grpcio: nothing here writes an __init__.py, so
the generated grpc/ folder is at most a namespace portion that grpcio's regular package outranks.
"""
import os
import shutil
import subprocess
import sys


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    protoc, root, out, stamp = sys.argv[1:5]
    root = os.path.abspath(root)
    names = []
    for p in sys.argv[5:]:
        rel = os.path.relpath(os.path.abspath(p), root)
        if rel.startswith('..'):
            sys.exit(f'gen_python.py: {p} is not under the include root {root}')
        names.append(rel)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    subprocess.run([protoc, '--proto_path=' + root, '--python_out=' + out] + names, check=True)
    with open(stamp, 'w') as f:
        f.write('\n'.join(names) + '\n')


if __name__ == '__main__':
    main()
