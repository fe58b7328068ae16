"""The repository stands on its own: it carries its licence, and no file
points to documents outside it."""
import os
import os.path as osp
import re
import subprocess

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Folders that are not part of the repository's content.
SKIPPED_DIRS = {'.git', '.venv', 'work_dirs', 'data', '__pycache__'}

# Names of documents kept next to the repository, never in it. Written in
# two pieces so that this file does not match itself.
OUTSIDE_DOCUMENTS = ('STACK' + '.md', 'ALGORITHMS' + '.md', '../' + 'shared',
                     'STYLE' + '.md')


def _repository_files() -> list:
    """Tracked files (``git ls-files``), else every file outside
    :data:`SKIPPED_DIRS` (e.g. in an unpacked source archive)."""
    try:
        done = subprocess.run(['git', 'ls-files', '-z'],
                              cwd=ROOT,
                              capture_output=True,
                              check=True)
        files = [p for p in done.stdout.decode().split('\0') if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [
                d for d in dirnames
                if d not in SKIPPED_DIRS and not d.endswith('.egg-info')
            ]
            files += [
                osp.relpath(osp.join(dirpath, name), ROOT)
                for name in filenames
            ]
    return [p for p in files if osp.isfile(osp.join(ROOT, p))]


def test_license_is_the_apache_2_text_setup_declares():
    with open(osp.join(ROOT, 'setup.py')) as f:
        assert "license='Apache-2.0'" in f.read()
    with open(osp.join(ROOT, 'LICENSE')) as f:
        text = f.read()
    words = ' '.join(text.split())
    assert words.startswith('Apache License Version 2.0, January 2004 '
                            'http://www.apache.org/licenses/')
    sections = [
        'Definitions', 'Grant of Copyright License', 'Grant of Patent License',
        'Redistribution', 'Submission of Contributions', 'Trademarks',
        'Disclaimer of Warranty', 'Limitation of Liability',
        'Accepting Warranty or Additional Liability'
    ]
    for number, title in enumerate(sections, 1):
        assert f'{number}. {title}.' in words, title
    assert 'END OF TERMS AND CONDITIONS' in words
    # The full text, not an excerpt (the official file has 202 lines).
    assert len(text.splitlines()) >= 200


def test_no_file_refers_to_documents_outside_the_repository():
    found = []
    for path in _repository_files():
        try:
            with open(osp.join(ROOT, path), encoding='utf-8') as f:
                text = f.read()
        except UnicodeDecodeError:  # binary
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found += [
                f'{path}:{number}: {name}' for name in OUTSIDE_DOCUMENTS
                if name in line
            ]
    assert not found, 'references to documents outside the repository:\n' + \
        '\n'.join(found)


def test_relative_links_stay_inside_the_repository():
    """Every relative link of a Markdown file resolves to a file of the
    repository."""
    link = re.compile(r'\]\(([^)\s]+)\)')
    problems = []
    for path in _repository_files():
        if not path.endswith('.md'):
            continue
        with open(osp.join(ROOT, path), encoding='utf-8') as f:
            text = f.read()
        for match in link.finditer(text):
            target = match.group(1)
            if re.match(r'[a-zA-Z][a-zA-Z+.-]*:', target) or \
                    target.startswith('#'):
                continue  # a URL or an anchor of the same page
            full = osp.realpath(
                osp.join(ROOT, osp.dirname(path), target.split('#')[0]))
            if osp.commonpath([full, osp.realpath(ROOT)]) != \
                    osp.realpath(ROOT):
                problems.append(f'{path}: {target} leaves the repository')
            elif not osp.exists(full):
                problems.append(f'{path}: {target} does not exist')
    assert not problems, '\n'.join(problems)
