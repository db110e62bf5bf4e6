"""Serve the explorer (bcc.explorer) with Voila, drive it in headless Chromium through chromedriver, and check what a user sees.

    python .ci/explorer_check.py [--run RUN_DIR] [--shot PNG] [--timeout 240]

Starts Voila on 127.0.0.1 (a free port, a fresh token, no browser) on a one-cell notebook that shows
`Explorer.from_run(RUN_DIR)`; without --run it first trains and evaluates a tiny run (synthetic data, 32 px,
weights='none', 1 epoch) in a temporary folder. In the browser it picks a patient and an image in the dropdowns
and checks that the info line shows a probability and that the picture widget holds a PNG with the image, mask
(red outline), crop and Grad-CAM panels. Saves a small screenshot to --shot. Voila (with its kernel) and the
browser are stopped in any case. Prints one line per problem and the seconds taken; exit 1 if any problem.
"""
import argparse, base64, io, json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT/'.ci')]   # this checkout's bcc, and browser_check beside this file
from browser_check import FLAGS, browser

DRIVERS = ('chromedriver', '/usr/lib/chromium/chromedriver')


def tiny_run(work:Path)->Path:
    "Train and evaluate the smallest run the explorer can show (synthetic data, 32 px, 1 epoch)."
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import bcc.core
    from bcc.core import Config
    from bcc.train import train
    from bcc.evaluate import evaluate_run
    run = train(Config(work_dir=str(work), image_size=32, epochs=1, warmup_epochs=1, batch_size=8, weights='none', run_name='tiny'))
    evaluate_run(run, n_bootstrap=20)
    return Path(run)


def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def app_notebook(folder:Path, run:Path)->Path:
    "A one-cell notebook that shows the explorer of `run` (what a user types in Jupyter)."
    src = f"from bcc.explorer import Explorer\nExplorer.from_run({str(run)!r}, height=160)"
    nb = dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
              cells=[dict(cell_type='code', id='explorer', metadata={}, execution_count=None, outputs=[], source=src)])
    p = folder/'explorer.ipynb'; p.write_text(json.dumps(nb)); return p


def start_voila(nb:Path, port:int, token:str, log)->subprocess.Popen:
    "Voila on 127.0.0.1:`port` with `token`, in its own process group; the kernel imports this checkout's bcc."
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])),
               TF_CPP_MIN_LOG_LEVEL='2', JUPYTER_PLATFORM_DIRS='1')
    cmd = [sys.executable, '-m', 'voila', str(nb), '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1', f'--token={token}',
           '--VoilaExecutor.timeout=180']
    return subprocess.Popen(cmd, cwd=nb.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc:subprocess.Popen):
    "Stop Voila and its kernel (the process group it leads): SIGTERM, then SIGKILL after 10 s."
    if proc.poll() is not None: return
    try:
        os.killpg(proc.pid, signal.SIGTERM); proc.wait(10)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)
    except ProcessLookupError: pass


def wait_port(port:int, proc:subprocess.Popen, timeout:float):
    "Wait until Voila listens on 127.0.0.1:`port` (a GET of the page would already start a kernel)."
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f'voila exited with code {proc.returncode} before serving')
        try: socket.create_connection(('127.0.0.1', port), timeout=2).close(); return
        except OSError: time.sleep(0.5)
    raise RuntimeError(f'voila did not listen within {timeout:.0f}s')


def driver():
    "Headless Chromium through chromedriver (Debian's chromium-driver): no browser or driver download."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    exe, drv = browser(), next((p for p in map(shutil.which, DRIVERS) if p), None)
    if not exe: raise RuntimeError('no Chromium or Chrome found (apt-get install chromium, or set CHROME_PATH)')
    if not drv: raise RuntimeError('no chromedriver found (apt-get install chromium-driver)')
    opts = webdriver.ChromeOptions(); opts.binary_location = exe
    for f in FLAGS + ['--window-size=1100,760']: opts.add_argument(f)
    return webdriver.Chrome(service=Service(drv), options=opts)


JS_IMAGE = """const [img, done] = arguments;
fetch(img.src).then(r => r.blob()).then(b => { const f = new FileReader(); f.onload = () => done(f.result); f.readAsDataURL(b); })
  .catch(e => done('error: ' + e));"""


def picture(d, img)->bytes:
    "The bytes of what an <img> shows (ipywidgets gives it a blob: URL)."
    url = d.execute_async_script(JS_IMAGE, img)
    if not url.startswith('data:'): raise RuntimeError(f'picture widget: {url}')
    return base64.b64decode(url.split(',', 1)[1])


def rgb(png:bytes)->np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert('RGB')).astype(int)


def panel_spans(a:np.ndarray)->list[tuple[int, int]]:
    "Column spans of the panels of a figure (RGB array): runs of columns with non-white pixels in the picture band."
    band = a[a.shape[0] // 3: 9 * a.shape[0] // 10]
    cols = (band.min(-1) < 235).any(0)
    edges = np.flatnonzero(np.diff(np.r_[0, cols.astype(int), 0]))
    return [(b, e) for b, e in zip(edges[::2], edges[1::2]) if e - b >= 10]


def panels_seen(png:bytes)->list[str]:
    "Problems with the explorer's picture: too small, no grey mammogram, no red mask outline, no Grad-CAM panel."
    if len(png) < 5000: return [f'picture widget: only {len(png)} bytes of PNG']
    a = rgb(png)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    grey = (abs(r - g) < 8) & (abs(g - b) < 8) & (r > 30) & (r < 230)
    red = (r > 180) & (g < 80) & (b < 80)
    spans, out = panel_spans(a), []
    if grey.mean() < 0.02: out.append('picture widget: no mammogram panel (no grey pixels)')
    if red.sum() < 20: out.append('picture widget: no mask panel (no red outline)')
    # image, masks, [crops], Grad-CAM: the Grad-CAM overlay is the mammogram's size, so the last panel is as wide as the first
    if len(spans) < 3: out.append(f'picture widget: {len(spans)} panels, expected image, masks and Grad-CAM')
    elif abs((spans[-1][1] - spans[-1][0]) - (spans[0][1] - spans[0][0])) > 3:
        out.append(f'picture widget: the last panel is not a Grad-CAM overlay of the image (panel columns {spans})')
    return out


def shrink(src:Path, dst:Path, width:int=800):
    "Save the screenshot cut to its content, `width` pixels wide, in 256 colours (well under 150 KB)."
    from PIL import Image
    im = Image.open(src).convert('RGB')
    rows = np.flatnonzero((np.asarray(im).min(-1) < 235).any(1))
    if len(rows): im = im.crop((0, 0, im.width, min(im.height, int(rows[-1]) + 12)))
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.quantize(256).save(dst, optimize=True)


def drive(base:str, token:str, shot:Path|None, timeout:float)->list[str]:
    "Open the app, choose a patient and an image, check the info line and the picture; problems found."
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import Select, WebDriverWait
    d = driver()
    try:
        d.set_script_timeout(30)
        d.get(f'{base}/?token={token}')
        def until(what, cond):
            try: WebDriverWait(d, timeout, poll_frequency=0.5).until(cond)
            except TimeoutException: raise RuntimeError(f'no {what} within {timeout:.0f}s') from None
        info = lambda: ' '.join(e.text for e in d.find_elements(By.CSS_SELECTOR, '.widget-html'))
        dropdown = lambda name: Select(d.find_element(
            By.XPATH, f"//div[contains(@class,'widget-dropdown')][label[normalize-space()='{name}']]//select"))
        until('explorer (info line and picture widget)', lambda d: 'probability' in info() and d.find_elements(By.CSS_SELECTOR, 'img.widget-image'))
        labels = {e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, '.widget-dropdown label')}
        if missing := {'split', 'patient', 'breast', 'image'} - labels: return [f'dropdowns missing: {sorted(missing)}']
        pats = [o.text for o in dropdown('patient').options]
        pick = pats[-1]
        dropdown('patient').select_by_visible_text(pick)
        until(f'answer to choosing patient {pick}', lambda d: f'patient {pick},' in info())
        choice = dropdown('image').options[-1].text
        dropdown('image').select_by_visible_text(choice)
        until(f'answer to choosing image {choice}', lambda d: choice.split()[-1] in info())
        time.sleep(1)   # the picture follows the info line in the same update
        text, problems = info(), []
        if not re.search(r'probability [01]\.\d{3}', text): problems.append(f'info line shows no probability: {text[:120]!r}')
        png = picture(d, d.find_element(By.CSS_SELECTOR, 'img.widget-image'))
        problems += panels_seen(png)
        if shot:
            with tempfile.TemporaryDirectory() as t:
                raw = Path(t)/'raw.png'; d.save_screenshot(str(raw)); shrink(raw, shot)
        print(f'explorer check: {len(pats)} patients, chose {pick} / {choice}; {text[:110]}')
        print(f'explorer check: picture {len(png)} bytes, {len(panel_spans(rgb(png)))} panels')
        return problems
    finally: d.quit()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', default=None, help='an evaluated run folder (default: train a tiny one in a temporary folder)')
    ap.add_argument('--shot', default=None, help='save a small screenshot PNG here')
    ap.add_argument('--timeout', type=float, default=240, help='seconds to wait for the app to show and to answer')
    a = ap.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = Path(a.run).resolve() if a.run else tiny_run(tmp/'work')
        t1 = time.time()
        port, token = free_port(), secrets.token_hex(16)
        with open(tmp/'voila.log', 'wb') as log:
            proc = start_voila(app_notebook(tmp, run), port, token, log)
            try:
                wait_port(port, proc, 60)
                problems = drive(f'http://127.0.0.1:{port}', token, Path(a.shot).resolve() if a.shot else None, a.timeout)
            except Exception as e: problems = [f'{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ""}']
            finally: stop(proc)
        if problems: print((tmp/'voila.log').read_text(errors='replace')[-2000:])
    for p in problems: print(p)
    print(f'explorer check: {len(problems)} problems; {time.time() - t0:.0f}s '
          f'({t1 - t0:.0f}s making the run, {time.time() - t1:.0f}s serving and driving)')
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
