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
DEB_DEMO    := mricron-data
DEB_BENCH   := python3-torch python3-numpy python3-scipy python3-nibabel
DEB_FUZZ    := clang libclang-rt-14-dev

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

.PHONY: all test check bench demo deps deps-bench install uninstall clean help fuzz
all: $(SHLIB) $(STLIB) bin/ssl3d $(EXAMPLES)

help:
	@echo "make            build lib/libssl3d.so.$(VERSION), lib/libssl3d.a, bin/ssl3d, examples"
	@echo "make demo       install Debian packages if missing, build, run the demo"
	@echo "make test       install Debian packages if missing, build, run the tests"
	@echo "make check      the tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make bench      benchmarks against ../shared/bench reference scripts -> bench.json"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=: headers, libraries, ssl3d.pc"
	@echo "make fuzz       short libFuzzer runs of the file readers (clang)"

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

$(STLIB): $(LIB_OBJ)
	@mkdir -p lib
	rm -f $@ && ar rcs $@ $^

# Programs link the static archive: no LD_LIBRARY_PATH needed from the build tree.
bin/ssl3d: $(CLI_OBJ) $(STLIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STLIB) $(LDLIBS)

bin/%: $(OBJDIR)/examples/%.o $(STLIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< $(STLIB) $(LDLIBS)

bin/test_ssl3d: $(TEST_OBJ) $(STLIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(STLIB) $(LDLIBS)

# ---- the two set-up commands of README.md
test: deps
	$(MAKE) --no-print-directory all bin/test_ssl3d
	OMP_WAIT_POLICY=passive ./bin/test_ssl3d $(T)

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

build-san/test_ssl3d: $(TEST_OBJ) $(STLIB)
	$(CC) $(LDFLAGS) -fopenmp -o $@ $(TEST_OBJ) $(STLIB) $(LDLIBS)

# ---- fuzzing: libFuzzer targets for every file reader (docs/fuzzing.md). FUZZ_SECONDS each.
FUZZ_SECONDS ?= 15
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_SAN     := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
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
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' pkgconfig/ssl3d.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ssl3d.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/ssl3d $(DESTDIR)$(PREFIX)/include/ssl3d.h \
	    $(DESTDIR)$(PREFIX)/lib/libssl3d.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/ssl3d.pc $(DESTDIR)$(PREFIX)/bin/ssl3d

clean:
	rm -rf build build-san lib/*.so* lib/*.a bin/* bench.json

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
