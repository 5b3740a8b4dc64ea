"""Benchmark: one PEAR training step (batch 64, 3×100 ReLU MLP, 8 features, vanilla gradient vs
20-step IG, μ = 0.5) of `pear_jax.train` against the reference PyTorch `pear-xai` 0.0.10, in the
same run on the same machine, and one California Housing epoch of each.

Fairness to the peer:
  * pear-xai's soft rank (`fast_soft_sort`) JIT-compiles its isotonic regression with numba when
    numba is installed. The peer runs from a side environment that has numba (`--peer_site`,
    default /tmp/pearxai_numba_site, installed there with `pip install --no-deps --target` when
    missing; numba's numpy is the one of this venv), and the peer reports whether its
    `isotonic_l2` really is a compiled numba dispatcher (`peer_numba`). The same peer without
    numba (`--peer_site_no_numba`, the plain wheel) is timed alongside for reference.
  * The peer is timed at 1 and 2 torch threads and its best is kept (`speedup_vs_peer_best`).
  * Rounds are interleaved: each round times a block of our λ = 0.5 and λ = 0 steps and a block
    of the peer's in every configuration (the order alternates between rounds); figures are
    medians over rounds of each block's median, so slow phases of a shared machine hit both.
  * The California epoch is measured for both: ours through the trainer's feeding loop (compile
    excluded), the peer's as one call of its own `Model.train_loop` over its own DataLoader
    (`pear.get_data("californiahousing", 64)`, the CSVs its wheel ships), numba already warm.

Utilisation: `flops_lam05` is XLA's cost analysis of our single-device λ = 0.5 step;
`flop_util_lam05` divides its achieved rate (median step time over rounds) by the best fp32
matmul rate measured anywhere in the run (a conservative figure); `flop_util_lam05_paired` is
the median over rounds of (rate / the peak measured right before that round's block), so both
see the same load. The last line is one JSON object; the load average is printed and recorded.

Where our λ = 0.5 step's time goes (jax.profiler trace of the compiled step, CPU thunks, and
its optimized HLO; 2-core box):
  * 205 of the 234 MFLOP are eight 25.6-MFLOP matmuls over IG's 1280 path rows (64 rows × 20
    nodes) through the two 100×100 layers: forward (2), the input-gradient backward (2) and
    its double backprop (2 activation cotangents + 2 weight gradients contracting the 1280
    rows). XLA's count has no redundant work beyond these.
  * The train step compiles with `jaxrun.small_matmul_compiler_options`: on CPU its dots are
    Eigen's, split over the intra-op pool, instead of XLA:CPU's default YNNPACK fusions, which
    run these shapes on one thread. Side by side in one process: 1.02-1.05 ms against 1.15-1.23
    ms with the second core free, 1.66 against 1.61 ms with it busy.
  * The rest, ~0.45 ms: ~20 small matmuls (the 64-row CE and vanilla-gradient passes, K=8 and
    N=2 products), ~200 small elementwise/reduction thunks (ReLU masks of the (1280,100)
    cotangents, IG path and quadrature, Pearson, AdamW on 4 layers), the soft rank's 15-step
    PAV loop (~40 µs) and dispatch.
  `matmul_shape_gflops` times a program of eight bare (1280,100)@(100,100) matmuls and nothing
  else, with the step's compiler options: the ceiling of a step made of that shape, ~0.7 of the
  square-matmul peak. `flop_util_vs_shape_lam05` is our step's rate over that ceiling (paired
  per round), i.e. how much the non-matmul work and the smaller matmuls cost.
  Tried without a usable gain: splitting IG's rows into 2 or 4 independent chains for the thunk
  executor to overlap (slower), scanning 8 steps per dispatch (~4%), pipelined dispatch (none),
  evaluating the vanilla gradient's 64 rows in IG's batch (2.6%) and one flat AdamW vector
  (`optax.flatten`, 1-4%), rewriting the K=2/N=2 head products (off the critical path).

The peer's numba: on these 8-feature rows pear-xai's step is the same with and without numba
(quiet run, best of 1 and 2 threads: 14.37 vs 14.64 ms; loaded: 19.0-19.6 vs 18.3-19.4 ms),
since each row's 8-value isotonic regression costs less than the per-row Python/torch work
around it; numba pays off on long rows (soft rank fwd+bwd of (64, 100): 2.8 vs 7.0 ms here).

The peers run as long-lived subprocesses (the wheel ships a patched captum that must not shadow
the real one) that take one JSON command per line on stdin; `np.int = int` is restored before
importing pear-xai.

Our step runs on one host CPU device by default (`--devices=N` forces N host devices and shards
the batch over them; 2 devices on 2 cores were slower than 1 because of the per-step gradient
all-reduce, so the default is 1).

  python bench/pear_train_step.py [--rounds=7] [--steps=100] [--peer_steps=20] [--devices=N]
"""

from __future__ import annotations

import os
import sys

_DEVICES = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--devices=")), None)
_N_DEV = int(_DEVICES) if _DEVICES else 1
if "jax" not in sys.modules and _N_DEV > 1:  # the flag must be set before jax initialises its backend
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={_N_DEV}").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from peak import chain_matmul_gflops, matmul_gflops  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jaxrun  # noqa: E402
from pear_jax import data as data_lib  # noqa: E402
from pear_jax import train  # noqa: E402
from pear_jax.config import base_config  # noqa: E402
from pear_jax.steps import make_train_step  # noqa: E402

PEER_THREADS = (1, 2)
PEAR_XAI = "pear-xai==0.0.10"
# Checked to import against this venv's numpy 2.4 (numba's only other dependency is llvmlite).
NUMBA = ("numba==0.68.1", "llvmlite==0.50.0")

# The peer server: one JSON command per stdin line, one JSON answer per stdout line.
PEER = r"""
import json, os, sys, time
import numpy as np
np.int = int  # the bundled fast_soft_sort still uses np.int
import torch
import pear
from pear.disagreement_loss import DisagreementLoss
from fast_soft_sort.third_party import isotonic
try:
    import numba
    from numba.core.registry import CPUDispatcher
    numba_version, jitted = numba.__version__, isinstance(isotonic.isotonic_l2, CPUDispatcher)
except ImportError:
    numba_version, jitted = None, False

x_all = torch.tensor(np.load(sys.argv[1]), dtype=torch.float32)
y_all = torch.tensor(np.load(sys.argv[2]), dtype=torch.long)
lr, wd, batch = float(sys.argv[3]), float(sys.argv[4]), 64
torch.manual_seed(0)
ce = torch.nn.CrossEntropyLoss()

def setup(x):
    model = pear.get_model({"name": "mlp", "width": 100, "depth": 3}, x.shape[1], 2)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    ea = pear.get_explainer("vanilla_gradients", model, x)
    eb = pear.get_explainer("integrated_gradients", model, x)
    return model, opt, DisagreementLoss(ea, eb, 0.5)

runs = {lam: setup(x_all) for lam in (0.0, 0.5)}
pos = {0.0: 0, 0.5: 0}

def block(lam, n, max_s=float("inf")):
    # Stops early (after 3 steps at least) once max_s has passed: a configuration that loses
    # badly on a loaded box (2 threads whose OpenMP barriers wait on a descheduled thread) would
    # otherwise take most of the run.
    model, opt, dl = runs[lam]
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        if i >= 3 and time.perf_counter() - t0 > max_s:
            break
        s = pos[lam]
        pos[lam] += 1
        idx = torch.arange(s * batch, (s + 1) * batch) % x_all.shape[0]
        inputs, targets = x_all[idx].clone(), y_all[idx]
        t = time.perf_counter()
        # The body of pear.models.Model.train_loop, verbatim in effect.
        opt.zero_grad()
        outputs = model(inputs)
        task = torch.tensor(0.0); dis = torch.tensor(0.0)
        if lam > 0.0:
            dis = dl(inputs, targets)
        if lam < 1.0:
            task = ce(outputs, targets)
        full = (1 - lam) * task + lam * dis
        full.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))

for lam in (0.0, 0.5):  # warm-up, numba's compile included
    block(lam, 5)
compiled = jitted and len(isotonic.isotonic_l2.signatures) > 0
print(json.dumps({"torch": torch.__version__, "numba": numba_version, "numba_jitted": compiled}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    torch.set_num_threads(cmd["threads"])
    if cmd["cmd"] == "steps":
        out = {"ms": block(cmd["lam"], cmd["n"], cmd["max_s"])}
    elif cmd["cmd"] == "epoch":
        loader, _, _ = pear.get_data("californiahousing", batch, data_path=cmd["data_path"])
        model, opt, dl = setup(torch.tensor(loader.dataset.data))
        t = time.perf_counter()
        model.train_loop(trainloader=loader, disagreement_lambda=cmd["lam"], optimizer=opt,
                         task_loss_fn=ce, disagreement_loss_fn=dl)
        out = {"seconds": time.perf_counter() - t, "batches": len(loader), "rows": len(loader.dataset)}
    else:
        raise ValueError(cmd)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out), flush=True)
"""


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def matmul_peak_gflops() -> dict:
    """Returns the best fp32 matmul rate over a few square sizes (one device, all its threads)."""
    per = {n: matmul_gflops(n, 15 if n < 1024 else 7, jax.devices()[0]) for n in (256, 512, 1024)}
    return {"best": max(per.values()), "by_size": per}


def shape_ceiling_gflops(mesh) -> float:
    """Returns the rate of eight chained (1280, 100) @ (100, 100) matmuls, the shape of 205 of the
    step's 234 MFLOP, compiled with the step's compiler options on one device."""
    return chain_matmul_gflops(1280, 100, 8, 25, jax.devices()[0], jaxrun.small_matmul_compiler_options(mesh))


def load_avg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def our_config(lam: float, data: data_lib.TabularData) -> "train.ml_collections.ConfigDict":
    cfg = base_config(data.name)
    cfg.lam = lam
    cfg.batch_size = 64
    cfg.ig_steps = 20
    cfg.mu = 0.5
    return cfg


def prepare_ours(data: data_lib.TabularData, mesh, lam: float) -> dict:
    """Compiles our step at `lam` and warms it up; `one()` then runs one step to completion."""
    run = train.build(our_config(lam, data), mesh, data)
    step = make_train_step(run.apply_fn, run.tx, run.settings, run.mesh)
    batches = []
    for s in range(8):
        rows = run.order.rows(s)
        batches.append((jaxrun.global_batch(run.mesh, data.x_train[rows]),
                        jaxrun.global_batch(run.mesh, data.y_train[rows])))
    args = (run.state, *batches[0], run.baseline)
    t = time.perf_counter()
    compiled = step.lower(*args).compile()
    compile_s = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan")))
    state = {"s": run.state, "i": 0}

    def one():
        x, y = batches[state["i"] % len(batches)]
        state["s"], m = compiled(state["s"], x, y, run.baseline)
        state["i"] += 1
        jax.block_until_ready(state["s"])

    for _ in range(10):
        one()
    return {"compile_s": compile_s, "flops": flops, "one": one}


def epoch_seconds(data: data_lib.TabularData, mesh, lam: float) -> dict:
    """Returns seconds for one epoch through the trainer's feeding loop (compile excluded), with
    its cap on steps in flight (more deadlock XLA's CPU all-reduce with several host devices)."""
    run = train.build(our_config(lam, data), mesh, data)
    step = make_train_step(run.apply_fn, run.tx, run.settings, run.mesh)
    st = run.state
    spe = run.order.steps_per_epoch

    def feed(s):
        rows = run.order.rows(s)
        return train._local_rows(run.mesh, data.x_train, rows), train._local_rows(run.mesh, data.y_train, rows)

    x, y = feed(0)
    t = time.perf_counter()
    st, m = step(st, x, y, run.baseline)
    jax.block_until_ready(st)
    first = time.perf_counter() - t
    t = time.perf_counter()
    pending = []
    for s in range(1, spe + 1):
        x, y = feed(s)
        st, m = step(st, x, y, run.baseline)
        pending.append(m)
        if len(pending) > train._MAX_INFLIGHT_STEPS:
            jax.block_until_ready(pending.pop(0))
    jax.block_until_ready(st)
    return {"seconds_per_epoch": time.perf_counter() - t, "steps_per_epoch": spe, "first_step_with_compile_s": first}


def ensure_peer(site: Path, with_numba: bool) -> None:
    """Installs pear-xai (and numba, when asked) into `site` with --no-deps unless already there."""
    need = [] if (site / "pear" / "__init__.py").exists() else [PEAR_XAI]
    if with_numba and not (site / "numba" / "__init__.py").exists():
        need += list(NUMBA)
    if need:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *need],
                       check=True)


class Peer:
    """A pear-xai server subprocess with `site` on its PYTHONPATH (warm after construction)."""

    def __init__(self, name: str, site: Path, x: Path, y: Path, lr: float, wd: float, log: Path):
        self.name, self.site, self.log = name, site, log
        env = dict(os.environ, PYTHONPATH=str(site))
        env.pop("XLA_FLAGS", None)
        self.err = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-c", PEER, str(x), str(y), str(lr), str(wd)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"pear-xai peer {self.name} failed:\n{self.log.read_text()[-3000:]}")
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.err.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds of ours and the peers'")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per block and λ (ours)")
    ap.add_argument("--peer_steps", type=int, default=20, help="timed steps per block at λ=0.5 (peer; 3× that at λ=0)")
    ap.add_argument("--peer_block_s", type=float, default=3.0,
                    help="a peer block stops after this many seconds (3 steps at least)")
    ap.add_argument("--epoch_rounds", type=int, default=3, help="California epochs timed for each side (interleaved)")
    ap.add_argument("--devices", type=int, default=_N_DEV, help="host CPU devices for our step (mesh data axis)")
    ap.add_argument("--peer_site", default="/tmp/pearxai_numba_site", help="pear-xai + numba side environment")
    ap.add_argument("--peer_site_no_numba", default="/tmp/pearxai_site",
                    help="pear-xai without numba, timed for reference ('' skips it)")
    ap.add_argument("--cache_dir", default=None, help="pear-xai CSV cache (default: the project cache folder)")
    args = ap.parse_args()

    load_start = load_avg()
    elec = data_lib.load("electricity", cache_dir=args.cache_dir)
    mesh = jaxrun.make_mesh(data=args.devices, devices=jax.devices()[: args.devices])
    print(f"jax {jax.__version__}, {len(jax.devices())} host devices, mesh data={args.devices}; "
          f"Electricity {elec.x_train.shape}; load average {load_start} on {os.cpu_count()} CPUs", flush=True)

    ours = {lam: prepare_ours(elec, mesh, lam) for lam in (0.5, 0.0)}
    for lam, r in ours.items():
        print(f"ours  λ={lam:g}: compile {r['compile_s']:.2f} s, XLA flops/step {r['flops'] / 1e6:.1f} M", flush=True)
    # FLOPs of the whole step from a single-device compile: a sharded program's cost analysis
    # counts one device's share.
    flops = (ours[0.5] if args.devices == 1 else
             prepare_ours(elec, jaxrun.make_mesh(data=1, devices=jax.devices()[:1]), 0.5))["flops"]

    cfg = base_config(elec.name)
    tmp = Path(tempfile.mkdtemp(prefix="pear_bench_"))
    np.save(tmp / "x.npy", elec.x_train.astype(np.float32))
    np.save(tmp / "y.npy", elec.y_train.astype(np.int64))
    sites = {"numba": (Path(args.peer_site), True)}
    if args.peer_site_no_numba:
        sites["no_numba"] = (Path(args.peer_site_no_numba), False)
    peers = {}
    for name, (site, with_numba) in sites.items():
        ensure_peer(site, with_numba)
        peers[name] = Peer(name, site, tmp / "x.npy", tmp / "y.npy", cfg.optim.learning_rate,
                           cfg.optim.weight_decay, tmp / f"peer_{name}.log")
        print(f"peer  {name}: pear-xai from {site}, torch {peers[name].info['torch']}, numba "
              f"{peers[name].info['numba']}, soft rank numba-jitted: {peers[name].info['numba_jitted']}", flush=True)
    if not peers["numba"].info["numba_jitted"]:
        print(f"WARNING: the peer in {args.peer_site} runs its soft rank without numba", flush=True)

    # Interleaved rounds. Keys: ("ours", lam) and (peer, threads, lam); values: block medians (ms).
    blocks: dict[tuple, list[float]] = {}
    peaks, paired, shapes, vs_shape = [], [], [], []

    def ours_block():
        peak = matmul_peak_gflops()["best"]
        shape = shape_ceiling_gflops(mesh)
        for lam in (0.5, 0.0):
            blocks.setdefault(("ours", lam), []).append(median_ms(ours[lam]["one"], args.steps))
        peaks.append(peak)
        shapes.append(shape)
        rate = flops / (blocks[("ours", 0.5)][-1] * 1e-3) / 1e9
        paired.append(rate / peak)
        vs_shape.append(rate / shape)

    def peer_blocks():
        for name, peer in peers.items():
            for threads in PEER_THREADS:
                for lam, n in ((0.5, args.peer_steps), (0.0, 3 * args.peer_steps)):
                    blocks.setdefault((name, threads, lam), []).append(peer.ask(
                        cmd="steps", lam=lam, n=n, threads=threads, max_s=args.peer_block_s)["ms"])

    for r in range(args.rounds):
        for part in ((ours_block, peer_blocks) if r % 2 == 0 else (peer_blocks, ours_block)):
            part()
        print(f"round {r + 1}/{args.rounds}: ours λ=0.5 {blocks[('ours', 0.5)][-1]:.3f} ms (peak "
              f"{peaks[-1]:.0f} GFLOP/s), " + ", ".join(
                  f"{k[0]}/{k[1]}t {v[-1]:.1f}" for k, v in blocks.items() if k[0] != "ours" and k[2] == 0.5)
              + f" ms; load {load_avg()}", flush=True)
    med = {k: float(np.median(v)) for k, v in blocks.items()}
    ours_ms = {lam: med[("ours", lam)] for lam in (0.0, 0.5)}

    def best(name: str) -> dict:
        threads = min(PEER_THREADS, key=lambda t: med[(name, t, 0.5)])
        return {"threads": threads, "ms_lam05": med[(name, threads, 0.5)],
                "ms_lam0": min(med[(name, t, 0.0)] for t in PEER_THREADS)}

    peer = best("numba")
    for name in peers:
        for threads in PEER_THREADS:
            print(f"peer  pear-xai {name}, {threads} torch thread(s): λ=0.5 {med[(name, threads, 0.5)]:.2f}, "
                  f"λ=0 {med[(name, threads, 0.0)]:.3f} ms/step (median over {args.rounds} rounds)", flush=True)
    peak_best = max(peaks)
    rate = flops / (ours_ms[0.5] * 1e-3) / 1e9
    util = rate / peak_best
    util_paired = float(np.median(paired))
    speedup = peer["ms_lam05"] / ours_ms[0.5]
    print(f"ours  λ=0.5 {ours_ms[0.5]:.3f} ms/step, λ=0 {ours_ms[0.0]:.3f} ms/step (medians over {args.rounds} "
          f"rounds of {args.steps} steps)", flush=True)
    print(f"λ=0.5: {speedup:.1f}× pear-xai with numba at its best ({peer['threads']} thread(s), "
          f"{peer['ms_lam05']:.2f} ms); λ=0: {peer['ms_lam0'] / ours_ms[0.0]:.1f}×", flush=True)
    no_numba = best("no_numba") if "no_numba" in peers else None
    if no_numba:
        print(f"λ=0.5: {no_numba['ms_lam05'] / ours_ms[0.5]:.1f}× pear-xai without numba at its best "
              f"({no_numba['threads']} thread(s), {no_numba['ms_lam05']:.2f} ms)", flush=True)
    print(f"λ=0.5: {rate:.1f} GFLOP/s = {100 * util:.1f}% of the best matmul peak of the run ({peak_best:.1f} "
          f"GFLOP/s); paired with each round's peak: median {100 * util_paired:.1f}% (rounds: "
          + ", ".join(f"{100 * u:.0f}%" for u in paired) + f"; median peak {np.median(peaks):.1f})", flush=True)
    print(f"λ=0.5: {100 * float(np.median(vs_shape)):.1f}% of the rate of eight bare (1280,100)@(100,100) matmuls "
          f"in one program (median {np.median(shapes):.1f} GFLOP/s, {100 * np.median(shapes) / peak_best:.0f}% of "
          f"the best peak): the ceiling of a step made of that shape", flush=True)

    epoch_ours, epoch_peer = [], []
    try:
        cal = data_lib.load("california_housing", cache_dir=args.cache_dir)
    except data_lib.DataError as e:
        cal = None
        print(f"California Housing unavailable, epoch timing skipped: {e}", flush=True)
    peer_epoch = {}
    if cal is not None:
        data_path = str(Path(args.peer_site) / "pear" / "datasets")
        for r in range(args.epoch_rounds):
            for side in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
                if side == "ours":
                    ep = epoch_seconds(cal, mesh, 0.5)
                    epoch_ours.append(ep["seconds_per_epoch"])
                else:
                    peer_epoch = peers["numba"].ask(cmd="epoch", lam=0.5, threads=peer["threads"], data_path=data_path)
                    epoch_peer.append(peer_epoch["seconds"])
        print(f"California Housing, λ=0.5, one epoch each (median of {args.epoch_rounds}): ours "
              f"{np.median(epoch_ours):.2f} s ({ep['steps_per_epoch']} steps of 64, the last partial batch dropped; "
              f"compile excluded, first step incl. compile {ep['first_step_with_compile_s']:.2f} s); pear-xai with "
              f"numba {np.median(epoch_peer):.2f} s ({peer_epoch['batches']} batches over {peer_epoch['rows']} rows, "
              f"its train_loop, {peer['threads']} thread(s)) -> {np.median(epoch_peer) / np.median(epoch_ours):.1f}×",
              flush=True)
    for p in peers.values():
        p.close()
    shutil.rmtree(tmp, ignore_errors=True)
    load_end = load_avg()
    print(f"load average at the end {load_end} on {os.cpu_count()} CPUs (the machine was shared)", flush=True)

    print(json.dumps({
        "ours_ms_lam0": round(ours_ms[0.0], 4),
        "ours_ms_lam05": round(ours_ms[0.5], 4),
        "peer_ms_lam05": round(peer["ms_lam05"], 3),
        "speedup_lam05": round(speedup, 2),
        "speedup_vs_peer_best": round(speedup, 2),
        "flop_util_lam05": round(util, 3),
        "peer_ms_lam0": round(peer["ms_lam0"], 3),
        "peer_numba": bool(peers["numba"].info["numba_jitted"]),
        "peer_ms_lam05_no_numba": round(no_numba["ms_lam05"], 3) if no_numba else None,
        "speedup_vs_peer_no_numba": round(no_numba["ms_lam05"] / ours_ms[0.5], 2) if no_numba else None,
        "flop_util_lam05_paired": round(util_paired, 3),
        "matmul_peak_gflops_paired": round(float(np.median(peaks)), 1),
        "flops_lam05": flops,
        "matmul_peak_gflops": round(peak_best, 1),
        "matmul_shape_gflops": round(float(np.median(shapes)), 1),
        "flop_util_vs_shape_lam05": round(float(np.median(vs_shape)), 3),
        "compile_s_lam05": round(ours[0.5]["compile_s"], 2),
        "compile_s_lam0": round(ours[0.0]["compile_s"], 2),
        "california_seconds_per_epoch": round(float(np.median(epoch_ours)), 3) if epoch_ours else None,
        "california_epoch_s_ours": round(float(np.median(epoch_ours)), 3) if epoch_ours else None,
        "california_epoch_s_peer": round(float(np.median(epoch_peer)), 3) if epoch_peer else None,
        "rounds": args.rounds,
        "devices": args.devices,
        "peer_threads": peer["threads"],
        "load_avg_start": load_start,
        "load_avg_end": load_end,
    }))


if __name__ == "__main__":
    main()
