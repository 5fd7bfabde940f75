#!/usr/bin/python3
"""Checks that each file is an SVG picture with something drawn: it parses as XML (Python's own
parser, independent of gnuplot), its root is <svg> in the SVG namespace with a positive width and
height, and it holds at least MIN_PATHS <path> elements with a non-empty d attribute (gnuplot draws
every curve, axis and key sample as a path).

usage: check_svg.py MIN_PATHS FILE.svg...   exit 0 when every file passes, 1 (naming why) otherwise
"""
import sys
import xml.etree.ElementTree as ET

SVG = '{http://www.w3.org/2000/svg}'


def check(path, min_paths):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        return f'{path}: not XML: {e}'
    if root.tag != SVG + 'svg':
        return f'{path}: root is {root.tag}, not svg'
    try:
        if float(root.get('width', '0').rstrip('px')) <= 0 or float(root.get('height', '0').rstrip('px')) <= 0:
            return f'{path}: no size'
    except ValueError:
        return f'{path}: size {root.get("width")!r} x {root.get("height")!r}'
    paths = [p for p in root.iter(SVG + 'path') if p.get('d', '').strip()]
    if len(paths) < min_paths:
        return f'{path}: {len(paths)} drawn paths, expected at least {min_paths}'
    return None


def main():
    min_paths = int(sys.argv[1])
    problems = [p for p in (check(f, min_paths) for f in sys.argv[2:]) if p]
    for p in problems:
        print(p)
    return 1 if problems or len(sys.argv) < 3 else 0


if __name__ == '__main__':
    sys.exit(main())
