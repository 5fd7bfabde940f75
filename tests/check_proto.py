#!/usr/bin/python3
"""TAP: the .proto files compile with proto/ as the only include root, C code includes the generated
headers by their package path, and the Python modules the build generated from them import without
shadowing grpcio.

usage: check_proto.py PROTOC PROTO_ROOT PROTO_PY_DIR
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_modules  # noqa: E402

results = []


def check(ok, what, detail=''):
    results.append((ok, what, detail))


def main():
    protoc, root, py_dir = sys.argv[1:4]
    names = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, '**', '*.proto'), recursive=True))
    check(len(names) >= 3, 'proto/ holds birdie.proto, services.proto and health.proto', ' '.join(names))
    with tempfile.TemporaryDirectory() as tmp:
        # each file alone, so a file whose imports need a second include root fails by name
        for name in names:
            r = subprocess.run([protoc, '--proto_path=' + root, '--descriptor_set_out=' + os.path.join(tmp, 'd.pb'),
                                name], capture_output=True, text=True)
            check(r.returncode == 0, f'protoc -I proto compiles {name}', r.stderr.strip())
    for name in names:
        module = os.path.join(py_dir, name[:-len('.proto')] + '_pb2.py')
        check(os.path.isfile(module), f'generated {os.path.relpath(module, py_dir)} in the build tree')
    # C code names generated headers by their package path ("birdie/v1/birdie.pb-c.h"), never bare
    repo = os.path.dirname(os.path.abspath(root))
    bare = re.compile(r'#\s*include\s*"[^"/]+\.pb-c\.h"')
    offenders = []
    for folder in ('ctl', 'daemon', 'worker', 'kernels', 'tests'):
        for path in glob.glob(os.path.join(repo, folder, '**', '*.[ch]'), recursive=True):
            with open(path, encoding='utf-8', errors='replace') as f:
                if bare.search(f.read()):
                    offenders.append(os.path.relpath(path, repo))
    check(not offenders, 'C code includes generated headers by their package path', ' '.join(offenders))
    in_source = glob.glob(os.path.join(root, '**', '*_pb2.py'), recursive=True)
    check(not in_source, 'nothing generated beside the .proto files', ' '.join(in_source))
    try:
        pb, hpb = proto_modules.load(py_dir)
        import grpc
        check(os.path.realpath(grpc.__file__).endswith(os.path.join('grpc', '__init__.py'))
              and not proto_modules._inside(grpc.__file__, py_dir), 'grpc is grpcio', grpc.__file__)
        check(pb.DESCRIPTOR.package == 'birdie.v1' and pb.DESCRIPTOR.name == 'birdie/v1/birdie.proto',
              'birdie_pb2 is birdie/v1/birdie.proto', pb.DESCRIPTOR.name)
        check(hpb.DESCRIPTOR.package == 'grpc.health.v1', 'health_pb2 is grpc.health.v1', hpb.DESCRIPTOR.package)
        check(hpb.HealthCheckResponse.SERVING == 1, 'health enum SERVING is 1')
    except Exception as e:  # an import failure is this test's finding, not a crash
        check(False, 'generated modules import beside grpcio', repr(e))
    print(f'1..{len(results)}')
    for i, (ok, what, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {what}")
        if not ok and detail:
            print('# ' + detail.replace('\n', '\n# '))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
