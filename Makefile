# libssl3d — build, test, install. `make help` lists the targets.
VERSION     := 0.1.0
SOVERSION   := 0
PREFIX      ?= /usr/local
DESTDIR     ?=
CC          ?= cc
# No -march for the library: one build runs on any x86-64 CPU and picks its kernels at run
# time (src/backend/cpu/cpu_isa.c); only the per-ISA kernel files get ISA flags (below).
ARCH        ?=
OPT         ?= -O3
WERROR      ?=
PYTHON      ?= /usr/bin/python3
THREADS     ?= 2

DEB_BUILD   := gcc make pkg-config libopenblas-openmp-dev libcjson-dev libnifti2-dev libpng-dev zlib1g-dev
DEB_TEST    := python3 python3-numpy python3-pytest python3-torch python3-pip
DEB_DEMO    := mricron-data
DEB_BENCH   := python3-torch python3-numpy python3-scipy python3-nibabel
DEB_FUZZ    := clang libclang-rt-14-dev
# Only for `make onednn-bench` (a measuring tool; the library never links oneDNN).
DEB_ONEDNN  := libdnnl-dev
# Optional: data-parallel runs under mpirun (lib/ssl3d-mpi.so, docs/distributed.md) and their tests.
DEB_MPI     := openmpi-bin libopenmpi-dev
MPICC       ?= $(shell command -v mpicc 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter $(if $(WERROR),-Werror)
CPPFLAGS += -Iinclude -I/usr/include/nifti -D_DEFAULT_SOURCE -DSSL3D_BUILDING
CFLAGS   += -std=c11 $(OPT) -g $(ARCH) -fPIC -fvisibility=hidden -fopenmp $(WARN) $(EXTRA_CFLAGS)
LDLIBS   := -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
LDFLAGS  += -fopenmp $(EXTRA_LDFLAGS)

LIB_SRC  := $(sort $(wildcard src/core/*.c src/backend/*.c src/backend/cpu/*.c src/ops/*.c src/nn/*.c \
                    src/optim/*.c src/io/*.c src/data/*.c src/metrics/*.c src/tasks/*.c src/finetune/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
EX_SRC   := $(sort $(wildcard examples/*.c))

# Kernel files compiled for one instruction set each (chosen at run time by cpu_isa.c).
# -ffp-contract=fast turns the kernels' `c += a * b` into FMAs. Other targets build the
# portable kernels only.
ISA_X86  := $(filter x86_64% i686% i586% i386%,$(shell $(CC) -dumpmachine))
ifeq ($(ISA_X86),)
LIB_SRC  := $(filter-out %_avx2.c %_avx512.c,$(LIB_SRC))
endif
FLAGS_AVX2   := -mavx2 -mfma -ffp-contract=fast
FLAGS_AVX512 := -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -ffp-contract=fast

OBJDIR   ?= build
LIB_OBJ  := $(LIB_SRC:%.c=$(OBJDIR)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OBJDIR)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(OBJDIR)/%.o)

SHLIB    := lib/libssl3d.so.$(VERSION)
STLIB    := lib/libssl3d.a
EXAMPLES := $(EX_SRC:examples/%.c=bin/%)
# The MPI communicator plugin bin/ssl3d dlopen()s under mpirun; built only where mpicc is.
MPI_PLUGIN := $(if $(MPICC),lib/ssl3d-mpi.so)

# ---- CUDA backend plugin (docs/cuda.md): lib/libssl3d-cuda.so.0, loaded by libssl3d at
# run time, so libssl3d itself never depends on CUDA. Built when nvcc is found (CUDA=1
# forces it, CUDA=0 skips it). CUDA_ARCHS: SM versions to compile for; the lowest is the
# oldest compute capability the plugin accepts.
CUDA_HOME   ?= /usr/local/cuda
NVCC        ?= $(or $(wildcard $(CUDA_HOME)/bin/nvcc),$(shell command -v nvcc 2>/dev/null),$(CUDA_HOME)/bin/nvcc)
CUDA        ?= $(if $(wildcard $(NVCC)),1,0)
CUDA_ARCHS  ?= 80 90
CUDA_MIN_CC := $(firstword $(sort $(CUDA_ARCHS)))
CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib) $(CUDA_HOME)/lib64)
CUDA_GENCODE := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
                -gencode arch=compute_$(lastword $(sort $(CUDA_ARCHS))),code=compute_$(lastword $(sort $(CUDA_ARCHS)))
# NCCL (multi-GPU data parallelism, docs/distributed.md): the plugin's NCCL communicator
# (src/backend/cuda/cuda_nccl.c) is compiled when nccl.h is found (NCCL=auto, the default;
# NCCL=1 requires it, NCCL=0 leaves it out). libnccl.so.2 is dlopen()ed when first used,
# never linked, so the plugin still loads where NCCL is absent.
NCCL        ?= auto
NCCL_HOME   ?= $(CUDA_HOME)
NCCL_H      := $(firstword $(wildcard $(NCCL_HOME)/include/nccl.h /usr/include/nccl.h))
NCCL_ON     := $(if $(filter 1,$(NCCL)),1,$(if $(filter auto,$(NCCL)),$(if $(NCCL_H),1,0),0))
NCCL_LIBDIR := $(patsubst %/,%,$(dir $(firstword $(wildcard $(NCCL_HOME)/lib64/libnccl.so.2 \
                 $(NCCL_HOME)/lib/libnccl.so.2 /usr/lib/x86_64-linux-gnu/libnccl.so.2))))
CUDA_C_SRC  := $(sort $(wildcard src/backend/cuda/*.c))
ifneq ($(NCCL_ON),1)
CUDA_C_SRC  := $(filter-out src/backend/cuda/cuda_nccl.c,$(CUDA_C_SRC))
endif
CUDA_CU_SRC := $(sort $(wildcard src/backend/cuda/*.cu))
CUDA_OBJ    := $(CUDA_C_SRC:%.c=$(OBJDIR)/%.o) $(CUDA_CU_SRC:%.cu=$(OBJDIR)/%.cu.o)
CUDA_PLUGIN := lib/libssl3d-cuda.so.$(VERSION)
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudnn -lcublas -lcudart
# Host code of the plugin that needs no CUDA (the caching allocator, the pinned upload
# staging, the asynchronous batch uploads) is also linked into the test program, so it is unit-tested on every machine.
CUDA_HOSTONLY_SRC := src/backend/cuda/cuda_cache.c src/backend/cuda/cuda_staging.c src/backend/cuda/cuda_upload.c
CUDA_HOSTONLY_OBJ := $(CUDA_HOSTONLY_SRC:%.c=$(OBJDIR)/%.o)
NVCCFLAGS   ?= -O3
NVCC_WARN   := -Xcompiler -Wall,-Wextra,-Wno-unused-parameter $(if $(WERROR),-Werror all-warnings -Xcompiler -Werror)

ifeq ($(CUDA)$(wildcard $(NVCC)),1)
$(error CUDA=1 but nvcc is not at '$(NVCC)': set CUDA_HOME or NVCC, or build with CUDA=0)
endif
ifeq ($(NCCL)$(NCCL_H),1)
$(error NCCL=1 but nccl.h is not in $(NCCL_HOME)/include or /usr/include: set NCCL_HOME, or build with NCCL=0)
endif

.PHONY: all test check bench onednn-bench demo deps deps-bench deps-mpi install uninstall clean help fuzz cuda
all: $(SHLIB) $(STLIB) bin/ssl3d $(EXAMPLES) $(MPI_PLUGIN) $(if $(filter 1,$(CUDA)),$(CUDA_PLUGIN))
cuda:
	@test -x "$(NVCC)" || { echo "nvcc not found at '$(NVCC)' (set CUDA_HOME or NVCC)"; exit 1; }
	@$(MAKE) --no-print-directory CUDA=1 $(CUDA_PLUGIN)

help:
	@echo "make            build lib/libssl3d.so.$(VERSION), lib/libssl3d.a, bin/ssl3d, examples"
	@echo "make demo       install Debian packages if missing, build, run the demo"
	@echo "make test       install Debian packages if missing, build, run the tests (C and pytest)"
	@echo "make check      the tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make bench      benchmarks against ../shared/bench reference scripts -> bench.json"
	@echo "make onednn-bench"
	@echo "                oneDNN called directly on the W1 convolutions, to compare (docs/bench/onednn_w1.c;"
	@echo "                installs libdnnl-dev if missing; REPEAT=7 THREADS=$(THREADS)); not part of make or test"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=: headers, libraries, ssl3d.pc"
	@echo "make fuzz       short libFuzzer runs of the file readers (clang)"
	@echo "make cuda       the CUDA backend plugin lib/libssl3d-cuda.so.0 (also part of make when nvcc"
	@echo "                is found; CUDA=0 skips it, CUDA=1 requires it; docs/cuda.md); with the NCCL"
	@echo "                communicator when nccl.h is found (NCCL=auto|0|1, NCCL_HOME; docs/distributed.md)"

# ---- Debian packages: install what is missing (needs root), else say what to install.
define need_pkgs
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || { echo "apt-get install failed:$$missing"; exit 1; }; \
	  else echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; fi; fi
endef
deps:
	$(call need_pkgs,$(DEB_BUILD))
deps-bench:
	$(call need_pkgs,$(DEB_BENCH))
# MPI is optional: installed when root, else the MPI tests skip (with a line saying so).
deps-mpi:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deps-mpi-install; \
	 else command -v mpirun >/dev/null || echo "note: no mpirun (sudo apt-get install $(DEB_MPI)): the MPI tests will skip"; fi
deps-mpi-install:
	$(call need_pkgs,$(DEB_MPI))

# ---- library
$(OBJDIR)/%_avx2.o: ISA_FLAGS = $(FLAGS_AVX2)
$(OBJDIR)/%_avx512.o: ISA_FLAGS = $(FLAGS_AVX512)
$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< $(ISA_FLAGS)"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(ISA_FLAGS) -MMD -MP -c $< -o $@

$(SHLIB): $(LIB_OBJ) src/ssl3d.map
	@mkdir -p lib
	$(CC) -shared -Wl,-soname,libssl3d.so.$(SOVERSION) -Wl,--version-script=src/ssl3d.map \
	    -Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)
	ln -sf libssl3d.so.$(VERSION) lib/libssl3d.so.$(SOVERSION)
	ln -sf libssl3d.so.$(SOVERSION) lib/libssl3d.so

# The plugin's C files see the CUDA headers as system headers (their warnings are not ours).
$(CUDA_C_SRC:%.c=$(OBJDIR)/%.o): CPPFLAGS += -isystem $(CUDA_HOME)/include -DSSL3D_CUDA_MIN_CC=$(CUDA_MIN_CC)
# Objects compiled differently with and without NCCL are rebuilt when NCCL_ON changes.
NCCL_STAMP := $(OBJDIR)/.nccl-$(NCCL_ON)
$(NCCL_STAMP):
	@mkdir -p $(OBJDIR) && rm -f $(OBJDIR)/.nccl-* && touch $@
$(OBJDIR)/src/backend/cuda/cuda_backend.o $(OBJDIR)/tests/test_comm_device.o: $(NCCL_STAMP)
ifeq ($(NCCL_ON),1)
$(OBJDIR)/src/backend/cuda/cuda_backend.o: CPPFLAGS += -DSSL3D_WITH_NCCL
$(OBJDIR)/src/backend/cuda/cuda_nccl.o: CPPFLAGS += -isystem $(dir $(NCCL_H)) -DSSL3D_NCCL_LIBDIR='"$(NCCL_LIBDIR)"'
endif
$(OBJDIR)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@test -x "$(NVCC)" || { echo "nvcc not found at '$(NVCC)' (set CUDA_HOME or NVCC, or build with CUDA=0)"; exit 1; }
	@echo "  NVCC    $<"
	@$(NVCC) -std=c++17 $(NVCCFLAGS) $(CUDA_GENCODE) -Iinclude -Xcompiler -fPIC,-fvisibility=hidden \
	    $(NVCC_WARN) -MMD -MP -c $< -o $@

# Exports only its entry point (src/backend/cuda/plugin.map); links cuDNN, cuBLAS, cudart
# (and dlopen()s libnccl.so.2 when built with NCCL).
$(CUDA_PLUGIN): $(CUDA_OBJ) src/backend/cuda/plugin.map
	@mkdir -p lib
	$(CXX) -shared -Wl,-soname,libssl3d-cuda.so.$(SOVERSION) -Wl,--version-script=src/backend/cuda/plugin.map \
	    -Wl,--no-undefined -o $@ $(CUDA_OBJ) $(CUDA_LDLIBS)
	ln -sf libssl3d-cuda.so.$(VERSION) lib/libssl3d-cuda.so.$(SOVERSION)

# Fake plugins for the loader's tests (tests/test_backend_plugin.c): a wrong ABI, no entry
# point, a table with a missing slot, a plugin whose device is absent, and one that needs
# a library that is not there.
TEST_PLUGIN_DIR := $(OBJDIR)/test-plugins
TEST_PLUGINS := $(addprefix $(TEST_PLUGIN_DIR)/fake_,wrong_abi.so no_entry.so incomplete.so no_device.so needs_lib.so)
$(TEST_PLUGIN_DIR)/fake_needs_lib.so: tests/plugins/fake_plugin.c $(TEST_PLUGIN_DIR)/stub/libcudnn_fake.so.99
	$(CC) -std=c11 -shared -fPIC -Iinclude -DFAKE_needs_lib=1 -o $@ $< -L$(TEST_PLUGIN_DIR)/stub -l:libcudnn_fake.so.99
$(TEST_PLUGIN_DIR)/fake_%.so: tests/plugins/fake_plugin.c src/backend/backend.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -shared -fPIC -Iinclude $(WARN) -DFAKE_$*=1 -o $@ $<
$(TEST_PLUGIN_DIR)/stub/libcudnn_fake.so.99:
	@mkdir -p $(dir $@)
	printf 'int ssl3d_fake_stub(void) { return 1; }\n' | $(CC) -shared -fPIC -x c -Wl,-soname,libcudnn_fake.so.99 -o $@ -
$(OBJDIR)/tests/test_backend_plugin.o: CPPFLAGS += -DSSL3D_TEST_PLUGIN_DIR='"$(abspath $(TEST_PLUGIN_DIR))"'
# Whether the CUDA plugin of this build has the NCCL communicator (tests/test_comm_device.c).
$(OBJDIR)/tests/test_comm_device.o: CPPFLAGS += -DSSL3D_TEST_NCCL=$(if $(filter 1,$(CUDA)),$(NCCL_ON),0)

$(STLIB): $(LIB_OBJ)
	@mkdir -p lib
	rm -f $@ && ar rcs $@ $^

# Programs link the static archive: no LD_LIBRARY_PATH needed from the build tree.
bin/ssl3d: $(CLI_OBJ) $(STLIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STLIB) $(LDLIBS) -ldl

# Plain MPI, no libssl3d: needs only the ssl3d_comm table of include/ssl3d/comm.h.
lib/ssl3d-mpi.so: src/cli/mpi/ssl3d_mpi.c include/ssl3d/comm.h
	@mkdir -p lib
	$(MPICC) -shared -fPIC -O2 -g -fvisibility=hidden $(WARN) -Iinclude -o $@ $<

bin/%: $(OBJDIR)/examples/%.o $(STLIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< $(STLIB) $(LDLIBS)

bin/test_ssl3d: $(TEST_OBJ) $(CUDA_HOSTONLY_OBJ) $(STLIB) $(TEST_PLUGINS)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(CUDA_HOSTONLY_OBJ) $(STLIB) $(LDLIBS)

# ---- the two set-up commands of README.md
# The C tests include python_package_pytest, which runs pytest over python/tests.
test: deps deps-mpi
	$(call need_pkgs,$(DEB_TEST))
	$(MAKE) --no-print-directory all bin/test_ssl3d
	OMP_WAIT_POLICY=passive PYTHON=$(PYTHON) ./bin/test_ssl3d $(T)

demo: deps
	$(call need_pkgs,$(DEB_DEMO))
	$(MAKE) --no-print-directory all
	./bin/ssl3d demo

# Sanitizer build in its own object tree.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check: deps
	$(MAKE) --no-print-directory OBJDIR=build-san OPT=-O1 EXTRA_CFLAGS="$(SAN)" EXTRA_LDFLAGS="$(SAN)" \
	    STLIB=build-san/libssl3d.a build-san/test_ssl3d
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./build-san/test_ssl3d $(T)

build-san/test_ssl3d: $(TEST_OBJ) $(CUDA_HOSTONLY_OBJ) $(STLIB) $(TEST_PLUGINS)
	$(CC) $(LDFLAGS) -fopenmp -o $@ $(TEST_OBJ) $(CUDA_HOSTONLY_OBJ) $(STLIB) $(LDLIBS)

# ---- fuzzing: libFuzzer targets for every file reader (docs/fuzzing.md). FUZZ_SECONDS each.
FUZZ_SECONDS ?= 15
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/*.c))
# The fuzz build compiles the whole library in one clang call at -O1, without the SIMD
# kernels' per-file ISA flags. Two kinds of notes follow that say nothing about the readers being
# fuzzed: -Wpsabi (a vector helper's ABI would change: they are static) and -Wpass-failed
# (`omp simd` loops not vectorised at -O1). Silenced here only.
FUZZ_SAN     := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -Wno-psabi -Wno-pass-failed
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang $(FUZZ_SAN) $(CPPFLAGS) -std=c11 -fopenmp $< $(LIB_SRC) $(LDLIBS) -o $@
fuzz: deps
	$(call need_pkgs,$(DEB_FUZZ))
	$(MAKE) --no-print-directory $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do mkdir -p $$t.corpus; echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=1 $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	    $$t.corpus >$$t.log 2>&1 || { tail -40 $$t.log; exit 1; }; done; echo "fuzzing: no crashes"

bench: deps deps-bench all
	OPENBLAS_VERBOSE=2 ./bin/ssl3d bench --threads $(THREADS) --json bench.json --reference ../shared/bench

# oneDNN (Debian's libdnnl-dev, the library under PyTorch's CPU convolutions) timed directly on
# the W1 layers, to compare with docs/bench/w1_cputime.c/.py (docs/performance.md). Not part of
# `all` or `test`, and not built in CI.
REPEAT ?= 7
onednn-bench: bin/onednn_w1
	OMP_WAIT_POLICY=passive ./bin/onednn_w1 $(REPEAT) $(THREADS)
bin/onednn_w1: docs/bench/onednn_w1.c
	$(call need_pkgs,$(DEB_ONEDNN))
	@mkdir -p bin
	$(CC) -O2 -std=c11 $(WARN) -o $@ $< -ldnnl -fopenmp -lm

# ---- install
install: all
	install -d $(DESTDIR)$(PREFIX)/include/ssl3d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/ssl3d.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/ssl3d/*.h $(DESTDIR)$(PREFIX)/include/ssl3d/
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libssl3d.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libssl3d.so.$(SOVERSION)
	ln -sf libssl3d.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libssl3d.so
	install -m 644 $(STLIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 bin/ssl3d $(DESTDIR)$(PREFIX)/bin/
	$(if $(MPI_PLUGIN),install -m 755 $(MPI_PLUGIN) $(DESTDIR)$(PREFIX)/lib/)
	if [ -f $(CUDA_PLUGIN) ]; then install -m 755 $(CUDA_PLUGIN) $(DESTDIR)$(PREFIX)/lib/ && \
	    ln -sf libssl3d-cuda.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libssl3d-cuda.so.$(SOVERSION); fi
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' pkgconfig/ssl3d.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ssl3d.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/ssl3d $(DESTDIR)$(PREFIX)/include/ssl3d.h \
	    $(DESTDIR)$(PREFIX)/lib/libssl3d.* $(DESTDIR)$(PREFIX)/lib/ssl3d-mpi.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/ssl3d.pc $(DESTDIR)$(PREFIX)/bin/ssl3d

clean:
	rm -rf build build-san lib/*.so* lib/*.a bin/* bench.json

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CUDA_OBJ:.o=.d)
