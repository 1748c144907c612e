"""Prints where to install the polypool package for this interpreter under
PREFIX: the site directory of sys.path inside PREFIX (Debian's python3
searches /usr/local/lib/python3.X/dist-packages, not the lib/python3/
dist-packages meson would pick), else sysconfig's platlib."""
import sys
import sysconfig

prefix = sys.argv[1].rstrip("/")
for p in sys.path:
    if p.startswith(prefix + "/") and p.endswith(("site-packages", "dist-packages")):
        print(p)
        break
else:
    print(sysconfig.get_path("platlib", vars={"base": prefix, "platbase": prefix}))
