# tracelink — PGXS build.
#
#   make && make install          build and install the extension
#   make installcheck             pg_regress + isolation against a running server
#                                 (one file: make installcheck REGRESS=30_workflow)
#   make tapcheck                 the TAP tests (they start their own clusters)
#   scripts/test.sh               everything, against throw-away clusters (what CI runs)
#   make bench                    benchmarks (never part of the tests)

EXTENSION = tracelink
# The version sqlsrc/ assembles: tracelink.control's default_version.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" tracelink.control)

MODULE_big = tracelink
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from the ordered pieces in sqlsrc/, so that
# each concept keeps its SQL next to its neighbours rather than in one huge file.
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
# Released versions' install scripts, frozen, and the upgrade scripts
# between versions, hand-written (docs/upgrades.md).
DATA = $(sort $(wildcard upgrade/$(EXTENSION)--*.sql))

PG_CONFIG ?= pg_config
SHLIB_LINK += -lsodium
# libpq: fetch_blob() asks a peer for chunks (src/blob.c)
SHLIB_LINK += -lpq
PG_CPPFLAGS += -I$(shell $(PG_CONFIG) --includedir)
# tracelink.versions(): the newest SQL version this library serves (src/version.c)
PG_CPPFLAGS += -DTL_LIBRARY_VERSION='"$(EXTVERSION)"'
# OpenSSL when the server has it (src/hash.c)
SHLIB_LINK += $(filter -lcrypto,$(LIBS))

# pg_regress tests: every sql/*.sql, in name order.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

# isolation specs: every specs/*.spec.
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --inputdir=. --outputdir=output_iso --load-extension=$(EXTENSION)

# TAP tests run on their own target (tapcheck below), not inside installcheck:
# they start their own clusters and take long, as in pgvector.

EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql tools/tracelink-verify results output_iso tmp_check regression.* fuzz/out

# Warnings are errors in CI (CI=true) and whenever WERROR=1 is given.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
ifneq ($(filter true 1,$(CI) $(WERROR)),)
PG_CFLAGS += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sqlsrc/*.sql))
	cat $^ > $@

# every object depends on every header: tracelink.h and the private ones
$(OBJS): $(wildcard src/*.h)

.PHONY: bench fuzz
bench: install
	bash bench/run.sh

fuzz:
	$(MAKE) -C fuzz

# One suite at a time, for scripts/test.sh (installcheck stops at the first
# failing suite; these let every suite report).
.PHONY: regresscheck isolationcheck tapcheck
regresscheck:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
isolationcheck:
ifneq ($(ISOLATION),)
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
endif
tapcheck:
	$(prove_installcheck)

# TAP helpers live in t/.
PG_PROVE_FLAGS += -I $(srcdir)/t

# ---- standalone verifier (tools/, docs/ledger.md) --------------------------
# "make" builds tools/tracelink-verify, "make install" installs it to
# $(bindir); the rules are in tools/tools.mk.
include $(srcdir)/tools/tools.mk
# ---- end of standalone verifier --------------------------------------------
