#!/usr/bin/python3
"""A birdie.v1 client in Python that knows nothing but the .proto files: it proves the coordinator
speaks standard gRPC. Run by test_interop.c with Debian's /usr/bin/python3 (python3-grpcio,
python3-protobuf) and protoc.

usage: interop_client.py PROTO_PY_DIR ADDR TOKEN WORKDIR
PROTO_PY_DIR holds the modules the build generated from proto/ (proto/gen_python.py).
Exits 0 when every check passed, 1 (after printing the failed check) otherwise.
"""
import os
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import proto_modules  # noqa: E402  (tests/proto_modules.py)


def main():
    py_dir, addr, token, workdir = sys.argv[1:5]
    pb, hpb = proto_modules.load(py_dir)

    channel = grpc.insecure_channel(addr)
    auth = [('authorization', 'Bearer ' + token)]
    checks = 0

    def unary(path, req, resp_type, md=auth):
        call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=resp_type.FromString)
        return call(req, metadata=md, timeout=5)

    def expect_code(code, fn, needle=''):
        nonlocal checks
        try:
            fn()
        except grpc.RpcError as e:
            if e.code() != code:
                raise AssertionError(f'expected {code}, got {e.code()}: {e.details()}')
            if needle not in (e.details() or ''):
                raise AssertionError(f'details {e.details()!r} lack {needle!r}')
            checks += 1
            return
        raise AssertionError(f'expected {code}, call succeeded')

    def check(cond, what):
        nonlocal checks
        if not cond:
            raise AssertionError(what)
        checks += 1

    # no rank has registered: nothing trains yet, so the run is not healthy
    h = unary('/grpc.health.v1.Health/Check', hpb.HealthCheckRequest(), hpb.HealthCheckResponse, md=None)
    check(h.status == hpb.HealthCheckResponse.NOT_SERVING, f'health NOT_SERVING while starting, got {h.status}')

    reg = unary('/birdie.v1.Coordinator/Register', pb.RegisterRequest(rank=0, world_size=1, hostname='py', pid=os.getpid()),
                pb.RegisterResponse)
    h = unary('/grpc.health.v1.Health/Check', hpb.HealthCheckRequest(service='birdie.v1.Control'),
              hpb.HealthCheckResponse, md=None)
    check(h.status == hpb.HealthCheckResponse.SERVING, f'health SERVING once running, got {h.status}')
    check(list(reg.arms) == ['ntp', 'prefix_lm', 'copy_short', 'copy_long'], f'arms {list(reg.arms)}')

    st = unary('/birdie.v1.Control/GetStatus', pb.GetStatusRequest(), pb.GetStatusResponse)
    check(st.state == 'running' and st.mixture.version == 0, f'status {st.state} v{st.mixture.version}')

    req = pb.SetMixtureRequest(weights=[pb.ArmWeight(arm='ntp', weight=1.0), pb.ArmWeight(arm='copy_long', weight=1.0)],
                               expected_version=pb.ExpectedVersion(version=0), request_id='py-1', reason='interop')
    r = unary('/birdie.v1.Control/SetMixture', req, pb.SetMixtureResponse)
    check(r.mixture.version == 1 and r.previous.version == 0 and not r.replayed, 'set-mixture v1')
    check(abs(r.mixture.weights[0].weight - 0.5) < 1e-12, 'normalised weights')
    r = unary('/birdie.v1.Control/SetMixture', req, pb.SetMixtureResponse)
    check(r.replayed and r.mixture.version == 1, 'request id replay')

    bad = pb.SetMixtureRequest(weights=[pb.ArmWeight(arm='ntp', weight=-2.0)])
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, lambda: unary('/birdie.v1.Control/SetMixture', bad, pb.SetMixtureResponse),
                'negative')
    unknown = pb.SetMixtureRequest(weights=[pb.ArmWeight(arm='nope', weight=1.0)])
    expect_code(grpc.StatusCode.INVALID_ARGUMENT,
                lambda: unary('/birdie.v1.Control/SetMixture', unknown, pb.SetMixtureResponse), "unknown arm 'nope'")
    stale = pb.SetMixtureRequest(weights=[pb.ArmWeight(arm='ntp', weight=1.0)], expected_version=pb.ExpectedVersion(version=0))
    expect_code(grpc.StatusCode.ABORTED, lambda: unary('/birdie.v1.Control/SetMixture', stale, pb.SetMixtureResponse))
    expect_code(grpc.StatusCode.UNAUTHENTICATED,
                lambda: unary('/birdie.v1.Control/SetMixture', stale, pb.SetMixtureResponse,
                              md=[('authorization', 'Bearer wrong')]))
    expect_code(grpc.StatusCode.UNAUTHENTICATED,
                lambda: unary('/birdie.v1.Control/GetStatus', pb.GetStatusRequest(), pb.GetStatusResponse, md=None))
    garbage = channel.unary_unary('/birdie.v1.Control/SetMixture', request_serializer=lambda b: b,
                                  response_deserializer=pb.SetMixtureResponse.FromString)
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, lambda: garbage(b'\xff\xff\xff\xff\xff\x0f', metadata=auth, timeout=5))
    expect_code(grpc.StatusCode.UNIMPLEMENTED,
                lambda: unary('/birdie.v1.Control/NoSuchMethod', pb.GetStatusRequest(), pb.GetStatusResponse))

    watch_mixture = channel.unary_stream('/birdie.v1.Coordinator/WatchMixture',
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=pb.WorkerDirective.FromString)
    stream = watch_mixture(pb.WatchMixtureRequest(rank=0), metadata=auth, timeout=5)
    first = next(stream)
    check(first.mixture.version == 1 and first.mixture.source == 'operator' and not first.stop, 'directive v1')
    stream.cancel()

    unary('/birdie.v1.Coordinator/Heartbeat',
          pb.HeartbeatRequest(rank=0, step=5, tokens_per_s=123.0, applied_version=1, applied_step=5, loss=3.0),
          pb.HeartbeatResponse)
    evals = [pb.ArmEval(arm=a, loss_sum=10.0 * (i + 1), tokens=10.0) for i, a in enumerate(reg.arms)]
    rep = unary('/birdie.v1.Coordinator/ReportEval', pb.ReportEvalRequest(rank=0, step=10, evals=evals),
                pb.ReportEvalResponse)
    check(rep.round_complete and rep.reports_received == 1, 'eval round complete')
    for _ in range(100):
        st = unary('/birdie.v1.Control/GetStatus', pb.GetStatusRequest(), pb.GetStatusResponse)
        if st.mixture.version == 2:
            break
        time.sleep(0.05)
    check(st.mixture.version == 2 and st.mixture.source == 'scheduler', f'scheduler version {st.mixture.version}')
    check(st.ranks[0].applied_version == 1 and st.ranks[0].step == 5, 'rank applied version in status')
    check(st.last_eval.step == 10 and len(st.last_eval.evals) == 4, 'last eval in status')

    hist = unary('/birdie.v1.Control/GetHistory', pb.GetHistoryRequest(since_step=0), pb.GetHistoryResponse)
    check(len(hist.evals) == 4 and len(hist.rewards) == 4 and len(hist.decisions) == 2 and len(hist.mixtures) == 3,
          f'history {len(hist.evals)} {len(hist.rewards)} {len(hist.decisions)} {len(hist.mixtures)}')

    watch = channel.unary_stream('/birdie.v1.Control/Watch', request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=pb.Event.FromString)
    events = watch(pb.WatchRequest(), metadata=auth, timeout=5)
    ev = next(events)
    check(ev.kind == 'state' and ev.state == 'running' and ev.mixture.version == 2, 'watch starts with the state')
    unary('/birdie.v1.Control/Pause', pb.ControlRequest(reason='py'), pb.ControlResponse)
    ev = next(events)
    check(ev.kind == 'state' and ev.state == 'paused', f'watch event {ev.kind} {ev.state}')
    events.cancel()
    res = unary('/birdie.v1.Control/Resume', pb.ControlRequest(), pb.ControlResponse)
    check(res.state == 'running', 'resume')
    hist = unary('/birdie.v1.Control/GetHistory', pb.GetHistoryRequest(since_step=0), pb.GetHistoryResponse)
    changes = [(c.state, c.reason) for c in hist.state_changes]
    check(('paused', 'operator pause: py') in changes and ('running', 'operator resume') in changes,
          f'state changes {changes}')

    # grpc.health.v1 Watch: the current status at once, then every change; an unknown service gets
    # SERVICE_UNKNOWN and its stream stays open
    health_watch = channel.unary_stream('/grpc.health.v1.Health/Watch', request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=hpb.HealthCheckResponse.FromString)
    hw = health_watch(hpb.HealthCheckRequest(), timeout=10)
    check(next(hw).status == hpb.HealthCheckResponse.SERVING, 'health watch starts SERVING')
    unknown = health_watch(hpb.HealthCheckRequest(service='no.such.Service'), timeout=10)
    check(next(unknown).status == hpb.HealthCheckResponse.SERVICE_UNKNOWN, 'health watch of an unknown service')
    unary('/birdie.v1.Control/Stop', pb.ControlRequest(reason='py done'), pb.ControlResponse)
    check(next(hw).status == hpb.HealthCheckResponse.NOT_SERVING, 'health watch NOT_SERVING after stop')
    hw.cancel()
    unknown.cancel()
    print(f'interop: {checks} checks passed')


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # the harness only needs the exit code and the reason
        print(f'interop FAILED: {type(e).__name__}: {e}')
        sys.exit(1)
