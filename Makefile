# The verbs a newcomer uses. Every target installs what it needs itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROTOS := $(shell find protos -name '*.proto')
STAMP  := $(VENV)/.installed

.PHONY: run test proto model seed page bench clean preview

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		| xargs -I{} sh -c 'echo "$(CURDIR)/gen" > {}/keyart_gen.pth'
	touch $@

gen/.stamp: $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen \
		--grpc_python_out=gen $(PROTOS)
	touch $@

proto: gen/.stamp

# Builds the bundled ranking model from its recipe (ranker/model_recipe.py).
model: proto
	$(PY) -m services.ranker.model_recipe --out var/models/bundled.onnx

run: proto model
	$(VENV)/bin/keyart run

# The preview page against a running suite (`make run` starts one itself); draws missing demo pictures first.
preview: proto
	$(PY) -m demo.images
	$(PY) -m preview.server

test: proto model
	$(PY) -m pytest -q tests

clean:
	rm -rf gen var .pytest_cache
