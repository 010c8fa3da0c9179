# The README's commands. CMake does the real build (build/).
.PHONY: all build test demo demo-stop bench clean

all: build

build:
	bash scripts/bootstrap
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$$(nproc)

test:
	bash scripts/test

demo:
	bash scripts/demo

demo-stop:
	bash scripts/demo stop

bench: build
	./build/bench_complete

clean:
	rm -rf build build-asan .demo
