#!/usr/bin/env python3
"""The layering rule of docs/architecture.md, checked: every include of ours in core/, server/
and tests/unit/ points only at a folder the table allows. Reads the table from the page itself,
so the page and the check cannot disagree, and checks that each core/<folder>/README.md states
the same row. Prints one line per broken rule, naming the file, the line, the include and the
rule; exits 1 if there is any.

    tests/structure/check_layers.py [--root DIR] [--table FILE]

--root is the tree to check (default: the repository); --table the page holding the table
(default: docs/architecture.md of the repository)."""
import argparse
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
TEST_HARNESS = 'test.h'


def read_table(path):
    """{folder: set of folders it may include} from the '| folder | may include |' table."""
    allowed, in_table = {}, False
    for line in open(path, encoding='utf-8'):
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('| folder | may include |'):
            in_table = True
        elif in_table and line.startswith('|') and len(cells) == 2:
            if set(cells[0]) <= set('-'):
                continue
            allowed[cells[0]] = {w.strip() for w in cells[1].split(',') if w.strip()}
        elif in_table:
            break
    if not allowed:
        sys.exit(f'{path}: no "| folder | may include |" table')
    return allowed


def rule(folder, allowed):
    may = ', '.join(sorted(allowed[folder], key=list(allowed).index)) or 'nothing of ours'
    return f'{folder} may include {may} (docs/architecture.md)'


def sources(directory):
    for name in sorted(os.listdir(directory)):
        if name.endswith(('.c', '.h')):
            yield os.path.join(directory, name)


def check_file(path, folder, allowed, root, problems, own_headers=(), harness=False):
    """One file of layer `folder`: its includes of ours must be folder-qualified and allowed."""
    rel = os.path.relpath(path, root)
    for number, line in enumerate(open(path, encoding='utf-8', errors='replace'), 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        target = m.group(1)
        if '/' not in target:
            if target in own_headers or (harness and target == TEST_HARNESS):
                continue
            problems.append(f'{rel}:{number}: includes "{target}" without its folder: write '
                            f'"<folder>/{target}" so the line shows the layer it reaches')
            continue
        layer = target.split('/')[0]
        if layer not in allowed:
            problems.append(f'{rel}:{number}: includes "{target}": {layer}/ is not a folder of '
                            f'core/ in the table')
        elif layer != folder and layer not in allowed[folder]:
            problems.append(f'{rel}:{number}: includes "{target}": {rule(folder, allowed)}')


def check_readme(root, folder, allowed, problems):
    path = os.path.join(root, 'core', folder, 'README.md')
    if not os.path.exists(path):
        problems.append(f'core/{folder}: no README.md saying what the folder owns and may include')
        return
    stated = None
    for line in open(path, encoding='utf-8'):
        if line.startswith('May include:'):
            stated = line[len('May include:'):].split('(')[0].strip().rstrip('.')
    want = ', '.join(sorted(allowed[folder], key=list(allowed).index)) or 'nothing of ours'
    words = {w.strip() for w in (stated or '').split(',')} - {'nothing of ours', ''}
    if stated is None or words != allowed[folder]:
        problems.append(f'core/{folder}/README.md: says "May include: {stated}", the table says '
                        f'"{want}"')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=REPO)
    parser.add_argument('--table', default=os.path.join(REPO, 'docs', 'architecture.md'))
    args = parser.parse_args()
    allowed = read_table(args.table)
    problems = []
    core = os.path.join(args.root, 'core')
    for folder in sorted(os.listdir(core)):
        directory = os.path.join(core, folder)
        if not os.path.isdir(directory):
            problems.append(f'core/{folder}: a file outside the folders of core/')
            continue
        if folder not in allowed:
            problems.append(f'core/{folder}: a folder the table does not list; a new layer is a '
                            f'decision written in docs/architecture.md')
            continue
        check_readme(args.root, folder, allowed, problems)
        for path in sources(directory):
            check_file(path, folder, allowed, args.root, problems)
    server = os.path.join(args.root, 'server')
    server_headers = {n for n in os.listdir(server) if n.endswith('.h')}
    for path in sources(server):
        check_file(path, 'server', allowed, args.root, problems, own_headers=server_headers)
    units = os.path.join(args.root, 'tests', 'unit')
    for folder in sorted(os.listdir(units)) if os.path.isdir(units) else []:
        directory = os.path.join(units, folder)
        if not os.path.isdir(directory):
            problems.append(f'tests/unit/{folder}: unit tests live in the folder of their layer')
            continue
        if folder not in allowed:
            problems.append(f'tests/unit/{folder}: no layer of that name in the table')
            continue
        own = server_headers if folder == 'server' else ()
        for path in sources(directory):
            check_file(path, folder, allowed, args.root, problems, own_headers=own, harness=True)
    for p in problems:
        print(p)
    print(f'layers: {len(problems)} broken rule{"" if len(problems) == 1 else "s"}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
