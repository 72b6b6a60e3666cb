# SPDX-License-Identifier: GPL-2.0
#
# kmod-nft-offload: out-of-tree nf_flow_table, nf_flow_table_inet and
# nft_flow_offload for the Debian 6.1 and 6.12 kernels.
#
#   make                      build for every supported kernel with headers
#   make KVER=6.1             build for one kernel (release or series)
#   make install KVER=...     install into /lib/modules/KVER/updates, depmod
#   make dkms-install         register the sources with DKMS
#   make style                checkpatch --strict, sparse C=2 and W=1
#   make check                host checks and the VM test suite
#   make demo                 show an offloaded flow in a VM
#   make bench                benchmarks against the in-tree stack
#                             (BENCH_ARGS="-j -r 3 ..." for scripts/bench.sh)
#
# Build output goes to build/<release>/ (modules, Module.symvers) and
# build/<release>/selftests/ (test-only modules).

PACKAGE := kmod-nft-offload
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BASE_VERSION := $(shell cat $(TOP)/VERSION)
GIT_REV := $(shell git -C $(TOP) rev-parse --short=12 HEAD 2>/dev/null)
GIT_DIRTY := $(shell git -C $(TOP) status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty)
VERSION := $(BASE_VERSION)$(if $(GIT_REV),+g$(GIT_REV)$(GIT_DIRTY))

SUPPORTED_KVERS := $(shell $(TOP)/scripts/kernels.sh list)
ifneq ($(KVER),)
KVERS := $(shell $(TOP)/scripts/kernels.sh resolve $(KVER))
ifeq ($(KVERS),)
$(error no supported kernel matches KVER=$(KVER); headers found for: $(or $(SUPPORTED_KVERS),none))
endif
else
KVERS := $(SUPPORTED_KVERS)
endif

# Kernel headers directory of one release.
kdir = /usr/src/linux-headers-$(1)
bdir = $(TOP)/build/$(1)

MODULE_SRCS := Kbuild $(wildcard $(TOP)/*.c) include
SELFTEST_MOD_DIR := selftests/modules
KBUILD_FLAGS ?=

.PHONY: all module modules selftest-modules selftest-tools install dkms-install dkms-remove \
	style checkpatch sparse w1 abi check demo bench clean distclean \
	print-kvers print-version deps

all: module

print-kvers:
	@echo $(KVERS)

print-version:
	@echo $(VERSION)

# Headers must exist for at least one supported kernel; say which were found
# instead of silently falling back to the running kernel.
check-kvers:
	@if [ -z "$(KVERS)" ]; then \
		echo "No supported kernel headers found in /usr/src (supported: 6.1, 6.12)."; \
		echo "Install: apt-get install linux-headers-amd64 linux-headers-6.12-amd64"; \
		echo "(The running kernel $$(uname -r) is not used implicitly.)"; \
		exit 1; \
	fi
	@echo "  KVERS   $(KVERS)"

# The build directory mirrors the source tree with symlinks, so each kernel
# gets its own objects and Module.symvers (kbuild on 6.1 has no MO=).
define prepare_tree
	@mkdir -p $(call bdir,$(1))
	@for f in Kbuild include $(notdir $(wildcard $(TOP)/*.c)); do \
		ln -sfn $(TOP)/$$f $(call bdir,$(1))/$$f; \
	done
endef

module modules: check-kvers
	$(foreach k,$(KVERS),$(call prepare_tree,$(k))$(newline)\
	+$(MAKE) -C $(call kdir,$(k)) M=$(call bdir,$(k)) \
		KNO_VERSION=$(VERSION) $(KBUILD_FLAGS) modules$(newline))

selftest-modules: check-kvers
	$(foreach k,$(KVERS),@mkdir -p $(call bdir,$(k))/selftests$(newline)\
	@for f in $(TOP)/$(SELFTEST_MOD_DIR)/*; do \
		ln -sfn $$f $(call bdir,$(k))/selftests/$$(basename $$f); done$(newline)\
	+$(MAKE) -C $(call kdir,$(k)) M=$(call bdir,$(k))/selftests \
		KNO_VERSION=$(VERSION) $(KBUILD_FLAGS) modules$(newline))

# Userspace test programs (host-built; the VMs run the host's userland).
selftest-tools:
	$(foreach d,$(wildcard $(TOP)/selftests/*/Makefile),\
	+$(MAKE) -s -C $(dir $(d)) O=$(TOP)/build/tools$(newline))

install:
	@[ -n "$(KVER)" ] || { echo "make install needs KVER=<release>"; exit 1; }
	$(foreach k,$(KVERS),\
	@for m in nf_flow_table nf_flow_table_inet nft_flow_offload; do \
		[ -r $(call bdir,$(k))/$$m.ko ] || { echo "build/$(k)/$$m.ko missing: run make KVER=$(k)"; exit 1; }; \
		install -D -m 0644 $(call bdir,$(k))/$$m.ko \
			$(DESTDIR)/lib/modules/$(k)/updates/$$m.ko || exit 1; \
		strip --strip-debug $(DESTDIR)/lib/modules/$(k)/updates/$$m.ko || exit 1; \
	done$(newline)\
	depmod $(if $(DESTDIR),-b $(DESTDIR)) -a $(k)$(newline))

DKMS_SRC = /usr/src/$(PACKAGE)-$(BASE_VERSION)

dkms-install:
	@command -v dkms >/dev/null || { echo "dkms is not installed (apt-get install dkms)"; exit 1; }
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/include $(DKMS_SRC)/scripts
	install -m 0644 $(TOP)/Kbuild $(TOP)/Makefile $(TOP)/VERSION $(TOP)/*.c $(DKMS_SRC)/
	install -m 0644 $(TOP)/include/*.h $(DKMS_SRC)/include/
	install -m 0755 $(TOP)/scripts/kernels.sh $(DKMS_SRC)/scripts/
	sed 's/@VERSION@/$(BASE_VERSION)/' $(TOP)/dkms.conf > $(DKMS_SRC)/dkms.conf
	echo "$(VERSION)" > $(DKMS_SRC)/VERSION
	dkms add -m $(PACKAGE) -v $(BASE_VERSION)
	dkms build -m $(PACKAGE) -v $(BASE_VERSION) $(if $(KVER),-k $(KVERS))
	dkms install -m $(PACKAGE) -v $(BASE_VERSION) $(if $(KVER),-k $(KVERS))

dkms-remove:
	dkms remove -m $(PACKAGE) -v $(BASE_VERSION) --all

style: checkpatch sparse w1

checkpatch:
	@$(TOP)/scripts/style.sh checkpatch

sparse: check-kvers
	@$(TOP)/scripts/style.sh sparse $(KVERS)

w1: check-kvers
	@$(TOP)/scripts/style.sh w1 $(KVERS)

abi: module
	@$(TOP)/scripts/check-abi.sh $(KVERS)

check:
	@$(TOP)/scripts/check.sh $(if $(KVER),-k "$(KVERS)") $(if $(IMPL),-i $(IMPL)) $(if $(T),-t "$(T)")

demo:
	@$(TOP)/scripts/demo.sh $(if $(KVER),-k "$(KVERS)")

bench:
	@$(TOP)/scripts/bench.sh $(if $(KVER),-k "$(KVERS)") $(BENCH_ARGS)

deps:
	@$(TOP)/scripts/deps.sh

clean:
	rm -rf $(TOP)/build

distclean: clean

define newline


endef
