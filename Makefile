# fluo: the media server, the embeddable engine and the benchmark harness.
#
#   make          build build/fluo, build/libfluo.a and build/fluo-bench
#   make run      build and start the server with the embedded defaults
#   make test     build and run every test (unit, integration, interop,
#                 sanitizers, fuzz smoke); ends with "N passed, N failed"
#   make bench    WebRTC load against fluo, janus and the floor: bench/results.md
#   make fuzz     build the libFuzzer targets (clang) in build/fuzz
#   make fuzz-run FUZZ_SECONDS=N [FUZZ_RUNS=N] [FUZZ_TARGETS="sdp rpc"] [FUZZ_MERGE=1]
#                 a campaign: every target N s (default 60; or FUZZ_RUNS
#                 executions) on one core from its corpus; a table of
#                 executions, exec/s, corpus, findings
#   make soak SOAK_SECONDS=N [SOAK_SESSIONS=8]
#                 fluo under sessions with media joining and leaving for N s
#                 (default 3600); RSS and fds before, every minute and after;
#                 fails on a failed session, an fd leak or RSS growth
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                 bin/fluo, libfluo.so (soname libfluo.so.0) and libfluo.a,
#                 include/fluo.h, lib/pkgconfig/fluo.pc (make shared: just
#                 the libraries, in build/pic)
#   make deps     install the Debian and npm packages the build and tests need
#   make format   apply .clang-format
#   make SAN=1    the same targets built with ASan+UBSan under build/asan
#   make SAN=thread  the same with TSan under build/tsan

SAN ?= 0
ifeq ($(SAN),1)
B := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),thread)
B := build/tsan
SANFLAGS := -fsanitize=thread
else
B := build
SANFLAGS :=
endif

CC := gcc
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wvla -Wimplicit-fallthrough
CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -I. $(SANFLAGS) -MMD -MP
LDFLAGS := $(SANFLAGS)
# The filters' libraries: libpng and libjpeg (overlay images), libzbar
# (ZBarFilter), OpenCV's object detection (FaceOverlayFilter). OpenCV 4 has
# only a C++ API: its one caller is a .cpp file with a C interface, and
# the link takes libstdc++.
VISION_LDLIBS := -lpng -ljpeg -lzbar -lopencv_objdetect -lopencv_imgproc -lopencv_core -lstdc++
LDLIBS := -luv -lusrsctp -lsrtp2 -lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -ljansson -lvpx -lopenh264 -lyuv -lopus \
	$(VISION_LDLIBS) -lpthread -lm
CXX := g++
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -Wshadow -I. -I/usr/include/opencv4 $(SANFLAGS) -MMD -MP

ENGINE_DIRS := base sdp ice net codec container engine
engine_src := $(foreach d,$(ENGINE_DIRS),$(wildcard $(d)/*.c))
engine_cpp := $(foreach d,$(ENGINE_DIRS),$(wildcard $(d)/*.cpp))
rpc_src := $(filter-out rpc/main.c,$(wildcard rpc/*.c))
bench_src := $(wildcard bench/*.c)
unit_src := $(wildcard tests/unit/*/test_*.c)
tool_src := $(wildcard tests/tools/*.c)

obj = $(patsubst %.cpp,$(B)/obj/%.o,$(patsubst %.c,$(B)/obj/%.o,$(1)))

LIBFLUO := $(B)/libfluo.a
LIBRPC := $(B)/librpc.a
FLUO := $(B)/fluo
BENCH := $(B)/fluo-bench
UNIT_BINS := $(patsubst %.c,$(B)/%,$(unit_src))
TOOL_BINS := $(patsubst %.c,$(B)/%,$(tool_src))

.PHONY: all run test bench unit deps format format-check fuzz fuzz-run soak clean
.DEFAULT_GOAL := all

all: $(FLUO) $(LIBFLUO) $(BENCH) $(UNIT_BINS) $(TOOL_BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# rpc/kmd/*.kmd.json are compiled in: ServerManager.getKmd and the class table use them.
$(B)/gen/kmd_data.c: $(wildcard rpc/kmd/*.kmd.json) tests/tools/embed.sh
	@mkdir -p $(@D)
	sh tests/tools/embed.sh $(wildcard rpc/kmd/*.kmd.json) > $@

$(B)/obj/gen/kmd_data.o: $(B)/gen/kmd_data.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBFLUO): $(call obj,$(engine_src) $(engine_cpp))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBRPC): $(call obj,$(rpc_src)) $(B)/obj/gen/kmd_data.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(FLUO): $(call obj,rpc/main.c) $(LIBRPC) $(LIBFLUO)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BENCH): $(call obj,$(bench_src)) $(LIBRPC) $(LIBFLUO)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(LIBRPC) $(LIBFLUO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Unit tests run by name: tests/unit/filter.c wraps cmocka's group runner
# (an argument, or FLUO_TEST, picks the tests).
UNIT_FILTER := $(call obj,tests/unit/filter.c)
$(UNIT_BINS): $(UNIT_FILTER)
$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(UNIT_FILTER) $(LIBRPC) $(LIBFLUO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -Wl,--wrap=_cmocka_run_group_tests -o $@ $^ $(LDLIBS) -lcmocka


# Unit tests of the load harness link its objects (fluo-bench's but main).
BENCH_OBJS := $(filter-out $(B)/obj/bench/bench.o,$(call obj,$(bench_src)))
$(B)/tests/unit/bench/%: $(B)/obj/tests/unit/bench/%.o $(UNIT_FILTER) $(BENCH_OBJS) $(LIBRPC) $(LIBFLUO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -Wl,--wrap=_cmocka_run_group_tests -o $@ $^ $(LDLIBS) -lcmocka

deps:
	@sh tests/tools/deps.sh

run: deps $(FLUO)
	$(FLUO) $(ARGS)

unit: $(UNIT_BINS)
	@sh tests/tools/run_unit.sh $(B)

test: deps
	@bash tests/run_all.sh

bench: deps $(FLUO) $(BENCH)
	@bash bench/run.sh

FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -I. -fsanitize=fuzzer,address,undefined
fuzz_src := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(fuzz_src))

# the code under test is compiled once (coverage without libFuzzer's main)
# into one archive every target links, not once per target
FUZZ_LIB := build/fuzz/obj/libfluo_fuzz.a
FUZZ_OBJS := $(patsubst %.c,build/fuzz/obj/%.o,$(engine_src) $(rpc_src) $(B)/gen/kmd_data.c) \
	$(patsubst %.cpp,build/fuzz/obj/%.o,$(engine_cpp))

fuzz: $(FUZZ_BINS)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(subst -fsanitize=fuzzer,-fsanitize=fuzzer-no-link,$(FUZZ_FLAGS)) -MMD -MP -c -o $@ $<

build/fuzz/obj/%.o: %.cpp
	@mkdir -p $(@D)
	clang++ -std=c++17 -O1 -g -I. -I/usr/include/opencv4 -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize=function \
		-MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(@D) build/fuzz/obj/tests/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -MF build/fuzz/obj/tests/fuzz/$*.d -o $@ $< $(FUZZ_LIB) $(LDLIBS)

FUZZ_SECONDS ?= 60
fuzz-run: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TARGETS="$(FUZZ_TARGETS)" \
		FUZZ_MERGE=$(FUZZ_MERGE) bash tests/tools/fuzz_campaign.sh

SOAK_SECONDS ?= 3600
SOAK_SESSIONS ?= 8
soak: $(FLUO) $(BENCH)
	$(BENCH) churn --fluo-bin $(FLUO) --sessions $(SOAK_SESSIONS) --seconds $(SOAK_SECONDS)

# The library for embedders, and `make install` (PREFIX, DESTDIR honoured):
# bin/fluo, lib/libfluo.so.MAJOR.MINOR.PATCH with its soname and dev links,
# lib/libfluo.a, include/fluo.h and lib/pkgconfig/fluo.pc. Both libraries are
# made of a PIC copy of the engine objects ($(B)/pic), so the objects of the
# default build stay as they are; libfluo.so exports only what <fluo.h>
# declares (engine/libfluo.map). The installed fluo.h carries base/err.h
# inline, the error codes' one definition, and includes nothing else of ours.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

FLUO_VERSION := $(shell awk '$$2 ~ /^FLUO_VERSION_(MAJOR|MINOR|PATCH)$$/ { v = v s $$3; s = "." } \
	END { print v }' engine/fluo.h)
FLUO_SOVERSION := $(firstword $(subst ., ,$(FLUO_VERSION)))
ENGINE_LDLIBS := -luv -lusrsctp -lsrtp2 -lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -lvpx -lopenh264 -lyuv -lopus \
	$(VISION_LDLIBS) -lpthread -lm
pic = $(patsubst %.cpp,$(B)/pic/%.o,$(patsubst %.c,$(B)/pic/%.o,$(1)))
LIBFLUO_SO := $(B)/pic/libfluo.so.$(FLUO_VERSION)
LIBFLUO_PIC_A := $(B)/pic/libfluo.a

.PHONY: shared install uninstall
shared: $(LIBFLUO_SO) $(LIBFLUO_PIC_A)

$(B)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -fno-semantic-interposition -c $< -o $@

$(B)/pic/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -fPIC -c $< -o $@

$(LIBFLUO_SO): $(call pic,$(engine_src) $(engine_cpp)) engine/libfluo.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libfluo.so.$(FLUO_SOVERSION) -Wl,-z,defs \
		-Wl,--version-script=engine/libfluo.map -o $@ $(filter %.o,$^) $(ENGINE_LDLIBS)

$(LIBFLUO_PIC_A): $(call pic,$(engine_src) $(engine_cpp))
	rm -f $@ && ar rcs $@ $^

$(B)/pic/include/fluo.h: engine/fluo.h base/err.h
	@mkdir -p $(@D)
	awk '/^#include "base\/err.h"/ { while ((getline l < "base/err.h") > 0) print l; next } \
		{ print }' engine/fluo.h > $@.tmp
	@! grep -n '^#include "' $@.tmp || { echo "$@: includes a header of the tree"; exit 1; }
	mv $@.tmp $@

# fluo.pc is written at install time: it names PREFIX and LIBDIR.
install: $(FLUO) $(LIBFLUO_SO) $(LIBFLUO_PIC_A) $(B)/pic/include/fluo.h
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(FLUO) $(DESTDIR)$(BINDIR)/fluo
	install -m 755 $(LIBFLUO_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libfluo.so.$(FLUO_VERSION) $(DESTDIR)$(LIBDIR)/libfluo.so.$(FLUO_SOVERSION)
	ln -sf libfluo.so.$(FLUO_SOVERSION) $(DESTDIR)$(LIBDIR)/libfluo.so
	install -m 644 $(LIBFLUO_PIC_A) $(DESTDIR)$(LIBDIR)/libfluo.a
	install -m 644 $(B)/pic/include/fluo.h $(DESTDIR)$(INCLUDEDIR)/fluo.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' \
		'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' '' \
		'Name: fluo' 'Description: embeddable WebRTC media engine (Kurento model)' \
		'Version: $(FLUO_VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lfluo' \
		'Requires.private: libuv libsrtp2 vpx openh264 opus' \
		'Libs.private: -lusrsctp -lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -lyuv $(VISION_LDLIBS) -lpthread -lm' \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/fluo.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/fluo $(DESTDIR)$(LIBDIR)/libfluo.so* $(DESTDIR)$(LIBDIR)/libfluo.a \
		$(DESTDIR)$(INCLUDEDIR)/fluo.h $(DESTDIR)$(LIBDIR)/pkgconfig/fluo.pc

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf build

-include $(shell find $(B)/obj $(B)/pic build/fuzz/obj -name '*.d' 2>/dev/null)
