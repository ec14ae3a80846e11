"""Host group: tests/check-layers.py, the include-direction check of `make layers`, on fixture
trees: it must pass a tree whose includes all point down and fail, naming each file and line, a
tree with includes that point up."""

import subprocess

import pytest

from harness import REPO

pytestmark = pytest.mark.host

CHECK = REPO / "tests" / "check-layers.py"


def tree(root, files):
    """Write files ({relative path: text}) under root."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def check(root):
    p = subprocess.run([CHECK, root], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.splitlines(), p.stderr


# Every include points down or sideways: this tree passes.
GOOD = {
    "lib/gmem.h": "#include <stdint.h>\n",
    "lib/gmem.c": '#include "lib/gmem.h"\n#include <linux/kvm.h>\n',
    "arch/x86_64/machine.c": '#include "arch/arch.h"\n#include "devices/serial.h"\n'
                             '#include "lib/gmem.h"\n',
    "arch/arch.h": '#include "lib/gmem.h"\n',
    "devices/serial.h": "\n",
    "virtio/net/net.c": '#include "internal.h"\n#include "../virtio.h"\n'
                        '#include "boot/cmdline.h"\n',
    "virtio/net/internal.h": '#include "virtio/virtio.h"\n',
    "virtio/virtio.h": '#include "lib/gmem.h"\n',
    "boot/cmdline.h": "\n",
    "vmm/vm.h": '#include "virtio/virtio.h"\n#include "container/ctr.h"\n',
    "container/ctr.h": '#include "vmm/vm.h"\n',
    "cli/main.c": '#include "vmm/vm.h"\n#include "cli/cli.h"\n',
    "cli/cli.h": "\n",
    # tests may include anything; build outputs are not looked at.
    "tests/unit/test_vm.c": '#include "cli/cli.h"\n#include "vmm/vm.h"\n',
    "build/san/gen.c": '#include "cli/cli.h"\n',
    # a system header whose name looks like a tree path, absent from the tree
    "lib/log.c": "#include <vmm/nothere.h>\n",
}


def test_good_tree_passes(tmp_path):
    tree(tmp_path, GOOD)
    rc, out, err = check(tmp_path)
    assert (rc, out) == (0, []), err


def test_upward_includes_fail(tmp_path):
    tree(tmp_path, GOOD)
    tree(tmp_path, {
        # the include issue 12 removes: arch/ reaching up into vmm/
        "arch/x86_64/machine.c": '#include "arch/arch.h"\n/* why */\n#include "vmm/vm.h"\n',
        # a relative path up to cli/, from lib/
        "lib/log.c": '#include <stdio.h>\n  #  include "../cli/cli.h"\n',
        # an angle include that -I. finds in the tree
        "virtio/net/net.c": '#include "internal.h"\n#include <vmm/vm.h>\n',
        # a header from tests/, outside tests/
        "vmm/vm.c": '#include "vmm/vm.h"\n#include "tests/unit/env.h"\n',
        "tests/unit/env.h": "\n",
        "container/ctr.c": '#include "cli/cli.h"\n',
        # a header that does not exist still names its layer
        "lib/bus.h": '#include "virtio/blk/missing.h"\n',
        # a source directory with no layer
        "tools/gen.c": '#include "lib/gmem.h"\n',
    })
    rc, out, err = check(tmp_path)
    assert rc == 1, (out, err)
    assert out == [
        "arch/x86_64/machine.c:3: includes vmm/vm.h (layer vmm/ above arch/)",
        "container/ctr.c:1: includes cli/cli.h (layer cli/ above container/)",
        "lib/bus.h:1: includes virtio/blk/missing.h (layer virtio/ above lib/)",
        "lib/log.c:2: includes cli/cli.h (layer cli/ above lib/)",
        "tools/gen.c:1: is in no layer (give tools/ a layer in tests/check-layers.py)",
        "virtio/net/net.c:2: includes vmm/vm.h (layer vmm/ above virtio/)",
        "vmm/vm.c:2: includes tests/unit/env.h (layer tests/ above vmm/)",
    ]
    assert "7 offence(s) against the layers" in err


def test_no_such_root(tmp_path):
    rc, out, _ = check(tmp_path / "absent")
    assert (rc, out) == (2, [])
