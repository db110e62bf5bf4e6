"""The GPU figures issue 20 asks for, in one command of under 5 minutes on one GPU:

1. VGG16 training-step throughput (images/s, fine-tuning phase, `bcc.model.bench_train`) at 224 and 512 px, with
   mixed precision + XLA off and on, at batch sizes doubled from a start until the next doubling would pass 70% of
   the GPU's memory (measured peak), or an out-of-memory error, or the time budget;
2. the bit-identical resume test in deterministic mode: a run of two fine-tuning epochs straight through, the same
   run cut after its first epoch and resumed, and a second straight run end with the same weights bit for bit
   (as `nbs/04a_training_runs.ipynb` tests on a CPU), with the run's default speed settings ('auto': mixed
   precision and XLA on with a GPU).

    python .ci/gpu_check.py                 # on the GPU machine; prints its figures, --out FILE also writes them as JSON
    python .ci/gpu_check.py --smoke         # tiny sizes, on a CPU: checks that the script runs, measures nothing
"""
import argparse, gc, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bcc.core import Config, quiet_tensorflow
quiet_tensorflow()
import numpy as np
import keras
import tensorflow as tf
from bcc.model import bench_train
from bcc.cache import prepare_data
from bcc.train import train

SIZES = {False: [(224, 32, 512), (512, 8, 128)], True: [(32, 2, 4), (48, 2, 4)]}   # (pixels, first batch, largest batch)


def gpu_memory_mb():
    "Total memory of GPU 0 in MiB (nvidia-smi), or None without one."
    if not tf.config.list_physical_devices('GPU'): return None
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], capture_output=True, text=True, timeout=30).stdout
        return float(out.splitlines()[0].rsplit(',', 1)[1])
    except Exception: return None


def peak_mb():
    "Peak GPU memory since the last reset, in MiB (None on a CPU)."
    try: return tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**20
    except Exception: return None


def throughput(smoke:bool, budget:float, steps:int)->list:
    "images/s of a training step per (size, speed, batch), batches doubled while the measured memory allows."
    total, rows = gpu_memory_mb(), []
    sizes = SIZES[smoke]
    for px, b0, bmax in sizes:
        for speed in ('off', 'on'):
            b, end = b0, time.time() + budget / (2 * len(sizes))     # each (size, speed) its share; its first batch always runs
            while b <= bmax:
                if b > b0 and time.time() > end:
                    print(f"  {px}px {speed}: batch {b} and up skipped (time budget)"); rows.append(dict(image_size=px, speed=speed, batch_size=b, skipped='time')); break
                try: tf.config.experimental.reset_memory_stats('GPU:0')
                except Exception: pass
                try: r = bench_train(image_size=px, batch_size=b, steps=steps, mixed_precision=speed, xla=speed)
                except tf.errors.ResourceExhaustedError:
                    print(f"  {px}px {speed}: batch {b} out of memory"); rows.append(dict(image_size=px, speed=speed, batch_size=b, skipped='OOM')); break
                finally: keras.backend.clear_session(); gc.collect()
                r.update(speed=speed, peak_mb=peak_mb(), gpu_mb=total); rows.append(r)
                if total and r['peak_mb'] and 2 * r['peak_mb'] > 0.7 * total: break      # the next doubling would not fit
                b *= 2
    return rows


class PowerCut(keras.callbacks.Callback):
    "Stop a run with an error after epoch `after`, as a lost machine would."
    def __init__(self, after:int): self.after = after
    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after: raise RuntimeError(f'power cut after epoch {epoch}')


def resume_test(smoke:bool)->dict:
    "Straight, cut-and-resumed and repeated deterministic runs: same weights bit for bit?"
    work = Path(tempfile.mkdtemp(prefix='bcc_gpu_check_'))
    cfg = Config(work_dir=str(work), image_size=32 if smoke else 64, batch_size=4 if smoke else 16, weights='none', epochs=2,
                 warmup_epochs=0, finetune_blocks=2, lr_finetune=1e-4, deterministic=True)
    prepare_data(cfg)
    runs, t0 = {}, time.time()
    for name, cut in [('straight', None), ('cut', 0), ('again', None)]:
        c = cfg.update(run_name=f'det_{name}')
        if cut is not None:
            try: train(c, callbacks=[PowerCut(cut)])
            except RuntimeError as e: assert 'power cut' in str(e), e
        runs[name] = train(c)
    w = {k: keras.models.load_model(r/'last.keras').get_weights() for k, r in runs.items()}
    same = {k: all(np.array_equal(a, b) for a, b in zip(w['straight'], w[k])) for k in ('cut', 'again')}
    diff = {k: max(float(np.abs(a - b).max()) for a, b in zip(w['straight'], w[k])) for k in ('cut', 'again')}
    info = json.loads((runs['straight']/'run.json').read_text())
    shutil.rmtree(work, ignore_errors=True)
    return dict(image_size=cfg.image_size, batch_size=cfg.batch_size, policy=info['policy'], jit_compile=info['jit_compile'],
                bit_identical_resumed=same['cut'], bit_identical_repeated=same['again'], max_abs_diff=diff, seconds=round(time.time() - t0, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--smoke', action='store_true', help='tiny sizes, for a CPU: checks the script, measures nothing')
    ap.add_argument('--budget', type=float, default=120, help='seconds for the throughput part (the resume test comes after)')
    ap.add_argument('--steps', type=int, default=10, help='timed training steps per configuration')
    ap.add_argument('--out', help='also write the figures to this JSON file')
    a = ap.parse_args()
    t0 = time.time()
    gpus = tf.config.list_physical_devices('GPU')
    if not gpus and not a.smoke: sys.exit('gpu_check.py: no GPU found; use --smoke to check the script on a CPU')
    env = dict(gpu=subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True).stdout.strip() if gpus else 'none',
               tensorflow=tf.__version__, keras=keras.__version__, python=platform.python_version(), cpus=os.cpu_count(), load=os.getloadavg()[0])
    print('==', json.dumps(env))
    print('== training-step throughput (VGG16, fine-tuning phase, random images)')
    rows = throughput(a.smoke, a.budget, 2 if a.smoke else a.steps)
    print('== bit-identical resume, deterministic=True')
    try: res = resume_test(a.smoke)
    except Exception as e:   # e.g. an op without a deterministic GPU kernel: report it beside the throughput figures
        res = dict(error=f"{type(e).__name__}: {e}"[:500], bit_identical_resumed=False, bit_identical_repeated=False)
    print(f"\n== figures ({time.time() - t0:.0f} s in all)")
    print(f"{'px':>4} {'speed':>5} {'batch':>5} {'images/s':>9} {'peak MiB':>9}")
    for r in rows:
        figure = r.get('skipped') or r['images_per_s']
        peak = f"{r['peak_mb']:.0f}" if r.get('peak_mb') else '-'
        print(f"{r['image_size']:>4} {r['speed']:>5} {r['batch_size']:>5} {figure:>9} {peak:>9}")
    print('resume:', json.dumps(res))
    if a.out: Path(a.out).write_text(json.dumps(dict(env=env, throughput=rows, resume=res, seconds=round(time.time() - t0)), indent=1))
    ok = res['bit_identical_resumed'] and res['bit_identical_repeated']
    print('RESULT', 'bit-identical' if ok else 'NOT bit-identical')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
