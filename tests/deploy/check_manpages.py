#!/usr/bin/env python3
"""check_manpages.py — doc/pvctl.8 and doc/pvnode.8 say what --help says.

Suite deploy; env PVNODE_SOURCE_ROOT, PVNODE_BUILD_ROOT (PVCTL, PVNODE when set).
From "pvctl --help": the commands and, per command, its options; the global options.
From "pvnode --help": the options. From each man page: the .TP tags (a tag is the line
after .TP, roff escapes removed). Each command and option of --help must be a tag of
the man page, each tag's command and options must be in --help, and per pvctl command
the options of its tag must be those of its --help line. A man page may document what
the program accepts but --help leaves out (-h, --help, --verbose): the program is run to
show it accepts them. MAN_AHEAD lists what the man page documents before --help does.
Also renders each page with man(1) and fails on warnings.
"""
import os
import re
import shutil
import subprocess
import sys

SRC = os.environ.get("PVNODE_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PVNODE_BUILD_ROOT", "")

# Documented in the man page, missing from --help; each reported until --help has it.
MAN_AHEAD = {
    ("pvctl", "stats"): "pvctl --endpoint E stats NAME [PATH] (pvctl-csi) is not in pvctl --help",
}

errors = []


def fail(msg):
    errors.append(msg)


def program(env, name):
    p = os.environ.get(env)
    if p and os.access(p, os.X_OK):
        return p
    for root, dirs, files in os.walk(BUILD) if BUILD else []:
        dirs[:] = [d for d in dirs if not d.endswith(".p")]
        if name in files:
            return os.path.join(root, name)
    return None


OPT = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def deroff(line):
    """A man(7) line as text: font macros' arguments joined as man joins them."""
    def esc(t):
        t = re.sub(r"\\f[BIRP]|\\f\[[A-Z]*\]|\\&|\\e", "", t)
        return t.replace("\\(em", "-").replace("\\-", "-")
    m = re.match(r"^\.(B|I|BR|RB|BI|IB|IR|RI|SM|SB)(\s+(.*))?$", line)
    if not m:
        return esc(line)
    args = re.findall(r'"([^"]*)"|(\S+)', m.group(3) or "")
    args = [a or b for a, b in args]
    return esc((" " if m.group(1) in ("B", "I", "SM", "SB") else "").join(args))


def man_tags(path):
    """[(section, subsection, tag text)]"""
    tags, section, sub, take = [], "", "", False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".SH"):
                section, sub = deroff(line[3:]).strip(), ""
            elif line.startswith(".SS"):
                sub = deroff(line[3:]).strip()
            elif line.startswith(".TP"):
                take = True
            elif take:
                tags.append((section, sub, deroff(line).strip()))
                take = False
    return tags


def pvctl_help(text):
    """commands {name: set(options)}, globals set(options)"""
    commands, globals_, current, section = {}, set(), None, None
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line) or line.startswith("Global options"):
            section = "global" if line.startswith("Global") else "commands"
            current = None
            continue
        if not line.strip() or section is None:
            continue
        indent = len(line) - len(line.lstrip())
        if section == "global":
            if indent <= 4:
                head = re.split(r"\s{3,}", line.strip())[0]
                globals_ |= set(OPT.findall(head))
            continue
        if indent >= 6 and line.strip().startswith(("[", "-")) and current:
            commands[current] |= set(OPT.findall(line))
            continue
        if indent != 2:
            continue
        chunks = re.split(r"\s{3,}", line.strip())
        for n, chunk in enumerate(chunks):
            for k, part in enumerate(chunk.split(" | ")):
                part = part.strip()
                # the line's first word is a command; later ones only where they read
                # like a synopsis ("unstage NAME", "secret delete NAME"), not like
                # the description ("a PV with ...")
                if (n, k) != (0, 0) and not re.match(r"^[a-z][a-z-]+( [a-z]+)?( NAME\b| \[|$)", part):
                    continue
                current = part.split()[0]
                commands.setdefault(current, set())
                commands[current] |= set(OPT.findall(part))
    return commands, globals_


def accepts(prog, opt):
    r = subprocess.run([prog, opt, "--version"], capture_output=True, text=True, timeout=10)
    r2 = subprocess.run([prog, opt], capture_output=True, text=True, timeout=10)
    return r.returncode == 0 or (r2.returncode == 0 and "usage" in (r2.stdout + r2.stderr).lower())


def check_render(page):
    man = shutil.which("man")
    if not man:
        print(f"note: man(1) not installed: {os.path.basename(page)} not rendered")
        return
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANROFFSEQ="")
    r = subprocess.run([man, "--warnings", "-l", page], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0 or r.stderr.strip():
        fail(f"{os.path.basename(page)}: man --warnings: {r.stderr.strip()[:400]}")


def check_pvctl(pvctl):
    page = os.path.join(SRC, "doc", "pvctl.8")
    text = subprocess.run([pvctl, "--help"], capture_output=True, text=True, timeout=10).stdout
    commands, globals_ = pvctl_help(text)
    if not commands or not globals_:
        fail(f"pvctl --help parsed to commands {commands} and globals {globals_}: the format changed?")
        return
    tags = man_tags(page)
    mcommands, mglobals = {}, set()
    for section, sub, tag in tags:
        if section == "COMMANDS":
            for part in tag.split(" | "):
                words = part.split()
                if words and re.match(r"^[a-z][a-z-]*$", words[0]):
                    mcommands.setdefault(words[0], set()).update(OPT.findall(part))
        elif section == "GLOBAL OPTIONS":
            mglobals |= set(OPT.findall(tag))
    for cmd, opts in sorted(commands.items()):
        if cmd not in mcommands:
            fail(f"pvctl.8: command {cmd} (pvctl --help) has no .TP entry under COMMANDS")
        elif opts != mcommands[cmd]:
            fail(f"pvctl.8: {cmd}: --help gives {sorted(opts)}, the man page {sorted(mcommands[cmd])}")
    for cmd in sorted(set(mcommands) - set(commands)):
        if ("pvctl", cmd) in MAN_AHEAD:
            r = subprocess.run([pvctl, "--endpoint", "unix:///nonexistent/pvnode.sock", cmd, "x"],
                               capture_output=True, text=True, timeout=30)
            if re.search(r"not a command|unknown command", r.stdout + r.stderr):
                fail(f"pvctl.8 documents {cmd}, which pvctl refuses: {r.stderr.strip()}")
            else:
                print(f"AHEAD: {MAN_AHEAD[('pvctl', cmd)]}; the man page documents it (pvctl accepts it)")
        else:
            fail(f"pvctl.8: documents command {cmd}, which pvctl --help does not list")
    for opt in sorted(globals_ - mglobals):
        fail(f"pvctl.8: global option {opt} (pvctl --help) is not under GLOBAL OPTIONS")
    for opt in sorted(mglobals - globals_):
        if accepts(pvctl, opt):
            print(f"note: pvctl.8 documents {opt}, which --help leaves out and pvctl accepts")
        else:
            fail(f"pvctl.8: global option {opt} is neither in --help nor accepted by pvctl")
    check_render(page)
    print(f"pvctl: {len(commands)} commands, {len(globals_)} global options compared")


def check_pvnode(pvnode):
    page = os.path.join(SRC, "doc", "pvnode.8")
    text = subprocess.run([pvnode, "--help"], capture_output=True, text=True, timeout=10).stdout
    usage = []
    for line in text.splitlines():
        if line.startswith("usage:") or (usage and line.startswith(" ")):
            usage.append(line)
        elif usage:
            break
    hopts = set(OPT.findall("\n".join(usage)))
    mopts = set()
    for section, sub, tag in man_tags(page):
        if section == "OPTIONS":
            mopts |= set(OPT.findall(tag))
    if not hopts:
        fail("pvnode --help gave no options: the format changed?")
        return
    for opt in sorted(hopts - mopts):
        fail(f"pvnode.8: option {opt} (pvnode --help) has no .TP entry under OPTIONS")
    for opt in sorted(mopts - hopts):
        if accepts(pvnode, opt):
            print(f"note: pvnode.8 documents {opt}, which --help leaves out and pvnode accepts")
        else:
            fail(f"pvnode.8: documents {opt}, which pvnode --help does not list and pvnode refuses")
    check_render(page)
    print(f"pvnode: {len(hopts)} options compared")


def main():
    pvctl = program("PVCTL", "pvctl")
    pvnode = program("PVNODE", "pvnode")
    if not pvctl:
        print("SKIP: pvctl is not built")
        return 77
    check_pvctl(pvctl)
    if pvnode:
        check_pvnode(pvnode)
    else:
        print("note: pvnode is not built (-Dcsi=disabled): pvnode.8 not compared")
    for e in errors:
        print(f"FAIL: {e}")
    print(f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
