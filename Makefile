# freifunk.gateway: development and test entry points.
#   make test   everything CI runs (lint, sanity, units, all Molecule scenarios)
#   make demo   the fleet story in containers (Molecule scenario fleet): a Gluon
#               site.conf, three gateways checked against it and configured,
#               nodes connected, the fleet table, a mismatched site refused
#   make bench  the benchmarks (bench/README.md; PARTS="fleet status" selects), not in make test
# All set up what they need first (Debian packages, .venv, local images).

SHELL := /bin/sh
ROOT := $(CURDIR)
BED := tests/bed
VENV := .venv
STAMP := .build/stamps

export PATH := $(ROOT)/$(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(ROOT)/$(BED)/containers.conf
export ANSIBLE_HOME := $(ROOT)/.ansible
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.build/collections
export ANSIBLE_CONFIG := $(ROOT)/$(BED)/ansible.cfg
export MOLECULE_GLOB := molecule/*/molecule.yml
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0

SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# make demo runs part of this test scenario and leaves its containers up.
DEMO_SCENARIO := fleet
TEST_SCENARIOS := $(SCENARIOS)
# The QEMU guest's scenario runs beside the container scenarios (it mostly
# waits on the emulated kernel); the container scenarios run one at a time.
GUEST_SCENARIOS := kernel
SUITES := bookworm trixie

.PHONY: test setup deps venv collections images guest link lint yamllint ansible-lint shellcheck sanity units \
        molecule build changelog docs-check role-docs docs demo demo-destroy bench bench-quick matrix release clean

# The guest image is built in the kernel stage's own lane (guest-vm.sh builds
# it when it is missing or stale), beside the container stages, not before them.
test: deps venv collections images link
	$(BED)/green.sh run $(BED)/stages.sh \
	  "yamllint=$(MAKE) -s yamllint" \
	  "changelog=$(MAKE) -s changelog" \
	  "shellcheck=$(MAKE) -s shellcheck" \
	  "docs-check=$(MAKE) -s docs-check" \
	  "docs=$(MAKE) -s docs" \
	  "ansible-lint=$(MAKE) -s ansible-lint" \
	  "sanity=$(MAKE) -s sanity" \
	  "units=$(MAKE) -s units" \
	  "build=$(MAKE) -s build" \
	  $(foreach s,$(filter $(GUEST_SCENARIOS),$(TEST_SCENARIOS)),"molecule:$(s)&=molecule test -s $(s)") \
	  $(foreach s,$(filter-out $(GUEST_SCENARIOS),$(TEST_SCENARIOS)),"molecule:$(s)=molecule test -s $(s)")

setup: deps venv collections images guest link

deps:
	@$(BED)/deps.sh

venv: $(STAMP)/venv
$(STAMP)/venv: requirements-test.txt
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
	@# an older venv's full ansible package would put every collection it ships beside the declared ones
	@if $(VENV)/bin/pip show -q ansible 2>/dev/null; then $(VENV)/bin/pip uninstall -q -y ansible; fi
	@mkdir -p $(STAMP) && touch $@

# The collections the tests use, exactly those in tests/requirements.yml
# (quick when they are there already).
collections: venv
	@$(VENV)/bin/python $(BED)/install_collections.py

# The suites' images are built at the same time (mostly waiting on downloads).
images:
	@pids=""; for s in $(SUITES); do $(BED)/image.sh $$s & pids="$$pids $$!"; done; \
	 rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

guest:
	@$(BED)/guest.sh >/dev/null

link:
	@python3 $(BED)/link_collection.py >/dev/null
	@# ansible-lint may leave a copy of the collection here that would shadow the checkout
	@rm -rf .ansible/collections/ansible_collections/freifunk

lint: yamllint ansible-lint shellcheck

# Shell written from templates is checked as written, in the scenarios (molecule/shared/written_files.yml).
shellcheck:
	$(BED)/shellcheck.sh

changelog:
	antsibull-changelog lint

# The reference pages come from the collection's documentation (ansible-doc --json): the option
# tables of roles/*/README.md and docs/reference/. docs-check fails naming every page that differs
# or is stale, role-docs writes them; docs builds the HTML site (antsibull-docs, Sphinx) into
# .build/docs/html.
docs-check: link
	python3 $(BED)/role_docs.py

role-docs: link
	python3 $(BED)/role_docs.py --write

docs: venv link
	$(BED)/docsite.sh

yamllint:
	yamllint --strict .

ansible-lint: link
	ansible-lint --profile production

sanity:
	$(BED)/sanity.sh

units: link
	pytest -q -n 2 tests/unit bench/tests

build:
	@mkdir -p .build/dist
	ansible-galaxy collection build --force --output-path .build/dist .
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/.build/install ansible-galaxy collection install --force -p .build/install .build/dist/freifunk-gateway-*.tar.gz
	@python3 $(BED)/check_docs.py $(ROOT)/.build/install $(ROOT)
	@rm -rf .build/git-install
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/.build/git-install ansible-galaxy collection install -p .build/git-install "git+file://$(ROOT)/.git,HEAD" >/dev/null
	@python3 $(BED)/check_docs.py $(ROOT)/.build/git-install $(ROOT)/.build/git-install/ansible_collections/freifunk/gateway
	@echo "installed from git (HEAD) and documented"
	@$(BED)/ee_check.sh
	@echo "built and installed: $$(ls .build/dist)"

molecule: setup
	@for s in $(TEST_SCENARIOS); do molecule test -s $$s || exit 1; done

molecule-%: setup
	molecule test -s $*

demo: setup
	molecule converge -s $(DEMO_SCENARIO)
	molecule side-effect -s $(DEMO_SCENARIO)

demo-destroy: setup
	molecule destroy -s $(DEMO_SCENARIO)

# A release (tests/bed/release.sh): version, changelog, tarball, local commit and tag.
release: venv collections link
	@[ -n "$(VERSION)" ] || { echo "make release VERSION=x.y.z [DEST=folder]" >&2; exit 2; }
	$(BED)/release.sh $(VERSION) $(DEST)

# Unit tests and sanity against every ansible-core line of tests/matrix.yml,
# each in its own venv (.build/matrix/); ONLY=2.17,2.21 selects lines. Not in
# make test: each line builds its own venvs and runs sanity.
matrix: venv collections link
	python3 $(BED)/matrix.py $(if $(ONLY),--only $(ONLY))

# The benchmarks (bench/README.md); PARTS="..." selects parts, bench-quick is a smoke run.
bench: setup
	$(MAKE) -C bench

bench-quick: setup
	$(MAKE) -C bench quick

clean:
	rm -rf .build .ansible .cache .pytest_cache
