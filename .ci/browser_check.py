"""Open the rendered docs in headless Chromium (Debian's package) and check what a reader would see.

    python .ci/browser_check.py SITE_DIR [--shots DIR] [--pages index 05_evaluation]

Serves SITE_DIR on 127.0.0.1, loads every page, and fails when a page is empty, when a notebook that exports code
has no API reference on its page, or when a notebook with figures shows none (an <img> whose file is missing or
empty counts as missing). Screenshots the pages named by --pages. Prints one line per problem; exit 1 if any.
"""
import argparse, functools, http.server, json, os, re, shutil, subprocess, sys, tempfile, threading
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars']


def serve(site):
    "Serve `site` on a free loopback port in a background thread; return the base URL."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f'http://127.0.0.1:{srv.server_address[1]}'


BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome')


def browser():
    "Path of a headless-capable Chromium or Chrome: $CHROME_PATH, else the usual names (Debian's chromium, GitHub runners' google-chrome)."
    env = os.environ.get('CHROME_PATH')
    if env and Path(env).exists(): return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def chromium(*args, timeout=60):
    exe = browser()
    if not exe: raise SystemExit('browser check: no Chromium or Chrome found (apt-get install chromium, or set CHROME_PATH)')
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([exe, *FLAGS, f'--user-data-dir={prof}', *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout


def visible_text(html):
    body = re.sub(r'(?s)<(script|style|nav|header|footer)\b.*?</\1>', ' ', html)
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', body)).strip()


def nb_facts(nb_path):
    "Does the notebook export code, and does it have image outputs?"
    nb = json.loads(nb_path.read_text())
    src = ''.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    figs = any('image/png' in o.get('data', {}) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))
    return '#| default_exp' in src, figs


def check_page(base, site, nb_path, shots, shoot):
    "Problems seen on the page of one notebook."
    name, problems = nb_path.stem, []
    url = f'{base}/{name}.html'
    dom = chromium('--dump-dom', '--virtual-time-budget=3000', url)
    text = visible_text(dom)
    if len(text) < 200: problems.append(f'{name}.html: page is empty ({len(text)} characters of text)')
    exports, figs = nb_facts(nb_path)
    if exports and not re.search(r'<h[234][^>]*class="[^"]*anchored[^"]*"[^>]*>\s*\w', dom) or exports and 'doc' not in dom:
        problems.append(f'{name}.html: API reference missing')
    imgs = [s for s in re.findall(r'<img[^>]+src="([^"]+)"', dom) if not s.startswith('http')]
    if figs:
        ok = 0
        for s in imgs:
            try:
                data = s.startswith('data:image') or len(urlopen(f'{base}/{s.lstrip("./")}', timeout=10).read()) > 100
                ok += bool(data)
            except Exception: pass
        if not ok: problems.append(f'{name}.html: the notebook has figures but the page shows none')
    if shoot:
        png = shots/f'{name}.png'
        chromium(f'--screenshot={png}', '--window-size=1280,1600', '--virtual-time-budget=3000', url)
        if not png.exists() or png.stat().st_size < 5000: problems.append(f'{name}.html: screenshot failed or blank')
        else: problems += blank_check(png, name)
    return problems


def blank_check(png, name):
    "A screenshot that is one flat colour shows nothing."
    try:
        import numpy as np
        from PIL import Image
        a = np.asarray(Image.open(png).convert('L'), dtype=float)
        return [f'{name}.html: screenshot is blank'] if a.std() < 2 else []
    except ImportError: return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('site', help='rendered site folder (e.g. _proc/_docs)')
    ap.add_argument('--shots', default=None, help='folder for screenshots (default SITE/../screenshots)')
    ap.add_argument('--pages', nargs='*', default=['index', '05_evaluation'], help='pages to screenshot')
    a = ap.parse_args()
    site = Path(a.site).resolve(); shots = Path(a.shots or site.parent/'screenshots'); shots.mkdir(exist_ok=True)
    base = serve(site)
    nbs = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    problems = []
    for stem in a.pages:
        if not (ROOT/'nbs'/f'{stem}.ipynb').exists(): problems.append(f'{stem}: no such notebook to screenshot')
    for nb in nbs:
        problems += check_page(base, site, nb, shots, nb.stem in a.pages)
    for p in problems: print(p)
    print(f'browser check: {len(nbs)} pages, {len(problems)} problems; screenshots in {shots}')
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
