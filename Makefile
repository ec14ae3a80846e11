# hull: one non-recursive Makefile. `make` builds ./hull; `make check` runs the layer check, unit
# tests, short fuzz runs and memcheck; `make guest-kernel` builds the default guest kernel (cached
# outside the tree).
ARCH ?= x86_64
O ?= build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
CC := gcc
CLANG := clang
PKGS := liburing libseccomp json-c liblzma libzstd zlib liblz4

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wpointer-arith -Wvla -Wwrite-strings -Wundef \
	-Wcast-qual -Wimplicit-fallthrough -Wswitch-enum -Wno-switch-enum -Wold-style-definition \
	-Wnull-dereference
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fcf-protection \
	-fPIE -fno-strict-aliasing
# hull itself is static-pie: still position independent (ASLR), with no dynamic loader and no
# relocations of six shared libraries at start, and only the library code it uses resident
# (0.6 MiB less RSS per VM, measured in README's Benchmarks). The unit tests and fuzz targets
# link the same libraries dynamically (the sanitizers need it).
LDHARDEN := -static-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
BASEFLAGS := -std=gnu11 -D_GNU_SOURCE -g -I. -MMD -MP $(WARN) $(shell pkg-config --cflags $(PKGS))
CFLAGS := $(BASEFLAGS) -O2 $(HARDEN)
SANFLAGS := $(BASEFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread
STATIC_LIBS := -Wl,--start-group $(shell pkg-config --static --libs $(PKGS)) -lpthread -Wl,--end-group

# --- sources, by layer and subsystem (explicit lists; see ARCHITECTURE.md for the layers) ---
LIB_SRCS := lib/gmem.c lib/bus.c lib/log.c lib/parse.c lib/file.c lib/fdbudget.c lib/loop.c \
	lib/usock.c lib/json.c lib/iov.c lib/cpuset.c lib/fcache.c lib/unpack.c
# The architecture's files (arch/$(ARCH)/), chosen here rather than by #ifdef.
ARCH_SRCS := $(addprefix arch/$(ARCH)/,machine.c vcpu.c boot.c kernel.c bzimage.c kaslr.c cpuid.c \
	regs.c e820.c zeropage.c pvh.c acpi.c aml.c)
BOOT_SRCS := boot/elf.c boot/loader.c boot/initrd.c boot/cmdline.c boot/cpio.c boot/demo.c
DEV_SRCS := devices/serial.c devices/i8042.c devices/rtc.c devices/boot_timer.c devices/acpi_pm.c \
	devices/pci_conf.c
VIRTIO_SRCS := virtio/virtq.c virtio/dev.c virtio/mmio.c
VBLK_SRCS := virtio/blk/config.c virtio/blk/blk.c virtio/blk/io.c
VRNG_SRCS := virtio/rng/rng.c
VBALLOON_SRCS := virtio/balloon/balloon.c virtio/balloon/stats.c virtio/balloon/config.c
VMEM_SRCS := virtio/mem/config.c virtio/mem/mem.c
VFS_SRCS := virtio/fs/fuse.c virtio/fs/inode.c virtio/fs/entries.c virtio/fs/ops_node.c \
	virtio/fs/ops_file.c virtio/fs/ops_dir.c virtio/fs/xattr.c virtio/fs/fs.c virtio/fs/config.c
VSOCK_SRCS := virtio/vsock/config.c virtio/vsock/conn.c virtio/vsock/packet.c \
	virtio/vsock/vsock.c virtio/vsock/endpoint.c virtio/vsock/bridge.c virtio/vsock/uds.c
VNET_SRCS := virtio/net/config.c virtio/net/hdr.c virtio/net/net.c virtio/net/queues.c \
	virtio/net/tap.c virtio/net/passt.c
VMM_SRCS := vmm/config.c vmm/vm.c vmm/load.c vmm/kunpack.c vmm/vcpu.c vmm/exit.c vmm/census.c vmm/console.c vmm/stages.c \
	vmm/ctlproto.c vmm/control.c vmm/api.c vmm/devices.c vmm/validate.c vmm/host.c
CTR_SRCS := container/tlv.c container/proto.c container/oci_json.c container/oci.c \
	container/oci_mounts.c container/oci_linux.c container/runspec.c container/plan.c container/points.c \
	container/initramfs.c container/icache.c container/agent.c container/stdio.c \
	container/console.c container/run.c \
	container/limits.c container/cgroup.c container/state.c container/signame.c \
	container/netns.c container/hooks.c container/seccomp.c
CLI_SRCS := cli/cli.c cli/run.c cli/ctl.c cli/rtparse.c cli/runtime.c cli/rtvmm.c
# Everything but main(): linked into hull, and into the unit tests and fuzz targets.
HULL_SRCS := $(LIB_SRCS) $(ARCH_SRCS) $(BOOT_SRCS) $(DEV_SRCS) $(VIRTIO_SRCS) $(VBLK_SRCS) \
	$(VRNG_SRCS) $(VBALLOON_SRCS) $(VMEM_SRCS) $(VFS_SRCS) $(VSOCK_SRCS) $(VNET_SRCS) \
	$(VMM_SRCS) $(CTR_SRCS) $(CLI_SRCS)
MAIN_SRCS := cli/main.c

# The demo guest's /init: a static program embedded in hull (see boot/demo/).
DEMO_INIT := $(O)/demo-init
DEMO_BLOB := $(O)/boot/demo/blob.o

# hull-init, the guest's PID 1 in container mode: a static program embedded in hull (see
# container/guest/README). It shares only the agent protocol's codec with hull. Its pure parts
# (GUEST_LOGIC_SRCS) are unit-tested on the host as well.
HULL_INIT := $(O)/hull-init
HULL_INIT_BLOB := $(O)/container/guest/blob.o
HULL_INIT_CODEC := container/tlv.c container/proto.c
GUEST_LOGIC_SRCS := container/guest/values.c container/guest/path.c container/guest/caps.c \
	container/guest/plan.c
GUEST_SRCS := $(GUEST_LOGIC_SRCS) container/guest/util.c container/guest/rootfs.c \
	container/guest/cgroup.c container/guest/proc.c container/guest/agent.c \
	container/guest/net.c container/guest/init.c
GUEST_SAN_OBJS := $(GUEST_LOGIC_SRCS:%.c=$(O)/san/%.o)
GUEST_VG_OBJS := $(GUEST_LOGIC_SRCS:%.c=$(O)/vg/%.o)
# Named as targets, so that the test rules below may have them built (by the pattern rules).
$(GUEST_SAN_OBJS) $(GUEST_VG_OBJS): container/guest/guest.h

HULL_OBJS := $(HULL_SRCS:%.c=$(O)/%.o)
MAIN_OBJS := $(MAIN_SRCS:%.c=$(O)/%.o)
SAN_OBJS := $(HULL_SRCS:%.c=$(O)/san/%.o)

# --- test helpers: compiled once per build (san, fuzz, vg) into libtest.a, which the unit tests,
# the fuzz targets and the memcheck replays link ---
TEST_SUPPORT_SRCS := tests/unit/virtio_env.c tests/unit/fuse_env.c tests/fuzz/fuzz_dev.c
TEST_SAN_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(O)/san/%.o)

# --- unit tests (cmocka, ASan+UBSan, no KVM): tests/unit/test_NAME.c ---
UNIT_TESTS := gmem bus parse iov config cli log registry exit serial rtc i8042 e820 zeropage cpuid \
	acpi aml machine bzimage elf initrd cmdline cpio virtq mmio blk rng balloon fsrv fs_escape \
	fs_entries vfs vsock net fdbudget tlv proto json oci runspec points initramfs agent ctr_console \
	guest_plan guest_caps guest_values \
	guest_path loop control vcpu cpuset limits cgroup file state runtime_cli census vmem netns \
	hooks seccomp unpack kunpack
UNIT_BINS := $(UNIT_TESTS:%=$(O)/san/tests/unit/test_%)

# --- fuzz targets (libFuzzer): tests/fuzz/fuzz_NAME.c ---
FUZZ_TARGETS := kernel config virtq mmio blk balloon vmem fsrv vsock net proto spec oci control \
	modules state seccomp
FUZZ_BINS := $(FUZZ_TARGETS:%=$(O)/fuzz/fuzz_%)
FUZZ_OBJS := $(HULL_SRCS:%.c=$(O)/fuzz/%.o)
TEST_FUZZ_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(O)/fuzz/%.o)
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -I. -MMD -MP -Wall -Wextra -Werror \
	-fsanitize=fuzzer-no-link,address,undefined $(shell pkg-config --cflags $(PKGS))
FUZZ_SECONDS ?= 20
# A single input that runs longer than this is a finding (a guest request that stalls hull).
FUZZ_TIMEOUT ?= 10

# --- memcheck (Valgrind): unit tests and fuzz corpora without sanitizers, to see reads of
# uninitialised memory that ASan cannot ---
# libseccomp's bounds (container/seccomp.h) scaled for Valgrind's slowdown: test_seccomp's
# largest profile took over 20 s of CPU under memcheck in the lab's emulated L1 (0.3 s on a
# host); the hang test then costs memcheck the 60 s.
VG_FLAGS := $(BASEFLAGS) -O1 -DSECCOMP_COMPILE_SECONDS=60 -DSECCOMP_COMPILE_WALL_SECONDS=240
VG_OBJS := $(HULL_SRCS:%.c=$(O)/vg/%.o)
TEST_VG_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(O)/vg/%.o)
VG_UNIT_BINS := $(UNIT_TESTS:%=$(O)/vg/tests/unit/test_%)
VG_REPLAY_BINS := $(FUZZ_TARGETS:%=$(O)/vg/fuzz/replay_%)
VALGRIND := valgrind -q --error-exitcode=99 --track-origins=yes --leak-check=no

.SECONDARY:
.PHONY: all clean check layers unit unit-build fuzz fuzz-build fuzz-long memcheck \
	memcheck-build guest-kernel guests
all: hull

hull: $(MAIN_OBJS) $(HULL_OBJS) $(DEMO_BLOB) $(HULL_INIT_BLOB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDHARDEN) -o $@ $^ $(STATIC_LIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(O)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	$(Q)$(CC) $(SANFLAGS) -c -o $@ $<

$(O)/vg/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-VG   $<"
	$(Q)$(CC) $(VG_FLAGS) -c -o $@ $<

$(O)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	$(Q)$(CLANG) $(FUZZ_FLAGS) -c -o $@ $<

$(DEMO_INIT): boot/demo/demo-init.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (static)"
	$(Q)$(CC) -std=gnu11 -Os -static -I. -Wall -Wextra -Werror -o $@ $<
	$(Q)strip $@

$(DEMO_BLOB): boot/demo/blob.S $(DEMO_INIT)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) -c -DDEMO_INIT_PATH='"$(DEMO_INIT)"' -o $@ $<

$(HULL_INIT): $(GUEST_SRCS) $(HULL_INIT_CODEC) container/guest/guest.h container/proto.h \
		container/tlv.h
	@mkdir -p $(dir $@)
	@echo "  CC      hull-init (static)"
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -Os -static -I. $(WARN) -D_FORTIFY_SOURCE=2 \
		-fstack-protector-strong -o $@ $(GUEST_SRCS) $(HULL_INIT_CODEC)
	$(Q)strip $@

$(HULL_INIT_BLOB): container/guest/blob.S $(HULL_INIT)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)id=$$(sha256sum $(HULL_INIT)) && id=$${id%% *} && \
		$(CC) -c -DHULL_INIT_PATH='"$(HULL_INIT)"' -DHULL_INIT_ID="\"$$id\"" -o $@ $<

# Test guests: tiny programs that run without a Linux kernel (tests/guests/).
TINY_GUEST := $(O)/guests/tiny-pvh.elf
$(TINY_GUEST): tests/guests/tiny-pvh.S tests/guests/tiny-pvh.ld
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -c -o $(@:.elf=.o) $<
	$(Q)ld -m elf_x86_64 -static -nostdlib -T tests/guests/tiny-pvh.ld -o $@ $(@:.elf=.o)

guests: $(TINY_GUEST)

$(O)/san/libhull.a: $(SAN_OBJS) $(DEMO_BLOB) $(HULL_INIT_BLOB)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/%/libtest.a:
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/san/libtest.a: $(TEST_SAN_OBJS)
$(O)/fuzz/libtest.a: $(TEST_FUZZ_OBJS)
$(O)/vg/libtest.a: $(TEST_VG_OBJS)

$(O)/san/tests/unit/test_%: tests/unit/test_%.c $(O)/san/libtest.a $(O)/san/libhull.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(O)/san/libtest.a $(O)/san/libhull.a $(LIBS) -lcmocka

# hull-init's unit tests link its pure parts only (no libhull: it is a guest program).
$(O)/san/tests/unit/test_guest_%: tests/unit/test_guest_%.c $(GUEST_SAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(GUEST_SAN_OBJS) -lcmocka

unit-build: $(UNIT_BINS)

# Every test binary to its end, then one summary; results counted from cmocka's TAP output, a
# binary that crashes or hangs (UNIT_TIMEOUT seconds) counted as failed. See tests/unit/run-all.
unit: $(UNIT_BINS)
	$(Q)tests/unit/run-all $(UNIT_BINS)

$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(O)/fuzz/libtest.a $(FUZZ_OBJS) $(DEMO_BLOB) \
		$(HULL_INIT_BLOB)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(O)/fuzz/libtest.a $(FUZZ_OBJS) \
		$(DEMO_BLOB) $(HULL_INIT_BLOB) $(LIBS)

fuzz-build: $(FUZZ_BINS)

$(O)/vg/libhull.a: $(VG_OBJS) $(DEMO_BLOB) $(HULL_INIT_BLOB)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vg/tests/unit/test_%: tests/unit/test_%.c $(O)/vg/libtest.a $(O)/vg/libhull.a
	@mkdir -p $(dir $@)
	@echo "  TEST-VG $@"
	$(Q)$(CC) $(VG_FLAGS) -o $@ $< $(O)/vg/libtest.a $(O)/vg/libhull.a $(LIBS) -lcmocka

# The targets are written for clang's warnings; gcc's truncation warning flags their bounded
# snprintf()s of scratch paths, which truncate safely by design.
$(O)/vg/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(O)/vg/libtest.a $(O)/vg/libhull.a
	@mkdir -p $(dir $@)
	@echo "  REPLAY  $@"
	$(Q)$(CC) $(VG_FLAGS) -Wno-format-truncation -o $@ $< tests/fuzz/replay.c \
		$(O)/vg/libtest.a $(O)/vg/libhull.a $(LIBS)

$(O)/vg/tests/unit/test_guest_%: tests/unit/test_guest_%.c $(GUEST_VG_OBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST-VG $@"
	$(Q)$(CC) $(VG_FLAGS) -o $@ $< $(GUEST_VG_OBJS) -lcmocka

memcheck-build: $(VG_UNIT_BINS) $(VG_REPLAY_BINS)

# Every unit test and every fuzz target's committed corpus once under Valgrind memcheck: any
# error (an uninitialised read, an invalid access) fails. The targets' own stderr (hull's
# messages about each broken guest ring) is dropped; Valgrind's report goes to a log.
memcheck: memcheck-build
	$(Q)set -e; fail=0; for t in $(UNIT_TESTS); do \
		echo "== memcheck test_$$t"; \
		$(VALGRIND) --log-file=$(O)/vg/test_$$t.log $(O)/vg/tests/unit/test_$$t \
			>$(O)/vg/test_$$t.out 2>&1 || { fail=1; echo "memcheck: test_$$t failed"; \
			tail -40 $(O)/vg/test_$$t.out; cat $(O)/vg/test_$$t.log; }; \
	done; for t in $(FUZZ_TARGETS); do \
		[ -d tests/fuzz/corpus/$$t ] || continue; \
		echo "== memcheck fuzz corpus $$t"; \
		$(VALGRIND) --log-file=$(O)/vg/replay_$$t.log $(O)/vg/fuzz/replay_$$t \
			tests/fuzz/corpus/$$t 2>/dev/null || { fail=1; \
			echo "memcheck: corpus $$t failed"; cat $(O)/vg/replay_$$t.log; }; \
	done; exit $$fail

# A run of every fuzz target for FUZZ_SECONDS each, seeded from tests/fuzz/corpus/NAME when
# present; an input that runs past FUZZ_TIMEOUT seconds is a finding like a crash (kept in
# build/fuzz/artifacts). -close_fd_mask=2 drops the targets' own stderr (hull's one-line
# messages about each broken guest ring, hundreds of MB per run) while libFuzzer and the
# sanitizers still report. `make fuzz` is the short run of the test command; `make fuzz-long
# FUZZ_SECONDS=1800` the campaign (its corpus grows in build/fuzz/corpus across runs).
fuzz fuzz-long: $(FUZZ_BINS)
	$(Q)set -e; mkdir -p $(O)/fuzz/artifacts; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(O)/fuzz/corpus/$$t; \
		seeds=; [ -d tests/fuzz/corpus/$$t ] && seeds=tests/fuzz/corpus/$$t; \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		$(O)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
			-print_final_stats=1 -close_fd_mask=2 -artifact_prefix=$(O)/fuzz/artifacts/$$t- \
			$(O)/fuzz/corpus/$$t $$seeds 2>$(O)/fuzz/$$t.log || { tail -50 $(O)/fuzz/$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|Done' $(O)/fuzz/$$t.log | tail -2; \
	done

check: layers unit fuzz memcheck

# The include direction of ARCHITECTURE.md: a file includes headers of its own layer and the
# layers below only; every include that points up is printed as FILE:LINE.
layers:
	$(Q)tests/check-layers.py

guest-kernel:
	$(Q)boot/kernel/build.sh

clean:
	rm -rf $(O) hull

-include $(HULL_OBJS:.o=.d) $(MAIN_OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d) \
	$(GUEST_SAN_OBJS:.o=.d) $(GUEST_VG_OBJS:.o=.d) \
	$(UNIT_BINS:=.d) $(FUZZ_BINS:=.d) $(VG_OBJS:.o=.d) $(VG_UNIT_BINS:=.d) \
	$(VG_REPLAY_BINS:=.d) $(TEST_SAN_OBJS:.o=.d) $(TEST_FUZZ_OBJS:.o=.d) $(TEST_VG_OBJS:.o=.d)
