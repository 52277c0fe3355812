# Front door.  `make check` is what CI runs: install what is missing, build,
# run every test in a normal and an ASan+UBSan build, print one summary line.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_FLAGS ?= -Dwerror=true

.PHONY: all deps build check check-fast demo bench clean install lint deb

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_FLAGS) -Db_sanitize=address,undefined -Db_lundef=false

build: $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# Every test twice (plain and sanitized); the last line is "N passed, N failed, N skipped".
check: deps
	@scripts/check.sh $(BUILD) $(ASAN_BUILD)

# Plain build only, for the edit-compile-test loop.
check-fast: deps
	@scripts/check.sh $(BUILD)

# clang-tidy, focused set in .clang-tidy (bugprone, cert); also run by `make check`.
lint: deps
	@scripts/lint.sh $(BUILD)

demo: deps build
	@scripts/demo.sh $(BUILD)

bench: deps build
	@scripts/bench.sh $(BUILD)

install: build
	meson install -C $(BUILD)

# Debian packages (debian/, dpkg-buildpackage -b) built in $(DEB_BUILD), the
# source tree left clean; lintian must find no error or warning.
DEB_BUILD ?= build-deb
deb: deps
	@scripts/build-deb.sh $(DEB_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
