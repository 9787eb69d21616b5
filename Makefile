# SPDX-License-Identifier: GPL-2.0
#
# rbtrfs: a btrfs-compatible filesystem in Rust, as an out-of-tree module.
#
#   make            build rbtrfs.ko (and the kernel it needs, once, cached)
#   make run        the guest demo
#   make check      all tests at quick size (CI): host cargo tests + guest tests,
#                   ends "N passed, N failed"
#   make check-full the same tests at full size, plus the long stress seeds
#   make fstests    run a user's fstests checkout in the guest:
#                   FSTESTS=DIR TESTS="generic/001 ..." [FS=rbtrfs|cbtrfs]
#   make bench      rbtrfs vs C btrfs benchmarks in one guest (plain kernel);
#                   results in build/bench/ (BENCH_PROFILE=1 adds perf reports)
#   make deps       install the toolchain and tools (idempotent; the others call it)
#
# The kernel tree is built in ~/.cache/rbtrfs/ (RBTRFS_CACHE), keyed by
# version + config fragments + toolchain. Kbuild (the module's own build
# description) is in ./Kbuild; this Makefile is the user-facing driver.

FLAVOUR ?= debug
T := tools/testing

.PHONY: all deps kernel module run check check-full fstests bench host-test guest-test clean

all: module

deps:
	@$(T)/setup-deps.sh

kernel: deps
	@$(T)/build-kernel.sh $(FLAVOUR) >/dev/null

module: kernel
	@$(T)/build-module.sh $(FLAVOUR) >/dev/null
	@echo "built build/$(FLAVOUR)/rbtrfs.ko"

run: module
	@$(T)/demo.sh

host-test: deps
	@$(T)/check.sh host

guest-test: module
	@$(T)/check.sh guest

check: module
	@RBTRFS_TEST_SIZE=quick $(T)/check.sh all

check-full: module
	@RBTRFS_TEST_SIZE=full $(T)/check.sh all

# A user's fstests checkout, one guest per test (not part of make check:
# CI cannot download fstests).
FS ?= rbtrfs
fstests: module
	@$(T)/fstests.sh --fstests "$(FSTESTS)" --fs $(FS) $(TESTS)

# Benchmarks run on the plain kernel (no lockdep, kmemleak, list debugging).
# They never fail the build: slow or failed rows are reported in the table.
bench: FLAVOUR = plain
bench: kernel
	@$(T)/bench/bench.sh --flavour $(FLAVOUR)

clean:
	rm -rf build target
