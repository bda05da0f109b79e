#!/usr/bin/env python3
"""Reads an `strace -f -yy` trace of a carbon-node and checks that every write to the Raft WAL
and to snapshot files is followed by an fsync/fdatasync of that same file, and that every file
created or renamed there is followed by an fsync of its directory.

Usage: scripts/check_fsync.py TRACE [DATA_DIR_PART ...]   (exit 1 if a write was never synced)
See docs/DURABILITY.md for the command that makes the trace."""
import re
import sys

WATCHED = ("/wal/", "/snapshots/")
fd_path = re.compile(r"^\s*(\d+)\s+(\w+)\((\d+)<([^>]*)>")
open_path = re.compile(r'^\s*(\d+)\s+openat\(AT_FDCWD<[^>]*>, "([^"]+)".*O_CREAT.*= (\d+)<([^>]*)>')
rename = re.compile(r'^\s*(\d+)\s+rename(?:at2?)?\(.*?"([^"]+)".*?"([^"]+)"')

def main():
    trace = sys.argv[1]
    pending = {}      # path -> number of writes not yet covered by a sync
    writes, syncs = {}, {}
    dirs_pending = {}  # dir -> entries created/renamed not yet covered by a dir sync
    dir_syncs = {}
    for line in open(trace, errors="replace"):
        m = open_path.match(line)
        if m:
            path = m.group(4)
            if any(w in path for w in WATCHED):
                d = path.rsplit("/", 1)[0]
                dirs_pending[d] = dirs_pending.get(d, 0) + 1
            continue
        m = rename.match(line)
        if m and "= -1" not in line:
            new = m.group(3)
            if any(w in new for w in WATCHED) or any(w in new + "/" for w in WATCHED):
                d = new.rsplit("/", 1)[0]
                dirs_pending[d] = dirs_pending.get(d, 0) + 1
            continue
        m = fd_path.match(line)
        if not m:
            continue
        call, path = m.group(2), m.group(4)
        if call in ("write", "writev", "pwrite64", "pwritev", "pwritev2"):
            if any(w in path for w in WATCHED):
                writes[path] = writes.get(path, 0) + 1
                pending[path] = pending.get(path, 0) + 1
        elif call in ("fsync", "fdatasync"):
            syncs[path] = syncs.get(path, 0) + 1
            pending.pop(path, None)
            if path in dirs_pending:
                dir_syncs[path] = dir_syncs.get(path, 0) + 1
                dirs_pending.pop(path)
    ok = True
    print(f"{'file':70} {'writes':>7} {'syncs':>6}")
    for path in sorted(writes):
        print(f"{path[-70:]:70} {writes[path]:7} {syncs.get(path, 0):6}")
    for d in sorted(dir_syncs):
        print(f"{(d + '/ (directory)')[-70:]:70} {'':7} {dir_syncs[d]:6}")
    for path, n in sorted(pending.items()):
        ok = False
        print(f"NOT SYNCED: {n} write(s) to {path} after its last sync")
    for d, n in sorted(dirs_pending.items()):
        ok = False
        print(f"NOT SYNCED: {n} entry change(s) in directory {d} after its last sync")
    print("every write and every new or renamed file was synced" if ok else "FAILED")
    sys.exit(0 if ok else 1)

main()
